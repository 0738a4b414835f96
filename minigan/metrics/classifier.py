"""The digit classifier behind the image scores, trained with minigan itself and cached.

A small CNN on 28x28 digits in [-1, 1]:

    conv 3x3 (1 -> c1) -> ReLU -> 2x2 max-pool     28 -> 26 -> 13
    conv 3x3 (c1 -> c2) -> ReLU -> 2x2 max-pool    13 -> 11 -> 5
    flatten -> dropout -> linear -> ReLU           (the *feature layer*, ``hidden`` wide)
    dropout -> linear -> 10 logits

trained with minigan's own autograd and Adam (cosine learning-rate decay, random shifts of up
to ``shift`` pixels, rotations, zooms) on the 4,000-digit train split of the offline MNIST digits
(:func:`minigan.data.digits.load_digits`), and scored on the 1,000-digit test split.

Training happens once: the weights go to ``$MINIGAN_CACHE_DIR`` (default ``~/.cache/minigan``)
as a checksummed checkpoint (:func:`minigan.gan.checkpoint.save`, atomic) named by a hash of
the recipe and of the digits file. :func:`get_classifier` loads it when present and valid, and
retrains -- never crashes -- when the file is missing, corrupt, or from another recipe.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from .. import random as mgrandom
from ..ops import cross_entropy, relu, softmax
from ..ops import max as _max
from ..tensor import Tensor, no_grad

FORMAT = "minigan-digit-classifier-1"

# The recipe is everything that decides the weights; its hash names the cache file.
# 24 epochs: with 16, held-out accuracy sat on the 98% bar and moved with float32 rounding
# (98.1% with im2col + BLAS convolutions, 97.8% with the AVX-512 kernels); with 24 it was 98.3%
# (numpy backend), 98.5% (native) and 98.7% (numba) on the 1,000 test digits.
DEFAULT_RECIPE: dict[str, Any] = {
    "channels": [32, 64], "hidden": 128, "dropout": 0.25,
    "epochs": 24, "batch_size": 64, "lr": 2e-3, "shift": 2.0, "rotate": 10.0,
    "scale": 0.1, "seed": 0,
    "train_limit": None,  # train on a random n of the train digits (quick test recipes)
}


def _max_pool2(x: Tensor) -> Tensor:
    """2x2 max-pool, stride 2, ragged edge dropped: a reshape exposes each window as two axes."""
    n, c, h, w = x.shape
    oh, ow = h // 2, w // 2
    if (2 * oh, 2 * ow) != (h, w):
        x = x[:, :, :2 * oh, :2 * ow]
    return _max(x.reshape(n, c, oh, 2, ow, 2), axis=(3, 5))


class DigitClassifier(nn.Module):
    """The CNN above. ``forward`` gives logits; ``features`` the feature layer's activations;
    the NumPy helpers (``predict_proba``, ``embed``, ``predict_and_embed``) run in batches in
    evaluation mode without recording a graph."""

    def __init__(self, channels: list[int] | tuple[int, int] = (32, 64), hidden: int = 128,
                 dropout: float = 0.25, in_channels: int = 1, image_size: int = 28,
                 n_classes: int = 10) -> None:
        super().__init__()
        c1, c2 = channels
        # The same network on other images (the semi-supervised GAN, the augment study):
        # side s -> conv (s - 2) -> pool -> conv -> pool q = ((s - 2) // 2 - 2) // 2.
        q = ((image_size - 2) // 2 - 2) // 2
        if q < 1:
            raise ValueError(f"image_size: expected at least 10 pixels, got {image_size}")
        self.shape = (in_channels, image_size, image_size)
        self.conv1 = nn.Conv2d(in_channels, c1, 3)
        self.conv2 = nn.Conv2d(c1, c2, 3)
        self.fc = nn.Linear(c2 * q * q, hidden)
        self.out = nn.Linear(hidden, n_classes)
        self.drop = nn.Dropout(dropout)
        self.test_accuracy: float | None = None  # set when trained or loaded
        self.recipe: dict | None = None

    def features(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"x: expected images (N, {', '.join(map(str, self.shape))}), got "
                             f"{tuple(x.shape)}")
        h = _max_pool2(relu(self.conv1(x)))
        h = _max_pool2(relu(self.conv2(h)))
        return relu(self.fc(self.drop(h.reshape(h.shape[0], -1))))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(self.features(x)))

    def predict_and_embed(self, images: np.ndarray,
                          batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities (N, classes) and features (N, hidden), float64, of images
        (N, 1, 28, 28) (the network's ``shape``) in [-1, 1]."""
        x = np.asarray(images, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != self.shape:
            raise ValueError(f"images: expected (N, {', '.join(map(str, self.shape))}) in "
                             f"[-1, 1], got {x.shape}")
        was_training = self.training
        self.eval()
        probs, feats = [], []
        try:
            with no_grad():
                for i in range(0, len(x), batch_size):
                    f = self.features(Tensor(x[i:i + batch_size]))
                    probs.append(softmax(self.out(f), axis=1).numpy().astype(np.float64))
                    feats.append(f.numpy().astype(np.float64))
        finally:
            self.train(was_training)
        hidden = self.out.in_features
        return (np.concatenate(probs) if probs else np.zeros((0, self.out.out_features)),
                np.concatenate(feats) if feats else np.zeros((0, hidden)))

    def predict_proba(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        return self.predict_and_embed(images, batch_size)[0]

    def embed(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        return self.predict_and_embed(images, batch_size)[1]

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        return float((self.predict_proba(images).argmax(1) == np.asarray(labels)).mean())


def _augment(x: np.ndarray, shift: float, rotate: float, scale: float,
             rng: np.random.Generator) -> np.ndarray:
    """Each image under its own random affine map: rotation by up to ``rotate`` degrees and
    zoom by a factor in [1 - scale, 1 + scale] about the centre, then a shift of up to
    ``shift`` pixels per axis (see :func:`affine`)."""
    if not (shift or rotate or scale):
        return x
    n = len(x)
    ty, tx = rng.uniform(-shift, shift, (2, n))
    return affine(x, rng.uniform(-rotate, rotate, n), rng.uniform(1 - scale, 1 + scale, n),
                  ty, tx)


def affine(x: np.ndarray, degrees: np.ndarray, zoom: np.ndarray, ty: np.ndarray,
           tx: np.ndarray) -> np.ndarray:
    """Images (n, c, h, w) each rotated by ``degrees[i]`` and zoomed by ``zoom[i]`` about the
    centre, then shifted by (ty[i], tx[i]) pixels: output pixel p reads the input at
    A^-1 (p - c - t) + c, bilinearly interpolated, with background (-1) outside."""
    n, c, h, w = x.shape
    ang = np.deg2rad(np.asarray(degrees, np.float64))[:, None, None]
    zoom = np.asarray(zoom, np.float64)[:, None, None]
    ty = np.asarray(ty, np.float64)[:, None, None]
    tx = np.asarray(tx, np.float64)[:, None, None]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dy, dx = yy - cy - ty, xx - cx - tx
    cos, sin = np.cos(ang), np.sin(ang)
    sy = (cos * dy - sin * dx) / zoom + cy + 1  # +1: coordinates in the padded image
    sx = (sin * dy + cos * dx) / zoom + cx + 1
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-1.0)
    y0, x0 = np.floor(sy), np.floor(sx)
    wy, wx = (sy - y0)[:, None], (sx - x0)[:, None]
    b = np.arange(n)[:, None, None]

    def at(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        # Indices clipped into the padded image land on its -1 border: background.
        yi = np.clip(yi, 0, h + 1).astype(np.intp)
        xi = np.clip(xi, 0, w + 1).astype(np.intp)
        return pad[b, :, yi, xi].transpose(0, 3, 1, 2)  # (n, h, w, c) -> (n, c, h, w)

    out = ((1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1))
           + wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1)))
    return out.astype(x.dtype)


