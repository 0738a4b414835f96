"""Matrix products: batched matmul with broadcasting over leading axes, and linear."""

from __future__ import annotations

from .. import tensor as _t
from ..function import Function
from ..tensor import Tensor
from .elementwise import reduce_grad
from .reduce import sum as _sum
from .shape import reshape


def _mT(a):
    """The array with its last two axes swapped (a view)."""
    return a.swapaxes(-1, -2)


def dot(a, b):
    """a @ b on arrays. A 2-D product over an inner dimension of 1 (an outer product: the
    input gradient of a layer with one output, as a discriminator's last) is a broadcast
    multiply: NumPy's matmul does not hand such operands to BLAS, and its own loop took 55-90
    us for 256 x 128 on an AMD EPYC, 5-9x the multiply. Same values (one product each)."""
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] == 1 and b.shape[0] == 1:
        return a * b
    return a @ b


class MatMul(Function):
    """C = op(A) @ op(B) over the last two axes, op = transpose when ``ta`` / ``tb``.

    The flags let backward form dC @ B^T and A^T @ dC as one op each (the transposes are
    views inside forward), instead of a recorded transpose plus a product: half the ops per
    matmul backward. With op(A) = A: dA = dC @ op(B)^T; with op(A) = A^T: dA = op(B) @ dC^T;
    likewise dB = op(A)^T @ dC, or dC^T @ op(A) when op(B) = B^T. Gradients are summed over
    broadcast leading axes."""

    @staticmethod
    def forward(ctx, a, b, ta=False, tb=False):
        ctx.shapes = (a.shape, b.shape)
        ctx.dtypes = (a.dtype, b.dtype)
        ctx.flags = (ta, tb)
        ctx.save_for_backward(a, b)
        return dot(_mT(a) if ta else a, _mT(b) if tb else b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad[:2]
        ta, tb = ctx.flags
        if not _t._GRAD_ENABLED[0] and a.ndim == 2 and b.ndim == 2:
            # No graph to record (plain backward), no broadcast to undo: the same products on
            # the arrays, without an op object per product.
            ga_, ba_, g_ = a.array, b.array, g.array
            bt = _mT(ba_) if tb else ba_
            at = _mT(ga_) if ta else ga_
            return (Tensor(dot(bt, _mT(g_)) if ta else dot(g_, _mT(bt))) if na else None,
                    Tensor(dot(_mT(g_), at) if tb else dot(_mT(at), g_)) if nb else None,
                    None, None)
        ga = gb = None
        if na:
            ga = MatMul.apply(b, g, tb, True) if ta else MatMul.apply(g, b, False, not tb)
            ga = reduce_grad(ga, ctx.shapes[0], ctx.dtypes[0])
        if nb:
            gb = MatMul.apply(g, a, True, ta) if tb else MatMul.apply(a, g, not ta, False)
            gb = reduce_grad(gb, ctx.shapes[1], ctx.dtypes[1])
        return ga, gb, None, None


class Linear(Function):
    """y = x W^T + b with x of shape (..., in), W (out, in), b (out,)."""

    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        y = dot(x, w.T)
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = (ctx.needs_input_grad + (False,))[:3]
        if not _t._GRAD_ENABLED[0] and x.ndim == 2:
            # Plain backward: the products and the bias sum below, on the arrays.
            ga, xa = g.array, x.array
            return (Tensor(dot(ga, w.array)) if nx else None,
                    Tensor(dot(_mT(ga), xa)) if nw else None,
                    Tensor(ga.sum(axis=(0,))) if nb else None)
        gx = matmul(g, w) if nx else None
        g2 = reshape(g, (-1, g.shape[-1])) if g.ndim != 2 else g
        x2 = reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
        gw = MatMul.apply(g2, x2, True, False) if nw else None
        gb = _sum(g2, 0) if nb else None
        return gx, gw, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b; 1-D operands are treated as a row (a) or a column (b) vector, as in NumPy."""
    sa, sb = a.shape, b.shape  # once each: this runs for every product
    if len(sa) >= 2 and len(sb) >= 2:
        if sa[-1] != sb[-2]:
            raise ValueError(f"matmul: inner dims differ: a {sa} @ b {sb}")
        if a.array.dtype != b.array.dtype:
            raise TypeError(f"matmul: a is {a.dtype} and b is {b.dtype}; PyTorch requires one "
                            "dtype (convert one of them)")
        return MatMul.apply(a, b)
    if not sa or not sb:
        raise ValueError("matmul: expected tensors with at least 1 dim, got a scalar")
    if len(sa) == 1 and len(sb) == 1:
        return reshape(MatMul.apply(reshape(a, (1, -1)), reshape(b, (-1, 1))), ())
    if len(sa) == 1:
        out = MatMul.apply(reshape(a, (1, -1)), b)
        return reshape(out, out.shape[:-2] + out.shape[-1:])
    return reshape(MatMul.apply(a, reshape(b, (-1, 1))), sa[:-1])


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight^T + bias (PyTorch layout: weight is (out_features, in_features))."""
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features, weight expects "
                         f"{weight.shape[-1]} (weight shape {weight.shape})")
    if x.array.dtype != weight.array.dtype:  # as PyTorch: no silent promotion into a layer
        raise TypeError(f"linear: input dtype {x.dtype} differs from weight dtype "
                        f"{weight.dtype}; convert one (x.to(weight.dtype) or module.double())")
    if bias is not None and bias.array.dtype != weight.array.dtype:  # else backward fails
        raise TypeError(f"linear: bias dtype {bias.dtype} differs from weight dtype "
                        f"{weight.dtype}")
    return Linear.apply(x, weight, bias) if bias is not None else Linear.apply(x, weight)
