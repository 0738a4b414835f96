"""Reductions: sum, mean, max/min, argmax, var/std, norm, logsumexp, cumsum, prod.

PyTorch's ``dim=``/``keepdim=`` and NumPy's ``axis=``/``keepdims=`` are both accepted (dim may be
an int, a tuple or None)."""

from __future__ import annotations

import builtins
from typing import Any, NamedTuple

from ..function import Function
from ..tensor import Tensor, array_module
from ..tensor import is_grad_enabled
from .elementwise import const, exp, log, where
from .shape import expand, gather, getitem, reshape, squeeze, unsqueeze


def _axes(axis: Any, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis: {a} is out of range for a tensor with {ndim} dims")
    return tuple(sorted(a % builtins.max(ndim, 1) for a in axes))


def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.in_shape, ctx.axes = a.shape, axes
        return a.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = reshape(g, _kept_shape(ctx.in_shape, ctx.axes))
        return expand(g, ctx.in_shape), None, None


class Max(Function):
    """Max over axes; the gradient goes to the arg-max entries (shared evenly at ties)."""

    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.in_shape, ctx.axes = a.shape, axes
        m = a.max(axis=axes, keepdims=True)
        hit = (a == m).astype(a.dtype)
        ctx.share = hit / hit.sum(axis=axes, keepdims=True)
        return m if keepdims else m.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        g = reshape(g, _kept_shape(ctx.in_shape, ctx.axes))
        return expand(g, ctx.in_shape) * const(ctx.share), None, None


class MinMax(NamedTuple):
    """What ``max(t, dim)`` / ``min(t, dim)`` return, as PyTorch's ``(values, indices)``."""

    values: Tensor
    indices: Tensor


def _dk(dim: Any, keepdim: bool, axis: Any, keepdims: Any) -> tuple:
    """PyTorch's ``dim=``/``keepdim=`` or NumPy's ``axis=``/``keepdims=``: either spelling."""
    return (axis if dim is None else dim), (keepdim if keepdims is None else keepdims)


def sum(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: Any = None, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    dim, keepdim = _dk(dim, keepdim, axis, keepdims)
    if dtype is not None:  # PyTorch casts the input, then sums in that dtype
        a = a.to(dtype)
    return Sum.apply(a, _axes(dim, a.ndim), keepdim)


def mean(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: Any = None, dtype: Any = None) -> Tensor:
    """Arithmetic mean over ``dim``."""
    dim, keepdim = _dk(dim, keepdim, axis, keepdims)
    axes = _axes(dim, a.ndim)
    n = 1
    for i in axes:
        n *= a.shape[i]
    if dtype is not None:
        a = a.to(dtype)
    return Sum.apply(a, axes, keepdim) * (1.0 / n)


def _arg(a: Tensor, dim: Any, keepdim: bool, largest: bool) -> Tensor:
    arr = a.array
    if dim is None:
        idx = arr.argmax() if largest else arr.argmin()
        out = array_module(arr).asarray(idx, dtype="int64")
        return Tensor(out.reshape((1,) * arr.ndim) if keepdim else out)
    (d,) = _axes(dim, a.ndim)
    idx = arr.argmax(axis=d, keepdims=keepdim) if largest else arr.argmin(axis=d,
                                                                          keepdims=keepdim)
    return Tensor(idx.astype("int64", copy=False))


def argmax(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> Tensor:
    """Index (int64) of the largest entry along ``dim`` (of the flattened tensor when None)."""
    return _arg(a, axis if dim is None else dim, keepdim, True)


def argmin(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> Tensor:
    """Index (int64) of the smallest entry along ``dim``."""
    return _arg(a, axis if dim is None else dim, keepdim, False)


def _extreme(a: Tensor, dim: Any, keepdim: bool, axis: Any, keepdims: Any,
             largest: bool) -> Any:
    if isinstance(dim, Tensor):  # PyTorch's max(a, b) is the elementwise maximum
        from .elementwise import maximum, minimum

        return maximum(a, dim) if largest else minimum(a, dim)
    if dim is None or not isinstance(dim, int) or axis is not None or keepdims is not None:
        # max() over everything, or NumPy's axis=/keepdims= spelling: a tensor (ties share).
        dim, keepdim = _dk(dim, keepdim, axis, keepdims)
        if largest:
            return Max.apply(a, _axes(dim, a.ndim), keepdim)
        return -Max.apply(-a, _axes(dim, a.ndim), keepdim)
    # PyTorch's max(t, dim): (values, indices); the gradient goes to the returned index only.
    idx = _arg(a, dim, True, largest)
    values = gather(a, dim, idx)
    if not keepdim:
        values, idx = squeeze(values, dim), squeeze(idx, dim)
    return MinMax(values, idx)


def max(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: Any = None) -> Any:
    """Largest entry: ``max(t)`` a tensor; ``max(t, dim)`` the named tuple (values, indices);
    ``max(t, other)`` the elementwise maximum; ``max(t, axis=...)`` a tensor."""
    return _extreme(a, dim, keepdim, axis, keepdims, True)


def min(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,  # noqa: A001
        keepdims: Any = None) -> Any:
    """Smallest entry; the same forms as :func:`max`."""
    return _extreme(a, dim, keepdim, axis, keepdims, False)


def amax(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Largest entries over ``dim`` (ints or a tuple); ties share the gradient."""
    return Max.apply(a, _axes(dim, a.ndim), keepdim)


def amin(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return -Max.apply(-a, _axes(dim, a.ndim), keepdim)


def var(a: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None, axis: Any = None, keepdims: Any = None,
        ddof: Any = None) -> Tensor:
    """Variance sum((a - mean)^2) / (n - c), composed so that it differentiates twice.

    As in PyTorch, c = 1 (Bessel's correction) unless ``unbiased=False`` or ``correction=c``;
    NumPy's ``ddof=`` is accepted too.
    """
    dim, keepdim = _dk(dim, keepdim, axis, keepdims)
    if isinstance(unbiased, bool):
        c = int(unbiased)
    elif unbiased is not None:
        raise TypeError(f"unbiased: expected a bool, got {unbiased!r}")
    else:
        c = ddof if ddof is not None else (1 if correction is None else correction)
    axes = _axes(dim, a.ndim)
    n = 1
    for i in axes:
        n *= a.shape[i]
    d = a - mean(a, axes, keepdim=True)
    scale = 1.0 / (n - c) if n > c else float("nan")  # PyTorch: nan when n <= correction
    return Sum.apply(d * d, axes, keepdim) * scale


def std(a: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None, axis: Any = None, keepdims: Any = None,
        ddof: Any = None) -> Tensor:
    """sqrt(var): unbiased by default, as in PyTorch (see :func:`var`)."""
    from .elementwise import sqrt

    return sqrt(var(a, dim, unbiased, keepdim, correction=correction, axis=axis,
                    keepdims=keepdims, ddof=ddof))


def norm(a: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,
         dtype: Any = None) -> Tensor:
    """The p-norm over ``dim`` (all entries when None): (sum |a|^p)^(1/p); p=2/'fro' is
    sqrt(sum a^2), p=inf the largest |a|, p=1 the sum of |a|."""
    from .elementwise import abs as _abs
    from .elementwise import pow as _pow
    from .elementwise import sqrt

    if dtype is not None:
        a = a.to(dtype)
    axes = _axes(dim, a.ndim)
    if p in ("fro", 2, 2.0):
        return sqrt(Sum.apply(a * a, axes, keepdim))
    if p in (float("inf"), "inf"):
        return Max.apply(_abs(a), axes, keepdim)
    if p in (1, 1.0):
        return Sum.apply(_abs(a), axes, keepdim)
    if not isinstance(p, (int, float)) or p <= 0:
        raise ValueError(f"p: expected 'fro', inf or a positive number, got {p!r}")
    return _pow(Sum.apply(_pow(_abs(a), p), axes, keepdim), 1.0 / p)


def logsumexp(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
              keepdims: Any = None) -> Tensor:
    """log(sum(exp(a))) computed as m + log(sum(exp(a - m))) with m = max(a), a constant shift:
    no overflow for large entries, and the shift cancels exactly in the gradient."""
    dim, keepdims = _dk(dim, keepdim, axis, keepdims)
    axes = _axes(dim, a.ndim)
    xp = array_module(a.array)
    m = a.array.max(axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0).astype(a.dtype)
    out = log(sum(exp(a - const(m)), axes, keepdim=True)) + const(m)
    return out if keepdims else reshape(out, [n for i, n in enumerate(a.shape) if i not in axes])


class CumSum(Function):
    """Running sum along ``dim``; its adjoint is the running sum from the other end."""

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        return a.cumsum(axis=dim)

    @staticmethod
    def backward(ctx, g):
        rev = (slice(None),) * ctx.dim + (slice(None, None, -1),)
        return getitem(cumsum(getitem(g, rev), ctx.dim), rev), None


def cumsum(a: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """out_i = sum_{j <= i} a_j along ``dim``."""
    (d,) = _axes(dim, a.ndim)
    out = CumSum.apply(a, d)
    return out if dtype is None else out.to(dtype)


class Prod(Function):
    """Product along one axis: out = prod_i x_i, d out / d x_i = prod_{j != i} x_j.

    Without zeros that is out / x_i (PyTorch's formula, so float64 results agree); with a zero
    in the slice the exclusive products are formed directly (prefix * suffix products on
    arrays; under create_graph, prod over the slice with x_i replaced by 1, differentiable to
    any order)."""

    @staticmethod
    def forward(ctx, a, axis, keepdim):
        ctx.axis, ctx.keepdim = axis, keepdim
        # (asarray: a full reduction gives a NumPy scalar, and the saved output must be the
        # output array itself to stay in the graph)
        out = array_module(a).asarray(a.prod(axis=axis, keepdims=keepdim))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        axis, n = ctx.axis, a.shape[ctx.axis]
        kept = _kept_shape(a.shape, (axis,))
        g, out = reshape(g, kept), reshape(out, kept)
        xp = array_module(a.array)
        if not (a.array == 0).any():
            return g * out / a, None, None
        if not is_grad_enabled():  # prefix and suffix products: O(n), zeros exact
            x = xp.moveaxis(a.array, axis, -1)
            one = xp.ones_like(x[..., :1])
            left = xp.cumprod(xp.concatenate([one, x[..., :-1]], -1), -1)
            right = xp.cumprod(xp.concatenate([one, x[..., :0:-1]], -1), -1)[..., ::-1]
            return g * const(xp.moveaxis(left * right, -1, axis)), None, None
        # x_j laid out along a new axis after ``axis``; the diagonal j == i replaced by 1.
        wide = expand(unsqueeze(a, axis), (*a.shape[:axis], n, *a.shape[axis:]))
        eye = xp.eye(n, dtype=bool).reshape((n, n) + (1,) * (a.ndim - axis - 1))
        return g * prod(where(eye, const(xp.ones((), a.dtype)), wide), axis + 1), None, None


def prod(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: Any = None, dtype: Any = None) -> Tensor:
    """Product of the entries along ``dim`` (one int, as in PyTorch), or of all entries."""
    dim, keepdim = _dk(dim, keepdim, axis, keepdims)
    if dtype is not None:
        a = a.to(dtype)
    if dim is None:
        return Prod.apply(reshape(a, (-1,)), 0, False)
    if not isinstance(dim, int):
        raise TypeError(f"dim: prod takes one int or None, got {dim!r}")
    (d,) = _axes(dim, a.ndim)
    return Prod.apply(a, d, keepdim)
