"""Numba backend of the bias + activation family: one fused pass forward, one backward.

Arrays are folded to (outer, C, inner) around the channel axis (as in csrc/cpu/bias_act.cpp);
the activation is an int code, so one compiled loop per dtype serves all five. Compiled on first
call and cached on disk (``cache=True``). Semantics: :mod:`minigan.kernels.bias_act`.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from ... import backends
from . import ACTS, check_args

numba.set_num_threads(min(backends.num_threads(), numba.config.NUMBA_NUM_THREADS))

_CODE = {name: i for i, name in enumerate(ACTS)}  # none, relu, leaky_relu, tanh, sigmoid


# Serial spans plus a parallel driver, as in conv/numba.py: small arrays skip the parallel
# region, whose barrier is slow on a loaded machine.
GRAIN = 1 << 15


@numba.njit(cache=True)
def _forward_span(x, b, has_bias, y, code, alpha, lo, hi):  # pragma: no cover (compiled)
    # Work item r = one (o, c) row of `inner` contiguous elements.
    outer, C, inner = x.shape
    a = x.dtype.type(alpha)
    o = lo // C
    c = lo % C
    for _ in range(lo, hi):  # (o, c) advanced incrementally: a // and % per row cost more
        bias = b[c] if has_bias else x.dtype.type(0)
        for i in range(inner):
            z = x[o, c, i] + bias
            if code == 1:
                z = 0 if z < 0 else z  # keeps a NaN, as the reference's maximum(z, 0)
            elif code == 2:
                z = z if z > 0 else a * z
            elif code == 3:
                z = math.tanh(z)
            elif code == 4:
                e = math.exp(-abs(z))
                z = 1 / (1 + e) if z >= 0 else e / (1 + e)
            y[o, c, i] = z
        c += 1
        if c == C:
            c = 0
            o += 1


@numba.njit(cache=True)
def _backward_span(gy, y, gx, gb, need_bias, code, alpha, lo, hi):  # pragma: no cover
    # Work item c = one channel, which owns its bias-gradient sum (float64, like native).
    outer, C, inner = y.shape
    a = y.dtype.type(alpha)
    one = y.dtype.type(1)
    for c in range(lo, hi):
        s = 0.0
        for o in range(outer):
            for i in range(inner):
                v = y[o, c, i]
                if code == 1:
                    d = one if v > 0 else y.dtype.type(0)
                elif code == 2:
                    d = one if v > 0 else a
                elif code == 3:
                    d = one - v * v
                elif code == 4:
                    d = v * (one - v)
                else:
                    d = one
                g = gy[o, c, i] * d
                gx[o, c, i] = g
                s += g
        if need_bias:
            gb[c] = s


@numba.njit(parallel=True, cache=True)
def _forward_par(x, b, has_bias, y, code, alpha, parts):  # pragma: no cover (compiled)
    items = x.shape[0] * x.shape[1]
    for k in numba.prange(parts):
        _forward_span(x, b, has_bias, y, code, alpha, k * items // parts,
                      (k + 1) * items // parts)


@numba.njit(parallel=True, cache=True)
def _backward_par(gy, y, gx, gb, need_bias, code, alpha, parts):  # pragma: no cover
    items = y.shape[1]
    for k in numba.prange(parts):
        _backward_span(gy, y, gx, gb, need_bias, code, alpha, k * items // parts,
                       (k + 1) * items // parts)


def _fold(shape: tuple, axis: int) -> tuple[int, int, int]:
    return (int(np.prod(shape[:axis], dtype=np.int64)), shape[axis],
            int(np.prod(shape[axis + 1:], dtype=np.int64)))


def _check_float(name: str, a: Any) -> None:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected dtype float32 or float64, got {a.dtype}")


def bias_act(x: Any, bias: Any = None, act: str = "none", alpha: float = 0.2,
             channel_axis: int = 1) -> np.ndarray:
    """See :func:`minigan.kernels.bias_act.bias_act`."""
    _check_float("x", x)
    axis = check_args(x.shape, bias, act, alpha, channel_axis)
    if bias is not None:
        _check_float("bias", bias)
        if bias.dtype != x.dtype:
            raise TypeError(f"bias: expected dtype {x.dtype} to match x, got {bias.dtype}")
    folded = _fold(x.shape, axis)
    x3 = np.ascontiguousarray(x).reshape(folded)
    b = np.ascontiguousarray(bias) if bias is not None else np.zeros(1, dtype=x.dtype)
    y = np.empty(folded, dtype=x.dtype)
    # NumPy's tanh is SIMD-vectorised, the scalar math.tanh in a compiled loop is not (~50x
    # slower measured): add the bias here, then NumPy's tanh in place.
    code = _CODE["none"] if act == "tanh" else _CODE[act]
    args = (x3, b, bias is not None, y, code, float(alpha))
    if y.size < GRAIN or folded[0] * folded[1] == 1:
        _forward_span(*args, 0, folded[0] * folded[1])
    else:
        _forward_par(*args, numba.get_num_threads())
    if act == "tanh":
        np.tanh(y, out=y)
    return y.reshape(x.shape)


def bias_act_backward(grad_output: Any, y: Any, act: str = "none", alpha: float = 0.2,
                      channel_axis: int = 1, need_bias: bool = True) -> tuple[Any, Any]:
    """See :func:`minigan.kernels.bias_act.bias_act_backward`."""
    _check_float("grad_output", grad_output)
    _check_float("y", y)
    axis = check_args(y.shape, None, act, alpha, channel_axis)
    if grad_output.shape != y.shape:
        raise ValueError(f"grad_output: expected the shape of y {y.shape}, got "
                         f"{grad_output.shape}")
    if y.dtype != grad_output.dtype:
        raise TypeError(f"y: expected dtype {grad_output.dtype} to match grad_output, "
                        f"got {y.dtype}")
    folded = _fold(y.shape, axis)
    gx = np.empty(folded, dtype=y.dtype)
    gb = np.empty(folded[1], dtype=y.dtype)
    args = (np.ascontiguousarray(grad_output).reshape(folded),
            np.ascontiguousarray(y).reshape(folded), gx, gb, need_bias, _CODE[act], float(alpha))
    if gx.size < GRAIN or folded[1] == 1:
        _backward_span(*args, 0, folded[1])
    else:
        _backward_par(*args, numba.get_num_threads())
    return gx.reshape(y.shape), (gb if need_bias else None)