def train_classifier(recipe: dict | None = None,
                     log: Callable[[str], None] | None = None) -> DigitClassifier:
    """Train a :class:`DigitClassifier` by ``recipe`` (keys of :data:`DEFAULT_RECIPE`) on the
    train digits and set its ``test_accuracy`` on the test digits. minigan's global random
    state is restored afterwards, so training here does not change a caller's draws."""
    from ..data.digits import load_digits
    from ..optim import Adam

    r = _full_recipe(recipe)
    train, test = load_digits("train"), load_digits("test")
    images, labels = train.images, train.labels
    if r["train_limit"]:  # a seeded random subset: the file is sorted by digit
        keep = np.random.default_rng([r["seed"], 2]).permutation(len(labels))[:r["train_limit"]]
        images, labels = images[keep], labels[keep]
    saved = mgrandom.get_rng_state()
    t0 = time.perf_counter()
    try:
        mgrandom.manual_seed(r["seed"])
        net = DigitClassifier(r["channels"], r["hidden"], r["dropout"])
        opt = Adam(net.parameters(), lr=r["lr"])
        rng = np.random.default_rng([r["seed"], 1])
        n, bs = len(images), r["batch_size"]
        total, it = r["epochs"] * math.ceil(n / bs), 0
        for epoch in range(r["epochs"]):
            order = rng.permutation(n)
            for i in range(0, n, bs):
                # Cosine decay to 0: the last epochs settle instead of bouncing between minima.
                opt.param_groups[0]["lr"] = r["lr"] * 0.5 * (1 + math.cos(math.pi * it / total))
                it += 1
                idx = order[i:i + bs]
                x = Tensor(_augment(images[idx], r["shift"], r["rotate"], r["scale"], rng))
                loss = cross_entropy(net(x), Tensor(labels[idx]))
                opt.zero_grad()
                loss.backward()
                opt.step()
            if log is not None:
                log(f"digit classifier: epoch {epoch + 1}/{r['epochs']}, loss "
                    f"{float(loss.array):.3f}, {time.perf_counter() - t0:.0f}s")
    finally:
        mgrandom.set_rng_state(saved)
    net.eval()
    net.recipe = r
    net.test_accuracy = net.accuracy(test.images, test.labels)
    net.train_seconds = time.perf_counter() - t0
    if log is not None:
        log(f"digit classifier: held-out accuracy {100 * net.test_accuracy:.2f}% on "
            f"{len(test.labels)} test digits")
    return net


