"""The run machinery of the paired-image loops (super-resolution, pix2pix): reusable by any loop
that learns a map x -> y from (input, target) pairs with a content loss and a discriminator.

:class:`PairedLoop` extends :class:`minigan.gan.apps.loop.AppLoop` with what such loops share:

* data: the train pairs and a stratified held-out subset of the test pairs (``app_eval``
  images), from ``load_pairs(split) -> (inputs, targets, labels or None)`` (the run's
  ``dataset``: :mod:`.data`; the digit classifier's scores only where they apply);
* the step: with ``adv_weight`` w > 0, one D step on ``d_input(x, y)`` (real) against
  ``d_input(x, G(x))`` (fake) with the configured GAN loss, then one G step on

      L_G = content_loss(G(x), y, x) + w * g_loss(D(d_input(x, G(x))))

  (w = 0 trains on the content loss alone; D is then never used);
* pictures: rows of held-out pairs, one digit of each class, in columns input | (reference
  columns of the subclass, e.g. bicubic) | output | target;
* evaluation: for the output, each reference and -- with ``paired_baseline`` -- the same
  generator trained on the content loss alone for the same steps, batches and schedule: mean
  L1, PSNR and SSIM against the targets (:mod:`minigan.metrics.fidelity`), the digit
  classifier's accuracy on the outputs (:mod:`minigan.metrics.classifier`) and the Fréchet
  distance of the outputs to the targets in that classifier's feature space.

A subclass provides ``load_pairs``, ``build_generator``, ``build_discriminator`` and
``content_loss``; optionally ``d_input``, ``references`` and ``show_input``.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from ... import random as mgrandom
from ...metrics.fidelity import psnr, ssim
from ...metrics.images import frechet_distance
from ...optim import Adam
from ...tensor import Tensor, no_grad
from .. import losses, plots
from .loop import AppLoop


def stratified(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` items spread evenly over a label-sorted split (every len/n-th)."""
    keep = np.linspace(0, len(labels) - 1, min(n, len(labels)))
    return np.unique(keep.round().astype(int))


def generate(G: Any, x: np.ndarray, batch: int = 250) -> np.ndarray:
    """G's outputs for inputs ``x`` in evaluation mode, in batches, without a graph."""
    was = G.training
    G.eval()
    try:
        with no_grad():
            out = [G(Tensor(x[i:i + batch])).numpy() for i in range(0, len(x), batch)]
    finally:
        G.train(was)
    return np.concatenate(out).astype(np.float32)


def scores(out: np.ndarray, target: np.ndarray, labels: np.ndarray | None,
           clf: Any) -> dict:
    """Mean L1, PSNR, SSIM of ``out`` against ``target`` (images in [-1, 1]; outputs clipped to
    it first, as a saved image would be), the classifier's accuracy on ``out`` (when ``labels``
    are given) and the Fréchet distance between the classifier's features of ``out`` and of
    ``target`` (when ``clf`` is; None: the pixel scores alone). The pixel scores reward the
    conditional mean (a blur where the input leaves the target uncertain); the Fréchet distance
    is what looks like a set of real digits, which the adversarial term is for."""
    out = np.clip(out, -1, 1)
    res = {"l1": float(np.abs(out - target).mean()), "psnr": float(psnr(out, target).mean()),
           "ssim": float(ssim(out, target).mean())}
    if clf is None:
        return res
    prob, feats = clf.predict_and_embed(out)
    if labels is not None:
        res["accuracy"] = float((prob.argmax(1) == np.asarray(labels)).mean())
    res["frechet"] = frechet_distance(feats, clf.embed(target))
    return res


def column_rows(columns: dict[str, np.ndarray]) -> np.ndarray:
    """The images of equal-length ``columns`` row by row (row i: item i of every column),
    clipped to [-1, 1] as a saved picture shows them; grey columns beside colour ones (an
    outline of colour images) repeated to 3 channels."""
    cols = [np.clip(c, -1, 1) for c in columns.values()]
    channels = max(c.shape[1] for c in cols)
    cols = [np.repeat(c, channels, axis=1) if c.shape[1] == 1 else c for c in cols]
    return np.stack([c[i] for i in range(len(cols[0])) for c in cols])


