"""Batch normalization on CuPy arrays: per-channel reductions with ``cupy.ReductionKernel``
(accumulated in float64), then one fused ``ElementwiseKernel`` pass over the data.

Same contract as :mod:`minigan.kernels.batch_norm` (the maths is there). With the statistics
over every axis but 1 (n values per channel)::

    forward (training):  mean = sum(x) / n;  var = sum((x - mean)^2) / n     (two passes, f64)
                         y = (x - mean) * invstd * weight + bias              (one pass)
                         running stats updated in place by one small kernel over the C channels
    backward:            gb = sum(gy);  gw = sum(gy * xhat)                   (two reductions)
                         gx = weight * invstd * (gy - gb/n - xhat * gw/n)     (one pass)

The centred second pass keeps the variance exact for data with a large mean (a one-pass
sum-of-squares would cancel digits). A missing weight or bias enters as the scalar 1 or 0.
"""

from __future__ import annotations

from typing import Any

from .. import batch_norm as ref
from ..common.cupy import ACC, cached, cupy, float_dtype

SUM = ("T x", "float64 s", "x", "a + b", "s = a", "0", "minigan_bn_sum")
SQDEV = ("T x, float64 m", "float64 s", "((double)x - m) * ((double)x - m)", "a + b", "s = a",
         "0", "minigan_bn_sqdev")
DOT_XHAT = ("T gy, T x, T mean, T invstd", "float64 s",
            "(double)gy * (((double)x - (double)mean) * (double)invstd)", "a + b", "s = a", "0",
            "minigan_bn_dot_xhat")
NORMALIZE = ("T x, T mean, T invstd, T w, T b", "T y", "y = (x - mean) * invstd * w + b",
             "minigan_bn_normalize")
RUNNING = ("T mean, T var, T keep, T mom, T mom_unbiased", "T rm, T rv",
           "rm = keep * rm + mom * mean; rv = keep * rv + mom_unbiased * var",
           "minigan_bn_running")
GRAD_INPUT = ("T gy, T x, T mean, T invstd, T scale, T gb_n, T gw_n", "T gx",
              "const T xhat = (x - mean) * invstd; gx = scale * (gy - gb_n - xhat * gw_n)",
              "minigan_bn_grad_input")


@cached
def _reduction(spec: tuple) -> Any:
    return cupy().ReductionKernel(*spec, reduce_type=ACC)


@cached
def _elementwise(spec: tuple) -> Any:
    return cupy().ElementwiseKernel(*spec)


def _stats(x: Any, axes: tuple, bshape: tuple, n: int) -> tuple:
    """(mean, biased var) per channel, float64, (C,)."""
    mean = _reduction(SUM)(x, axis=axes) / n
    var = _reduction(SQDEV)(x, mean.reshape(bshape), axis=axes) / n
    return mean, var


def batch_norm_forward(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                       training: bool, momentum: float, eps: float) -> tuple:
    """(y, mean, invstd); see :func:`minigan.kernels.batch_norm.batch_norm_forward` (running
    statistics are updated in place in training)."""
    axes, bshape = ref._axes_shape(x)
    ref.check_channel_args(x, weight=weight, bias=bias, running_mean=running_mean,
                           running_var=running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: pass both or neither")
    dtype = float_dtype(x=x, weight=weight, bias=bias, running_mean=running_mean,
                        running_var=running_var)
    if dtype is None:
        return ref.batch_norm_forward(x, weight, bias, running_mean, running_var, training,
                                      momentum, eps)
    cp = cupy()
    if training:
        n = x.size // x.shape[1]
        if n <= 1:
            raise ValueError(f"x: batch norm in training needs more than 1 value per channel, "
                             f"got shape {x.shape}")
        mean64, var64 = _stats(x, axes, bshape, n)
        mean, invstd = mean64.astype(dtype), (1.0 / cp.sqrt(var64 + eps)).astype(dtype)
        if running_mean is not None:
            t = dtype.type
            _elementwise(RUNNING)(mean, var64.astype(dtype), t(1 - momentum), t(momentum),
                                  t(momentum * n / (n - 1)), running_mean, running_var)
    else:
        if running_mean is None:
            raise ValueError("running_mean: evaluation mode needs the running statistics")
        mean = running_mean.copy()
        invstd = (1 / cp.sqrt(running_var + eps)).astype(dtype, copy=False)
    one, zero = dtype.type(1), dtype.type(0)
    y = _elementwise(NORMALIZE)(
        x, mean.reshape(bshape), invstd.reshape(bshape),
        one if weight is None else weight.reshape(bshape),
        zero if bias is None else bias.reshape(bshape))
    return y, mean, invstd


def batch_norm_backward(gy: Any, x: Any, weight: Any, mean: Any, invstd: Any) -> tuple:
    """(gx, gw, gb) of the training-mode forward; see
    :func:`minigan.kernels.batch_norm.batch_norm_backward`."""
    axes, bshape = ref._axes_shape(x)
    if gy.shape != x.shape:
        raise ValueError(f"gy: expected shape {x.shape} (x's), got {gy.shape}")
    if gy.dtype != x.dtype:
        raise TypeError(f"gy: expected dtype {x.dtype} (x's), got {gy.dtype}")
    ref.check_channel_args(x, weight=weight, mean=mean, invstd=invstd)
    dtype = float_dtype(gy=gy, x=x, weight=weight, mean=mean, invstd=invstd)
    if dtype is None:
        return ref.batch_norm_backward(gy, x, weight, mean, invstd)
    n = x.size // x.shape[1]
    m, s = mean.reshape(bshape), invstd.reshape(bshape)
    gb = _reduction(SUM)(gy, axis=axes)                       # float64 (C,)
    gw = _reduction(DOT_XHAT)(gy, x, m, s, axis=axes)         # float64 (C,)
    scale = invstd if weight is None else weight * invstd
    gx = _elementwise(GRAD_INPUT)(gy, x, m, s, scale.reshape(bshape),
                                  (gb / n).astype(dtype).reshape(bshape),
                                  (gw / n).astype(dtype).reshape(bshape))
    return gx, gw.astype(dtype), gb.astype(dtype)

