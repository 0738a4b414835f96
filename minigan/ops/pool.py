"""Pooling and nearest-neighbour upsampling (NCHW): avg_pool2d, adaptive_avg_pool2d,
max_pool2d, upsample_nearest.

All are composed from differentiable ops (reshape/expand/mean, a depthwise conv2d with a
constant weight, or a gather at the window's arg-max), so their gradients differentiate again
to any order.
"""

from __future__ import annotations

from typing import Any

import math

from ..tensor import Tensor, array_module
from .conv import _pair, conv2d
from .reduce import mean
from .shape import expand, getitem, pad, reshape, stack


def _check_nchw(op: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got {x.dtype}")


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Mean over each (kh, kw) window of x (N, C, H, W), PyTorch's default semantics
    (count_include_pad=True, ceil_mode=False):

        y[n, c, p, q] = 1/(kh*kw) * sum_{i<kh, j<kw} x[n, c, p*sh - ph + i, q*sw - pw + j]

    with x zero in the padding (the padding counts in the divisor). stride defaults to
    kernel_size; OH = (H + 2*ph - kh) // sh + 1. padding may be at most half the kernel."""
    _check_nchw("avg_pool2d", x)
    k = _pair("kernel_size", kernel_size, 1)
    s = k if stride is None else _pair("stride", stride, 1)
    p = _pair("padding", padding, 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding: must be at most half the kernel size {k}, got {p}")
    N, C, H, W = x.shape
    if H + 2 * p[0] < k[0] or W + 2 * p[1] < k[1]:
        raise ValueError(f"avg_pool2d: kernel {k} is larger than the padded input "
                         f"({H + 2 * p[0]}, {W + 2 * p[1]})")
    if s == k and p == (0, 0):
        # Non-overlapping windows (the usual 2x2 downsample): crop the ragged edge, then a
        # reshape exposes each window as two axes to average over. No im2col needed.
        oh, ow = H // k[0], W // k[1]
        if (oh * k[0], ow * k[1]) != (H, W):
            x = getitem(x, (slice(None), slice(None), slice(0, oh * k[0]), slice(0, ow * k[1])))
        return mean(reshape(x, (N, C, oh, k[0], ow, k[1])), axis=(3, 5))
    # General case: a depthwise convolution with a constant averaging kernel (no gradient).
    xp = array_module(x.array)
    w = Tensor(xp.full((C, 1, k[0], k[1]), 1.0 / (k[0] * k[1]), dtype=x.dtype))
    return conv2d(x, w, stride=s, padding=p, groups=C)


def upsample_nearest(x: Tensor, scale_factor: Any) -> Tensor:
    """Nearest-neighbour upsampling by integer factors (sh, sw):
    y[n, c, h, w] = x[n, c, h // sh, w // sw], shape (N, C, H*sh, W*sw).

    Built as broadcast + reshape, so the backward is broadcast's adjoint: each input pixel gets
    the sum of the gradient over its (sh, sw) block."""
    _check_nchw("upsample_nearest", x)
    sh, sw = _pair("scale_factor", scale_factor, 1)
    N, C, H, W = x.shape
    blocks = expand(reshape(x, (N, C, H, 1, W, 1)), (N, C, H, sh, W, sw))
    return reshape(blocks, (N, C, H * sh, W * sw))


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """y[n, c, p, q] = max_{i<kh, j<kw} x[n, c, p*sh - ph + i*dh, q*sw - pw + j*dw], the padding
    being -inf. The gradient goes to the first arg-max of each window (as PyTorch), because
    the op is a gather at those positions. ``return_indices`` also returns each max's flat
    index h*W + w into its (H, W) plane."""
    _check_nchw("max_pool2d", x)
    k = _pair("kernel_size", kernel_size, 1)
    s = k if stride is None or stride == [] else _pair("stride", stride, 1)
    p, d = _pair("padding", padding, 0), _pair("dilation", dilation, 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding: must be at most half the kernel size {k}, got {p}")
    n, c, h, w = x.shape
    sizes = []
    for ax in (0, 1):
        span = (h, w)[ax] + 2 * p[ax] - d[ax] * (k[ax] - 1) - 1
        if span < 0:
            raise ValueError(f"max_pool2d: kernel {k} (dilation {d}) is larger than the padded "
                             f"input {(h + 2 * p[0], w + 2 * p[1])}")
        o = (math.ceil(span / s[ax]) if ceil_mode else span // s[ax]) + 1
        if ceil_mode and (o - 1) * s[ax] >= (h, w)[ax] + p[ax]:
            o -= 1  # the last window must start inside the input or its left padding
        sizes.append(o)
    oh, ow = sizes
    xp = array_module(x.array)
    # Enough right/bottom padding for ceil_mode's partial windows; -inf never wins.
    extra = [max(0, (sizes[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 - ((h, w)[a] + 2 * p[a]))
             for a in (0, 1)]
    xpad = pad(x, ((0, 0), (0, 0), (p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])),
               float("-inf"))
    rows = (xp.arange(oh) * s[0])[:, None] + xp.arange(k[0]) * d[0]          # (oh, kh)
    cols = (xp.arange(ow) * s[1])[:, None] + xp.arange(k[1]) * d[1]          # (ow, kw)
    win = xpad.array[:, :, rows[:, None, :, None], cols[None, :, None, :]]   # (N,C,oh,ow,kh,kw)
    best = win.reshape(n, c, oh, ow, -1).argmax(axis=-1)                     # first max
    r = rows[xp.arange(oh)[:, None], best // k[1]]
    q = cols[xp.arange(ow)[None, :], best % k[1]]
    key = (xp.arange(n)[:, None, None, None], xp.arange(c)[None, :, None, None], r, q)
    y = getitem(xpad, key)
    if return_indices:
        return y, Tensor((r - p[0]) * w + (q - p[1]))
    return y


def _bins(n_in: int, n_out: int) -> list:
    # PyTorch's adaptive bins: [floor(i n_in / n_out), ceil((i + 1) n_in / n_out)).
    return [(i * n_in // n_out, -(-(i + 1) * n_in // n_out)) for i in range(n_out)]


def adaptive_avg_pool2d(x: Tensor, output_size: Any) -> Tensor:
    """Average over the adaptive bins of each output cell: rows
    [floor(i H/OH), ceil((i+1) H/OH)), columns likewise (bins may overlap when OH does not
    divide H). ``output_size`` is an int or (OH, OW); None in a slot keeps the input's size."""
    _check_nchw("adaptive_avg_pool2d", x)
    n, c, h, w = x.shape
    size = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    oh, ow = (h if size[0] is None else size[0]), (w if size[1] is None else size[1])
    _pair("output_size", (oh, ow), 1)
    if h % oh == 0 and w % ow == 0:
        return mean(reshape(x, (n, c, oh, h // oh, ow, w // ow)), axis=(3, 5))
    cells = [[mean(getitem(x, (slice(None), slice(None), slice(*rb), slice(*cb))), axis=(2, 3))
              for cb in _bins(w, ow)] for rb in _bins(h, oh)]
    return stack([stack(row, axis=2) for row in cells], axis=2)
