"""The ``cuda`` backend of bias + activation: minigan._cuda's kernels (csrc/cuda/bias_act.cu)
with the reference's signatures (:mod:`minigan.kernels.bias_act`). The kernels take the array
folded to C-contiguous (outer, C, inner), channel axis in the middle, as the native backend's.

Forward: one vectorised grid-stride pass. Backward: gx and, when asked, the bias gradient in
the same pass (one block per channel, or 32 neighbouring channels per block when the channel
axis is the last), so gx is never read back.
"""

from __future__ import annotations

from typing import Any

import cupy

from ..common.cuda import as_device, cuda, stream
from . import _check_dtype, check_args


def _fold(shape: tuple, axis: int) -> tuple[int, int, int]:
    outer = 1
    for s in shape[:axis]:
        outer *= int(s)
    inner = 1
    for s in shape[axis + 1:]:
        inner *= int(s)
    return outer, int(shape[axis]), inner


def bias_act(x: Any, bias: Any = None, act: str = "none", alpha: float = 0.2,
             channel_axis: int = 1) -> Any:
    """y = act(x + bias), bias (C,) broadcast along ``channel_axis`` (None: no bias); a new
    array of x's dtype."""
    x = as_device("x", x)
    if bias is not None:
        bias = as_device("bias", bias)
        _check_dtype("bias", bias, x, "x")
    axis = check_args(x.shape, bias, act, alpha, channel_axis)
    x3 = x.reshape(_fold(x.shape, axis))
    out = cupy.empty_like(x3)
    cuda.bias_act(x3, bias, act, float(alpha), out=out, stream=stream())
    return out.reshape(x.shape)


def bias_act_backward(grad_output: Any, y: Any, act: str = "none", alpha: float = 0.2,
                      channel_axis: int = 1, need_bias: bool = True) -> tuple[Any, Any]:
    """(gx, gbias): gx = grad_output * act'(y), gbias = gx summed over every axis but
    ``channel_axis`` (None unless ``need_bias``)."""
    gy, y = as_device("grad_output", grad_output), as_device("y", y)
    axis = check_args(y.shape, None, act, alpha, channel_axis)
    if tuple(gy.shape) != tuple(y.shape):
        raise ValueError(f"grad_output: expected the shape of y {tuple(y.shape)}, got "
                         f"{tuple(gy.shape)}")
    _check_dtype("y", y, gy, "grad_output")
    folded = _fold(y.shape, axis)
    gx = cupy.empty(folded, dtype=y.dtype)
    gb = cupy.empty(folded[1], dtype=y.dtype) if need_bias else None
    cuda.bias_act_backward(gy.reshape(folded), y.reshape(folded), act, float(alpha), out=gx,
                           gbias=gb, stream=stream())
    return gx.reshape(y.shape), gb