def _full_recipe(recipe: dict | None) -> dict:
    r = copy.deepcopy(DEFAULT_RECIPE)
    unknown = sorted(set(recipe or {}) - set(r))
    if unknown:
        raise ValueError(f"recipe: unknown key(s) {', '.join(unknown)}; valid: {', '.join(r)}")
    r.update(copy.deepcopy(recipe or {}))
    r["channels"] = [int(c) for c in r["channels"]]  # JSON-stable: lists, never tuples
    return r


# ---- the cache --------------------------------------------------------------------------------

def cache_dir() -> pathlib.Path:
    """``$MINIGAN_CACHE_DIR``, else ``~/.cache/minigan``."""
    env = os.environ.get("MINIGAN_CACHE_DIR")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "minigan"


@functools.lru_cache(maxsize=4)
def _file_sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_sha256() -> str:
    """SHA-256 of the digits file the classifier trains on."""
    from ..data.digits import digits_path

    return _file_sha256(digits_path())


def recipe_key(recipe: dict | None = None) -> str:
    """A short hash of the full recipe and the digits file: the cache file's name."""
    text = json.dumps({"format": FORMAT, "recipe": _full_recipe(recipe), "data": data_sha256()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(recipe: dict | None = None,
               directory: str | os.PathLike | None = None) -> pathlib.Path:
    root = pathlib.Path(directory) if directory is not None else cache_dir()
    return root / f"digit-classifier-{recipe_key(recipe)}.npz"


def _from_state(st: dict, recipe: dict) -> DigitClassifier:
    if st.get("format") != FORMAT:
        raise ValueError(f"format {st.get('format')!r}, expected {FORMAT!r}")
    if st.get("recipe") != recipe or st.get("data_sha256") != data_sha256():
        raise ValueError("it was trained by another recipe or on another digits file")
    net = DigitClassifier(recipe["channels"], recipe["hidden"], recipe["dropout"])
    net.load_state_dict(st["state"])
    net.eval()
    net.recipe, net.test_accuracy = recipe, float(st["test_accuracy"])
    net.train_seconds = float(st["train_seconds"])
    return net


def get_classifier(recipe: dict | None = None, directory: str | os.PathLike | None = None,
                   retrain: bool = False,
                   log: Callable[[str], None] | None = None) -> DigitClassifier:
    """The digit classifier for ``recipe``: from the cache when a valid file is there,
    otherwise trained now (a couple of minutes for the default recipe) and cached."""
    from ..gan import checkpoint

    r = _full_recipe(recipe)
    path = cache_path(r, directory)
    if path.exists() and not retrain:
        try:
            return _from_state(checkpoint.load(path), r)
        except (checkpoint.CheckpointError, ValueError, KeyError, TypeError) as e:
            if log is not None:
                log(f"digit classifier: cached {path} is unusable ({e}); retraining")
    elif log is not None:
        log(f"digit classifier: none cached yet; training it once now (a couple of minutes "
            f"on a CPU; cached afterwards in {path})")
    net = train_classifier(r, log)
    checkpoint.save(path, {"format": FORMAT, "recipe": r, "data_sha256": data_sha256(),
                           "state": net.state_dict(), "test_accuracy": net.test_accuracy,
                           "train_seconds": net.train_seconds})
    return net
