"""What every real-data reader shares: the error type, the result type, and pixel scaling."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DatasetError(ValueError):
    """A missing, corrupt or unsupported data file; the message names the file and the problem.

    A ValueError, so callers that already report bad input (the CLI exits with code 2) catch it.
    """


class ImageData(NamedTuple):
    """Images ``(N, C, H, W)`` float32 in [-1, 1] and, when the source has them, int64 labels
    ``(N,)``. A NamedTuple, so ``images, labels = load(...)`` works too."""

    images: np.ndarray
    labels: np.ndarray | None


def scale_uint8(pixels: np.ndarray) -> np.ndarray:
    """Map bytes 0..255 to float32 in [-1, 1]: ``x / 127.5 - 1`` (0 -> -1, 255 -> 1 exactly).

    The range of a tanh generator output, so real and fake images are compared on one scale.
    """
    if pixels.dtype != np.uint8:
        raise TypeError(f"pixels: expected uint8, got {pixels.dtype}")
    out = pixels.astype(np.float32)
    out /= np.float32(127.5)
    out -= np.float32(1.0)
    return out


def check_labels(labels: np.ndarray, n: int, source: str) -> np.ndarray:
    """``labels`` as int64 ``(n,)``; a DatasetError naming ``source`` otherwise."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise DatasetError(f"{source}: expected {n} labels (one per image), "
                           f"got an array of shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise DatasetError(f"{source}: expected integer labels, got dtype {labels.dtype}")
    if n and labels.min() < 0:
        raise DatasetError(f"{source}: labels must be >= 0, found {int(labels.min())}")
    return labels.astype(np.int64)
