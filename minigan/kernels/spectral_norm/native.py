"""Spectral norm kernels from minigan._C, with the NumPy reference's signatures
(minigan/kernels/spectral_norm/). Inputs that are not C-contiguous are copied first."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import backends
from . import _check


def _c(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a)


def spectral_norm_power_iteration(w2d: Any, u: Any, n_iter: int, eps: float) -> tuple:
    _check(w2d, u=u)
    sigma, u, v = backends.native().sn_power_iteration(_c(w2d), _c(u), int(n_iter), float(eps))
    return np.asarray(sigma, dtype=w2d.dtype), u, v


def spectral_norm_normalize(w2d: Any, u: Any, v: Any) -> tuple:
    _check(w2d, u=u, v=v)
    w_bar, sigma = backends.native().sn_normalize(_c(w2d), _c(u), _c(v))
    return w_bar, np.asarray(sigma, dtype=w2d.dtype)


def spectral_norm_backward(g2d: Any, w2d: Any, u: Any, v: Any, sigma: Any) -> Any:
    _check(w2d, u=u, v=v)
    return backends.native().sn_backward(_c(g2d), _c(w2d), _c(u), _c(v), float(sigma))
