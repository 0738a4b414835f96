"""Synchronized batch norm: statistics over the global batch, forward and backward.

On N ranks with b rows each, per-channel sums are all-reduced so every rank normalizes with the
mean and biased variance of all N b rows:

    mean = (1/n) sum_r S1_r,   var = (1/n) sum_r sum_{i in r} (x_i - mean)^2,   n = N b (H W)

The all-reduce is a differentiable op: y = sum_r x_r on every rank, whose adjoint is again an
all-reduce of the incoming gradients (each rank's loss depends on every rank's x through y). So
the backward pass through the statistics also spans the global batch, the same gradient one
process computes for the whole batch, to any order (double backprop through D's batch norm).
"""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..nn.normalization import BatchNorm1d, BatchNorm2d, _BatchNorm
from ..ops import sqrt
from ..ops import sum as _sum
from ..tensor import Tensor, no_grad


class AllReduceSum(Function):
    """y = sum over the ranks of a (the same y on every rank); dL/da = sum over ranks of dL/dy."""

    @staticmethod
    def forward(ctx, a, reducer):
        ctx.reducer = reducer
        return reducer.sum_(a.copy())

    @staticmethod
    def backward(ctx, g):
        return AllReduceSum.apply(g, ctx.reducer), None


def all_reduce_sum(a: Tensor, reducer: Any) -> Tensor:
    """The differentiable sum of ``a`` over the ranks of ``reducer``."""
    return AllReduceSum.apply(a, reducer)


class _SyncBatchNorm(_BatchNorm):
    """A BatchNorm whose training-mode statistics span every rank (set by :func:`convert`)."""

    reducer: Any = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.reducer is None:
            return super().forward(x)
        axes = tuple(i for i in range(x.ndim) if i != 1)
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        n = (x.numel() // x.shape[1]) * self.reducer.size
        mean = all_reduce_sum(_sum(x, axis=axes), self.reducer) / n
        d = x - mean.reshape(bshape)
        var = all_reduce_sum(_sum(d * d, axis=axes), self.reducer) / n
        y = d / sqrt(var.reshape(bshape) + self.eps)
        if self.affine:
            y = y * self.weight.reshape(bshape) + self.bias.reshape(bshape)
        if self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
                f = (1.0 / float(self.num_batches_tracked.item()) if self.momentum is None
                     else self.momentum)
                # PyTorch: the running variance takes the unbiased batch variance.
                rm, rv = self.running_mean.array, self.running_var.array
                rm *= 1 - f
                rm += f * mean.array.astype(rm.dtype)
                rv *= 1 - f
                rv += f * (var.array * (n / (n - 1))).astype(rv.dtype)
                self.running_mean._version[0] += 1
                self.running_var._version[0] += 1
        return y


class SyncBatchNorm1d(_SyncBatchNorm, BatchNorm1d):
    pass


class SyncBatchNorm2d(_SyncBatchNorm, BatchNorm2d):
    pass


def convert(module: Any, reducer: Any) -> int:
    """Turn every BatchNorm1d/2d in ``module`` into its synchronized form, in place (parameters,
    buffers and state_dict keys unchanged). Returns how many were converted."""
    count = 0
    for m in module.modules():
        if isinstance(m, _SyncBatchNorm):
            m.reducer = reducer
        elif type(m) in (BatchNorm1d, BatchNorm2d):
            m.__class__ = SyncBatchNorm1d if type(m) is BatchNorm1d else SyncBatchNorm2d
            m.reducer = reducer
        else:
            continue
        count += 1
    return count
