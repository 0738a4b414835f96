"""Paired image tasks built offline from the digits: (input, target) pairs for super-resolution
and image-to-image translation.

Every pair is a deterministic function of the digit (``inpaint``: of the digit and its index),
so a split's pairs are the same in every run:

* :func:`downsample` -- the low-resolution input of super-resolution: the mean of each
  ``factor`` x ``factor`` block (area downsampling), 28 x 28 -> 14 x 14 or 7 x 7;
* :func:`edges` -- the digit's outline: pixels of the stroke (x > 0) with at least one of their
  4 neighbours outside it, white (1) on black (-1). The translation learns to fill the stroke;
* :func:`inpaint` -- the digit with a square hole (set to the background, -1) at a position
  drawn from the digit's index; the translation learns to restore the stroke.

:func:`paired_digits` gives (inputs, targets, labels) of a split of the offline MNIST digits
(:func:`minigan.data.digits.load_digits`; train 4,000, test 1,000 held out).
"""

from __future__ import annotations

import numpy as np

TASKS = ("sr", "edges", "inpaint")
HOLE = 12  # side of the inpaint task's square hole, pixels


def _nchw(x: np.ndarray, name: str = "images") -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 4:
        raise ValueError(f"{name}: expected images (N, C, H, W), got shape {a.shape}")
    return a


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Area downsampling: y[i, j] = mean of x over the block [i f, (i+1) f) x [j f, (j+1) f)."""
    x = _nchw(images)
    n, c, h, w = x.shape
    if factor < 1 or h % factor or w % factor:
        raise ValueError(f"factor: expected a divisor of the image side {h}x{w}, got {factor}")
    return x.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))


def edges(images: np.ndarray) -> np.ndarray:
    """The stroke's outline (module docstring), in {-1, 1} and the images' dtype."""
    x = _nchw(images)
    inside = x > 0
    pad = np.pad(inside, ((0, 0), (0, 0), (1, 1), (1, 1)))
    interior = pad[:, :, :-2, 1:-1] & pad[:, :, 2:, 1:-1] & pad[:, :, 1:-1, :-2] & \
        pad[:, :, 1:-1, 2:]
    return np.where(inside & ~interior, 1.0, -1.0).astype(x.dtype)


def inpaint(images: np.ndarray, index: np.ndarray, hole: int = HOLE) -> np.ndarray:
    """Each image with a ``hole`` x ``hole`` square set to -1; the square's corner is drawn
    uniformly in the central region from ``index[i]`` (a fixed seed per digit)."""
    x = _nchw(images).copy()
    index = np.asarray(index)
    if index.shape != (len(x),):
        raise ValueError(f"index: expected one index per image ({len(x)}), got {index.shape}")
    h, w = x.shape[2:]
    lo = 4  # keep the hole on the digit: digits sit in the central 20 x 20
    for i, k in enumerate(index):
        r = np.random.default_rng([int(k), 17])
        y0, x0 = r.integers(lo, h - lo - hole + 1), r.integers(lo, w - lo - hole + 1)
        x[i, :, y0:y0 + hole, x0:x0 + hole] = -1.0
    return x


def make_pairs(task: str, images: np.ndarray, index: np.ndarray,
               factor: int = 4) -> np.ndarray:
    """The inputs of ``task`` for targets ``images`` (N, C, S, S) in [-1, 1]: "sr" (downsampled
    by ``factor``), "edges" (the outline of the channel mean, one channel) or "inpaint" (holes
    drawn from ``index``, each image's fixed position in its dataset)."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    y = _nchw(images)
    if task == "sr":
        return downsample(y, factor).astype(np.float32)
    if task == "edges":
        # Colour images: the outline of the grey (channel-mean) image; the mean of one channel
        # is that channel, so digits get exactly their own outline.
        return edges(y.mean(axis=1, keepdims=True).astype(y.dtype) if y.shape[1] > 1 else y)
    return inpaint(y, index)


def paired_digits(task: str, split: str, factor: int = 4) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """(inputs, targets, labels) of ``split`` ("train" or "test") of the offline digits for
    ``task``: "sr" (inputs downsampled by ``factor``), "edges" or "inpaint"; targets are the
    digits themselves, float32 in [-1, 1]."""
    from .digits import file_index, load_digits

    if task not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    data = load_digits(split)
    return make_pairs(task, data.images, file_index(split), factor), data.images, data.labels
