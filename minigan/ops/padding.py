"""Padding by index: reflect, replicate and circular padding of the trailing dims.

Each padded dim is one gather ``x.take(idx, axis)`` with ``idx`` the source position of every
output position (np.pad of arange with the same mode). The backward is the gather's adjoint,
the index-add of the output gradient into the source positions (a source pixel reflected into
the border gets the border's gradient too). ``np.add.at`` would do that one element at a time;
instead ``idx`` is cut into runs of consecutive output positions whose sources step by +1, -1
or 0 (:func:`_index_runs`: at most 5 for these modes), and each run is one slice-add
over every other axis at once (reversed for -1, summed for 0: replicate's border). The two
linear maps are each other's adjoints, so the padding differentiates again to any order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..function import Function
from ..tensor import Tensor, array_module

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


def _index_runs(idx: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``idx`` cut into maximal runs ``(start, stop, first, step)``: output positions
    ``start..stop-1`` read sources ``first, first + step, ...`` with step in {1, -1, 0}."""
    runs, i, m = [], 0, len(idx)
    while i < m:
        step = int(idx[i + 1] - idx[i]) if i + 1 < m else 1
        if step not in (1, -1, 0):
            step = 1  # a jump: a run of one
        j = i + 1
        while j < m and idx[j] - idx[j - 1] == step:
            j += 1
        runs.append((i, j, int(idx[i]), step))
        i = j
    return runs


def _index_add(g: np.ndarray, idx: np.ndarray, n: int, axis: int) -> np.ndarray:
    """out (size n on ``axis``) with out[..., idx[i], ...] += g[..., i, ...], by runs."""
    xp = array_module(g)
    shape = list(g.shape)
    shape[axis] = n
    out = xp.zeros(shape, dtype=g.dtype)
    pre = (slice(None),) * axis
    for start, stop, first, step in _index_runs(idx):
        part = g[pre + (slice(start, stop),)]
        if step == 0:  # replicate's border: all of it lands on one source
            out[pre + (slice(first, first + 1),)] += part.sum(axis=axis, keepdims=True)
        elif step == 1:
            out[pre + (slice(first, first + stop - start),)] += part
        else:  # sources first, first - 1, ...: the same slice, reversed
            last = first - (stop - start - 1)
            out[pre + (slice(last, first + 1),)] += part[pre + (slice(None, None, -1),)]
    return out


class _Take(Function):
    """y = x.take(idx, axis); its backward is :class:`_TakeAdjoint`."""

    @staticmethod
    def forward(ctx, x, idx, axis):
        ctx.idx, ctx.axis, ctx.n = idx, axis, x.shape[axis]
        return array_module(x).take(x, array_module(x).asarray(idx), axis=axis)

    @staticmethod
    def backward(ctx, g):
        return _TakeAdjoint.apply(g, ctx.idx, ctx.axis, ctx.n), None, None


class _TakeAdjoint(Function):
    """The index-add adjoint of :class:`_Take` (sources of size n); its backward is the take."""

    @staticmethod
    def forward(ctx, g, idx, axis, n):
        ctx.idx, ctx.axis = idx, axis
        return _index_add(g, idx, n, axis)

    @staticmethod
    def backward(ctx, gg):
        return _Take.apply(gg, ctx.idx, ctx.axis), None, None, None


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
    for k in range(len(pad) // 2):
        d = x.ndim - 1 - k
        lo, hi = int(pad[2 * k]), int(pad[2 * k + 1])
        if lo == hi == 0:
            continue
        x = _Take.apply(x, pad_index(x.shape[d], lo, hi, mode), d)
    return x
