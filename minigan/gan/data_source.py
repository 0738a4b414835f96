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
from ..tensor import Tensor, no_grad
from . import plots
from .config import ConfigError


def _pack(x: Tensor, m: int) -> Tensor:
    if m == 1:
        return x
    from .models import pack_samples

    return pack_samples(x, m)


class ToySource:
    """2-D mixtures (grid25, ring8) and the spiral, sampled fresh every batch."""

    images = False

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
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
        return Tensor(self._sample(n, self.rng)), None

    def _z(self, n: int) -> Tensor:
        return mgrandom.randn(n, self.cfg["z_dim"])

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
        return G(Tensor(fixed[0]))

    def plot(self, path: pathlib.Path, x: np.ndarray, title: str) -> None:
        means = self.mixture.means if self.mixture is not None else None
        real = self._sample(2000, np.random.default_rng(0))
        plots.scatter_2d(path, x, means, f"{self.name}, {title}", real=real)

    def evaluate(self, G: Any, n: int) -> dict:
        """Mode coverage (VEEGAN/PacGAN protocol) of n samples drawn with a fixed seed."""
        rng = np.random.default_rng([self.cfg["seed"], 4])
        z = Tensor(rng.standard_normal((n, self.cfg["z_dim"])).astype(np.float32))
        with no_grad():
            x = G(z).numpy()
        if self.mixture is None:
            return {"n_samples": n}
        return mode_report(x, self.mixture.means, self.mixture.std).as_dict()

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, st: dict) -> None:
        self.rng.bit_generator.state = st["rng"]


def make_source(cfg: dict) -> Any:
    name = cfg["dataset"]
    if name in toy.MIXTURES or name == "spiral":
        if cfg["model"] != "mlp":
            raise ConfigError(f"model: 2-D dataset {name!r} needs model 'mlp', got "
                              f"{cfg['model']!r}")
        return ToySource(cfg)
    raise ConfigError(f"dataset: unknown dataset {name!r}; expected grid25, ring8, spiral, "
                      "or an image dataset")
