"""Spectral norm kernels in Numba, with the NumPy reference's signatures
(minigan/kernels/spectral_norm/). Products accumulate in float64; the matrix products run in
parallel over rows (W v) and over column blocks (W^T u), so no two threads write one value."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit, prange

from ... import backends
from . import _check

numba.set_num_threads(min(backends.num_threads(), numba.config.NUMBA_NUM_THREADS))

_BLOCK = 512


@njit(cache=True, parallel=True, error_model="numpy")
def _wt_u(w, u, out):
    m, n = w.shape
    for b in prange((n + _BLOCK - 1) // _BLOCK):
        j0 = b * _BLOCK
        j1 = min(n, j0 + _BLOCK)
        acc = np.zeros(j1 - j0)
        for i in range(m):
            ui = np.float64(u[i])
            for j in range(j0, j1):
                acc[j - j0] += ui * w[i, j]
        out[j0:j1] = acc


@njit(cache=True, parallel=True, error_model="numpy")
def _w_v(w, v, out):
    m, n = w.shape
    for i in prange(m):
        s = 0.0
        for j in range(n):
            s += np.float64(w[i, j]) * v[j]
        out[i] = s


@njit(cache=True, error_model="numpy")
def _normalized(src, eps, dst):
    norm = np.sqrt(np.sum(src * src))
    # NumPy's maximum: a NaN on either side (eps = NaN included) gives NaN, as the reference
    denom = norm + eps if np.isnan(norm) or np.isnan(eps) else max(norm, eps)
    for i in range(src.shape[0]):
        dst[i] = src[i] / denom


@njit(cache=True, error_model="numpy")
def _power(w, u0, n_iter, eps, u, v):
    m, n = w.shape
    tn, tm = np.empty(n), np.empty(m)
    u[:] = u0
    for _ in range(n_iter):
        _wt_u(w, u, tn)
        _normalized(tn, eps, v)
        _w_v(w, v, tm)
        _normalized(tm, eps, u)
    s = 0.0
    for i in range(m):
        s += np.float64(u[i]) * tm[i]
    return s


@njit(cache=True, parallel=True, error_model="numpy")
def _divide(w, sigma, out):
    m, n = w.shape
    for i in prange(m):
        for j in range(n):
            out[i, j] = w[i, j] / sigma


@njit(cache=True, parallel=True, error_model="numpy")
def _backward(g, w, u, v, sigma, out):
    m, n = w.shape
    gw = 0.0
    for i in prange(m):
        for j in range(n):
            gw += np.float64(g[i, j]) * w[i, j]
    c = gw / (np.float64(sigma) * sigma)
    for i in prange(m):
        cu = c * u[i]
        for j in range(n):
            out[i, j] = g[i, j] / sigma - cu * v[j]


def spectral_norm_power_iteration(w2d: Any, u: Any, n_iter: int, eps: float) -> tuple:
    _check(w2d, u=u)
    if int(n_iter) != n_iter or n_iter < 1:
        raise ValueError(f"n_iter: expected an int >= 1, got {n_iter!r}")
    u_out, v_out = np.empty_like(u), np.empty(w2d.shape[1], dtype=w2d.dtype)
    sigma = _power(np.ascontiguousarray(w2d), u, int(n_iter), float(eps), u_out, v_out)
    return np.asarray(sigma, dtype=w2d.dtype), u_out, v_out


def spectral_norm_normalize(w2d: Any, u: Any, v: Any) -> tuple:
    _check(w2d, u=u, v=v)
    w2d = np.ascontiguousarray(w2d)
    t = np.empty(w2d.shape[0])
    _w_v(w2d, v, t)
    sigma = np.asarray(np.dot(u.astype(np.float64), t), dtype=w2d.dtype)
    out = np.empty_like(w2d)
    _divide(w2d, sigma[()], out)
    return out, sigma


def spectral_norm_backward(g2d: Any, w2d: Any, u: Any, v: Any, sigma: Any) -> Any:
    _check(w2d, u=u, v=v)
    out = np.empty(w2d.shape, dtype=w2d.dtype)
    _backward(np.ascontiguousarray(g2d, dtype=w2d.dtype), np.ascontiguousarray(w2d), u, v,
              w2d.dtype.type(sigma), out)
    return out
