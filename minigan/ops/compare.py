"""Comparisons and masked writes: eq/ne/lt/le/gt/ge give bool tensors (no gradient, as in
PyTorch); masked_fill and scatter are out-of-place and differentiable in the tensor they copy
(and in scatter's ``src``)."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor, array_module
from .elementwise import Masked, _pair
from .shape import IndexAdd, _along


def _arrays(a: Any, b: Any) -> tuple:
    a, b = _pair(a, b)
    return (a.array if isinstance(a, Tensor) else a), (b.array if isinstance(b, Tensor) else b)


def eq(a: Any, b: Any) -> Tensor:
    """a == b elementwise, a bool tensor."""
    x, y = _arrays(a, b)
    return Tensor(x == y)


def ne(a: Any, b: Any) -> Tensor:
    x, y = _arrays(a, b)
    return Tensor(x != y)


def lt(a: Any, b: Any) -> Tensor:
    x, y = _arrays(a, b)
    return Tensor(x < y)


def le(a: Any, b: Any) -> Tensor:
    x, y = _arrays(a, b)
    return Tensor(x <= y)


def gt(a: Any, b: Any) -> Tensor:
    x, y = _arrays(a, b)
    return Tensor(x > y)


def ge(a: Any, b: Any) -> Tensor:
    x, y = _arrays(a, b)
    return Tensor(x >= y)


def equal(a: Tensor, b: Tensor) -> bool:
    """True when a and b have the same shape and the same entries."""
    return a.shape == b.shape and bool((a.array == b.array).all())


def allclose(a: Tensor, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """|a - b| <= atol + rtol |b| everywhere."""
    x, y = _arrays(a, b)
    return bool(array_module(x).allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isnan(a: Tensor) -> Tensor:
    return Tensor(array_module(a.array).isnan(a.array))


def isfinite(a: Tensor) -> Tensor:
    return Tensor(array_module(a.array).isfinite(a.array))


def isinf(a: Tensor) -> Tensor:
    return Tensor(array_module(a.array).isinf(a.array))


def masked_fill(a: Tensor, mask: Any, value: Any) -> Tensor:
    """a with ``value`` where ``mask`` (broadcast to a's shape) is True; the gradient flows to a
    where the mask is False (and to value, when it is a tensor, where it is True)."""
    m = mask.array if isinstance(mask, Tensor) else mask
    xp = array_module(a.array)
    m = xp.broadcast_to(xp.asarray(m, dtype=bool), a.shape)
    if isinstance(value, Tensor):
        return Masked.apply(*_pair(value, a), m)
    return Masked.apply(a, xp.asarray(value, dtype=a.dtype), ~m)


def scatter(a: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None,
            reduce: Any = None) -> Tensor:
    """PyTorch's scatter, out of place: for dim=1, out[i][index[i][j]] = src[i][j] (a number
    ``src``/``value`` writes that number). Differentiable in a (where nothing was written) and in
    src (its entries that were written)."""
    if reduce is not None:
        raise NotImplementedError("scatter: reduce= is not supported")
    if src is None:
        src = value
    key, _ = _along(a, index, dim)
    xp = array_module(a.array)
    written = xp.zeros(a.shape, dtype=bool)
    written[key] = True
    if isinstance(src, Tensor):
        idx_shape = key[0].shape if hasattr(key[0], "shape") else ()
        part = src[tuple(slice(0, n) for n in xp.broadcast_shapes(
            *[k.shape for k in key]))] if src.shape != idx_shape else src
        placed = IndexAdd.apply(part, a.shape, key)
        return Masked.apply(placed, a, written)
    return Masked.apply(xp.full(a.shape, src, dtype=a.dtype), a, written)
