"""The images an application runs on (config key ``dataset``), split into train and held out.

Every real-image dataset the GAN presets read works here (:func:`minigan.data.load`):

* ``digits``: the offline digits' fixed split (4,000 train, 1,000 test, sorted by digit);
* ``mnist-idx:<dir>``, ``fashion-mnist-idx:<dir>``, ``kmnist-idx:<dir>``, ``cifar10:<dir>``,
  ``stacked-digits``: their own train and test files;
* ``folder:<dir>``, ``npz:<file>``, which have no split of their own: every
  ``HOLD_OUT``-th image (positions 4, 9, 14, ... of the file order) is held out.

Images keep their channels and side (square; each app says which sides it takes). Labels are
what the source has: class subfolders of an image folder, the label files of IDX / CIFAR-10;
a flat folder has none, and the apps that need them (``ssgan``, ``minigan study augment``) stop
with a :class:`~minigan.gan.config.ConfigError` naming the key.

The digit classifier (:mod:`minigan.metrics.classifier`) was trained on 1 x 28 x 28 digits, so
its scores apply only there: its feature space (SR's perceptual loss, Fréchet distances) on
1 x 28 x 28 images, its class accuracy on digit datasets (``DIGIT_SETS``); elsewhere the
applications report the pixel scores alone.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..config import ConfigError

HOLD_OUT = 5
DIGIT_SETS = ("digits", "mnist-idx")
DIGIT_SHAPE = (1, 28, 28)
_OWN_SPLITS = ("digits", "mnist-idx", "fashion-mnist-idx", "kmnist-idx", "cifar10",
               "stacked-digits")


class Split(NamedTuple):
    """A split's images (N, C, S, S) float32 in [-1, 1], int64 labels or None, and each
    image's fixed position in the whole dataset (what per-image draws are seeded with)."""

    images: np.ndarray
    labels: np.ndarray | None
    index: np.ndarray


def _kind(name: str) -> str:
    return name.partition(":")[0]


def _readonly(*arrays: np.ndarray | None) -> None:
    for a in arrays:
        if a is not None:
            a.flags.writeable = False


@functools.lru_cache(maxsize=4)
def split(name: str, which: str) -> Split:
    """Split ``which`` ("train" or "test") of dataset ``name`` (module docstring); read once
    per process, read-only."""
    from ...data import load

    if which not in ("train", "test"):
        raise ValueError(f"which: expected 'train' or 'test', got {which!r}")
    kind = _kind(name)
    try:
        if kind == "digits":
            from ...data.digits import file_index, load_digits

            data = load_digits(which)
            index = file_index(which)  # the index the paired tasks always used
        elif kind in _OWN_SPLITS:
            data = load(name, split=which)
            index = np.arange(len(data.images))
            if which == "test":
                index = index + len(load(name, split="train").images)
        else:
            full = load(name)
            pos = np.arange(len(full.images))
            index = pos[(pos % HOLD_OUT == HOLD_OUT - 1) == (which == "test")]
            data = type(full)(full.images[index],
                              None if full.labels is None else full.labels[index])
    except ValueError as e:  # DatasetError included: a missing or unreadable file
        raise ConfigError(f"config key 'dataset': {e}") from None
    images = np.ascontiguousarray(data.images, dtype=np.float32)
    if images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise ConfigError(f"config key 'dataset': {name!r} has images of shape "
                          f"{images.shape[1:]}; the applications need square images")
    if len(images) == 0:
        raise ConfigError(f"config key 'dataset': {name!r} has no {which} images")
    out = Split(images, data.labels, np.asarray(index, np.int64))
    _readonly(*out)
    return out


def need_labels(name: str, labels: np.ndarray | None, task: str) -> np.ndarray:
    """``labels``, or a ConfigError naming ``dataset`` when the source has none."""
    if labels is None:
        raise ConfigError(f"config key 'dataset': {name!r} has no class labels, which "
                          f"{task} needs (an image folder with one subfolder per class, IDX "
                          f"or CIFAR-10 files, or an npz with a labels array)")
    return labels


def need_side(name: str, images: np.ndarray, multiple: int, key: str, minimum: int = 0) -> int:
    """The images' side, or a ConfigError naming ``key`` when it is not a multiple of
    ``multiple`` (or below ``minimum``)."""
    side = int(images.shape[-1])
    if side % multiple or side < minimum:
        raise ConfigError(f"config key '{key}': dataset {name!r} has {side}x{side} images; "
                          f"expected a side divisible by {multiple}"
                          + (f" and at least {minimum}" if minimum else ""))
    return side


def digit_features(images: np.ndarray) -> bool:
    """Whether the digit classifier's feature space applies: 1 x 28 x 28 images."""
    return tuple(images.shape[1:]) == DIGIT_SHAPE


def digit_labels(name: str, images: np.ndarray) -> bool:
    """Whether the digit classifier's class accuracy applies: digits, 1 x 28 x 28."""
    return _kind(name) in DIGIT_SETS and digit_features(images)


def classes_of(labels: np.ndarray) -> int:
    """The number of classes: the largest label + 1."""
    return int(labels.max()) + 1 if len(labels) else 0
