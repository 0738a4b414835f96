"""Native backend of the bias + activation family: minigan._C's bias_act / bias_act_backward
(csrc/cpu/bias_act.cpp, OpenMP). _C takes C-contiguous (outer, C, inner) arrays and checks
them itself; this wrapper keeps the reference's signature and folds the axes.
Semantics: :mod:`minigan.kernels.bias_act`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import backends
from . import check_args

_C = backends.native()
if _C is None:  # the registry only imports this module for an available backend
    raise ImportError(f"minigan._C is not built ({backends.import_error('minigan._C')})")


def _check_array(name: str, a: Any) -> None:
    # Before any reshape: np.ascontiguousarray would quietly turn a list into an array.
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(a).__name__}")


def _fold(shape: tuple, axis: int) -> tuple[int, int, int]:
    # math.prod on the shape's Python ints: np.prod cost ~12 us a call, and the default job's
    # step folds 70 times (every relu/leaky_relu forward and backward).
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


def _rows_fast(x: Any, bias: Any, act: str, alpha: float, channel_axis: int) -> bool:
    """A C-contiguous (N, C) array with channels last and a valid bias: the arguments _C checks
    itself (dtype, bias dtype) need no folding, and the Python checks below (several us a call,
    ~30 calls a step of the default job) can be skipped."""
    return (type(x) is np.ndarray and x.ndim == 2 and channel_axis in (1, -1)
            and x.flags.c_contiguous and act in _ROW_ACTS and alpha >= 0
            and (bias is None or (type(bias) is np.ndarray and bias.shape == x.shape[1:]
                                  and bias.flags.c_contiguous)))


_ROW_ACTS = frozenset(("none", "relu", "leaky_relu"))  # (tanh: NumPy's, see below)


def bias_act(x: Any, bias: Any = None, act: str = "none", alpha: float = 0.2,
             channel_axis: int = 1) -> np.ndarray:
    """See :func:`minigan.kernels.bias_act.bias_act`."""
    if _rows_fast(x, bias, act, alpha, channel_axis):  # Linear outputs (N, C): most calls
        return _C.bias_act(x.reshape(*x.shape, 1), bias, act, float(alpha)).reshape(x.shape)
    _check_array("x", x)
    if bias is not None:
        _check_array("bias", bias)
    axis = check_args(x.shape, bias, act, alpha, channel_axis)
    x3 = np.ascontiguousarray(x).reshape(_fold(x.shape, axis))
    b = None if bias is None else np.ascontiguousarray(bias)
    if act == "tanh":
        # NumPy's tanh is SIMD-vectorised; the scalar libm tanh in a C++ loop measured ~50x
        # slower. So: fused bias add here, then NumPy's tanh in place (no extra copy).
        y = _C.bias_act(x3, b, "none", 0.0)
        return np.tanh(y, out=y).reshape(x.shape)
    return _C.bias_act(x3, b, act, float(alpha)).reshape(x.shape)


def bias_act_backward(grad_output: Any, y: Any, act: str = "none", alpha: float = 0.2,
                      channel_axis: int = 1, need_bias: bool = True) -> tuple[Any, Any]:
    """See :func:`minigan.kernels.bias_act.bias_act_backward`."""
    if (_rows_fast(y, None, act, alpha, channel_axis) and type(grad_output) is np.ndarray
            and grad_output.shape == y.shape and grad_output.flags.c_contiguous):
        shape = (*y.shape, 1)
        gx, gb = _C.bias_act_backward(grad_output.reshape(shape), y.reshape(shape), act,
                                      float(alpha), bool(need_bias))
        return gx.reshape(y.shape), gb
    _check_array("grad_output", grad_output)
    _check_array("y", y)
    axis = check_args(y.shape, None, act, alpha, channel_axis)
    if grad_output.shape != y.shape:
        raise ValueError(f"grad_output: expected the shape of y {y.shape}, got "
                         f"{grad_output.shape}")
    folded = _fold(y.shape, axis)
    gx, gb = _C.bias_act_backward(np.ascontiguousarray(grad_output).reshape(folded),
                                  np.ascontiguousarray(y).reshape(folded), act, float(alpha),
                                  bool(need_bias))
    return gx.reshape(y.shape), gb
