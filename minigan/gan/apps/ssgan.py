"""Semi-supervised GAN (Salimans et al. 2016, "Improved Techniques for Training GANs", sec. 5).

The discriminator is a K-class classifier whose K logits l_1..l_K stand for K+1 classes: the
logit of class K+1 ("fake") is fixed at 0, so with Z(x) = sum_k exp(l_k(x))

    p(y = k | x, real) = softmax(l)_k              (the class, given the sample is real)
    D(x) = p(real | x) = Z / (Z + 1) = sigmoid(logsumexp(l))

i.e. the real/fake logit is ``logsumexp(l)``. D minimises

    L_D = CE(l(x_lab), y)                                         labelled digits
        - E_unlab log D(x) - E_z log(1 - D(G(z)))                 every train digit, fakes
        = CE + mean(softplus(lse_u) - lse_u) + mean(softplus(lse_f))

and G minimises feature matching, ||E f(x_real) - E f(G(z))||^2 averaged over the features f
of D's feature layer (real features held fixed). D is minigan's digit classifier
(:class:`minigan.metrics.classifier.DigitClassifier`), so its held-out accuracy is compared
with the same network trained on the labelled digits alone, for the same steps, batch,
learning-rate schedule and augmentation (``summary.json``: ``metrics.test_accuracy`` and
``metrics.baseline_accuracy``).

Data: the offline MNIST digits' 4,000-digit train split is the unlabelled set;
``labels_per_class`` of each digit (a seeded choice) keep their labels; the 1,000 test digits
are held out. Other labelled data (``dataset``, :mod:`.data`: 28, 32 or 64 pixels, grey or
RGB) the same way, with the classifier's network built for its shape and classes.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from ... import random as mgrandom
from ...metrics.classifier import DigitClassifier, _augment
from ...ops import cross_entropy, logsumexp, softplus
from ...ops import mean as _mean
from ...optim import Adam
from ...tensor import Tensor, no_grad
from .. import plots
from ..models.dcgan import DCGANGenerator
from .loop import AppLoop

# Random affine maps of the labelled batches (both the SSGAN and the baseline see them):
# shifts of up to 2 pixels, rotations up to 10 degrees, zooms of +-10%.
AUGMENT = {"shift": 2.0, "rotate": 10.0, "scale": 0.1}


def real_logit(logits: Tensor) -> Tensor:
    """The real-vs-fake logit of K class logits with the fake logit fixed at 0:
    log(Z / 1) = logsumexp_k l_k, so D(x) = sigmoid(logsumexp(l)) = Z / (Z + 1)."""
    return logsumexp(logits, axis=1)


def d_loss(logits_lab: Tensor, labels: Any, logits_unl: Tensor,
           logits_fake: Tensor) -> tuple[Tensor, Tensor]:
    """(supervised, unsupervised) parts of L_D (module docstring)."""
    lse_u, lse_f = real_logit(logits_unl), real_logit(logits_fake)
    unsup = _mean(softplus(lse_u) - lse_u) + _mean(softplus(lse_f))
    return cross_entropy(logits_lab, labels), unsup


def feature_matching(f_real: Tensor, f_fake: Tensor) -> Tensor:
    """mean_j (mean_i f_real[i, j] - mean_i f_fake[i, j])^2."""
    diff = _mean(f_real, axis=0) - _mean(f_fake, axis=0)
    return _mean(diff * diff)


def labelled_subset(labels: np.ndarray, per_class: int, seed: int,
                    n_classes: int = 10) -> np.ndarray:
    """Indices of ``per_class`` images of each of the ``n_classes`` classes, chosen by ``seed``
    (sorted)."""
    rng = np.random.default_rng([seed, 3])
    out = []
    for k in range(n_classes):
        idx = np.flatnonzero(labels == k)
        if per_class > len(idx):
            raise ValueError(f"labels_per_class: expected at most {len(idx)} (the images of "
                             f"class {k}), got {per_class}")
        out.append(rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(out))


def train_baseline(images: np.ndarray, labels: np.ndarray, steps: int, batch: int,
                   lr: float, seed: int, decay: bool = True,
                   synthetic: tuple[np.ndarray, np.ndarray] | None = None,
                   synthetic_fraction: float = 0.5, n_classes: int = 10) -> DigitClassifier:
    """The digit classifier (for the images' channels and side, ``n_classes`` outputs)
    trained on the labelled images alone: ``steps`` Adam steps on augmented batches of
    ``batch`` drawn with replacement, the SSGAN's learning-rate schedule. With ``synthetic`` =
    (images, labels), that fraction of every batch is drawn from them instead (``minigan study
    augment``). minigan's random state is restored afterwards."""
    saved = mgrandom.get_rng_state()
    n_syn = 0 if synthetic is None else int(round(batch * synthetic_fraction))
    try:
        mgrandom.manual_seed(seed)
        net = classifier_for(images, n_classes)
        opt = Adam(net.parameters(), lr=lr, betas=(0.5, 0.999))
        rng = np.random.default_rng([seed, 4])
        for step in range(steps):
            opt.param_groups[0]["lr"] = lr * (1 - step / steps if decay else 1.0)
            idx = rng.integers(0, len(labels), batch - n_syn)
            xs, ys = images[idx], labels[idx]
            if n_syn:
                j = rng.integers(0, len(synthetic[1]), n_syn)
                xs = np.concatenate([xs, synthetic[0][j]])
                ys = np.concatenate([ys, synthetic[1][j]])
            x = Tensor(_augment(xs, **AUGMENT, rng=rng))
            loss = cross_entropy(net(x), Tensor(ys))
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        mgrandom.set_rng_state(saved)
    net.eval()
    return net


def classifier_for(images: np.ndarray, n_classes: int) -> DigitClassifier:
    """The digit classifier's network for images shaped like ``images`` (N, C, S, S): the
    digit classifier itself for 1x28x28 and 10 classes."""
    c, s = int(images.shape[1]), int(images.shape[-1])
    return DigitClassifier(in_channels=c, image_size=s, n_classes=n_classes)


class SSGANTrainer(AppLoop):
    """``task = "ssgan"`` (see the module docstring)."""

    def __init__(self, cfg: dict, out_dir: str | pathlib.Path, progress: bool = True,
                 device: str = "cpu", dist: Any = None) -> None:
        from ..config import ConfigError
        from .data import classes_of, need_labels, split

        super().__init__(cfg, out_dir, progress, device, dist)
        name = cfg["dataset"]
        train, test = split(name, "train"), split(name, "test")
        labels = need_labels(name, train.labels, "task 'ssgan'")
        test_labels = need_labels(name, test.labels, "task 'ssgan'")
        self.n_classes = max(classes_of(labels), classes_of(test_labels))
        _, c, side, _ = train.images.shape
        if side not in (28, 32, 64):
            raise ConfigError(f"config key 'dataset': {name!r} has {side}x{side} images; the "
                              f"ssgan generator (DCGAN) makes 28, 32 or 64")
        self.unlab = train.images
        try:
            lab = labelled_subset(labels, cfg["labels_per_class"], cfg["seed"], self.n_classes)
        except ValueError as e:
            raise ConfigError(f"config key 'labels_per_class': {str(e).split(': ', 1)[1]}") \
                from None
        self.lab_x, self.lab_y = train.images[lab], labels[lab]
        # Evenly spaced test images (the digits' test split is sorted by digit: stratified).
        keep = np.linspace(0, len(test_labels) - 1, min(cfg["app_eval"], len(test_labels)))
        keep = np.unique(keep.round().astype(int))
        self.test_x, self.test_y = test.images[keep], test_labels[keep]
        self.G = DCGANGenerator(cfg["z_dim"], c, side, cfg["base_width"])
        self.D = classifier_for(train.images, self.n_classes)
        betas = (cfg["beta1"], cfg["beta2"])
        self.opt_g = Adam(self.G.parameters(), lr=cfg["lr_g"], betas=betas)
        self.opt_d = Adam(self.D.parameters(), lr=cfg["lr_d"], betas=betas)
        self.modules = {"G": self.G, "D": self.D}
        self.optimizers = {"G": self.opt_g, "D": self.opt_d}
        self.fixed_z = np.random.default_rng([cfg["seed"], 5]).standard_normal(
            (100, cfg["z_dim"])).astype(np.float32)

    def _z(self, n: int) -> Tensor:
        return mgrandom.randn(n, self.cfg["z_dim"])

    def train_step(self) -> dict:
        cfg, b = self.cfg, self.cfg["batch_size"]
        self.set_lr({"G": cfg["lr_g"], "D": cfg["lr_d"]})
        li = self.rng.integers(0, len(self.lab_y), b)
        x_lab = Tensor(_augment(self.lab_x[li], **AUGMENT, rng=self.rng))
        x_unl = Tensor(self.unlab[self.rng.integers(0, len(self.unlab), b)])
        with no_grad():
            fake = self.G(self._z(b))
        sup, unsup = d_loss(self.D(x_lab), Tensor(self.lab_y[li]), self.D(x_unl), self.D(fake))
        loss = sup + unsup
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()
        # G: feature matching on D's feature layer; the real features are a fixed target.
        with no_grad():
            f_real = self.D.features(Tensor(self.unlab[self.rng.integers(0, len(self.unlab), b)]))
        g = feature_matching(f_real, self.D.features(self.G(self._z(b))))
        self.opt_g.zero_grad()
        g.backward()
        self.opt_g.step()
        return {"d_loss": float(loss.array), "g_loss": float(g.array),
                "sup_loss": float(sup.array), "unsup_loss": float(unsup.array)}

    def extra_state(self) -> dict:
        return {"fixed_z": self.fixed_z}

    def load_extra_state(self, st: dict) -> None:
        self.fixed_z = np.asarray(st["fixed_z"], np.float32)

    def save_pictures(self, tag: str) -> pathlib.Path:
        """Row k: labelled digits of class k (input) | generated digits D puts in class k."""
        path = self.out / "samples" / f"{tag}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.G.eval()
        with no_grad():
            fake = self.G(Tensor(self.fixed_z)).numpy()
        self.G.train()
        pred = self.D.predict_proba(fake).argmax(1)
        per = self.cfg["labels_per_class"]
        cols, blank = 8, -np.ones(self.lab_x.shape[1:], np.float32)
        rows = []
        for k in range(min(self.n_classes, 10)):
            lab = list(self.lab_x[self.lab_y == k][:min(per, 4)])
            gen = list(fake[pred == k][:cols - 4])
            lab += [blank] * (4 - len(lab))
            gen += [blank] * (cols - 4 - len(gen))
            rows += lab + gen
        plots.save_image_grid(path, np.stack(rows), nrow=cols)
        return path

    def sample_columns(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """``n`` samples of G from latents drawn by ``seed`` (``minigan sample``): one column,
        no input or target (G maps noise to digits)."""
        z = np.random.default_rng(seed).standard_normal((n, self.cfg["z_dim"]))
        self.G.eval()
        with no_grad():
            fake = self.G(Tensor(z.astype(np.float32))).numpy()
        self.G.train()
        return {"sample": fake}

    def evaluate(self) -> dict:
        cfg = self.cfg
        acc = self.D.accuracy(self.test_x, self.test_y)  # in eval mode, then back
        out = {"test_accuracy": acc, "labels_per_class": cfg["labels_per_class"],
               "n_labelled": int(len(self.lab_y)), "n_test": int(len(self.test_y))}
        if cfg["ssgan_baseline"]:
            base = train_baseline(self.lab_x, self.lab_y, cfg["steps"], cfg["batch_size"],
                                  cfg["lr_d"], cfg["seed"], cfg["lr_decay"] == "linear",
                                  n_classes=self.n_classes)
            out["baseline_accuracy"] = base.accuracy(self.test_x, self.test_y)
        self.G.eval()
        with no_grad():
            fake = self.G(Tensor(self.fixed_z)).numpy()
        self.G.train()
        probs = self.D.predict_proba(fake)
        out["fake_classes_hit"] = int(len(np.unique(probs.argmax(1))))
        return out

