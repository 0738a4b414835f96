"""Where a run's real batches and latents come from, and how samples are judged and drawn.

The trainer is written against this small interface, so 2-D mixtures and image datasets (plain,
class-conditional, ACGAN, InfoGAN) share one loop:

* ``real_batch(n) -> (x, cond)`` and ``generate(G, n) -> (x, cond)``: a batch and whatever D
  must see with it (labels for conditional models, latent codes for InfoGAN, else None);
* ``call_d(D, x, cond)``: D's output (PacGAN packing happens here);
* ``aux_d_loss`` / ``aux_g_loss``: extra terms (ACGAN's class loss, InfoGAN's MI term; 0 here);
* ``fixed_latent(n)`` / ``generate_from(G, fixed)``: the fixed noise behind sample pictures;
* ``evaluate(G, n)``: the run's final metrics; ``plot(path, x, title)``: a picture of samples;
* ``state_dict()`` / ``load_state_dict()``: the data order, for bitwise resume.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from .. import random as mgrandom
from ..data import toy
from ..metrics.modes import mode_report
from ..tensor import Tensor, no_grad, tensor
from . import plots
from .config import ConfigError


def _dtype(cfg: dict) -> np.dtype:
    """The run's floating dtype (config key ``dtype``)."""
    return np.dtype(cfg.get("dtype", "float32"))


def _on(device: str, a: np.ndarray, dtype: np.dtype | None = None) -> Tensor:
    """A host array as a tensor on ``device`` (an asynchronous upload on "cuda": no sync),
    floating arrays cast to ``dtype`` when given."""
    if dtype is not None and a.dtype.kind == "f":
        a = a.astype(dtype, copy=False)
    return Tensor(a) if device == "cpu" else tensor(a, device=device)


def _pack(x: Tensor, m: int) -> Tensor:
    if m == 1:
        return x
    from .models import pack_samples

    return pack_samples(x, m)


class ToySource:
    """2-D mixtures (grid25, ring8) and the spiral, sampled fresh every batch."""

    is_image = False
    joint_d = True  # D takes real and fake alike, without labels (Trainer._d_joint)

    def __init__(self, cfg: dict, device: str = "cpu") -> None:
        self.cfg = cfg
        self.device = device
        self.name = cfg["dataset"]
        self.mixture = toy.mixture(self.name) if self.name != "spiral" else None
        # A generator of its own (not minigan's): data order is independent of model draws.
        self.rng = np.random.default_rng([cfg["seed"], 2])

    def model_keys(self) -> dict:
        return {"out_dim": 2, "in_dim": 2}

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.mixture is None:
            return toy.spiral(n, rng)
        return self.mixture.sample(n, rng)

    def real_batch(self, n: int) -> tuple[Tensor, None]:
        # Drawn on the host from the source's own generator: the same data on every device.
        return _on(self.device, self._sample(n, self.rng), _dtype(self.cfg)), None

    def _z(self, n: int) -> Tensor:
        return mgrandom.randn(n, self.cfg["z_dim"], dtype=_dtype(self.cfg), device=self.device)

    def generate(self, G: Any, n: int) -> tuple[Tensor, None]:
        return G(self._z(n)), None

    def call_d(self, D: Any, x: Tensor, cond: Any) -> Any:
        return D(_pack(x, self.cfg["pack"]))

    def aux_d_loss(self, out_r: Any, cond_r: Any, out_f: Any, cond_f: Any) -> float:
        return 0.0

    def aux_g_loss(self, out_f: Any, cond: Any) -> float:
        return 0.0

    def fixed_latent(self, n: int) -> list:
        rng = np.random.default_rng([self.cfg["seed"], 3])
        return [rng.standard_normal((n, self.cfg["z_dim"])).astype(np.float32)]

    def generate_from(self, G: Any, fixed: list) -> Tensor:
        return G(_on(self.device, fixed[0], _dtype(self.cfg)))

    def plot(self, path: pathlib.Path, x: np.ndarray, title: str) -> None:
        means = self.mixture.means if self.mixture is not None else None
        real = self._sample(2000, np.random.default_rng(0))
        plots.scatter_2d(path, x, means, f"{self.name}, {title}", real=real)

    def evaluate(self, G: Any, n: int) -> dict:
        """Mode coverage (VEEGAN/PacGAN protocol) of n samples drawn with a fixed seed."""
        rng = np.random.default_rng([self.cfg["seed"], 4])
        z = _on(self.device, rng.standard_normal((n, self.cfg["z_dim"])).astype(np.float32),
                _dtype(self.cfg))
        with no_grad():
            x = G(z).numpy()
        if self.mixture is None:
            return {"n_samples": n}
        return mode_report(x, self.mixture.means, self.mixture.std).as_dict()

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, st: dict) -> None:
        self.rng.bit_generator.state = st["rng"]


