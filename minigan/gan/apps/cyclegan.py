"""Unpaired translation, CycleGAN-style (Zhu et al. 2017), between gray digits (domain A) and
coloured digits on procedural textures (domain B, :mod:`minigan.data.colored`).

Two generators G_AB: A -> B and G_BA: B -> A (ResNet generators: 7x7 conv, one stride-2
down, residual blocks, one stride-2 up, 7x7 conv, tanh; instance norm, reflection padding), two
PatchGAN discriminators D_A, D_B (a 7x7 map of logits for a 28x28 image), least-squares GAN
losses. G_AB and G_BA minimise together

    L_G = LS_G(D_B(G_AB(a))) + LS_G(D_A(G_BA(b)))
        + cycle_weight    (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)
        + identity_weight (|G_AB(b) - b|_1 + |G_BA(a) - a|_1)

(|.|_1 the mean absolute error); each D minimises LS_D on its domain's real images and on
fakes drawn from an :class:`ImagePool` of the last ``pool_size`` translations (the history
buffer of Shrivastava et al. 2017). Both domains are 3-channel: A repeats the gray channel, so
the identity terms are defined. A is the first 200 train digits of each class, B the coloured
last 200: the two sets share no digit.

Final metrics (``summary.json``): class accuracy after translation and after a full cycle --
each image scored on its gray (channel-mean) image: domain A by minigan's digit classifier,
domain B by the same network trained on gray coloured train digits (:func:`judge`) -- and the
Fréchet distance to the target domain's held-out images in that classifier's feature space,
beside the distance of the untranslated inputs. Held-out: the 1,000 test digits, the first 50 of
each class as A, the last 50 coloured as B. Always, judged or not: the mean L1 and PSNR of a
full cycle against its input (``cycle_l1_A`` ...).

Other data (config key ``dataset``, :mod:`.data`): A is the dataset's images (grey or RGB), B
their grey images coloured the same way; each split is halved per class (by position without
labels). The digit judges score only digits (``digits``, ``mnist-idx``); elsewhere the
summary has the cycle scores alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib
from typing import Any

import numpy as np

from ... import nn
from ... import random as mgrandom
from ...data import colored
from ..config import ConfigError
from .data import digit_labels, need_side, split
from ...ops import l1_loss
from ...optim import Adam
from ...tensor import Tensor, no_grad
from .. import checkpoint, losses, plots
from .loop import AppLoop

SEED_B_TRAIN, SEED_B_TEST = 101, 102  # texture seeds of domain B's train and test images


class ImagePool:
    """Past fakes for the discriminator. ``query(images, rng)``: while fewer than ``size`` are
    stored, each new image is stored and returned; after that each is, with probability 1/2,
    returned as is, else swapped for a random stored image (which is returned instead)."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"size: expected a pool size >= 0, got {size}")
        self.size = size
        self.images: list[np.ndarray] = []

    def query(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.size == 0:
            return images
        out = []
        for img in images:
            if len(self.images) < self.size:
                self.images.append(img.copy())
                out.append(img)
            elif rng.random() < 0.5:
                j = int(rng.integers(0, self.size))
                out.append(self.images[j])
                self.images[j] = img.copy()
            else:
                out.append(img)
        return np.stack(out)

    def state_dict(self) -> dict:
        return {"images": np.stack(self.images) if self.images else np.zeros((0,), np.float32)}

    def load_state_dict(self, st: dict) -> None:
        arr = np.asarray(st["images"])
        self.images = [a.copy() for a in arr] if arr.ndim > 1 else []


class ResidualBlock(nn.Module):
    """x + [pad, conv3x3, IN, ReLU, pad, conv3x3, IN](x)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c),
                                  nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3),
                                  nn.InstanceNorm2d(c))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def resnet_generator(channels: int = 3, width: int = 16, blocks: int = 3) -> nn.Module:
    """(N, C, S, S) -> (N, C, S, S) in [-1, 1] for even S (module docstring)."""
    w2 = 2 * width
    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7), nn.InstanceNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, w2, 3, 2, 1), nn.InstanceNorm2d(w2), nn.ReLU(),
        *[ResidualBlock(w2) for _ in range(blocks)],
        nn.ConvTranspose2d(w2, width, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(width),
        nn.ReLU(), nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh())


def patch_discriminator(channels: int = 3, width: int = 16) -> nn.Module:
    """(N, C, 28, 28) -> (N, 1, 7, 7) logits, each judging a 10x10 patch."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.InstanceNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 1, 3, 1, 1))


def cycle_loss(real: Tensor, reconstructed: Tensor) -> Tensor:
    """The mean absolute error |x - F(G(x))|_1 / numel."""
    return l1_loss(reconstructed, real)


@functools.lru_cache(maxsize=2)
def domains(dataset: str = "digits") -> dict[str, np.ndarray | None]:
    """Train and held-out images (and labels, None for a source without them) of both domains
    (module docstring), from the run's ``dataset`` (:mod:`.data`): A its images (grey ones
    repeated to 3 channels), B the grey (channel-mean) images coloured on textures. Each
    split is halved -- per class when there are labels -- so A and B share no image. Made
    once per process, read-only."""
    from .data import split

    def halves(labels: np.ndarray | None, n: int, first: bool) -> np.ndarray:
        if labels is None:
            return np.arange(n // 2) if first else np.arange(n // 2, n)
        idx = []
        for k in np.unique(labels):
            i = np.flatnonzero(labels == k)
            idx.append(i[:len(i) // 2] if first else i[len(i) // 2:])
        return np.sort(np.concatenate(idx))

    def rgb(x: np.ndarray) -> np.ndarray:
        return colored.to_rgb(x) if x.shape[1] == 1 else np.array(x, np.float32)

    def pick(labels: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
        return None if labels is None else labels[idx]

    train, test = split(dataset, "train"), split(dataset, "test")
    if train.images.shape[1] not in (1, 3):
        raise ConfigError(f"config key 'dataset': {dataset!r} has {train.images.shape[1]}-"
                          f"channel images; cyclegan takes grey or RGB ones")
    ia, ib = (halves(train.labels, len(train.images), f) for f in (True, False))
    ta, tb = (halves(test.labels, len(test.images), f) for f in (True, False))
    out = {"A": rgb(train.images[ia]),
           "B": colored.colorize(colored.gray(train.images[ib]), SEED_B_TRAIN, first=0),
           "A_test": rgb(test.images[ta]), "A_test_y": pick(test.labels, ta),
           "B_test": colored.colorize(colored.gray(test.images[tb]), SEED_B_TEST),
           "B_test_y": pick(test.labels, tb)}
    for a in out.values():
        if a is not None:
            a.flags.writeable = False
    return out


JUDGE_RECIPE = {"steps": 600, "batch": 64, "lr": 1e-3, "seed": 0, "texture_seed": 103}


def judge(domain: str) -> Any:
    """The classifier that scores images of ``domain`` ("A" or "B") on their gray
    (channel-mean) image: the digit classifier's network trained by ``JUDGE_RECIPE`` on all
    4,000 train digits, as they are (A) or coloured with textures of seed 103, none of the
    run's (B). Cached in the digit classifier's cache directory."""
    from ...data.digits import load_digits
    from ...metrics.classifier import DigitClassifier, cache_dir, data_sha256
    from .ssgan import train_baseline

    if domain not in ("A", "B"):
        raise ValueError(f"domain: expected 'A' or 'B', got {domain!r}")
    r = JUDGE_RECIPE
    key = hashlib.sha256(json.dumps({"recipe": r, "domain": domain, "data": data_sha256(),
                                     "format": 1}, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"cyclegan-judge-{domain}-{key}.npz"
    if path.exists():
        try:
            net = DigitClassifier()
            net.load_state_dict(checkpoint.load(path)["state"])
            net.eval()
            return net
        except (checkpoint.CheckpointError, KeyError, ValueError, TypeError):
            pass
    _log(f"cyclegan: training the domain-{domain} judge once ({r['steps']} steps; cached in "
         f"{path})")
    train = load_digits("train")
    x = train.images if domain == "A" else colored.gray(
        colored.colorize(train.images, r["texture_seed"]))
    net = train_baseline(x, train.labels, r["steps"], r["batch"], r["lr"], r["seed"])
    checkpoint.save(path, {"recipe": r, "domain": domain, "state": net.state_dict()})
    return net


def digit_classifier() -> Any:
    """Domain A's judge: minigan's digit classifier (:func:`minigan.metrics.classifier.
    get_classifier`; cached, trained once when missing)."""
    from ...metrics.classifier import get_classifier

    return get_classifier(log=_log)


def domain_classifier() -> Any:
    """Domain B's judge: :func:`judge` ("B")."""
    return judge("B")


def _log(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr)


class CycleGANTrainer(AppLoop):
    """``task = "cyclegan"`` (see the module docstring)."""

    def __init__(self, cfg: dict, out_dir: str | pathlib.Path, progress: bool = True,
                 device: str = "cpu", dist: Any = None) -> None:
        super().__init__(cfg, out_dir, progress, device, dist)
        self.data = domains(cfg["dataset"])
        need_side(cfg["dataset"], self.data["A"], 2, "dataset")  # G: down and up by 2
        # The judges are digit classifiers: they score digits only (.data).
        self.judged = digit_labels(cfg["dataset"], split(cfg["dataset"], "train").images)
        w, blocks = cfg["base_width"], cfg["g_layers"]
        self.G_AB, self.G_BA = resnet_generator(3, w, blocks), resnet_generator(3, w, blocks)
        self.D_A, self.D_B = patch_discriminator(3, w), patch_discriminator(3, w)
        for m in (self.G_AB, self.G_BA, self.D_A, self.D_B):
            _init_normal(m)
        betas = (cfg["beta1"], cfg["beta2"])
        self.opt_g = Adam(list(self.G_AB.parameters()) + list(self.G_BA.parameters()),
                          lr=cfg["lr_g"], betas=betas)
        self.opt_d = Adam(list(self.D_A.parameters()) + list(self.D_B.parameters()),
                          lr=cfg["lr_d"], betas=betas)
        self.modules = {"G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B}
        self.optimizers = {"G": self.opt_g, "D": self.opt_d}
        self.pools = {"A": ImagePool(cfg["pool_size"]), "B": ImagePool(cfg["pool_size"])}
        self.ls = losses.get("lsgan")

    def _batch(self, key: str) -> Tensor:
        x = self.data[key]
        return Tensor(x[self.rng.integers(0, len(x), self.cfg["batch_size"])])

    def train_step(self) -> dict:
        cfg, ls = self.cfg, self.ls
        self.set_lr({"G": cfg["lr_g"], "D": cfg["lr_d"]})
        a, b = self._batch("A"), self._batch("B")
        fake_b, fake_a = self.G_AB(a), self.G_BA(b)
        adv = (ls.g_loss(self.D_B(fake_b).reshape(-1))
               + ls.g_loss(self.D_A(fake_a).reshape(-1)))
        cyc = cycle_loss(a, self.G_BA(fake_b)) + cycle_loss(b, self.G_AB(fake_a))
        g = adv + cfg["cycle_weight"] * cyc
        idt = None
        if cfg["identity_weight"]:
            idt = l1_loss(self.G_AB(b), b) + l1_loss(self.G_BA(a), a)
            g = g + cfg["identity_weight"] * idt
        self.opt_g.zero_grad()
        g.backward()
        self.opt_g.step()
        # D: real images against fakes from the history pools (no gradient into the Gs).
        pa = Tensor(self.pools["A"].query(fake_a.numpy(), self.rng))
        pb = Tensor(self.pools["B"].query(fake_b.numpy(), self.rng))
        d_a = ls.d_loss(self.D_A(a).reshape(-1), self.D_A(pa).reshape(-1))
        d_b = ls.d_loss(self.D_B(b).reshape(-1), self.D_B(pb).reshape(-1))
        d = d_a + d_b
        self.opt_d.zero_grad()
        d.backward()
        self.opt_d.step()
        return {"d_loss": float(d.array), "g_loss": float(g.array), "cycle": float(cyc.array),
                "adv": float(adv.array),
                "identity": 0.0 if idt is None else float(idt.array)}

    def extra_state(self) -> dict:
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_extra_state(self, st: dict) -> None:
        for k, p in self.pools.items():
            p.load_state_dict(st["pools"][k])

    def translate(self, G: nn.Module, x: np.ndarray, batch: int = 250) -> np.ndarray:
        G.eval()
        with no_grad():
            out = [G(Tensor(x[i:i + batch])).numpy() for i in range(0, len(x), batch)]
        G.train()
        return np.concatenate(out) if out else x[:0]

    def cycle_columns(self, a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        """a | G_AB(a) | G_BA(G_AB(a)) | b | G_BA(b) | G_AB(G_BA(b))."""
        ab, ba = self.translate(self.G_AB, a), self.translate(self.G_BA, b)
        return {"A": a, "A_to_B": ab, "A_to_B_to_A": self.translate(self.G_BA, ab),
                "B": b, "B_to_A": ba, "B_to_A_to_B": self.translate(self.G_AB, ba)}

    def save_pictures(self, tag: str) -> pathlib.Path:
        """Rows of :meth:`cycle_columns` for 8 held-out digits of each domain."""
        path = self.out / "samples" / f"{tag}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cols = self.cycle_columns(self.data["A_test"][::50][:8], self.data["B_test"][::50][:8])
        rows = np.stack(list(cols.values()), axis=1).reshape(-1, *cols["A"].shape[1:])
        plots.save_image_grid(path, rows, nrow=len(cols))
        return path

    def sample_columns(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """:meth:`cycle_columns` of ``n`` held-out digits of each domain drawn by ``seed``
        (``minigan sample``)."""
        from .paired import held_out_pick

        a, b = self.data["A_test"], self.data["B_test"]
        return self.cycle_columns(a[held_out_pick(len(a), n, seed)],
                                  b[held_out_pick(len(b), n, seed)])

    def evaluate(self) -> dict:
        from ...metrics.fidelity import psnr
        from ...metrics.images import frechet_distance

        n = self.cfg["app_eval"] // 2
        d = self.data

        def pick(x: np.ndarray | None) -> np.ndarray | None:
            if x is None:
                return None
            return x[np.unique(np.linspace(0, len(x) - 1, n).round().astype(int))]

        a, ya, b, yb = (pick(d["A_test"]), pick(d["A_test_y"]), pick(d["B_test"]),
                        pick(d["B_test_y"]))
        ab, ba = self.translate(self.G_AB, a), self.translate(self.G_BA, b)
        aba, bab = self.translate(self.G_BA, ab), self.translate(self.G_AB, ba)
        out: dict[str, Any] = {"n_eval_per_domain": int(len(a))}
        # Label-free: how well a full cycle gives the input back (outputs clipped as a saved
        # image would be).
        for name, x, back in (("A", a, aba), ("B", b, bab)):
            back = np.clip(back, -1, 1)
            out[f"cycle_l1_{name}"] = float(np.abs(back - x).mean())
            out[f"cycle_psnr_{name}"] = float(psnr(back, x).mean())
        if not self.judged:
            return out
        clf_a, clf_b = digit_classifier(), domain_classifier()

        def judge(net: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return net.predict_and_embed(colored.gray(x))

        pa, fa = judge(clf_a, a)
        pb, fb = judge(clf_b, b)
        out["accuracy_A_real"] = float((pa.argmax(1) == ya).mean())
        out["accuracy_B_real"] = float((pb.argmax(1) == yb).mean())
        for name, x, net, y in (("A_to_B", ab, clf_b, ya), ("A_to_B_to_A", aba, clf_a, ya),
                                ("B_to_A", ba, clf_a, yb), ("B_to_A_to_B", bab, clf_b, yb)):
            p, f = judge(net, x)
            out[f"accuracy_{name}"] = float((p.argmax(1) == y).mean())
            if name in ("A_to_B", "B_to_A"):
                target = fb if name == "A_to_B" else fa
                out[f"frechet_{name}"] = frechet_distance(f, target)
        # Baselines: the inputs untranslated, against the other domain, in the same spaces.
        out["frechet_A_to_B_untranslated"] = frechet_distance(judge(clf_b, a)[1], fb)
        out["frechet_B_to_A_untranslated"] = frechet_distance(judge(clf_a, b)[1], fa)
        out["accuracy_A_untranslated_by_B_judge"] = float(
            (judge(clf_b, a)[0].argmax(1) == ya).mean())
        out["accuracy_B_untranslated_by_A_judge"] = float(
            (judge(clf_a, b)[0].argmax(1) == yb).mean())
        return out


def _init_normal(m: nn.Module) -> None:
    """Conv weights N(0, 0.02^2), biases 0 (the CycleGAN paper's initialisation)."""
    for name, p in m.named_parameters():
        if name.endswith("weight"):
            p.array[...] = 0.02 * mgrandom.randn(*p.shape).numpy()
        elif name.endswith("bias"):
            p.array[...] = 0
