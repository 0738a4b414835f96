"""Batch norm kernels in Numba, with the NumPy reference's signatures
(minigan/kernels/batch_norm/). Data is viewed as (N, C, L); statistics are one pass per
channel in float64, shifted by the channel's first value (exact variance formula, small terms),
channels in parallel; the elementwise pass runs over (n, c) rows in parallel."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit, prange

from ... import backends
from . import _axes_shape, check_channel_args, update_running_stats

numba.set_num_threads(min(backends.num_threads(), numba.config.NUMBA_NUM_THREADS))


@njit(cache=True, parallel=True, error_model="numpy")
def _stats(x, mean, var):
    N, C, L = x.shape
    cnt = N * L
    for c in prange(C):
        shift = np.float64(x[0, c, 0])
        s = 0.0
        ss = 0.0
        for n in range(N):
            for k in range(L):
                d = np.float64(x[n, c, k]) - shift
                s += d
                ss += d * d
        dm = s / cnt
        mean[c] = shift + dm
        var[c] = max(ss / cnt - dm * dm, 0.0)


@njit(cache=True, parallel=True, error_model="numpy")
def _affine(x, mean, invstd, w, b, y):
    N, C, L = x.shape
    for r in prange(N * C):
        n, c = r // C, r % C
        m, s, wc, bc = mean[c], invstd[c], w[c], b[c]
        for k in range(L):
            y[n, c, k] = (x[n, c, k] - m) * s * wc + bc


@njit(cache=True, parallel=True, error_model="numpy")
def _grad_stats(gy, x, mean, gb, gxm):
    N, C, L = x.shape
    for c in prange(C):
        m = np.float64(mean[c])
        s = 0.0
        sx = 0.0
        for n in range(N):
            for k in range(L):
                g = np.float64(gy[n, c, k])
                s += g
                sx += g * (np.float64(x[n, c, k]) - m)
        gb[c] = s
        gxm[c] = sx


@njit(cache=True, parallel=True, error_model="numpy")
def _grad_x(gy, x, mean, invstd, w, gb, gw, gx):
    N, C, L = x.shape
    cnt = N * L
    for r in prange(N * C):
        n, c = r // C, r % C
        m, s = mean[c], invstd[c]
        scale = w[c] * s
        a, bb = gb[c] / cnt, gw[c] / cnt
        for k in range(L):
            xhat = (x[n, c, k] - m) * s
            gx[n, c, k] = scale * (gy[n, c, k] - a - xhat * bb)


def _ncl(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def _or(a: Any, value: float, c: int, dtype: Any) -> np.ndarray:
    return np.full(c, value, dtype=dtype) if a is None else np.ascontiguousarray(a)


def batch_norm_forward(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                       training: bool, momentum: float, eps: float) -> tuple:
    _axes_shape(x)
    check_channel_args(x, weight=weight, bias=bias, running_mean=running_mean,
                       running_var=running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: pass both or neither")
    c, dt = x.shape[1], x.dtype
    x3 = _ncl(x)
    if training:
        n = x3.shape[0] * x3.shape[2]
        if n <= 1:
            raise ValueError(f"x: batch norm in training needs more than 1 value per channel, "
                             f"got shape {x.shape}")
        mean64, var64 = np.empty(c), np.empty(c)
        _stats(x3, mean64, var64)
        mean, var = mean64.astype(dt), var64.astype(dt)
        if running_mean is not None:
            update_running_stats(running_mean, running_var, mean, var, n, momentum)
    else:
        if running_mean is None:
            raise ValueError("running_mean: evaluation mode needs the running statistics")
        mean, var = running_mean.copy(), running_var
    invstd = (1 / np.sqrt(var + eps)).astype(dt, copy=False)
    y = np.empty_like(x3)
    _affine(x3, mean, invstd, _or(weight, 1, c, dt), _or(bias, 0, c, dt), y)
    return y.reshape(x.shape), mean, invstd


def batch_norm_backward(gy: Any, x: Any, weight: Any, mean: Any, invstd: Any) -> tuple:
    _axes_shape(x)
    if gy.shape != x.shape or gy.dtype != x.dtype:
        raise ValueError(f"gy: expected shape {x.shape} and dtype {x.dtype} (x's), got "
                         f"{gy.shape} {gy.dtype}")
    check_channel_args(x, weight=weight, mean=mean, invstd=invstd)
    c, dt = x.shape[1], x.dtype
    x3, gy3 = _ncl(x), _ncl(gy)
    gb64, gxm64 = np.empty(c), np.empty(c)
    _grad_stats(gy3, x3, mean, gb64, gxm64)
    gb, gw = gb64.astype(dt), (gxm64 * invstd).astype(dt)
    bad = ~np.isfinite(invstd)
    if bad.any():  # rare: sum gy * ((x - mean) * invstd) term by term, as the reference, so
        # that inf - inf and 0 * inf give its NaN (the factored form above would miss them)
        xhat = (x3[:, bad] - mean[bad][None, :, None]) * invstd[bad][None, :, None]
        gw[bad] = (gy3[:, bad].astype(np.float64) * xhat).sum(axis=(0, 2)).astype(dt)
    gx = np.empty_like(x3)
    _grad_x(gy3, x3, mean, invstd, _or(weight, 1, c, dt), gb, gw, gx)
    return gx.reshape(x.shape), gw, gb
