"""Bias + activation on CuPy arrays: one ``cupy.ElementwiseKernel`` pass per direction.

Same contract as :mod:`minigan.kernels.bias_act` (read it for the maths)::

    forward:   y = act(x + b)                 (b broadcast along channel_axis; None: no bias)
    backward:  gx = gy * act'(y),  gb = sum of gx over every axis but channel_axis

The forward and the gx of the backward are each one fused elementwise kernel (instead of an add,
an activation and their backwards); the bias gradient is a CuPy reduction over gx, accumulated
in float64 and cast back. One kernel object per activation, built on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import bias_act as ref
from ..common.cupy import cached, cupy, float_dtype

# act -> C++ statement computing y from z (stable sigmoid: exp of a non-positive number only;
# relu keeps NaN as NumPy's maximum does).
FORWARD = {
    "none": "y = z",
    "relu": "y = (z > T(0) || z != z) ? z : T(0)",
    "leaky_relu": "y = z > T(0) ? z : z * alpha",
    "tanh": "y = tanh(z)",
    "sigmoid": "const T e = exp(-fabs(z)); y = z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e)",
}
# act -> C++ expression of act'(y), read from the output y (see the reference's docstring).
SLOPE = {
    "none": "T(1)",
    "relu": "(T)(y > T(0))",
    "leaky_relu": "(y > T(0) ? T(1) : alpha)",
    "tanh": "(T(1) - y * y)",
    "sigmoid": "(y * (T(1) - y))",
}


def forward_spec(act: str, with_bias: bool) -> tuple[str, str, str, str]:
    """(in_params, out_params, operation, name) of the forward kernel."""
    ins = "T x, T b, T alpha" if with_bias else "T x, T alpha"
    z = "const T z = x + b;" if with_bias else "const T z = x;"
    return ins, "T y", f"{z} {FORWARD[act]};", f"minigan_bias_{act}"


def backward_spec(act: str) -> tuple[str, str, str, str]:
    """(in_params, out_params, operation, name) of the input-gradient kernel."""
    op = "gx = gy" if act == "none" else f"gx = gy * {SLOPE[act]}"
    return "T gy, T y, T alpha", "T gx", op, f"minigan_bias_{act}_grad"


@cached
def _forward(act: str, with_bias: bool) -> Any:
    return cupy().ElementwiseKernel(*forward_spec(act, with_bias))


@cached
def _backward(act: str) -> Any:
    return cupy().ElementwiseKernel(*backward_spec(act))


def bias_act(x: Any, bias: Any = None, act: str = "none", alpha: float = 0.2,
             channel_axis: int = 1) -> Any:
    """y = act(x + bias) in one kernel; see :func:`minigan.kernels.bias_act.bias_act`."""
    axis = ref.check_args(x.shape, bias, act, alpha, channel_axis)
    if bias is not None:
        ref._check_dtype("bias", bias, x, "x")
    dtype = float_dtype(x=x, bias=bias)
    if dtype is None:
        return ref.bias_act(x, bias, act, alpha, channel_axis)
    a = dtype.type(alpha)
    if bias is None:
        return _forward(act, False)(x, a)
    shape = [1] * x.ndim
    shape[axis] = -1
    return _forward(act, True)(x, bias.reshape(shape), a)


def bias_act_backward(grad_output: Any, y: Any, act: str = "none", alpha: float = 0.2,
                      channel_axis: int = 1, need_bias: bool = True) -> tuple[Any, Any]:
    """(gx, gbias) with gx from one kernel; see
    :func:`minigan.kernels.bias_act.bias_act_backward`."""
    axis = ref.check_args(y.shape, None, act, alpha, channel_axis)
    if tuple(grad_output.shape) != tuple(y.shape):
        raise ValueError(f"grad_output: expected the shape of y {tuple(y.shape)}, got "
                         f"{tuple(grad_output.shape)}")
    ref._check_dtype("y", y, grad_output, "grad_output")
    dtype = float_dtype(grad_output=grad_output, y=y)
    if dtype is None:
        return ref.bias_act_backward(grad_output, y, act, alpha, channel_axis, need_bias)
    gx = _backward(act)(grad_output, y, dtype.type(alpha))
    if not need_bias:
        return gx, None
    others = tuple(a for a in range(y.ndim) if a != axis)
    return gx, gx.sum(axis=others, dtype=np.float64).astype(dtype)
