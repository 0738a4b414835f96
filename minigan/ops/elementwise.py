"""Elementwise arithmetic with NumPy broadcasting.

Each binary op's backward sums the incoming gradient back to its input's shape (``sum_to``) and
casts it to the input's dtype, so mixed shapes and Python scalars just work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from .. import dtypes
from ..tensor import Tensor, array_module
from .shape import sum_to


_KIND = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}  # PyTorch's categories: bool < int < float
_F64 = np.dtype(np.float64)


def _arr(x: Any, like: Any) -> Any:
    """The array behind x. A Python scalar takes the dtype of the tensor it meets (no upcast)
    unless it is of a higher category, as in PyTorch: int tensor * 0.5 is a default-dtype
    float, bool tensor + 1 an int64."""
    if isinstance(x, Tensor):
        return x
    xp = array_module(like.array)
    if isinstance(x, (int, float, bool)):
        dt = like.array.dtype
        if dt.kind != "f":
            k = 0 if isinstance(x, bool) else 1 if isinstance(x, int) else 2
            if k > _KIND.get(dt.kind, 3):
                dt = dtypes.get_default_dtype() if k == 2 else dtypes.int64
                return cast(like, dt), xp.asarray(x, dtype=dt)
        return xp.asarray(x, dtype=dt)
    return xp.asarray(x)


def _promote(a: Tensor, b: Tensor) -> tuple:
    """PyTorch's rule for two tensors of different dtypes: the higher category (bool < int <
    float) wins; within a category a 0-d tensor yields to a dimensioned one (float32 tensor +
    float64 0-d tensor stays float32); otherwise NumPy's promotion (float32 + float64 ->
    float64). An int tensor meeting a float one takes the float's dtype (NumPy would widen
    int64 + float32 to float64); a 0-d float meeting an int tensor gives the default dtype."""
    da, db = a.array.dtype, b.array.dtype
    ka, kb = _KIND.get(da.kind, 3), _KIND.get(db.kind, 3)
    za, zb = a.array.ndim == 0, b.array.ndim == 0
    if ka == kb:
        if za != zb:
            return (cast(a, db), b) if za else (a, cast(b, da))
        return a, b
    hi, dhi, zhi = (a, da, za) if ka > kb else (b, db, zb)
    if zhi and not (za and zb) and dhi.kind == "f":
        dhi = dtypes.get_default_dtype()
    return cast(a, dhi), cast(b, dhi)


def _pair(a: Any, b: Any) -> tuple:
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.array.dtype is not b.array.dtype and a.array.dtype != b.array.dtype:
                return _promote(a, b)
            return a, b
        b = _arr(b, a)
        return b if type(b) is tuple else (a, b)
    if isinstance(b, Tensor):
        a = _arr(a, b)
        return (a[1], a[0]) if type(a) is tuple else (a, b)
    raise TypeError("expected at least one Tensor argument")


def const(arr: Any) -> Tensor:
    """Wrap an array (a mask, a constant) as a tensor that takes no gradient."""
    return Tensor(arr)


def reduce_grad(g: Tensor, shape: tuple, dtype: Any) -> Tensor:
    """Undo broadcasting and type promotion of a forward input."""
    # (g.array, not the properties, and dtype identity first: this runs for every binary op's
    # backward, mostly with nothing to undo)
    if g.array.shape != shape:
        g = sum_to(g, shape)
    gt = g.array.dtype
    if gt is not dtype and gt != dtype:
        g = cast(g, dtype)
    return g


def _in_shape_dtype(ctx: Any, i: int) -> tuple:
    return ctx.shapes[i], ctx.dtypes[i]


def _record(ctx: Any, a: Any, b: Any) -> None:
    # Only what backward needs to undo broadcasting and type promotion.
    ctx.shapes = (a.shape, b.shape)
    ctx.dtypes = (a.dtype, b.dtype)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        _record(ctx, a, b)
        return a + b

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (reduce_grad(g, *_in_shape_dtype(ctx, 0)) if na else None,
                reduce_grad(g, *_in_shape_dtype(ctx, 1)) if nb else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        _record(ctx, a, b)
        return a - b

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (reduce_grad(g, *_in_shape_dtype(ctx, 0)) if na else None,
                reduce_grad(-g, *_in_shape_dtype(ctx, 1)) if nb else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        _record(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (reduce_grad(g * b, *_in_shape_dtype(ctx, 0)) if na else None,
                reduce_grad(g * a, *_in_shape_dtype(ctx, 1)) if nb else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        _record(ctx, a, b)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (reduce_grad(g / b, *_in_shape_dtype(ctx, 0)) if na else None,
                reduce_grad(-g * a / (b * b), *_in_shape_dtype(ctx, 1)) if nb else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """a ** b; d/da = b a^(b-1), d/db = a^b log a (only asked for when b is a tensor)."""

    @staticmethod
    def forward(ctx, a, b):
        _record(ctx, a, b)
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = reduce_grad(g * b * a ** (b - 1), *_in_shape_dtype(ctx, 0)) if na else None
        gb = reduce_grad(g * y * log(a), *_in_shape_dtype(ctx, 1)) if nb else None
        return ga, gb


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        y = array_module(a).exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return array_module(a).log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        y = array_module(a).sqrt(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g / (2 * y)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.sign = array_module(a).sign(a)
        return array_module(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * const(ctx.sign)


class Masked(Function):
    """y = where(mask, a, b) for a precomputed boolean mask (clip, where, maximum, minimum).

    ``weight`` (optional) splits the gradient at ties of maximum/minimum evenly, as a subgradient
    should; the mask itself is a constant, so the second derivative is zero as it must be.
    """

    @staticmethod
    def forward(ctx, a, b, mask, weight=None):
        _record(ctx, a, b)
        xp = array_module(mask)
        w = mask.astype(a.dtype if hasattr(a, "dtype") else b.dtype) if weight is None else weight
        ctx.wa, ctx.wb = w, 1 - w
        return xp.where(mask, a, b)

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad[:2]
        return (reduce_grad(g * const(ctx.wa), *_in_shape_dtype(ctx, 0)) if na else None,
                reduce_grad(g * const(ctx.wb), *_in_shape_dtype(ctx, 1)) if nb else None,
                None, None)


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.src = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return cast(g, ctx.src), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


class ToDevice(Function):
    @staticmethod
    def forward(ctx, a, device):
        ctx.src = "cuda" if type(a).__module__.startswith("cupy") else "cpu"
        if device == ctx.src:
            return a.copy()
        if device == "cpu":
            return a.get()
        from ..backends import require_cupy

        return require_cupy().asarray(a)

    @staticmethod
    def backward(ctx, g):
        return to_device(g, ctx.src), None


# ---- public functions -------------------------------------------------------------------------

def add(a: Any, b: Any, *, alpha: Any = None) -> Tensor:
    """a + alpha * b (broadcasting)."""
    return Add.apply(*_pair(a, b if alpha is None else b * alpha))


def sub(a: Any, b: Any, *, alpha: Any = None) -> Tensor:
    """a - alpha * b (broadcasting)."""
    return Sub.apply(*_pair(a, b if alpha is None else b * alpha))


def mul(a: Any, b: Any) -> Tensor:
    """a * b; d/da = g b, d/db = g a."""
    return Mul.apply(*_pair(a, b))


def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """a / b; d/da = g / b, d/db = -g a / b^2. True division of integers gives the default
    float dtype (PyTorch's; NumPy would give float64); ``rounding_mode`` 'trunc' or 'floor'
    rounds the quotient (no gradient), keeping an integer dtype."""
    a, b = _pair(a, b)
    if rounding_mode is not None:
        from .pointwise import _rounded_div

        return _rounded_div(a, b, rounding_mode)
    y = Div.apply(a, b)
    # Only integer operands give float64 unasked (NumPy's rule); one identity test otherwise.
    if y.array.dtype is _F64 and not y.requires_grad and all(
            (x.array if isinstance(x, Tensor) else x).dtype.kind in "biu" for x in (a, b)):
        y = Tensor(y.array.astype(dtypes.get_default_dtype()))
    return y


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - the op's name
    """a ** b."""
    return Pow.apply(*_pair(a, b))


def exp(a: Tensor) -> Tensor:
    """e^a; d/da = e^a."""
    return Exp.apply(a)


def log(a: Tensor) -> Tensor:
    """ln a; d/da = 1/a."""
    return Log.apply(a)


def sqrt(a: Tensor) -> Tensor:
    """sqrt(a); d/da = 1 / (2 sqrt a)."""
    return Sqrt.apply(a)


def abs(a: Tensor) -> Tensor:  # noqa: A001
    """|a|; d/da = sign(a) (0 at 0)."""
    return Abs.apply(a)


def clip(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """a limited to [min, max]; the gradient passes only where a is strictly inside."""
    xp = array_module(a.array)
    inside = xp.ones(a.shape, dtype=bool)
    if min is not None:
        inside &= a.array >= min
    if max is not None:
        inside &= a.array <= max
    bound = xp.clip(a.array, min, max)
    return Masked.apply(a, bound, inside)


def where(cond: Any, a: Any = None, b: Any = None) -> Tensor:
    """cond ? a : b, elementwise; cond is a boolean array or tensor (no gradient).
    ``where(cond)`` alone is ``nonzero(cond, as_tuple=True)``, as in PyTorch."""
    if a is None and b is None:
        from .sort import nonzero

        return nonzero(cond if isinstance(cond, Tensor) else Tensor(cond), as_tuple=True)
    c = cond.array if isinstance(cond, Tensor) else cond
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two numbers
        kind = dtypes.get_default_dtype() if isinstance(a, float) or isinstance(b, float) \
            else "int64"
        a = Tensor(array_module(c).asarray(a, dtype=kind))
    a, b = _pair(a, b)
    return Masked.apply(a, b, c)


def _extremum(a: Any, b: Any, greater: bool) -> Tensor:
    a, b = _pair(a, b)
    av = a.array if isinstance(a, Tensor) else a
    bv = b.array if isinstance(b, Tensor) else b
    xp = array_module(av)
    first = av > bv if greater else av < bv
    dtype = (a if isinstance(a, Tensor) else b).dtype
    weight = first.astype(dtype) + 0.5 * (av == bv).astype(dtype)
    return Masked.apply(a, b, first | (av == bv), xp.asarray(weight, dtype=dtype))


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max; at ties each side gets half the gradient."""
    return _extremum(a, b, True)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min; at ties each side gets half the gradient."""
    return _extremum(a, b, False)


def cast(a: Tensor, dtype: Any) -> Tensor:
    """a converted to dtype; the gradient is converted back."""
    if a.array.dtype == dtype:
        return a
    # A differentiable cast only between floating types; to int/bool it is a plain conversion.
    if dtypes.as_dtype(dtype).kind != "f":
        return Tensor(a.array.astype(dtype))
    return Cast.apply(a, dtype)


def clone(a: Tensor) -> Tensor:
    return Clone.apply(a)


def to_device(a: Tensor, device: Any) -> Tensor:
    from .._device import normalize

    device = normalize(device)
    return a if a.device == device else ToDevice.apply(a, device)
