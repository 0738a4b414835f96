"""Batch normalization kernels, NumPy reference (works unchanged on CuPy arrays).

x has layout (N, C, *): statistics are per channel c over the n = N * prod(*) values x[:, c].

* ``batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps)
  -> (y, mean, invstd)``::

      training:  mean = mean_B(x),  var = mean_B((x - mean)^2)              (biased)
                 running_mean <- (1 - momentum) running_mean + momentum mean       (in place,
                 running_var  <- (1 - momentum) running_var  + momentum n/(n-1) var  if given)
      eval:      mean = running_mean,  var = running_var
      invstd = 1 / sqrt(var + eps),   y = (x - mean) invstd weight + bias

  weight, bias: (C,) or None (1 and 0); running_mean, running_var: (C,) or None (training only).
* ``batch_norm_backward(gy, x, weight, mean, invstd) -> (gx, gw, gb)``: the gradient of the
  training-mode forward (batch statistics, which depend on x), with xhat = (x - mean) invstd::

      gb = sum_B(gy),  gw = sum_B(gy xhat),
      gx = weight invstd (gy - gb / n - xhat gw / n)

  Two reductions over the data, then one elementwise pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...tensor import array_module
from .. import registry, table


def _axes_shape(x: Any) -> tuple:
    if x.ndim < 2:
        raise ValueError(f"x: expected at least 2 dims (N, C, ...), got shape {x.shape}")
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def check_channel_args(x: Any, **params: Any) -> None:
    for name, p in params.items():
        if p is None:
            continue
        if p.shape != (x.shape[1],):
            raise ValueError(f"{name}: expected shape ({x.shape[1]},) (x's channels), got "
                             f"{p.shape}")
        if p.dtype != x.dtype:
            raise TypeError(f"{name}: expected dtype {x.dtype} (x's), got {p.dtype}")


def update_running_stats(running_mean: Any, running_var: Any, mean: Any, var: Any, n: int,
                         momentum: float) -> None:
    """In place: r <- (1 - momentum) r + momentum * batch statistic, with the variance made
    unbiased (n / (n - 1)) as PyTorch does."""
    running_mean[...] = (1 - momentum) * running_mean + momentum * mean
    running_var[...] = (1 - momentum) * running_var + momentum * (n / (n - 1)) * var


def batch_norm_forward(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                       training: bool, momentum: float, eps: float) -> tuple:
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel; see the module docstring.
    Returns (y, mean, invstd), the last two of shape (C,)."""
    axes, bshape = _axes_shape(x)
    check_channel_args(x, weight=weight, bias=bias, running_mean=running_mean,
                       running_var=running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: pass both or neither")
    xp = array_module(x)
    if training:
        n = x.size // x.shape[1]
        if n <= 1:
            raise ValueError(f"x: batch norm in training needs more than 1 value per channel, "
                             f"got shape {x.shape}")
        mean = x.mean(axis=axes)
        d = x - mean.reshape(bshape)
        var = (d * d).mean(axis=axes)
        if running_mean is not None:
            update_running_stats(running_mean, running_var, mean, var, n, momentum)
    else:
        if running_mean is None:
            raise ValueError("running_mean: evaluation mode needs the running statistics")
        mean, var = running_mean.copy(), running_var
        d = x - mean.reshape(bshape)
    invstd = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
    y = d * invstd.reshape(bshape)
    if weight is not None:
        y *= weight.reshape(bshape)
    if bias is not None:
        y += bias.reshape(bshape)
    return y, mean, invstd


def batch_norm_backward(gy: Any, x: Any, weight: Any, mean: Any, invstd: Any) -> tuple:
    """(gx, gw, gb) of the training-mode forward; see the module docstring. gw and gb are
    returned even when weight is None (then weight = 1)."""
    axes, bshape = _axes_shape(x)
    if gy.shape != x.shape:
        raise ValueError(f"gy: expected shape {x.shape} (x's), got {gy.shape}")
    if gy.dtype != x.dtype:
        raise TypeError(f"gy: expected dtype {x.dtype} (x's), got {gy.dtype}")
    check_channel_args(x, weight=weight, mean=mean, invstd=invstd)
    n = x.size // x.shape[1]
    xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
    gb = gy.sum(axis=axes)
    gw = (gy * xhat).sum(axis=axes)
    scale = invstd if weight is None else weight * invstd
    gx = scale.reshape(bshape) * (gy - (gb / n).reshape(bshape) - xhat * (gw / n).reshape(bshape))
    return gx, gw, gb


for _name, _fn in (("batch_norm_forward", batch_norm_forward),
                   ("batch_norm_backward", batch_norm_backward)):
    registry.define("batch_norm", _name, _fn)
    registry.provide(_name, "native", f"minigan.kernels.batch_norm.native:{_name}")
    registry.provide(_name, "numba", f"minigan.kernels.batch_norm.numba:{_name}")
    registry.provide(_name, "cupy", f"minigan.kernels.batch_norm.cupy:{_name}")
    registry.provide(_name, "numba_cuda", f"minigan.kernels.batch_norm.numba_cuda:{_name}")
    registry.provide(_name, "cuda", f"minigan.kernels.batch_norm.cuda:{_name}")


# ---- parity rows ------------------------------------------------------------------------------

def _rows(shape: tuple, bench: bool = False) -> list:
    c, numel = shape[1], int(np.prod(shape))
    label = "x".join(map(str, shape))

    def params(rng, dtype, affine=True):
        w = (1 + 0.3 * rng.standard_normal(c)).astype(dtype) if affine else None
        b = (0.3 * rng.standard_normal(c)).astype(dtype) if affine else None
        return w, b

    def x_of(rng, dtype):
        # An offset per channel, so a naive sum-of-squares variance would lose digits.
        off = 5 * rng.standard_normal((1, c) + (1,) * (len(shape) - 2))
        return (off + 2 * rng.standard_normal(shape)).astype(dtype)

    def train(rng, dtype, affine=True):
        x = x_of(rng, dtype)
        w, b = params(rng, dtype, affine)
        rm, rv = rng.standard_normal(c).astype(dtype), (1 + rng.random(c)).astype(dtype)
        return (x, w, b, rm, rv, True, 0.1, 1e-5), {}

    def evaluate(rng, dtype):
        args, _ = train(rng, dtype)
        return (*args[:5], False, 0.1, 1e-5), {}

    def backward(rng, dtype, affine=True):
        x = x_of(rng, dtype)
        w, _ = params(rng, dtype, affine)
        axes = (0,) + tuple(range(2, len(shape)))
        mean = x.mean(axis=axes).astype(dtype)
        invstd = (1 / np.sqrt(x.var(axis=axes) + 1e-5)).astype(dtype)
        return (rng.standard_normal(shape).astype(dtype), x, w, mean, invstd), {}

    with_stats = lambda args, res: (*res, args[3], args[4])  # noqa: E731  (updated in place)
    rows = [
        table.KernelCase("batch_norm_forward", f"{label},train", train, outputs=with_stats,
                         flops=7 * numel, bytes=4 * 3 * numel, bench=bench),
        table.KernelCase("batch_norm_backward", label, backward, flops=10 * numel,
                         bytes=4 * 5 * numel, bench=bench),
    ]
    if not bench:
        # NaN/inf in x (train), in eps (eval), in gy, x and invstd (backward)
        rows += [table.nonfinite(rows[0], 0), table.nonfinite(rows[0], 7),
                 table.nonfinite(table.KernelCase("batch_norm_forward", f"{label},eval",
                                                  evaluate, outputs=with_stats), 7),
                 *(table.nonfinite(rows[1], arg) for arg in (0, 1, 4))]
        rows += [
            table.KernelCase("batch_norm_forward", f"{label},eval", evaluate,
                             outputs=with_stats),
            table.KernelCase("batch_norm_forward", f"{label},train,no affine",
                             lambda rng, dtype: train(rng, dtype, affine=False),
                             outputs=with_stats),
            table.KernelCase("batch_norm_backward", f"{label},no affine",
                             lambda rng, dtype: backward(rng, dtype, affine=False)),
        ]
    return rows


# (37, 1001): a BatchNorm1d big enough for the compiled kernels' parallel paths (2-D input:
# channels split across threads, rows walked with the channels innermost), odd sizes.
table.add(*_rows((5, 3, 4, 7)), *_rows((6, 5)), *_rows((2, 3, 1, 1)), *_rows((3, 2, 5)),
          *_rows((37, 1001)))
# The generator's two BatchNorms of `minigan bench step` (batch 64): BatchNorm1d(128*7*7) after
# its Linear, BatchNorm2d(64) after its first transposed convolution.
table.add(*_rows((64, 6272), bench=True), *_rows((64, 64, 14, 14), bench=True))
