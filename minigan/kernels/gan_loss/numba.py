"""The fused GAN loss in Numba, with the NumPy reference's signature
(minigan/kernels/gan_loss/): one parallel pass computing l(x) (summed in float64) and
l'(x) / N per logit, for the (kind, side) code 3 * kind + side."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit, prange

from ... import backends
from . import code

numba.set_num_threads(min(backends.num_threads(), numba.config.NUMBA_NUM_THREADS))


@njit(cache=True, inline="always", error_model="numpy")
def _softplus_sigmoid(s):
    e = np.exp(-abs(s))
    sp = max(s, 0.0) + np.log1p(e)
    sg = (1.0 if s >= 0 else e) / (1.0 + e)
    return sp, sg


@njit(cache=True, inline="always", error_model="numpy")
def _term(c, x):
    # In float64 throughout, so every branch returns the same types; rounded once on store.
    x = np.float64(x)
    kind, side = c // 3, c % 3
    if kind <= 1:
        if side == 1:
            return _softplus_sigmoid(x)
        if side == 2 and kind == 0:
            sp, sg = _softplus_sigmoid(x)
            return -sp, -sg
        sp, sg = _softplus_sigmoid(-x)
        return sp, -sg
    if kind == 2:
        d = x if side == 1 else x - 1.0
        return 0.5 * d * d, d
    if kind == 4 and side == 0:
        return max(1.0 - x, 0.0), (-1.0 if x < 1 else 0.0)
    if kind == 4 and side == 1:
        return max(1.0 + x, 0.0), (1.0 if x > -1 else 0.0)
    sign = 1.0 if (kind == 3 and side == 1) else -1.0
    return sign * x, sign


@njit(cache=True, parallel=True, error_model="numpy")
def _loss(c, x, g):
    n = x.shape[0]
    total = 0.0
    for i in prange(n):
        value, d = _term(c, x[i])
        total += value
        g[i] = d / n
    return total / n


def fused_gan_loss(kind: str, side: str, logits: Any, out_grad: Any = None) -> tuple:
    c = code(kind, side)
    if logits.dtype not in (np.float32, np.float64):
        raise TypeError(f"logits: expected a float32 or float64 array, got {logits.dtype}")
    if logits.size == 0:
        raise ValueError(f"logits: expected at least one logit, got shape {logits.shape}")
    if out_grad is not None and (out_grad.shape != logits.shape
                                 or out_grad.dtype != logits.dtype):
        raise ValueError(f"out_grad: expected shape {logits.shape} and dtype {logits.dtype}, "
                         f"got {out_grad.shape} {out_grad.dtype}")
    flat = np.ascontiguousarray(logits).reshape(-1)
    grad = np.empty_like(flat)
    loss = _loss(c, flat, grad)
    grad = grad.reshape(logits.shape)
    if out_grad is not None:
        out_grad[...] = grad
        grad = out_grad
    return np.asarray(loss, dtype=logits.dtype), grad
