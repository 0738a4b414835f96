"""Matrix products: batched matmul with broadcasting over leading axes, and linear."""

from __future__ import annotations

from ..function import Function
from ..tensor import Tensor
from .elementwise import reduce_grad
from .reduce import sum as _sum
from .shape import reshape, transpose


def _mT(t: Tensor) -> Tensor:
    return transpose(t, -1, -2) if t.ndim > 2 else transpose(t)


class MatMul(Function):
    """C = A @ B over the last two axes; dA = dC @ B^T, dB = A^T @ dC (summed over broadcast)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        ctx.dtypes = (a.dtype, b.dtype)
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = reduce_grad(matmul(g, _mT(b)), ctx.shapes[0], ctx.dtypes[0]) if na else None
        gb = reduce_grad(matmul(_mT(a), g), ctx.shapes[1], ctx.dtypes[1]) if nb else None
        return ga, gb


class Linear(Function):
    """y = x W^T + b with x of shape (..., in), W (out, in), b (out,)."""

    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        y = x @ w.T
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = (ctx.needs_input_grad + (False,))[:3]
        gx = matmul(g, w) if nx else None
        g2 = reshape(g, (-1, g.shape[-1])) if g.ndim != 2 else g
        x2 = reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
        gw = matmul(transpose(g2), x2) if nw else None
        gb = _sum(g2, 0) if nb else None
        return gx, gw, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b; 1-D operands are treated as a row (a) or a column (b) vector, as in NumPy."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: expected tensors with at least 1 dim, got a scalar")
    if a.ndim == 1 and b.ndim == 1:
        return reshape(MatMul.apply(reshape(a, (1, -1)), reshape(b, (-1, 1))), ())
    if a.ndim == 1:
        out = MatMul.apply(reshape(a, (1, -1)), b)
        return reshape(out, out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        return reshape(MatMul.apply(a, reshape(b, (-1, 1))), a.shape[:-1])
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: inner dims differ: a {a.shape} @ b {b.shape}")
    return MatMul.apply(a, b)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight^T + bias (PyTorch layout: weight is (out_features, in_features))."""
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features, weight expects "
                         f"{weight.shape[-1]} (weight shape {weight.shape})")
    return Linear.apply(x, weight, bias) if bias is not None else Linear.apply(x, weight)
