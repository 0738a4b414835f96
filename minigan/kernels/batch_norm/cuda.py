"""The ``cuda`` backend of batch normalization: minigan._cuda's kernels
(csrc/cuda/batch_norm.cu) with the reference's signatures (:mod:`minigan.kernels.batch_norm`).

Each direction is ONE launch, one block per channel (32 neighbouring channels per block for an
(N, F) input): the forward reduces the batch mean, then the variance as the mean of
(x - mean)^2 from cache (two passes, no cancellation), updates the running statistics and writes
y; the backward reduces sum(gy) and sum(gy xhat) and writes gx.
"""

from __future__ import annotations

from typing import Any

import cupy

from ..common.cuda import as_device, cuda, stream
from . import _axes_shape, check_channel_args


def _folded(x: Any) -> Any:
    inner = 1
    for s in x.shape[2:]:
        inner *= int(s)
    return x.reshape(x.shape[0], x.shape[1], inner)


def _opt(name: str, a: Any) -> Any:
    return None if a is None else as_device(name, a)


def batch_norm_forward(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                       training: bool, momentum: float, eps: float) -> tuple:
    """(y, mean, invstd) with y = (x - mean) / sqrt(var + eps) * weight + bias per channel;
    the running statistics are updated in place in training (see the reference)."""
    x = as_device("x", x)
    _axes_shape(x)
    weight, bias = _opt("weight", weight), _opt("bias", bias)
    check_channel_args(x, weight=weight, bias=bias, running_mean=running_mean,
                       running_var=running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: pass both or neither")
    # The kernel updates the statistics in place, so it needs them contiguous; a strided view
    # gets a contiguous copy, written back afterwards.
    stats = [running_mean, running_var]
    work = [None if s is None else as_device(n, s)
            for s, n in zip(stats, ("running_mean", "running_var"))]
    C = x.shape[1]
    y = cupy.empty(_folded(x).shape, dtype=x.dtype)
    mean, invstd = cupy.empty(C, dtype=x.dtype), cupy.empty(C, dtype=x.dtype)
    cuda.batch_norm_forward(_folded(x), weight, bias, work[0], work[1], bool(training),
                            float(momentum), float(eps), out=y, mean=mean, invstd=invstd,
                            stream=stream())
    for s, w in zip(stats, work):
        if s is not None and w is not s:
            s[...] = w
    return y.reshape(x.shape), mean, invstd


def batch_norm_backward(gy: Any, x: Any, weight: Any, mean: Any, invstd: Any) -> tuple:
    """(gx, gw, gb) of the training-mode forward; gw and gb are returned even when weight is
    None."""
    x, gy = as_device("x", x), as_device("gy", gy)
    _axes_shape(x)
    if gy.shape != x.shape:
        raise ValueError(f"gy: expected shape {x.shape} (x's), got {gy.shape}")
    if gy.dtype != x.dtype:
        raise TypeError(f"gy: expected dtype {x.dtype} (x's), got {gy.dtype}")
    weight = _opt("weight", weight)
    mean, invstd = as_device("mean", mean), as_device("invstd", invstd)
    check_channel_args(x, weight=weight, mean=mean, invstd=invstd)
    C = x.shape[1]
    gx = cupy.empty(_folded(x).shape, dtype=x.dtype)
    gw, gb = cupy.empty(C, dtype=x.dtype), cupy.empty(C, dtype=x.dtype)
    cuda.batch_norm_backward(_folded(gy), _folded(x), weight, mean, invstd, out=gx, gweight=gw,
                             gbias=gb, stream=stream())
    return gx.reshape(x.shape), gw, gb