def held_out_pick(size: int, n: int, seed: int) -> np.ndarray:
    """``n`` distinct indices of ``range(size)`` drawn by ``seed``, sorted (a label-sorted
    split keeps its class order)."""
    if not 1 <= n <= size:
        raise ValueError(f"--n: expected 1 to {size} held-out inputs, got {n}")
    return np.sort(np.random.default_rng([seed, 6]).choice(size, n, replace=False))


class PairedLoop(AppLoop):
    """Base of the paired loops (module docstring)."""

    # ---- what a subclass provides -----------------------------------------------------------
    def load_pairs(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(inputs, targets, labels or None) of ``split``: "train" or "test"."""
        raise NotImplementedError

    def split(self, which: str) -> Any:
        """Split ``which`` of the run's dataset (:func:`.data.split`)."""
        from .data import split

        return split(self.cfg["dataset"], which)

    def build_generator(self) -> Any:
        raise NotImplementedError

    def build_discriminator(self) -> Any:
        raise NotImplementedError

    def content_loss(self, out: Tensor, y: Tensor, x: Tensor) -> tuple[Tensor, dict]:
        """The generator's non-adversarial loss and its parts as floats for the log."""
        raise NotImplementedError

    def d_input(self, x: Tensor, y: Tensor) -> Tensor:
        """What D sees of a pair: the image alone (unconditional D)."""
        return y

    def references(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs of fixed methods to compare with (name -> images); none by default."""
        return {}

    def show_input(self, x: np.ndarray) -> np.ndarray:
        """The inputs drawn at the targets' size in the pictures."""
        return x

    # ---- set-up ------------------------------------------------------------------------------
    def __init__(self, cfg: dict, out_dir: str | pathlib.Path, progress: bool = True,
                 device: str = "cpu", dist: Any = None) -> None:
        super().__init__(cfg, out_dir, progress, device, dist)
        from .data import digit_features, digit_labels

        self.train_x, self.train_y, _ = self.load_pairs("train")
        self.channels, self.side = int(self.train_y.shape[1]), int(self.train_y.shape[-1])
        tx, ty, tl = self.load_pairs("test")
        keep = stratified(ty, cfg["app_eval"])
        self.test_x, self.test_y = tx[keep], ty[keep]
        # The digit classifier judges digits only (.data): its accuracy needs digit labels.
        self.judged = digit_features(ty)
        self.test_labels = tl[keep] if tl is not None and digit_labels(cfg["dataset"], ty) \
            else None
        # The pictures: the first held-out image of each class (of up to 10 classes), or the
        # first 10 held-out images.
        if tl is not None:
            self.show = np.array([np.flatnonzero(tl[keep] == k)[0]
                                  for k in np.unique(tl[keep])[:10]])
        else:
            self.show = np.arange(min(10, len(keep)))
        self.G, self.D = self.build_generator(), self.build_discriminator()
        betas = (cfg["beta1"], cfg["beta2"])
        self.opt_g = Adam(self.G.parameters(), lr=cfg["lr_g"], betas=betas)
        self.opt_d = Adam(self.D.parameters(), lr=cfg["lr_d"], betas=betas)
        self.modules = {"G": self.G, "D": self.D}
        self.optimizers = {"G": self.opt_g, "D": self.opt_d}
        self.gan_loss = losses.get(cfg["loss"])
        self._clf: Any = None

    def classifier(self) -> Any:
        """minigan's digit classifier (cached on disk; trained once when missing)."""
        if self._clf is None:
            from ...metrics.classifier import get_classifier

            self._clf = get_classifier()
            self._clf.requires_grad_(False)  # a fixed feature map: no gradients for its weights
        return self._clf

    # ---- the step ----------------------------------------------------------------------------
    def g_step(self, G: Any, opt: Any, x: Tensor, y: Tensor, adv: bool) -> dict:
        out = G(x)
        loss, rec = self.content_loss(out, y, x)
        if adv:
            real = self.D(self.d_input(x, y)) if self.gan_loss.needs_real_for_g else None
            a = self.gan_loss.g_loss(self.D(self.d_input(x, out)), real)
            rec["adv_loss"] = float(a.array)
            loss = loss + self.cfg["adv_weight"] * a
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec["g_loss"] = float(loss.array)
        return rec

    def batch(self, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        idx = rng.integers(0, len(self.train_x), self.cfg["batch_size"])
        return Tensor(self.train_x[idx]), Tensor(self.train_y[idx])

    def train_step(self) -> dict:
        cfg = self.cfg
        self.set_lr({"G": cfg["lr_g"], "D": cfg["lr_d"]})
        x, y = self.batch(self.rng)
        rec: dict = {}
        adv = cfg["adv_weight"] > 0
        if adv:
            with no_grad():
                fake = self.G(x)
            d = self.gan_loss.d_loss(self.D(self.d_input(x, y)), self.D(self.d_input(x, fake)))
            self.opt_d.zero_grad()
            d.backward()
            self.opt_d.step()
            rec["d_loss"] = float(d.array)
        return {**rec, **self.g_step(self.G, self.opt_g, x, y, adv)}

    def train_baseline(self) -> Any:
        """A fresh generator trained on the content loss alone: same initial weights (same
        seed), steps, batch draws and learning-rate schedule. Random state restored after."""
        cfg = self.cfg
        saved = mgrandom.get_rng_state()
        try:
            mgrandom.manual_seed(cfg["seed"])
            G = self.build_generator()
            opt = Adam(G.parameters(), lr=cfg["lr_g"], betas=(cfg["beta1"], cfg["beta2"]))
            rng = np.random.default_rng([cfg["seed"], 2])  # the loop's batch stream
            for step in range(cfg["steps"]):
                frac = 1 - step / cfg["steps"] if cfg["lr_decay"] == "linear" else 1.0
                opt.param_groups[0]["lr"] = cfg["lr_g"] * frac
                x, y = self.batch(rng)
                self.g_step(G, opt, x, y, adv=False)
        finally:
            mgrandom.set_rng_state(saved)
        return G

    # ---- pictures and scores -----------------------------------------------------------------
    def save_grid(self, path: pathlib.Path, columns: dict[str, np.ndarray]) -> pathlib.Path:
        """One row per digit, the ``columns`` (name -> images of all the row's digits)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        plots.save_image_grid(path, column_rows(columns), nrow=len(columns))
        return path

    def pair_columns(self, x: np.ndarray, y: np.ndarray,
                     extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """input | references | extra | output | target for inputs ``x``, targets ``y``."""
        return {"input": self.show_input(x), **self.references(x), **(extra or {}),
                "output": generate(self.G, x), "target": y}

    def columns(self, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        return self.pair_columns(self.test_x[self.show], self.test_y[self.show], extra)

    def sample_columns(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """The picture columns of ``n`` held-out pairs drawn by ``seed`` from the whole test
        split, in class order (``minigan sample``)."""
        x, y, _ = self.load_pairs("test")
        idx = held_out_pick(len(x), n, seed)
        return self.pair_columns(x[idx], y[idx])

    def save_pictures(self, tag: str) -> pathlib.Path:
        return self.save_grid(self.out / "samples" / f"{tag}.png", self.columns())

    def evaluate(self) -> dict:
        clf = self.classifier() if self.judged else None
        x, y, lab = self.test_x, self.test_y, self.test_labels
        out: dict = {"n_test": int(len(y))}
        if lab is not None:
            out["target_accuracy"] = clf.accuracy(y, lab)
        out["output"] = scores(generate(self.G, x), y, lab, clf)
        for name, imgs in self.references(x).items():
            out[name] = scores(imgs, y, lab, clf)
        if self.cfg["paired_baseline"]:
            base = self.train_baseline()
            out["baseline"] = scores(generate(base, x), y, lab, clf)
            cols = self.columns({"baseline": generate(base, x[self.show])})
            out["baseline_picture"] = str(self.save_grid(
                self.out / "samples" / "final_vs_baseline.png", cols))
        return out
