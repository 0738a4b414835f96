"""More of PyTorch's element-wise math: sin, cos, log1p, expm1, erf (each its own op, for accuracy:
log(1 + x) loses the digits of a small x), the roundings floor, ceil, round, trunc, sign (their
derivative is 0 almost everywhere: the gradient is zeros, as PyTorch's), frac, and the
compositions square, reciprocal, rsqrt, lerp, addcmul, addcdiv, remainder, fmod,
floor_divide; the logical ops and isclose (bool results, no gradient).

    d sin(x) = cos(x) dx      d cos(x) = -sin(x) dx
    d log1p(x) = dx / (1 + x) d expm1(x) = e^x dx     d erf(x) = 2/sqrt(pi) e^(-x^2) dx
    remainder(a, b) = a - b floor(a / b)  (the sign of b, Python's %)
    fmod(a, b)      = a - b trunc(a / b)  (the sign of a, C's fmod)
"""

from __future__ import annotations

import math
from typing import Any

from ..function import Function
from ..tensor import Tensor, array_module
from .. import dtypes
from .elementwise import _pair, add, cast, div, exp, mul, sqrt, sub

_ROUNDINGS = ("floor", "ceil", "round", "trunc", "sign")


class _Unary(Function):
    """y = f(x) for f in sin, cos, log1p, expm1 (backward with differentiable ops)."""

    @staticmethod
    def forward(ctx, a, kind):
        ctx.kind = kind
        ctx.save_for_backward(a)
        return getattr(array_module(a), kind)(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        if ctx.kind == "sin":
            return g * cos(a), None
        if ctx.kind == "cos":
            return -g * sin(a), None
        if ctx.kind == "log1p":
            return g / (a + 1.0), None
        return g * exp(a), None  # expm1


def _erf_array(a: Any) -> Any:
    xp = array_module(a)
    if xp.__name__ != "numpy":
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(a)
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:  # NumPy has no erf: the C library's, one element at a time
        return xp.frompyfunc(math.erf, 1, 1)(a).astype(a.dtype)
    return scipy_erf(a)


class _Erf(Function):
    """erf(x) = 2/sqrt(pi) int_0^x e^(-t^2) dt;  d erf(x) = 2/sqrt(pi) e^(-x^2) dx."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _erf_array(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * (exp(-(a * a)) * (2.0 / math.sqrt(math.pi)))


class _Rounding(Function):
    """floor, ceil, round, trunc, sign: piecewise constant, so the gradient is zeros."""

    @staticmethod
    def forward(ctx, a, kind):
        xp = array_module(a)
        return xp.rint(a) if kind == "round" else getattr(xp, kind)(a)

    @staticmethod
    def backward(ctx, g):
        return g * 0.0, None


def sin(a: Tensor) -> Tensor:
    return _Unary.apply(a, "sin")


def cos(a: Tensor) -> Tensor:
    return _Unary.apply(a, "cos")


def log1p(a: Tensor) -> Tensor:
    """log(1 + a), accurate for small a."""
    return _Unary.apply(a, "log1p")


def expm1(a: Tensor) -> Tensor:
    """e^a - 1, accurate for small a."""
    return _Unary.apply(a, "expm1")


def erf(a: Tensor) -> Tensor:
    """The error function (SciPy's where installed, else the C library's per element)."""
    return _Erf.apply(a)


def _rounding(kind: str) -> Any:
    def op(a: Tensor) -> Tensor:
        if a.dtype.kind != "f" and kind != "sign":
            return a  # an integer is already whole
        return _Rounding.apply(a, kind)
    op.__name__ = kind
    op.__doc__ = f"Element-wise {kind} (gradient: zeros)."
    return op


floor, ceil, trunc, sign = (_rounding(k) for k in ("floor", "ceil", "trunc", "sign"))


def round(a: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round half to even (as PyTorch), to ``decimals`` places (gradient: zeros)."""
    if decimals == 0:
        return _rounding("round")(a)
    scale = 10.0 ** decimals
    return _rounding("round")(a * scale) / scale


def frac(a: Tensor) -> Tensor:
    """a - trunc(a) (gradient 1)."""
    return a - trunc(a)


def square(a: Tensor) -> Tensor:
    return a * a


def reciprocal(a: Tensor) -> Tensor:
    return div(1.0, a if a.dtype.kind == "f" else cast(a, dtypes.get_default_dtype()))


def rsqrt(a: Tensor) -> Tensor:
    """1 / sqrt(a)."""
    return 1.0 / sqrt(a)


def lerp(start: Tensor, end: Any, weight: Any) -> Tensor:
    """start + weight (end - start)."""
    return start + weight * (end - start)


def addcmul(a: Tensor, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
    """a + value * tensor1 * tensor2."""
    return add(a, mul(tensor1, tensor2) * value)


def addcdiv(a: Tensor, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
    """a + value * tensor1 / tensor2."""
    return add(a, div(tensor1, tensor2) * value)


def _tensors(a: Any, b: Any) -> tuple:
    """_pair's promotion, both as tensors (a number comes back as an array)."""
    return tuple(x if isinstance(x, Tensor) else Tensor(x) for x in _pair(a, b))


def _int_pair(a: Tensor, b: Tensor, fn: str) -> Tensor:
    return Tensor(getattr(array_module(a.array), fn)(a.array, b.array))


def _rounded_div(a: Tensor, b: Tensor, mode: str) -> Tensor:
    """a / b rounded toward zero ('trunc') or down ('floor')."""
    a, b = _tensors(a, b)
    if mode not in ("trunc", "floor"):
        raise ValueError(f"rounding_mode: expected 'trunc', 'floor' or None, got {mode!r}")
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        q = _int_pair(a, b, "floor_divide")
        if mode == "trunc":  # floor_divide rounds down; toward zero differs for negatives
            r = _int_pair(a, b, "remainder")
            q = Tensor(q.array + ((r.array != 0) & ((a.array < 0) != (b.array < 0))))
        return q
    return (floor if mode == "floor" else trunc)(div(a, b))


def floor_divide(a: Any, b: Any) -> Tensor:
    """floor(a / b) (Python's //)."""
    return _rounded_div(a, b, "floor")


def remainder(a: Any, b: Any) -> Tensor:
    """a - b floor(a / b): the sign of b (Python's %)."""
    a, b = _tensors(a, b)
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        return _int_pair(a, b, "remainder")
    return sub(a, b * floor(div(a, b)))


def fmod(a: Any, b: Any) -> Tensor:
    """a - b trunc(a / b): the sign of a."""
    a, b = _tensors(a, b)
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        return _int_pair(a, b, "fmod")
    return sub(a, b * trunc(div(a, b)))


def _bool_op(fn: str) -> Any:
    def op(a: Any, b: Any) -> Tensor:
        a, b = _tensors(a, b)
        return Tensor(getattr(array_module(a.array), fn)(a.array, b.array))
    op.__name__ = fn
    op.__doc__ = f"Element-wise {fn} as a bool tensor (no gradient)."
    return op


logical_and, logical_or, logical_xor = (_bool_op(k) for k in (
    "logical_and", "logical_or", "logical_xor"))


def logical_not(a: Tensor) -> Tensor:
    return Tensor(array_module(a.array).logical_not(a.array))


def isclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> Tensor:
    """|a - b| <= atol + rtol |b| element-wise, as a bool tensor."""
    a, b = _tensors(a, b)
    return Tensor(array_module(a.array).isclose(a.array, b.array, rtol=rtol, atol=atol,
                                                equal_nan=equal_nan))


def _truth(fn: str) -> Any:
    def op(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
        xp = array_module(a.array)
        axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
        return Tensor(xp.asarray(getattr(xp, fn)(a.array, axis=axis, keepdims=keepdim)))
    op.__name__ = fn
    op.__doc__ = f"Whether {fn} entries (over ``dim``) are non-zero, as a bool tensor."
    return op


all, any = _truth("all"), _truth("any")  # noqa: A001 - PyTorch's names


def count_nonzero(a: Tensor, dim: Any = None) -> Tensor:
    """The number of non-zero entries (over ``dim``), int64."""
    xp = array_module(a.array)
    axis = tuple(dim) if isinstance(dim, (tuple, list)) else dim
    return Tensor(xp.asarray(xp.count_nonzero(a.array, axis=axis), dtype=xp.int64))


__all__ = ["addcdiv", "addcmul", "all", "any", "ceil", "cos", "count_nonzero", "erf", "expm1",
           "floor",
           "floor_divide", "fmod", "frac", "isclose", "lerp", "log1p", "logical_and",
           "logical_not", "logical_or", "logical_xor", "reciprocal", "remainder", "round",
           "rsqrt", "sign", "sin", "square", "trunc"]
