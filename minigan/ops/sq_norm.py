"""The mean squared norm of a batch of gradients, fused: the R1/R2 penalty's reduction.

    mean_sq_norm(g, c) = c / N * sum_i ||g_i||^2 = c * mean_i sum_j g_ij^2     (N = g.shape[0])
    d/dg = (2 c / N) g

One op where ``c * mean(sum(g * g, axis=1..))`` records four (a product, a sum, a mean, a scale)
and its backward as many again. The backward is a product written with differentiable ops
(``g * (gy * 2c/N)``), so differentiating it once more works as before; an ordinary backward
(no graph recorded) computes it on the arrays.
"""

from __future__ import annotations

from .. import tensor as _t
from ..function import Function
from ..tensor import Tensor


class MeanSqNorm(Function):
    @staticmethod
    def forward(ctx, g, c):
        ctx.k = 2 * c / g.shape[0]
        ctx.save_for_backward(g)
        total = (g * g).sum()  # (a reduction like sum(g * g) in the unfused form)
        return _t.array_module(g).asarray(total * g.dtype.type(c / g.shape[0]))

    @staticmethod
    def backward(ctx, gy):
        (g,) = ctx.saved_tensors
        if not _t._GRAD_ENABLED[0]:
            ga = g.array
            return Tensor(ga * (gy.array * ga.dtype.type(ctx.k))), None
        return g * (gy * ctx.k), None


def mean_sq_norm(g: Tensor, scale: float = 1.0) -> Tensor:
    """``scale`` times the mean over the batch (axis 0) of each sample's squared norm
    ||g_i||^2 (over all its other axes): the R1/R2 penalty ``gamma/2 E||grad D(x)||^2`` with
    ``scale = gamma / 2``. A 0-d result of g's dtype."""
    if g.ndim < 1 or g.shape[0] == 0:
        raise ValueError(f"g: expected a batch with at least one sample, got shape {g.shape}")
    return MeanSqNorm.apply(g, float(scale))
