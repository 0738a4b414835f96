"""Batch normalization as ``numba.cuda.jit`` kernels, with the NumPy reference's signatures
(minigan/kernels/batch_norm/).

x (N, C, *) is seen as (N, C, inner); channel c's n = N * inner values are reduced by a
(C, splits) grid: each block walks a stripe of the channel and reduces its float64 partials in
shared memory; a per-channel finishing launch adds the splits' partials in a fixed order
(deterministic, no atomics). Then one grid-stride elementwise pass.

Forward, training: the partials are sums of d = x - K and d^2 with K = x[0, c, 0], one value of
the channel (0 if that one is infinite). Shifting by a sample of the channel keeps the one-pass
variance

    var = (sum d^2 - (sum d)^2 / n) / n,     mean = K + sum d / n

free of the cancellation a plain sum of squares suffers when |mean| >> std. The finishing
launch also updates the running statistics in place (unbiased variance, n / (n - 1)).
Backward: partials of gb = sum gy and gw = sum gy xhat, then
gx = weight invstd (gy - gb / n - xhat gw / n).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

from ..common import numba_cuda as common
from . import _axes_shape, check_channel_args


@functools.cache
def _kernels(dtype_name: str, BLOCK: int) -> dict:
    """The batch norm kernels for one dtype and block size, compiled on their first launch."""
    T = common.numba_type(np.dtype(dtype_name))
    f64 = common.numba_type(np.float64)
    tree_sum = common.tree_sum(BLOCK)

    @cuda.jit(device=True)
    def _shift(x, c):
        # K = x[0, c, 0] when finite, else 0: an infinite K would turn every finite value into
        # inf - inf = NaN, where the reference's mean is the infinity itself.
        k = f64(x[0, c, 0])
        return k if math.isfinite(k) else 0.0

    @cuda.jit
    def stats(x, p1, p2):
        # x: (N, C, inner). Partial sums of d = x - x[0, c, 0] and d^2 over this block's stripe.
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        c = cuda.blockIdx.x
        s = cuda.blockIdx.y
        inner = x.shape[2]
        shift = _shift(x, c)
        s1 = 0.0
        s2 = 0.0
        for k in range(s * BLOCK + tid, x.shape[0] * inner, cuda.gridDim.y * BLOCK):
            d = f64(x[k // inner, c, k % inner]) - shift
            s1 += d
            s2 += d * d
        sh[tid] = s1
        t1 = tree_sum(sh, tid)
        sh[tid] = s2
        t2 = tree_sum(sh, tid)
        if tid == 0:
            p1[c, s] = t1
            p2[c, s] = t2

    @cuda.jit
    def stats_finish(x, p1, p2, eps, momentum, has_running, rm, rv, mean, invstd):
        n = x.shape[0] * x.shape[2]
        for c in range(cuda.grid(1), p1.shape[0], cuda.gridsize(1)):
            s1 = 0.0
            s2 = 0.0
            for s in range(p1.shape[1]):
                s1 += p1[c, s]
                s2 += p2[c, s]
            m = _shift(x, c) + s1 / n
            var = (s2 - s1 * s1 / n) / n
            if var < 0.0:  # rounding, for a constant channel
                var = 0.0
            mean[c] = m
            invstd[c] = 1.0 / math.sqrt(var + eps)
            if has_running:
                rm[c] = (1.0 - momentum) * rm[c] + momentum * m
                rv[c] = (1.0 - momentum) * rv[c] + momentum * (n / (n - 1.0)) * var

    @cuda.jit
    def eval_params(rm, rv, eps, mean, invstd):
        one = T(1.0)
        for c in range(cuda.grid(1), rm.shape[0], cuda.gridsize(1)):
            mean[c] = rm[c]
            invstd[c] = one / math.sqrt(rv[c] + eps)

    @cuda.jit
    def apply(x, mean, invstd, w, has_w, b, has_b, y):
        C, inner = x.shape[1], x.shape[2]
        for e in range(cuda.grid(1), x.shape[0] * C * inner, cuda.gridsize(1)):
            k = e % inner
            t = e // inner
            c = t % C
            v = (x[t // C, c, k] - mean[c]) * invstd[c]
            if has_w:
                v *= w[c]
            if has_b:
                v += b[c]
            y[t // C, c, k] = v

    @cuda.jit
    def grad_sums(gy, x, mean, invstd, pb, pw):
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        c = cuda.blockIdx.x
        s = cuda.blockIdx.y
        inner = x.shape[2]
        m, istd = mean[c], invstd[c]
        sb = 0.0
        sw = 0.0
        for k in range(s * BLOCK + tid, x.shape[0] * inner, cuda.gridDim.y * BLOCK):
            i = k // inner
            j = k - i * inner
            g = gy[i, c, j]
            sb += g
            sw += f64(g) * ((x[i, c, j] - m) * istd)
        sh[tid] = sb
        tb = tree_sum(sh, tid)
        sh[tid] = sw
        tw = tree_sum(sh, tid)
        if tid == 0:
            pb[c, s] = tb
            pw[c, s] = tw

    @cuda.jit
    def grad_finish(pb, pw, gb, gw):
        for c in range(cuda.grid(1), pb.shape[0], cuda.gridsize(1)):
            sb = 0.0
            sw = 0.0
            for s in range(pb.shape[1]):
                sb += pb[c, s]
                sw += pw[c, s]
            gb[c] = sb
            gw[c] = sw

    @cuda.jit
    def grad_apply(gy, x, mean, invstd, w, has_w, gb, gw, n_t, gx):
        C, inner = x.shape[1], x.shape[2]
        for e in range(cuda.grid(1), x.shape[0] * C * inner, cuda.gridsize(1)):
            k = e % inner
            t = e // inner
            c = t % C
            i = t // C
            scale = invstd[c] * w[c] if has_w else invstd[c]
            xhat = (x[i, c, k] - mean[c]) * invstd[c]
            gx[i, c, k] = scale * (gy[i, c, k] - gb[c] / n_t - xhat * (gw[c] / n_t))

    return {"stats": stats, "stats_finish": stats_finish, "eval_params": eval_params,
            "apply": apply, "grad_sums": grad_sums, "grad_finish": grad_finish,
            "grad_apply": grad_apply}


def _as3(xp: Any, a: Any) -> Any:
    """(N, C, *) as a contiguous (N, C, inner) array (a view when a is contiguous)."""
    return xp.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def batch_norm_forward(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                       training: bool, momentum: float, eps: float) -> tuple:
    """y = (x - mean) invstd weight + bias per channel, invstd = 1 / sqrt(var + eps); batch
    statistics in training (updating running_mean / running_var in place when given), the
    running ones in evaluation. Returns (y, mean, invstd), the last two of shape (C,)."""
    _axes_shape(x)
    check_channel_args(x, weight=weight, bias=bias, running_mean=running_mean,
                       running_var=running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: pass both or neither")
    dtype = common.float_dtype("x", x)
    launch = common.Launch(x=x, weight=weight, bias=bias, running_mean=running_mean,
                           running_var=running_var)
    xp = launch.xp
    C = int(x.shape[1])
    n = x.size // C if C else 0
    x3 = _as3(xp, x)
    mean, invstd = xp.empty(C, dtype=dtype), xp.empty(C, dtype=dtype)
    block = common.BLOCK
    k = _kernels(dtype.name, block)
    if training:
        if n <= 1:
            raise ValueError(f"x: batch norm in training needs more than 1 value per channel, "
                             f"got shape {x.shape}")
        splits = common.splits_for(n, C, block)
        p1 = xp.empty((C, splits), dtype=np.float64)
        p2 = xp.empty((C, splits), dtype=np.float64)
        launch(k["stats"], (C, splits), block, x3, p1, p2)
        has_running = running_mean is not None
        # Without running statistics the kernel gets (never touched) 1-element stand-ins.
        rm = running_mean if has_running else xp.empty(1, dtype=dtype)
        rv = running_var if has_running else xp.empty(1, dtype=dtype)
        launch(k["stats_finish"], common.blocks_for(C, block), block, x3, p1, p2, float(eps),
               float(momentum), has_running, rm, rv, mean, invstd)
    else:
        if running_mean is None:
            raise ValueError("running_mean: evaluation mode needs the running statistics")
        if C:
            launch(k["eval_params"], common.blocks_for(C, block), block, running_mean,
                   running_var, dtype.type(eps), mean, invstd)
    y = xp.empty(x3.shape, dtype=dtype)
    if y.size:
        # Stand-ins for absent affine parameters: the kernel reads them only when present.
        w = weight if weight is not None else mean
        b = bias if bias is not None else mean
        launch(k["apply"], common.blocks_for(y.size, block), block, x3, mean, invstd, w,
               weight is not None, b, bias is not None, y)
    return y.reshape(x.shape), mean, invstd


def batch_norm_backward(gy: Any, x: Any, weight: Any, mean: Any, invstd: Any) -> tuple:
    """(gx, gw, gb) of the training-mode forward, xhat = (x - mean) invstd:
    gb = sum_B gy, gw = sum_B gy xhat, gx = weight invstd (gy - gb / n - xhat gw / n).
    gw and gb are returned even when weight is None (then weight = 1)."""
    _axes_shape(x)
    if gy.shape != x.shape:
        raise ValueError(f"gy: expected shape {x.shape} (x's), got {gy.shape}")
    if gy.dtype != x.dtype:
        raise TypeError(f"gy: expected dtype {x.dtype} (x's), got {gy.dtype}")
    check_channel_args(x, weight=weight, mean=mean, invstd=invstd)
    dtype = common.float_dtype("x", x)
    launch = common.Launch(gy=gy, x=x, weight=weight, mean=mean, invstd=invstd)
    xp = launch.xp
    C = int(x.shape[1])
    n = x.size // C if C else 0
    x3, gy3 = _as3(xp, x), _as3(xp, gy)
    gb, gw = xp.zeros(C, dtype=dtype), xp.zeros(C, dtype=dtype)
    gx = xp.empty(x3.shape, dtype=dtype)
    if n:
        block = common.BLOCK
        k = _kernels(dtype.name, block)
        splits = common.splits_for(n, C, block)
        pb = xp.empty((C, splits), dtype=np.float64)
        pw = xp.empty((C, splits), dtype=np.float64)
        launch(k["grad_sums"], (C, splits), block, gy3, x3, mean, invstd, pb, pw)
        launch(k["grad_finish"], common.blocks_for(C, block), block, pb, pw, gb, gw)
        w = weight if weight is not None else mean
        launch(k["grad_apply"], common.blocks_for(gx.size, block), block, gy3, x3, mean, invstd,
               w, weight is not None, gb, gw, dtype.type(n), gx)
    return gx.reshape(x.shape), gw, gb

