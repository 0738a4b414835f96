"""Order and selection, PyTorch's names: sort, argsort, topk, median (values with their
indices), nonzero, roll, narrow. Values are gathered from the input, so their gradient goes
back to the positions they came from; indices take none.

Ties: the sort is stable (equal values keep their order, PyTorch's ``stable=True``);
median is the lower of the two middle values for an even count, as in PyTorch.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from ..tensor import Tensor, array_module
from .shape import _norm_axis, cat, gather, getitem, reshape

_Sorted = namedtuple("_Sorted", ["values", "indices"])


def _order(a: Tensor, dim: int, descending: bool) -> Any:
    xp = array_module(a.array)
    x = a.array
    if descending:  # a stable descending order: sort the negation (bool/uint: the complement)
        x = -x.astype(xp.float64) if x.dtype.kind in "bu" else -x
    # CuPy's argsort is always stable and takes no ``kind``; NumPy's default is not stable.
    return xp.argsort(x, axis=dim, kind="stable") if xp.__name__ == "numpy" else xp.argsort(
        x, axis=dim)


def argsort(a: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False
            ) -> Tensor:
    """The indices that sort ``a`` along ``dim`` (int64)."""
    dim = _norm_axis(dim, a.ndim, "dim")
    return Tensor(_order(a, dim, descending).astype("int64"))


def sort(a: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
    """(values, indices) of ``a`` sorted along ``dim``."""
    idx = argsort(a, dim, descending)
    return _Sorted(gather(a, dim, idx), idx)


def topk(a: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True  # noqa: A002
         ) -> Any:
    """(values, indices) of the k largest (``largest=False``: smallest) along ``dim``."""
    dim = _norm_axis(dim, a.ndim, "dim")
    if not 0 <= k <= a.shape[dim]:
        raise ValueError(f"k: {k} is out of range for dim {dim} of size {a.shape[dim]}")
    order = _order(a, dim, largest)
    xp = array_module(a.array)
    idx = Tensor(xp.take(order, xp.arange(k), axis=dim).astype("int64"))
    return _Sorted(gather(a, dim, idx), idx)


def median(a: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The lower median: of all entries (a 0-d tensor) or, with ``dim``, (values, indices)."""
    if dim is None:
        flat = reshape(a, (-1,))
        idx = argsort(flat)
        return getitem(flat, int(idx.array[(flat.shape[0] - 1) // 2]))
    dim = _norm_axis(dim, a.ndim, "dim")
    order = argsort(a, dim)
    xp = array_module(a.array)
    mid = (a.shape[dim] - 1) // 2
    idx = Tensor(xp.take(order.array, xp.asarray([mid]), axis=dim))
    values = gather(a, dim, idx)
    if not keepdim:
        idx = Tensor(xp.squeeze(idx.array, dim))
        values = reshape(values, idx.shape)
    return _Sorted(values, idx)


def nonzero(a: Tensor, *, as_tuple: bool = False) -> Any:
    """The indices of the non-zero entries: an (n, ndim) int64 tensor, or one 1-D tensor per
    axis with ``as_tuple``."""
    xp = array_module(a.array)
    where = xp.nonzero(a.array)
    if as_tuple:
        return tuple(Tensor(w.astype(xp.int64)) for w in where)
    return Tensor(xp.stack(where, axis=1).astype(xp.int64) if where else
                  xp.zeros((0, 0), dtype=xp.int64))


def roll(a: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift entries along ``dims`` by ``shifts`` (wrapping around); no dims: of the
    flattened tensor, then the shape restored."""
    if dims is None:
        return reshape(roll(reshape(a, (-1,)), shifts, 0), a.shape)
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(dims):
        raise ValueError(f"shifts: {len(shifts)} shifts for {len(dims)} dims")
    for s, d in zip(shifts, dims):
        d = _norm_axis(d, a.ndim, "dims")
        n = a.shape[d]
        s = s % n if n else 0
        if s:
            head = (slice(None),) * d
            a = cat([getitem(a, (*head, slice(n - s, None))), getitem(a, (*head, slice(0, n - s)))],
                    d)
    return a


def narrow(a: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The ``length`` entries from ``start`` along ``dim`` (a view in PyTorch, a copy here)."""
    dim = _norm_axis(dim, a.ndim, "dim")
    start = start % a.shape[dim] if start < 0 else start
    if start + length > a.shape[dim] or length < 0:
        raise ValueError(f"narrow: start {start} + length {length} exceeds dim {dim} of size "
                         f"{a.shape[dim]}")
    return getitem(a, (slice(None),) * dim + (slice(start, start + length),))


__all__ = ["argsort", "median", "narrow", "nonzero", "roll", "sort", "topk"]
