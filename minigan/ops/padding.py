"""Padding by index: reflect, replicate and circular padding of the trailing dims.

Each padded dim is one gather ``x.take(idx, axis)`` with ``idx`` the source position of every
output position (np.pad of arange with the same mode), so the backward is the gather's adjoint
(index-add: a source pixel reflected into the border gets the border's gradient too), and it
differentiates again to any order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tensor import Tensor, array_module
from .shape import getitem

_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """Source index of each of the n + lo + hi output positions of a dim of size n.

    reflect mirrors about the edge without repeating it (needs lo, hi < n), replicate repeats
    the edge, circular wraps around (needs lo, hi <= n)."""
    if mode not in _NUMPY_MODE:
        raise ValueError(f"mode: expected one of {tuple(_NUMPY_MODE)}, got {mode!r}")
    if mode == "reflect" and max(lo, hi) >= n:
        raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the dim's "
                         f"size {n}")
    if mode == "circular" and max(lo, hi) > n:
        raise ValueError(f"pad: circular padding ({lo}, {hi}) must be at most the dim's size {n}")
    return np.pad(np.arange(n), (lo, hi), mode=_NUMPY_MODE[mode])


def pad_by_index(x: Tensor, pad: Sequence[int], mode: str) -> Tensor:
    """Pad x with PyTorch's spec ``pad = (left, right, top, bottom, ...)`` (last dim first):

        y[..., i, j] = x[..., idx_h[i], idx_w[j]]

    with idx from :func:`pad_index`. mode is 'reflect', 'replicate' or 'circular'."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of sizes, at most 2 per dim of a "
                         f"{x.ndim}-D input, got {pad}")
    if any(not isinstance(p, (int, np.integer)) or p < 0 for p in pad):
        raise ValueError(f"pad: expected non-negative ints for mode {mode!r}, got {pad}")
    xp = array_module(x.array)
    for k in range(len(pad) // 2):
        d = x.ndim - 1 - k
        lo, hi = int(pad[2 * k]), int(pad[2 * k + 1])
        if lo == hi == 0:
            continue
        idx = xp.asarray(pad_index(x.shape[d], lo, hi, mode))
        x = getitem(x, (slice(None),) * d + (idx,))
    return x
