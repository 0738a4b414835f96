"""PyTorch's small linear-algebra names over matmul and masks: bmm, mm-style dot, mv, outer,
einsum, triu, tril, diag, diagonal, trace. All differentiable (twice).

einsum's gradient for operand k is another einsum: the output gradient contracted with the
other operands onto k's subscripts; an index that only k carries (summed over inside k alone)
is broadcast back along its axis.
"""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..tensor import Tensor, array_module
from .elementwise import const, mul
from .matmul import matmul
from .reduce import sum as sum_
from .shape import expand, getitem, permute, reshape, unsqueeze


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched a @ b of (B, n, m) and (B, m, p) tensors."""
    if a.ndim != 3 or b.ndim != 3:
        raise ValueError(f"bmm: expected two 3-D tensors, got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """The inner product of two 1-D tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"dot: expected two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return sum_(mul(a, b))


def mv(a: Tensor, v: Tensor) -> Tensor:
    """Matrix (n, m) times vector (m,)."""
    if a.ndim != 2 or v.ndim != 1:
        raise ValueError(f"mv: expected a 2-D and a 1-D tensor, got {a.shape} and {v.shape}")
    return reshape(matmul(a, reshape(v, (-1, 1))), (-1,))


def outer(a: Tensor, b: Tensor) -> Tensor:
    """out[i, j] = a[i] b[j]."""
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def _subscripts(equation: str, n: int) -> tuple:
    eq = equation.replace(" ", "")
    if "." in eq:
        raise NotImplementedError("einsum: '...' (ellipsis) is not supported")
    ins, _, out = eq.partition("->")
    terms = ins.split(",")
    if len(terms) != n:
        raise ValueError(f"equation: {len(terms)} operands in {equation!r}, {n} given")
    if "->" not in eq:  # implicit output: the indices seen once, in alphabetical order
        out = "".join(sorted(c for c in set(ins) - {","} if ins.count(c) == 1))
    for t in terms:
        if len(set(t)) != len(t):
            raise NotImplementedError(f"einsum: a repeated index within one operand ({t!r}) "
                                      "is not supported")
    return terms, out


class _Einsum(Function):
    @staticmethod
    def forward(ctx, equation, *arrays):
        ctx.equation = equation
        ctx.save_for_backward(*arrays)
        return array_module(arrays[0]).einsum(equation, *arrays)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        terms, out = _subscripts(ctx.equation, len(operands))
        grads = [None]
        for k, (t, a) in enumerate(zip(terms, operands)):
            if not ctx.needs_input_grad[k + 1]:
                grads.append(None)
                continue
            others = [(s, o) for j, (s, o) in enumerate(zip(terms, operands)) if j != k]
            seen = set(out).union(*(set(s) for s, _ in others))
            kept = "".join(c for c in t if c in seen)
            eq = ",".join([out] + [s for s, _ in others]) + "->" + kept
            gk = einsum(eq, g, *(o for _, o in others))
            for axis, c in enumerate(t):  # indices only k carries: broadcast back
                if c not in seen:
                    gk = unsqueeze(gk, axis)
            grads.append(expand(gk, a.shape) if gk.shape != a.shape else gk)
        return tuple(grads)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation over explicit subscripts (``"bij,bjk->bik"``; operands as
    arguments or one list). No ellipsis and no index repeated within one operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    dts = {str(o.dtype) for o in operands}
    if len(dts) > 1:  # as PyTorch: one dtype, refused here rather than in backward
        raise TypeError(f"einsum: operands of dtypes {sorted(dts)}; convert them to one")
    terms, out = _subscripts(equation, len(operands))
    eq = ",".join(terms) + "->" + out
    return _Einsum.apply(eq, *operands)


def _tri_mask(a: Tensor, diagonal: int, upper: bool) -> Tensor:
    xp = array_module(a.array)
    n, m = a.shape[-2:]
    ones = xp.ones((n, m), dtype=bool)
    keep = xp.triu(ones, diagonal) if upper else xp.tril(ones, diagonal)
    return const(keep.astype(a.dtype))


def triu(a: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle (j - i >= diagonal) of the last two axes, zeros elsewhere."""
    return mul(a, _tri_mask(a, diagonal, True))


def tril(a: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle (j - i <= diagonal) of the last two axes, zeros elsewhere."""
    return mul(a, _tri_mask(a, diagonal, False))


def diagonal(a: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The entries a[..., i, i + offset] of the axes dim1, dim2, as a last axis."""
    d1, d2 = dim1 % a.ndim, dim2 % a.ndim
    rest = [d for d in range(a.ndim) if d not in (d1, d2)]
    moved = permute(a, (*rest, d1, d2))
    n, m = moved.shape[-2:]
    xp = array_module(a.array)
    length = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    i = xp.arange(length) + max(0, -offset)
    return getitem(moved, (Ellipsis, i, i + offset))


def diag(a: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D tensor as a diagonal matrix (on diagonal k = ``diagonal``), or a 2-D tensor's
    diagonal k."""
    if a.ndim == 2:
        return globals()["diagonal"](a, diagonal)
    if a.ndim != 1:
        raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {a.shape}")
    xp = array_module(a.array)
    n = a.shape[0] + abs(diagonal)
    eye = const(xp.eye(n, k=diagonal, dtype=a.dtype))
    # k >= 0: entry (i, i + k) is a[i], so row i scales by a[i]; k < 0: entry (j - k, j) is
    # a[j], so column j does. Rows/columns past the end hold no entry (clipped index).
    v = getitem(a, xp.clip(xp.arange(n), 0, a.shape[0] - 1))
    return mul(reshape(v, (-1, 1) if diagonal >= 0 else (1, -1)), eye)


def trace(a: Tensor) -> Tensor:
    """The sum of a 2-D tensor's diagonal."""
    if a.ndim != 2:
        raise ValueError(f"trace: expected a 2-D tensor, got shape {a.shape}")
    return sum_(diagonal(a))


__all__ = ["bmm", "diag", "diagonal", "dot", "einsum", "mv", "outer", "trace", "tril", "triu"]