# How each image model is conditioned: what G and D take besides x and z.
KIND = {"mlp": "plain", "dcgan": "plain", "sngan-resnet": "plain", "cgan": "cond",
        "acgan": "acgan", "infogan": "infogan"}


def fixed_latent(cfg: dict, n: int, rng: np.random.Generator) -> list:
    """Latents for pictures and ``minigan sample``, from a NumPy generator: z, plus labels
    0, 1, 2, ... (class-conditional models: one class per grid column), or InfoGAN codes with
    the categorical code cycling the same way."""
    kind = KIND[cfg["model"]]
    z = rng.standard_normal((n, cfg["z_dim"])).astype(np.float32)
    if kind in ("cond", "acgan"):
        return [z, np.arange(n, dtype=np.int64) % cfg["n_classes"]]
    if kind == "infogan":
        cat = np.arange(n, dtype=np.int64) % cfg["n_cat"] if cfg["n_cat"] else None
        cont = rng.uniform(-1, 1, (n, cfg["c_dim"])).astype(np.float32) if cfg["c_dim"] else None
        return [z, cat, cont]
    return [z]


def generate_from(G: Any, cfg: dict, fixed: list, device: str = "cpu") -> Tensor:
    """G's samples for latents made by :func:`fixed_latent` (G's parameters on ``device``)."""
    kind = KIND[cfg["model"]]
    z = _on(device, fixed[0], _dtype(cfg))
    if kind in ("cond", "acgan"):
        return G(z, _on(device, fixed[1]))
    if kind == "infogan":
        from .models.infogan import infogan_latent

        cont = None if fixed[2] is None else _on(device, fixed[2], _dtype(cfg))
        cat = None if fixed[1] is None else _on(device, fixed[1])
        return G(infogan_latent(z, cat, cont, cfg["n_cat"]))
    return G(z)


