"""Spectral normalization as ``numba.cuda.jit`` kernels, with the NumPy reference's signatures
(minigan/kernels/spectral_norm/). W is (m, n) = (d_out, rest).

Products accumulate in float64, reduced in shared memory:

* ``W^T u``: a block owns 32 columns; its 32 x 8 threads each sum every 8th row of a column
  (a warp reads 32 consecutive values of a row), then the 8 row-partials of each column are
  added in shared memory.
* ``W v``: a block owns 8 rows; 32 lanes stride along each row (a warp reads 32 consecutive
  values), then each row's 32 lane-partials are added from shared memory.
* normalize(t) = t / max(||t||, eps): one block sums t^2 in shared memory and scales; for u it
  also writes sigma = u^T t = ||t||^2 / max(||t||, eps), reusing the last product W v as the
  reference does.

So one power-iteration step is four launches, and nothing returns to the host between them.
normalize(W, u, v) is W v, a one-block dot with u, and an elementwise W / sigma; the backward is
a two-stage <G, W> (per-block partials, then one block) and an elementwise pass for
dW = G / sigma - (<G, W> / sigma^2) u v^T.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

from ..common import numba_cuda as common
from . import _check

ROWS = 8  # the matrix-vector blocks: BLOCK / 8 (32 on a GPU) columns or lanes x 8 rows


@functools.cache
def _kernels(dtype_name: str, BLOCK: int) -> dict:
    """The spectral norm kernels for one dtype and block size, compiled on first launch."""
    T = common.numba_type(np.dtype(dtype_name))
    f64 = common.numba_type(np.float64)
    tree_sum = common.tree_sum(BLOCK)
    COLS = LANES = BLOCK // ROWS

    @cuda.jit
    def wt_u(w, u, out):
        sh = cuda.shared.array((ROWS, COLS), f64)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        j = cuda.blockIdx.x * COLS + tx
        acc = 0.0
        if j < w.shape[1]:
            for i in range(ty, w.shape[0], ROWS):
                acc += f64(w[i, j]) * u[i]
        sh[ty, tx] = acc
        cuda.syncthreads()
        if ty == 0 and j < w.shape[1]:
            for r in range(1, ROWS):
                acc += sh[r, tx]
            out[j] = acc

    @cuda.jit
    def w_v(w, v, out):
        sh = cuda.shared.array((ROWS, LANES), f64)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + ty
        acc = 0.0
        if i < w.shape[0]:
            for j in range(tx, w.shape[1], LANES):
                acc += f64(w[i, j]) * v[j]
        sh[ty, tx] = acc
        cuda.syncthreads()
        if tx == 0 and i < w.shape[0]:
            for r in range(1, LANES):
                acc += sh[ty, r]
            out[i] = acc

    @cuda.jit
    def normalize(t, eps, dst, want_sigma, sigma):
        # One block: dst = t / max(||t||, eps); sigma = <dst, t> = ||t||^2 / max(||t||, eps).
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        acc = 0.0
        for i in range(tid, t.shape[0], BLOCK):
            acc += t[i] * t[i]
        sh[tid] = acc
        ss = tree_sum(sh, tid)
        norm = math.sqrt(ss)
        # max(norm, eps) as the reference's: a NaN norm (NaN/inf in W) stays NaN, not eps
        # (builtin max: see gan_loss/numba_cuda.py)
        denom = norm if (norm > eps or norm != norm) else eps
        for i in range(tid, t.shape[0], BLOCK):
            dst[i] = t[i] / denom
        if want_sigma and tid == 0:
            sigma[0] = ss / denom

    @cuda.jit
    def dot(a, b, out):
        # One block: out[0] = sum a * b.
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        acc = 0.0
        for i in range(tid, a.shape[0], BLOCK):
            acc += f64(a[i]) * b[i]
        sh[tid] = acc
        total = tree_sum(sh, tid)
        if tid == 0:
            out[0] = total

    @cuda.jit
    def scale(w, sigma, out):
        s = sigma[0]
        n = w.shape[1]
        for e in range(cuda.grid(1), w.shape[0] * n, cuda.gridsize(1)):
            i = e // n
            out[i, e - i * n] = w[i, e - i * n] / s

    @cuda.jit
    def gw_partials(g, w, partials):
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        n = w.shape[1]
        acc = 0.0
        for e in range(cuda.grid(1), w.shape[0] * n, cuda.gridsize(1)):
            i = e // n
            acc += f64(g[i, e - i * n]) * w[i, e - i * n]
        sh[tid] = acc
        total = tree_sum(sh, tid)
        if tid == 0:
            partials[cuda.blockIdx.x] = total

    @cuda.jit
    def total(partials, out):
        # One block: out[0] = the sum of the partials, in a fixed order.
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        acc = 0.0
        for b in range(tid, partials.shape[0], BLOCK):
            acc += partials[b]
        sh[tid] = acc
        t = tree_sum(sh, tid)
        if tid == 0:
            out[0] = t

    @cuda.jit
    def backward(g, u, v, sigma, gw, out):
        s = sigma[0]
        coef = T(gw[0]) / (s * s)  # <G, W> rounded to the dtype first, as the reference does
        n = g.shape[1]
        for e in range(cuda.grid(1), g.shape[0] * n, cuda.gridsize(1)):
            i = e // n
            j = e - i * n
            out[i, j] = g[i, j] / s - coef * (u[i] * v[j])

    return {"wt_u": wt_u, "w_v": w_v, "normalize": normalize, "dot": dot, "scale": scale,
            "gw_partials": gw_partials, "total": total, "backward": backward, "cols": COLS}


def spectral_norm_power_iteration(w2d: Any, u: Any, n_iter: int, eps: float) -> tuple:
    """``n_iter`` (>= 1) steps of v <- normalize(W^T u), t <- W v, u <- normalize(t), with
    normalize(x) = x / max(||x||, eps); returns (sigma, u, v), sigma = u^T W v = u^T t (0-d)."""
    _check(w2d, u=u)
    if int(n_iter) != n_iter or n_iter < 1:
        raise ValueError(f"n_iter: expected an int >= 1, got {n_iter!r}")
    dtype = common.float_dtype("w2d", w2d)
    launch = common.Launch(w2d=w2d, u=u)
    xp = launch.xp
    m, n = (int(s) for s in w2d.shape)
    block = common.BLOCK
    k = _kernels(dtype.name, block)
    tn, tm = xp.empty(n, dtype=np.float64), xp.empty(m, dtype=np.float64)
    u_out, v_out = xp.empty(m, dtype=dtype), xp.empty(n, dtype=dtype)
    sigma = xp.empty(1, dtype=dtype)
    u_in = u
    for _ in range(int(n_iter)):
        launch(k["wt_u"], math.ceil(n / k["cols"]), (k["cols"], ROWS), w2d, u_in, tn)
        launch(k["normalize"], 1, block, tn, float(eps), v_out, False, sigma)
        launch(k["w_v"], math.ceil(m / ROWS), (k["cols"], ROWS), w2d, v_out, tm)
        launch(k["normalize"], 1, block, tm, float(eps), u_out, True, sigma)
        u_in = u_out
    return sigma.reshape(()), u_out, v_out


def spectral_norm_normalize(w2d: Any, u: Any, v: Any) -> tuple:
    """(W / sigma, sigma) with sigma = u^T W v (0-d)."""
    _check(w2d, u=u, v=v)
    dtype = common.float_dtype("w2d", w2d)
    launch = common.Launch(w2d=w2d, u=u, v=v)
    xp = launch.xp
    m = int(w2d.shape[0])
    block = common.BLOCK
    k = _kernels(dtype.name, block)
    tm = xp.empty(m, dtype=np.float64)
    sigma = xp.empty(1, dtype=dtype)
    out = xp.empty(w2d.shape, dtype=dtype)
    launch(k["w_v"], math.ceil(m / ROWS), (k["cols"], ROWS), w2d, v, tm)
    launch(k["dot"], 1, block, u, tm, sigma)
    launch(k["scale"], common.blocks_for(out.size, block), block, w2d, sigma, out)
    return out, sigma.reshape(())


def spectral_norm_backward(g2d: Any, w2d: Any, u: Any, v: Any, sigma: Any) -> Any:
    """dW = G / sigma - (<G, W> / sigma^2) u v^T: the gradient of W / sigma, u and v held
    constant. ``sigma``: a 0-d array (or a number)."""
    _check(w2d, u=u, v=v)
    if g2d.shape != w2d.shape:
        raise ValueError(f"g2d: expected shape {w2d.shape} (w2d's), got {g2d.shape}")
    dtype = common.float_dtype("w2d", w2d)
    if g2d.dtype != dtype:
        raise TypeError(f"g2d: expected dtype {dtype} (w2d's), got {g2d.dtype}")
    launch = common.Launch(g2d=g2d, w2d=w2d, u=u, v=v)
    xp = launch.xp
    sig = xp.asarray(sigma, dtype=dtype).reshape(-1)
    if sig.shape != (1,):
        raise ValueError(f"sigma: expected one value, got shape {getattr(sigma, 'shape', ())}")
    block = common.BLOCK
    k = _kernels(dtype.name, block)
    blocks = common.blocks_for(w2d.size, block)
    partials = xp.empty(blocks, dtype=np.float64)
    gw = xp.empty(1, dtype=np.float64)
    out = xp.empty(w2d.shape, dtype=dtype)
    launch(k["gw_partials"], blocks, block, g2d, w2d, partials)
    launch(k["total"], 1, block, partials, gw)
    launch(k["backward"], blocks, block, g2d, u, v, sig, gw, out)
    return out
