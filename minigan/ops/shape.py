"""Shape ops: reshape, transpose/permute, expand and its adjoint sum_to, concat/stack/split,
indexing, pad. Backward of each is another shape op, so they differentiate to any order."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from ..function import Function
from ..tensor import Tensor, array_module


class Reshape(Function):
    view_of_input = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shape), None


class Transpose(Function):
    view_of_input = True

    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        inverse = [0] * len(ctx.axes)
        for i, ax in enumerate(ctx.axes):
            inverse[ax] = i
        return transpose(g, tuple(inverse)), None


class Expand(Function):
    """Broadcast to a larger shape (a read-only view); its adjoint is sum_to."""

    view_of_input = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        return array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.in_shape), None


class SumTo(Function):
    """Sum over the axes that broadcasting added or stretched, giving ``shape``."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        lead = a.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and a.shape[lead + i] != 1)
        out = a.sum(axis=axes, keepdims=True) if axes else a
        return out.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return expand(g, ctx.in_shape), None


class Concat(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return array_module(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return (None, *split(g, ctx.sizes, ctx.axis))


class Split(Function):
    @staticmethod
    def forward(ctx, a, sizes, axis):
        ctx.axis = axis
        bounds, start = [], 0
        for n in sizes:
            bounds.append((start, start + n))
            start += n
        idx = [slice(None)] * a.ndim
        outs = []
        for lo, hi in bounds:
            idx[axis] = slice(lo, hi)
            outs.append(a[tuple(idx)])
        return tuple(outs)

    @staticmethod
    def backward(ctx, *gs):
        return concat(list(gs), ctx.axis), None, None


def _index_key(key: Any) -> Any:
    """Tensors inside an index become their arrays (boolean masks, integer index arrays)."""
    if isinstance(key, Tensor):
        return key.array
    if isinstance(key, tuple):
        return tuple(k.array if isinstance(k, Tensor) else k for k in key)
    return key


def _is_basic(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in keys)


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, key):
        ctx.in_shape, ctx.key, ctx.dtype = a.shape, key, a.dtype
        return a[key]

    @staticmethod
    def backward(ctx, g):
        return IndexAdd.apply(g, ctx.in_shape, ctx.key), None


class IndexAdd(Function):
    """zeros(shape) with g added at key; repeated integer indices accumulate (the adjoint of
    gathering). Its own adjoint is gathering again."""

    @staticmethod
    def forward(ctx, g, shape, key):
        ctx.key = key
        xp = array_module(g)
        out = xp.zeros(shape, dtype=g.dtype)
        if _is_basic(key):
            out[key] = g
        else:
            xp.add.at(out, key, g)
        return out

    @staticmethod
    def backward(ctx, gg):
        return getitem(gg, ctx.key), None, None


class Pad(Function):
    @staticmethod
    def forward(ctx, a, pad_width, value):
        ctx.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, a.shape))
        return array_module(a).pad(a, pad_width, constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return getitem(g, ctx.slices), None, None


# ---- public functions -------------------------------------------------------------------------

def _norm_axis(axis: int, ndim: int, name: str = "axis") -> int:
    if not -ndim <= axis < builtins.max(ndim, 1):
        raise ValueError(f"{name}: {axis} is out of range for a tensor with {ndim} dims")
    return axis % builtins.max(ndim, 1)


def reshape(a: Tensor, *shape: Any) -> Tensor:
    """Same elements, new shape (one entry may be -1)."""
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(a, shape)


def transpose(a: Tensor, *axes: Any) -> Tensor:
    """Permute axes (reverse them when none are given); ``transpose(a, 0, 1)`` swaps two."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(reversed(range(a.ndim)))
    elif len(axes) == 2 and a.ndim != 2:
        i, j = (_norm_axis(x, a.ndim) for x in axes)
        perm = list(range(a.ndim))
        perm[i], perm[j] = perm[j], perm[i]
        axes = tuple(perm)
    return Transpose.apply(a, tuple(_norm_axis(x, a.ndim) for x in axes))


def permute(a: Tensor, *dims: Any) -> Tensor:
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    if sorted(_norm_axis(d, a.ndim, "dims") for d in dims) != list(range(a.ndim)):
        raise ValueError(f"dims: expected a permutation of {a.ndim} axes, got {dims}")
    return Transpose.apply(a, tuple(_norm_axis(d, a.ndim) for d in dims))


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    s, e = _norm_axis(start_dim, a.ndim, "start_dim"), _norm_axis(end_dim, a.ndim, "end_dim")
    n = 1
    for d in a.shape[s:e + 1]:
        n *= d
    return reshape(a, a.shape[:s] + (n,) + a.shape[e + 1:])


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    dim = dim % (a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a: Tensor, dim: int | None = None) -> Tensor:
    if dim is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    dim = _norm_axis(dim, a.ndim, "dim")
    return reshape(a, a.shape[:dim] + a.shape[dim + 1:]) if a.shape[dim] == 1 else a


def expand(a: Tensor, *shape: Any) -> Tensor:
    """Broadcast a to shape (no copy)."""
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return a if a.shape == shape else Expand.apply(a, shape)


def sum_to(a: Tensor, shape: Sequence[int]) -> Tensor:
    """Sum a down to ``shape``: the adjoint of broadcasting ``shape`` up to ``a.shape``."""
    shape = tuple(shape)
    return a if a.shape == shape else SumTo.apply(a, shape)


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    if not tensors:
        raise ValueError("tensors: expected at least one tensor")
    axis = _norm_axis(axis, tensors[0].ndim)
    return Concat.apply(axis, *tensors)


cat = concat


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    if not tensors:
        raise ValueError("tensors: expected at least one tensor")
    axis = axis % (tensors[0].ndim + 1)
    return concat([unsqueeze(t, axis) for t in tensors], axis)


def split(a: Tensor, sizes: int | Sequence[int], axis: int = 0) -> tuple:
    """Split along axis into pieces of ``sizes`` (an int: equal pieces of that size)."""
    axis = _norm_axis(axis, a.ndim)
    n = a.shape[axis]
    if isinstance(sizes, int):
        if sizes <= 0:
            raise ValueError(f"sizes: expected a positive size, got {sizes}")
        sizes = [sizes] * (n // sizes) + ([n % sizes] if n % sizes else [])
    if builtins.sum(sizes) != n:
        raise ValueError(f"sizes: {list(sizes)} do not add up to dimension {axis} of size {n}")
    return Split.apply(a, list(sizes), axis)


def getitem(a: Tensor, key: Any) -> Tensor:
    """a[key] for basic slicing and integer/boolean array indexing."""
    key = _index_key(key)
    if isinstance(key, list):
        key = array_module(a.array).asarray(key)
    return GetItem.apply(a, key)


def pad(a: Tensor, pad_width: Sequence[Sequence[int]], value: float = 0.0) -> Tensor:
    """Constant padding, NumPy style: one (before, after) pair per axis."""
    pad_width = tuple((int(lo), int(hi)) for lo, hi in pad_width)
    if len(pad_width) != a.ndim:
        raise ValueError(
            f"pad_width: expected {a.ndim} (before, after) pairs, got {len(pad_width)}")
    return Pad.apply(a, pad_width, value)