class ImageSource:
    """An image dataset through a seeded, checkpointable DataLoader, for every image model."""

    is_image = True
    # D(real) and D(fake) stay two forwards (Trainer._d_joint): the image models' D carry batch
    # norm or spectral norm, and the conditional ones labels.
    joint_d = False

    def __init__(self, cfg: dict, device: str = "cpu") -> None:
        from ..data import DataLoader, load

        self.cfg = cfg
        self.device = device
        self.kind = KIND[cfg["model"]]
        if self.kind == "plain" and cfg["model"] == "mlp":
            raise ConfigError("model: 'mlp' is for 2-D data; use dcgan, sngan-resnet, cgan, "
                              "acgan or infogan for images")
        data = load(cfg["dataset"])
        self.images, self.labels = data.images.astype(_dtype(cfg), copy=False), data.labels
        if self.kind in ("cond", "acgan") and self.labels is None:
            raise ConfigError(f"dataset {cfg['dataset']!r} has no labels, which model "
                              f"{cfg['model']!r} needs")
        n_classes = int(self.labels.max()) + 1 if self.labels is not None else 0
        self.n_classes = max(n_classes, cfg["n_classes"])
        arrays = [self.images] + ([self.labels] if self.kind in ("cond", "acgan") else [])
        # On "cuda" the whole dataset is copied to the GPU once; batches are gathered there.
        self.loader = DataLoader(*arrays, batch_size=cfg["batch_size"], seed=cfg["seed"],
                                 device=device)

    def model_keys(self) -> dict:
        _, c, h, w = self.images.shape
        if h != w:
            raise ConfigError(f"dataset: images must be square, got {h}x{w}")
        return {"channels": int(c), "image_size": int(h), "n_classes": self.n_classes}

    def real_batch(self, n: int) -> tuple[Tensor, Any]:
        batch = self.loader.next_batch()
        return (batch[0], batch[1]) if isinstance(batch, tuple) else (batch, None)

    def generate(self, G: Any, n: int) -> tuple[Tensor, Any]:
        cfg, dev = self.cfg, self.device
        if self.kind in ("cond", "acgan"):
            y = mgrandom.randint(0, self.n_classes, (n,), device=dev)
            return G(mgrandom.randn(n, cfg["z_dim"], dtype=_dtype(cfg), device=dev), y), y
        if self.kind == "infogan":
            latent, cat, cont = G.sample_latent(n, device=dev)
            return G(latent), (cat, cont)
        return G(mgrandom.randn(n, cfg["z_dim"], dtype=_dtype(cfg), device=dev)), None

    def call_d(self, D: Any, x: Tensor, cond: Any) -> Any:
        if self.kind == "cond":
            return D(x, cond)
        if self.kind == "plain":
            return D(_pack(x, self.cfg["pack"]))
        return D(x)

    def aux_d_loss(self, out_r: Any, cond_r: Any, out_f: Any, cond_f: Any) -> Any:
        from ..ops import cross_entropy

        if self.kind == "acgan":  # D learns to classify real and generated images
            w = self.cfg["aux_weight"]
            return w * (cross_entropy(out_r[1], cond_r) + cross_entropy(out_f[1], cond_f))
        if self.kind == "infogan":  # Q learns to recover the codes from generated images
            return self._info_loss(out_f, cond_f)
        return 0.0

    def aux_g_loss(self, out_f: Any, cond: Any) -> Any:
        from ..ops import cross_entropy

        if self.kind == "acgan":
            return self.cfg["aux_weight"] * cross_entropy(out_f[1], cond)
        if self.kind == "infogan":
            return self._info_loss(out_f, cond)
        return 0.0

    def _info_loss(self, out_f: Any, codes: tuple) -> Any:
        """info_weight * -E log Q(c | G(l)), the continuous codes' term weighted by
        info_cont_weight (the InfoGAN paper: 1 for the categorical code, less for continuous)."""
        from .models.infogan import infogan_mi_loss

        return self.cfg["info_weight"] * infogan_mi_loss(
            out_f, *codes, cont_weight=self.cfg["info_cont_weight"])

    def fixed_latent(self, n: int) -> list:
        cfg = {**self.cfg, "n_classes": self.n_classes}
        return fixed_latent(cfg, n, np.random.default_rng([self.cfg["seed"], 3]))

    def generate_from(self, G: Any, fixed: list) -> Tensor:
        return generate_from(G, {**self.cfg, "n_classes": self.n_classes}, fixed, self.device)

    def plot(self, path: pathlib.Path, x: np.ndarray, title: str) -> None:
        # One class (or InfoGAN categorical code) per column, matching fixed_latent's labels.
        k = {"cond": self.n_classes, "acgan": self.n_classes,
             "infogan": self.cfg["n_cat"]}.get(self.kind, 0)
        nrow = k if 1 < k <= 16 else None
        plots.save_image_grid(path, x, nrow=nrow)

    def evaluate(self, G: Any, n: int) -> dict:
        """Pixel statistics of n samples beside the data's (classifier-based scores live in
        minigan.metrics)."""
        rng = np.random.default_rng([self.cfg["seed"], 4])
        cfg = {**self.cfg, "n_classes": self.n_classes}
        xs = []
        with no_grad():
            for start in range(0, n, 256):
                fixed = fixed_latent(cfg, min(256, n - start), rng)
                xs.append(generate_from(G, cfg, fixed, self.device).numpy())
        x = np.concatenate(xs)[:n]
        return {"n_samples": int(len(x)), "mean": float(x.mean()), "std": float(x.std()),
                "data_mean": float(self.images.mean()), "data_std": float(self.images.std())}

    def state_dict(self) -> dict:
        return self.loader.state_dict()

    def load_state_dict(self, st: dict) -> None:
        self.loader.load_state_dict(st)


def make_source(cfg: dict, device: str = "cpu") -> Any:
    """The data source of ``cfg``; its batches and latents live on ``device``."""
    name = cfg["dataset"]
    if name in toy.MIXTURES or name == "spiral":
        if cfg["model"] != "mlp":
            raise ConfigError(f"model: 2-D dataset {name!r} needs model 'mlp', got "
                              f"{cfg['model']!r}")
        return ToySource(cfg, device)
    return ImageSource(cfg, device)
