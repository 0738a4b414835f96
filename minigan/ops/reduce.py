"""Reductions: sum, mean, max, var, logsumexp (axis may be an int, a tuple or None)."""

from __future__ import annotations

import builtins
from typing import Any

from ..function import Function
from ..tensor import Tensor, array_module
from .elementwise import const, exp, log
from .shape import expand, reshape


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


def sum(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over axis (all axes when None)."""
    return Sum.apply(a, _axes(axis, a.ndim), keepdims)


def mean(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over axis."""
    axes = _axes(axis, a.ndim)
    n = 1
    for i in axes:
        n *= a.shape[i]
    return Sum.apply(a, axes, keepdims) * (1.0 / n)


def max(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest entry over axis."""
    return Max.apply(a, _axes(axis, a.ndim), keepdims)


def min(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return -Max.apply(-a, _axes(axis, a.ndim), keepdims)


def var(a: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance sum((a - mean)^2) / (n - ddof), composed so that it differentiates twice."""
    axes = _axes(axis, a.ndim)
    n = 1
    for i in axes:
        n *= a.shape[i]
    d = a - mean(a, axes, keepdims=True)
    return sum(d * d, axes, keepdims) * (1.0 / (n - ddof))


def std(a: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    from .elementwise import sqrt

    return sqrt(var(a, axis, keepdims, ddof))


def logsumexp(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(a))) computed as m + log(sum(exp(a - m))) with m = max(a), a constant shift:
    no overflow for large entries, and the shift cancels exactly in the gradient."""
    axes = _axes(axis, a.ndim)
    xp = array_module(a.array)
    m = a.array.max(axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0).astype(a.dtype)
    out = log(sum(exp(a - const(m)), axes, keepdims=True)) + const(m)
    return out if keepdims else reshape(out, [n for i, n in enumerate(a.shape) if i not in axes])
