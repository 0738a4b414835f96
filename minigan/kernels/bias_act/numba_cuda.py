"""Bias + activation as ``numba.cuda.jit`` kernels, with the NumPy reference's signatures
(minigan/kernels/bias_act/).

x is seen as (outer, C, inner) around the channel axis, so element e has channel
(e // inner) % C. The forward is one grid-stride pass, y = act(x + b). The backward is one pass
too: a (C, splits) grid where each block walks a stripe of one channel's elements, writes
gx = gy * act'(y) and adds gx into a float64 partial reduced in shared memory; a second small
launch sums each channel's partials in a fixed order into gbias (deterministic, no atomics).
Arithmetic is in the arrays' dtype, as in the reference.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

from ..common import numba_cuda as common
from . import ACTS, _check_dtype, check_args


@functools.cache
def _kernels(dtype_name: str, BLOCK: int) -> tuple:
    """(forward, backward, backward without gbias, finish) for one dtype and block size."""
    T = common.numba_type(np.dtype(dtype_name))
    f64 = common.numba_type(np.float64)
    zero, one = T(0.0), T(1.0)
    tree_sum = common.tree_sum(BLOCK)

    @cuda.jit(device=True)
    def act_fwd(z, act, alpha):
        # act: index in ACTS = (none, relu, leaky_relu, tanh, sigmoid)
        if act == 1:
            return z if z > zero else zero
        if act == 2:
            return z if z > zero else z * alpha
        if act == 3:
            return math.tanh(z)
        if act == 4:
            e = math.exp(-abs(z))  # <= 1: never overflows (bias_act.py)
            return one / (one + e) if z >= zero else e / (one + e)
        return z

    @cuda.jit(device=True)
    def act_grad(y, act, alpha):
        # The derivative read from the output y (bias_act.py's docstring).
        if act == 1:
            return one if y > zero else zero
        if act == 2:
            return one if y > zero else alpha
        if act == 3:
            return one - y * y
        if act == 4:
            return y * (one - y)
        return one

    @cuda.jit
    def forward(x, b, has_bias, C, inner, act, alpha, y):
        for e in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            z = x[e]
            if has_bias:
                z += b[(e // inner) % C]
            y[e] = act_fwd(z, act, alpha)

    @cuda.jit
    def backward(gy, y, C, inner, act, alpha, gx, partials):
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        c = cuda.blockIdx.x
        s = cuda.blockIdx.y
        count = (y.shape[0] // (C * inner)) * inner
        acc = 0.0
        for k in range(s * BLOCK + tid, count, cuda.gridDim.y * BLOCK):
            o = k // inner
            e = (o * C + c) * inner + (k - o * inner)
            g = gy[e] * act_grad(y[e], act, alpha)
            gx[e] = g
            acc += g
        sh[tid] = acc
        total = tree_sum(sh, tid)
        if tid == 0:
            partials[c, s] = total

    @cuda.jit
    def backward_no_bias(gy, y, act, alpha, gx):
        for e in range(cuda.grid(1), y.shape[0], cuda.gridsize(1)):
            gx[e] = gy[e] * act_grad(y[e], act, alpha)

    @cuda.jit
    def finish(partials, gb):
        for c in range(cuda.grid(1), partials.shape[0], cuda.gridsize(1)):
            acc = 0.0
            for s in range(partials.shape[1]):
                acc += partials[c, s]
            gb[c] = acc

    return forward, backward, backward_no_bias, finish


def _layout(shape: tuple, axis: int) -> tuple[int, int]:
    """(C, inner) of x seen as (outer, C, inner) around ``axis``."""
    return int(shape[axis]), int(math.prod(shape[axis + 1:]))


def bias_act(x: Any, bias: Any = None, act: str = "none", alpha: float = 0.2,
             channel_axis: int = 1) -> Any:
    """y = act(x + bias), bias (C,) broadcast along ``channel_axis`` (None: no bias); act one of
    none, relu, leaky_relu, tanh, sigmoid. Returns a new array of x's dtype."""
    axis = check_args(x.shape, bias, act, alpha, channel_axis)
    dtype = common.float_dtype("x", x)
    if bias is not None:
        _check_dtype("bias", bias, x, "x")
    launch = common.Launch(x=x, bias=bias)
    xp = launch.xp
    flat = xp.ascontiguousarray(x).reshape(-1)
    y = xp.empty_like(flat)
    if flat.size:
        C, inner = _layout(x.shape, axis)
        block = common.BLOCK
        forward = _kernels(dtype.name, block)[0]
        b = bias if bias is not None else xp.empty(1, dtype=dtype)  # never read without bias
        launch(forward, common.blocks_for(flat.size, block), block, flat, b, bias is not None,
               C, inner, ACTS.index(act), dtype.type(alpha), y)
    return y.reshape(x.shape)


def bias_act_backward(grad_output: Any, y: Any, act: str = "none", alpha: float = 0.2,
                      channel_axis: int = 1, need_bias: bool = True) -> tuple[Any, Any]:
    """(gx, gbias): gx = grad_output * act'(y), act' read from the output y; gbias = gx summed
    over every axis but ``channel_axis`` (None unless ``need_bias``)."""
    axis = check_args(y.shape, None, act, alpha, channel_axis)
    if tuple(grad_output.shape) != tuple(y.shape):
        raise ValueError(f"grad_output: expected the shape of y {tuple(y.shape)}, got "
                         f"{tuple(grad_output.shape)}")
    _check_dtype("y", y, grad_output, "grad_output")
    dtype = common.float_dtype("y", y)
    launch = common.Launch(grad_output=grad_output, y=y)
    xp = launch.xp
    gy = xp.ascontiguousarray(grad_output).reshape(-1)
    yf = xp.ascontiguousarray(y).reshape(-1)
    gx = xp.empty_like(yf)
    C, inner = _layout(y.shape, axis)
    block = common.BLOCK
    _, backward, backward_no_bias, finish = _kernels(dtype.name, block)
    code, a = ACTS.index(act), dtype.type(alpha)
    if not need_bias:
        if yf.size:
            launch(backward_no_bias, common.blocks_for(yf.size, block), block, gy, yf, code, a,
                   gx)
        return gx.reshape(y.shape), None
    gb = xp.zeros(C, dtype=dtype)
    if yf.size:
        splits = common.splits_for(yf.size // C, C, block)
        partials = xp.empty((C, splits), dtype=np.float64)
        launch(backward, (C, splits), block, gy, yf, C, inner, code, a, gx, partials)
        launch(finish, common.blocks_for(C, block), block, partials, gb)
    return gx.reshape(y.shape), gb
