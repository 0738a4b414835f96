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
        # permute, not transpose: transpose(g, (i, j)) would swap two axes of a 2-D g.
        return permute(g, tuple(inverse)), None


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
    """``transpose(a, dim0, dim1)`` swaps two axes (PyTorch); a full permutation (one tuple, or
    three or more ints) permutes them; none given reverses them."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(reversed(range(a.ndim)))
    elif len(axes) == 2:  # PyTorch's transpose(dim0, dim1): swap two axes
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
    """A new axis of size 1 at ``dim`` (negative counts from the end of the result)."""
    if not -a.ndim - 1 <= dim <= a.ndim:
        raise ValueError(f"dim: {dim} is out of range for unsqueezing a {a.ndim}-d tensor")
    dim = dim % (a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a: Tensor, dim: Any = None) -> Tensor:
    """Drop axes of size 1 (all of them, or those of ``dim``, an int or a tuple)."""
    if dim is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    if isinstance(dim, (tuple, list)):
        drop = {_norm_axis(d, a.ndim, "dim") for d in dim}
        return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in drop or n != 1))
    dim = _norm_axis(dim, a.ndim, "dim")
    return reshape(a, a.shape[:dim] + a.shape[dim + 1:]) if a.shape[dim] == 1 else a


def expand(a: Tensor, *shape: Any) -> Tensor:
    """Broadcast a to shape (no copy); -1 keeps that dimension's size, as in PyTorch."""
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    if -1 in shape:
        lead = len(shape) - a.ndim
        shape = tuple(a.shape[i - lead] if n == -1 and i >= lead else n
                      for i, n in enumerate(shape))
    return a if a.shape == shape else Expand.apply(a, shape)


def sum_to(a: Tensor, shape: Sequence[int]) -> Tensor:
    """Sum a down to ``shape``: the adjoint of broadcasting ``shape`` up to ``a.shape``."""
    shape = tuple(shape)
    return a if a.shape == shape else SumTo.apply(a, shape)


def concat(tensors: Sequence[Tensor], axis: int = 0, *, dim: Any = None,
           out: Any = None) -> Tensor:
    """Join tensors along an existing axis (``dim=`` is PyTorch's spelling of ``axis``)."""
    if not tensors:
        raise ValueError("tensors: expected at least one tensor")
    tensors = list(tensors)
    axis = _norm_axis(axis if dim is None else dim, tensors[0].ndim)
    return Concat.apply(axis, *_same_dtype(tensors))


cat = concat


def _same_dtype(tensors: list) -> list:
    """PyTorch's promotion for cat/stack: all inputs join at their common dtype."""
    dt = tensors[0].dtype
    if all(t.dtype == dt for t in tensors):
        return tensors
    common = array_module(tensors[0].array).result_type(*[t.dtype for t in tensors])
    return [t.to(common) for t in tensors]


def stack(tensors: Sequence[Tensor], axis: int = 0, *, dim: Any = None,
          out: Any = None) -> Tensor:
    """Join tensors along a new axis."""
    if not tensors:
        raise ValueError("tensors: expected at least one tensor")
    axis = axis if dim is None else dim
    axis = axis % (tensors[0].ndim + 1)
    return concat([unsqueeze(t, axis) for t in tensors], axis)


def split(a: Tensor, sizes: int | Sequence[int], axis: int = 0, *, dim: Any = None) -> tuple:
    """Split along axis into pieces of ``sizes`` (an int: equal pieces of that size, the last
    one shorter when they do not divide it)."""
    axis = _norm_axis(axis if dim is None else dim, a.ndim)
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


def chunk(a: Tensor, chunks: int, dim: int = 0) -> tuple:
    """PyTorch's chunk: pieces of ceil(n / chunks) along ``dim`` (fewer when they run out)."""
    if not isinstance(chunks, int) or chunks < 1:
        raise ValueError(f"chunks: expected a positive int, got {chunks!r}")
    n = a.shape[_norm_axis(dim, a.ndim, "dim")]
    return split(a, builtins.max(-(-n // chunks), 1), dim)


def unbind(a: Tensor, dim: int = 0) -> tuple:
    """The slices along ``dim``, that axis removed."""
    d = _norm_axis(dim, a.ndim, "dim")
    return tuple(squeeze(p, d) for p in split(a, 1, d))


def _along(a: Tensor, index: Any, dim: int) -> tuple:
    """The advanced-index key that picks ``index[..., i, ...]`` along ``dim`` and the index's own
    position on every other axis (gather's / scatter's addressing)."""
    xp = array_module(a.array)
    idx = index.array if isinstance(index, Tensor) else xp.asarray(index)
    if idx.ndim != a.ndim:
        raise ValueError(f"index: expected {a.ndim} dims (the input's), got {idx.ndim}")
    d = _norm_axis(dim, a.ndim, "dim")
    key = tuple(idx if i == d else xp.arange(n).reshape([-1 if j == i else 1
                                                          for j in range(idx.ndim)])
                for i, n in enumerate(idx.shape))
    return key, d


def gather(a: Tensor, dim: int, index: Any) -> Tensor:
    """out[i][j] = a[i][index[i][j]] for dim=1 (any rank): PyTorch's gather; the gradient is
    scattered back (adding at repeated indices)."""
    key, _ = _along(a, index, dim)
    return GetItem.apply(a, key)


def index_select(a: Tensor, dim: int, index: Any) -> Tensor:
    """The entries of ``index`` (1-d ints) along ``dim``."""
    d = _norm_axis(dim, a.ndim, "dim")
    idx = index.array if isinstance(index, Tensor) else array_module(a.array).asarray(index)
    return GetItem.apply(a, (slice(None),) * d + (idx,))


def repeat(a: Tensor, *sizes: Any) -> Tensor:
    """Tile a (PyTorch's repeat, NumPy's tile): as interleaved expand + reshape, so it
    differentiates (the gradient sums the copies)."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if len(sizes) < a.ndim:
        raise ValueError(f"sizes: expected at least {a.ndim} repeats, got {len(sizes)}")
    shape = (1,) * (len(sizes) - a.ndim) + a.shape
    inter = reshape(a, tuple(x for n in shape for x in (1, n)))
    big = expand(inter, tuple(x for r, n in zip(sizes, shape) for x in (r, n)))
    return reshape(big, tuple(r * n for r, n in zip(sizes, shape)))


def flip(a: Tensor, dims: Any) -> Tensor:
    """Reverse the order along ``dims``."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    key = [slice(None)] * a.ndim
    for d in dims:
        key[_norm_axis(d, a.ndim, "dims")] = slice(None, None, -1)
    return GetItem.apply(a, tuple(key))


def t(a: Tensor) -> Tensor:
    """The transpose of a matrix (a 0-d or 1-d tensor is returned as it is)."""
    if a.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dims, got {a.ndim}")
    return a if a.ndim < 2 else Transpose.apply(a, (1, 0))
