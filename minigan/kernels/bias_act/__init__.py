"""Bias + activation kernels, NumPy reference (works unchanged on CuPy arrays).

    forward:   y = act(x + b)          b broadcast along ``channel_axis`` (b may be None)
    backward:  gx = gy * act'(y),  gb[c] = sum of gx over every axis but ``channel_axis``

act is one of ``none, relu, leaky_relu, tanh, sigmoid``. The backward reads the derivative from
the *output* y, so a layer keeps one array instead of two:

    relu 1[y > 0]     leaky_relu 1 if y > 0 else alpha     tanh 1 - y^2     sigmoid y (1 - y)

(for leaky_relu this needs alpha >= 0, so that y > 0 exactly where x + b > 0; it is checked).
One fused pass instead of separate add, activation and their two backwards is the point of the
compiled versions (numba.py beside this file, csrc/cpu/bias_act.cpp); this file is what they must
equal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ...tensor import array_module
from .. import registry, table

ACTS = ("none", "relu", "leaky_relu", "tanh", "sigmoid")


def check_args(x_shape: tuple, bias: Any, act: str, alpha: float, channel_axis: int) -> int:
    """Validate the arguments shared by every backend; returns channel_axis made non-negative."""
    if act not in ACTS:
        raise ValueError(f"act: expected one of {', '.join(ACTS)}, got {act!r}")
    if act == "leaky_relu" and not alpha >= 0:
        raise ValueError(f"alpha: expected >= 0 for leaky_relu (the backward reads the sign of "
                         f"the output), got {alpha!r}")
    ndim = len(x_shape)
    if not -ndim <= channel_axis < ndim:
        raise ValueError(f"channel_axis: expected an axis of a {ndim}-d array, got {channel_axis}")
    axis = channel_axis % ndim
    if bias is not None and tuple(bias.shape) != (x_shape[axis],):
        raise ValueError(f"bias: expected shape ({x_shape[axis]},) (x.shape[{channel_axis}]), "
                         f"got {tuple(bias.shape)}")
    return axis


def _check_dtype(name: str, a: Any, like: Any, like_name: str) -> None:
    if a.dtype != like.dtype:
        raise TypeError(f"{name}: expected dtype {like.dtype} to match {like_name}, got {a.dtype}")


def bias_act(x: Any, bias: Any = None, act: str = "none", alpha: float = 0.2,
             channel_axis: int = 1) -> Any:
    """y = act(x + bias), bias (C,) broadcast along ``channel_axis`` (None: no bias).
    Returns a new array of x's dtype."""
    axis = check_args(x.shape, bias, act, alpha, channel_axis)
    xp = array_module(x)
    if bias is not None:
        _check_dtype("bias", bias, x, "x")
        shape = [1] * x.ndim
        shape[axis] = -1
        z = x + bias.reshape(shape)
    else:
        z = x.copy()
    if act == "relu":
        return xp.maximum(z, 0, out=z)
    if act == "leaky_relu":
        return xp.where(z > 0, z, z * x.dtype.type(alpha))
    if act == "tanh":
        return xp.tanh(z, out=z)
    if act == "sigmoid":
        # e = exp(-|z|) <= 1 never overflows; 1/(1+e) for z >= 0 and e/(1+e) below are the
        # same function written so that neither side loses precision.
        e = xp.exp(-xp.abs(z))
        return xp.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return z


def bias_act_backward(grad_output: Any, y: Any, act: str = "none", alpha: float = 0.2,
                      channel_axis: int = 1, need_bias: bool = True) -> tuple[Any, Any]:
    """(gx, gbias): gx = grad_output * act'(y) with act' read from the output y (module
    docstring); gbias = gx summed over every axis but ``channel_axis`` (None unless
    ``need_bias``)."""
    axis = check_args(y.shape, None, act, alpha, channel_axis)
    if tuple(grad_output.shape) != tuple(y.shape):
        raise ValueError(f"grad_output: expected the shape of y {tuple(y.shape)}, got "
                         f"{tuple(grad_output.shape)}")
    _check_dtype("y", y, grad_output, "grad_output")
    xp = array_module(y)
    one = y.dtype.type(1)
    if act == "relu":
        gx = grad_output * (y > 0)
    elif act == "leaky_relu":
        gx = grad_output * xp.where(y > 0, one, y.dtype.type(alpha))
    elif act == "tanh":
        gx = grad_output * (one - y * y)
    elif act == "sigmoid":
        gx = grad_output * (y * (one - y))
    else:
        gx = grad_output.copy()
    gx = gx.astype(y.dtype, copy=False)
    if not need_bias:
        return gx, None
    others = tuple(a for a in range(y.ndim) if a != axis)
    return gx, gx.sum(axis=others)


