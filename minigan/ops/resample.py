"""Resampling of (N, C, H, W) images: interpolate (nearest, bilinear, bicubic) and the sub-pixel
rearrangements pixel_shuffle / pixel_unshuffle.

All are gathers with constant indices and constant weights, or reshapes and permutes, so their
gradients are the adjoint gathers and differentiate again to any order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import Tensor, array_module
from .elementwise import const
from .pool import _check_nchw, upsample_nearest
from .shape import getitem, permute, reshape


def _output_size(x: Tensor, size: Any, scale_factor: Any) -> tuple:
    """(OH, OW) and the source-per-output scales (sh, sw) PyTorch uses: 1/scale_factor when a
    scale factor is given, else in/out."""
    h, w = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("size, scale_factor: give exactly one of them")
    if size is not None:
        hw = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(hw) != 2 or any(int(s) < 1 for s in hw):
            raise ValueError(f"size: expected a positive int or pair of ints, got {size!r}")
        oh, ow = int(hw[0]), int(hw[1])
        return (oh, ow), (h / oh, w / ow)
    sf = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else \
        (scale_factor, scale_factor)
    if len(sf) != 2 or any(not isinstance(s, (int, float)) or s <= 0 for s in sf):
        raise ValueError(f"scale_factor: expected a positive number or pair, got "
                         f"{scale_factor!r}")
    return (math.floor(h * sf[0]), math.floor(w * sf[1])), (1 / sf[0], 1 / sf[1])


def _nearest_index(n_out: int, n_in: int, scale: float) -> np.ndarray:
    # PyTorch's 'nearest': src = floor(dst * scale), clamped to the last pixel.
    return np.minimum(np.floor(np.arange(n_out) * scale).astype(np.int64), n_in - 1)


def _linear_taps(n_out: int, n_in: int, scale: float, align_corners: bool) -> tuple:
    """For each output position: the two source indices and the weight of the second,
    src = dst * (n_in - 1)/(n_out - 1) (align_corners) or (dst + 0.5) * scale - 0.5 clamped
    at 0 (half-pixel centres, PyTorch's default)."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Keys' cubic convolution weights (a = -0.75, PyTorch's choice) of the four taps at
    offsets -1, 0, 1, 2 from floor(src), for fractional parts ``t`` of shape (n,) -> (n, 4):
    W(d) = (a+2)|d|^3 - (a+3)|d|^2 + 1 for |d| <= 1, a|d|^3 - 5a|d|^2 + 8a|d| - 4a for
    1 < |d| < 2. They sum to 1 for every t."""
    def near(d: np.ndarray) -> np.ndarray:
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: np.ndarray) -> np.ndarray:
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)


def _cubic_taps(n_out: int, n_in: int, scale: float, align_corners: bool) -> tuple:
    """Source indices (n_out, 4), clamped into [0, n_in - 1] (PyTorch repeats the border
    pixel), and their weights (n_out, 4). Unlike bilinear, src is not clamped at 0."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        src = (dst + 0.5) * scale - 0.5
    i0 = np.floor(src)
    idx = np.clip(i0[:, None] + np.arange(-1, 3), 0, n_in - 1).astype(np.int64)
    return idx, cubic_weights(src - i0)


def _bicubic(x: Tensor, oh: int, ow: int, sh: float, sw: float, align_corners: bool) -> Tensor:
    """y[i, j] = sum_{p,q} Wh[i, p] Ww[j, q] x[hidx[i, p], widx[j, q]]: rows then columns,
    each a weighted sum of four gathers."""
    xp = array_module(x.array)
    hidx, hw = _cubic_taps(oh, x.shape[2], sh, align_corners)
    widx, ww = _cubic_taps(ow, x.shape[3], sw, align_corners)
    rows = None
    for k in range(4):
        term = getitem(x, (slice(None), slice(None), xp.asarray(hidx[:, k]))) * \
            const(xp.asarray(hw[:, k:k + 1], dtype=x.dtype))
        rows = term if rows is None else rows + term
    out = None
    for k in range(4):
        term = getitem(rows, (Ellipsis, xp.asarray(widx[:, k]))) * \
            const(xp.asarray(ww[:, k], dtype=x.dtype))
        out = term if out is None else out + term
    return out


def interpolate(x: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None) -> Tensor:
    """Resize (N, C, H, W) input to ``size`` or by ``scale_factor``.

    nearest: y[.., i, j] = x[.., floor(i sh), floor(j sw)].
    bilinear: y = (1-a)(1-b) x[i0, j0] + (1-a) b x[i0, j1] + a (1-b) x[i1, j0] + a b x[i1, j1]
    with the taps of :func:`_linear_taps` (``align_corners`` as in PyTorch, default False).
    bicubic: Keys' cubic convolution (a = -0.75) over 4x4 taps (:func:`_cubic_taps`), as
    PyTorch's; like PyTorch's, its output may overshoot the input's range.
    """
    _check_nchw("interpolate", x)
    if mode not in ("nearest", "bilinear", "bicubic"):
        raise ValueError(f"mode: expected 'nearest', 'bilinear' or 'bicubic', got {mode!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners: only valid with mode='bilinear' or 'bicubic'")
    (oh, ow), (sh, sw) = _output_size(x, size, scale_factor)
    if recompute_scale_factor:
        sh, sw = x.shape[2] / oh, x.shape[3] / ow
    h, w = x.shape[2:]
    xp = array_module(x.array)
    if mode == "nearest":
        if oh % h == 0 and ow % w == 0 and (sh, sw) == (h / oh, w / ow):
            return upsample_nearest(x, (oh // h, ow // w))  # a broadcast: cheaper than a gather
        x = getitem(x, (slice(None), slice(None), xp.asarray(_nearest_index(oh, h, sh))))
        return getitem(x, (Ellipsis, xp.asarray(_nearest_index(ow, w, sw))))
    if mode == "bicubic":
        return _bicubic(x, oh, ow, sh, sw, bool(align_corners))
    h0, h1, a = _linear_taps(oh, h, sh, bool(align_corners))
    w0, w1, b = _linear_taps(ow, w, sw, bool(align_corners))
    a = const(xp.asarray(a.reshape(-1, 1), dtype=x.dtype))
    b = const(xp.asarray(b, dtype=x.dtype))

    def rows(idx: np.ndarray) -> Tensor:
        return getitem(x, (slice(None), slice(None), xp.asarray(idx)))

    def cols(t: Tensor) -> Tensor:
        return getitem(t, (Ellipsis, xp.asarray(w0))) * (1 - b) + \
            getitem(t, (Ellipsis, xp.asarray(w1))) * b

    return cols(rows(h0)) * (1 - a) + cols(rows(h1)) * a


def pixel_shuffle(x: Tensor, upscale_factor: int) -> Tensor:
    """(N, C r^2, H, W) -> (N, C, H r, W r):
    y[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w]."""
    r = int(upscale_factor)
    if x.ndim != 4 or r < 1 or x.shape[1] % (r * r):
        raise ValueError(f"x: pixel_shuffle needs (N, C*{r}^2, H, W) input, got {x.shape}")
    n, c, h, w = x.shape
    y = permute(reshape(x, (n, c // (r * r), r, r, h, w)), (0, 1, 4, 2, 5, 3))
    return reshape(y, (n, c // (r * r), h * r, w * r))


def pixel_unshuffle(x: Tensor, downscale_factor: int) -> Tensor:
    """The inverse of pixel_shuffle: (N, C, H r, W r) -> (N, C r^2, H, W)."""
    r = int(downscale_factor)
    if x.ndim != 4 or r < 1 or x.shape[2] % r or x.shape[3] % r:
        raise ValueError(f"x: pixel_unshuffle needs (N, C, H, W) with H and W divisible by {r}, "
                         f"got {x.shape}")
    n, c, h, w = x.shape
    y = permute(reshape(x, (n, c, h // r, r, w // r, r)), (0, 1, 3, 5, 2, 4))
    return reshape(y, (n, c * r * r, h // r, w // r))
