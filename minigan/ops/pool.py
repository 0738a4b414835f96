"""Spatial resampling: average pooling and nearest-neighbour upsampling (NCHW).

Both are linear, composed from differentiable ops (reshape/expand/mean, or a depthwise conv2d
with a constant weight), so their gradients differentiate again to any order.
"""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor, array_module
from .conv import _pair, conv2d
from .reduce import mean
from .shape import expand, getitem, reshape


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