registry.define("bias_act", "bias_act", bias_act)
registry.define("bias_act", "bias_act_backward", bias_act_backward)
for _name in ("bias_act", "bias_act_backward"):
    registry.provide(_name, "numba", f"minigan.kernels.bias_act.numba:{_name}")
    registry.provide(_name, "cupy", f"minigan.kernels.bias_act.cupy:{_name}")
    registry.provide(_name, "numba_cuda", f"minigan.kernels.bias_act.numba_cuda:{_name}")
    registry.provide(_name, "cuda", f"minigan.kernels.bias_act.cuda:{_name}")
    registry.provide(_name, "native", f"minigan.kernels.bias_act.native:{_name}")


# ---- parity table rows ------------------------------------------------------------------------

def _forward_case(shape: tuple, act: str, axis: int = 1, with_bias: bool = True,
                  bench: bool = False) -> table.KernelCase:
    def make(rng: np.random.Generator, dtype: np.dtype) -> tuple[tuple, dict]:
        x = (2 * rng.standard_normal(shape)).astype(dtype)
        b = rng.standard_normal(shape[axis]).astype(dtype) if with_bias else None
        return (x, b, act, 0.2, axis), {}

    n = int(np.prod(shape))
    label = f"{act},{'x'.join(map(str, shape))},axis={axis}{'' if with_bias else ',nobias'}"
    return table.KernelCase("bias_act", label, make, bytes=8.0 * n, bench=bench)


def _backward_case(shape: tuple, act: str, axis: int = 1, bench: bool = False,
                   need_bias: bool = True) -> table.KernelCase:
    def make(rng: np.random.Generator, dtype: np.dtype) -> tuple[tuple, dict]:
        x = (2 * rng.standard_normal(shape)).astype(dtype)
        y = bias_act(x, None, act, 0.2, axis)
        kwargs = {} if need_bias else {"need_bias": False}
        return (rng.standard_normal(shape).astype(dtype), y, act, 0.2, axis), kwargs

    n = int(np.prod(shape))
    label = f"{act},{'x'.join(map(str, shape))},axis={axis}{'' if need_bias else ',nobias'}"
    return table.KernelCase("bias_act_backward", label, make, bytes=12.0 * n, bench=bench)


table.add(
    *(_forward_case((3, 5, 4, 7), act) for act in ACTS),
    *(_backward_case((3, 5, 4, 7), act) for act in ACTS),
    _forward_case((9, 13), "leaky_relu"),                       # a Linear output (N, F)
    _forward_case((2, 3, 11), "tanh", axis=-1),                 # channels last
    _forward_case((5, 1, 3, 3), "sigmoid", with_bias=False),
    _forward_case((1, 4, 1, 1), "relu"),
    _backward_case((9, 13), "leaky_relu"),
    _backward_case((2, 3, 11), "sigmoid", axis=-1),
    _backward_case((6, 1), "tanh"),
    # how ops.activation calls a plain relu/leaky_relu: the whole tensor as one (1, size) row,
    # no bias; an odd size above the kernels' parallel grain, split over the threads unevenly
    *(_forward_case((1, 100003), act, axis=0, with_bias=False) for act in ("relu", "leaky_relu")),
    *(_backward_case((1, 100003), act, axis=0, need_bias=False)
      for act in ("relu", "leaky_relu")),
    # NaN/inf in x, bias, grad_output, y: propagated as the reference does (relu keeps a NaN)
    *(table.nonfinite(_forward_case((3, 5, 4, 7), act), arg) for act in ACTS for arg in (0, 1)),
    *(table.nonfinite(_backward_case((3, 5, 4, 7), act), arg) for act in ACTS for arg in (0, 1)),
    # benchmark sizes: the D's second conv output and the G's first BN input in dcgan-mnist
    _forward_case((64, 128, 7, 7), "leaky_relu", bench=True),
    _backward_case((64, 128, 7, 7), "leaky_relu", bench=True),
    _forward_case((64, 128, 14, 14), "relu", bench=True),
    _backward_case((64, 128, 14, 14), "relu", bench=True),
    _forward_case((64, 6272), "tanh", bench=True),
    # on a GPU also 16M elements, where HBM bandwidth is judged (see gan_loss's GPU rows)
    *(replace(c, devices=("cuda",)) for c in (
        _forward_case((256, 128, 32, 16), "leaky_relu", bench=True),
        _backward_case((256, 128, 32, 16), "leaky_relu", bench=True))),
)
