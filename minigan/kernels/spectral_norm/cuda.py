"""The ``cuda`` backend of spectral normalization: minigan._cuda's kernels
(csrc/cuda/spectral_norm.cu) with the NumPy reference's signatures
(:mod:`minigan.kernels.spectral_norm`).

Launches: the whole power iteration (every step, and sigma) is one launch of one block; the
normalization is two (sigma = u^T W v, then W / sigma); the backward is two (<G, W> in block
partial sums, then dW = G / sigma - (<G, W> / sigma^2) u v^T). sigma stays on the GPU as a 0-d
array: no host round trip anywhere.
"""

from __future__ import annotations

from typing import Any

import cupy

from ..common.cuda import as_device, cuda, partials, stream
from . import _check


def spectral_norm_power_iteration(w2d: Any, u: Any, n_iter: int, eps: float) -> tuple:
    """``n_iter`` (>= 1) steps of v <- normalize(W^T u), t <- W v, u <- normalize(t); returns
    (sigma, u, v) with sigma = u^T t. The input u is not modified."""
    w2d, u = as_device("w2d", w2d), as_device("u", u)
    _check(w2d, u=u)
    if int(n_iter) != n_iter or n_iter < 1:
        raise ValueError(f"n_iter: expected an int >= 1, got {n_iter!r}")
    u_out = cupy.empty_like(u)
    v_out = cupy.empty(w2d.shape[1], dtype=w2d.dtype)
    sigma = cupy.empty((), dtype=w2d.dtype)
    cuda.sn_power_iteration(w2d, u, int(n_iter), float(eps), u_out=u_out, v_out=v_out,
                            sigma=sigma, stream=stream())
    return sigma, u_out, v_out


def spectral_norm_normalize(w2d: Any, u: Any, v: Any) -> tuple:
    """(W / sigma, sigma) with sigma = u^T W v."""
    w2d, u, v = as_device("w2d", w2d), as_device("u", u), as_device("v", v)
    _check(w2d, u=u, v=v)
    out = cupy.empty_like(w2d)
    sigma = cupy.empty((), dtype=w2d.dtype)
    cuda.sn_normalize(w2d, u, v, out=out, sigma=sigma, stream=stream())
    return out, sigma


def spectral_norm_backward(g2d: Any, w2d: Any, u: Any, v: Any, sigma: Any) -> Any:
    """dW = G / sigma - (<G, W> / sigma^2) u v^T, u and v held constant."""
    g2d, w2d = as_device("g2d", g2d), as_device("w2d", w2d)
    u, v = as_device("u", u), as_device("v", v)
    _check(w2d, u=u, v=v)
    if g2d.shape != w2d.shape:
        raise ValueError(f"g2d: expected shape {w2d.shape} (w2d's), got {g2d.shape}")
    # A Python float or 0-d array of either device; a 0-d CuPy array of w2d's dtype is used as
    # is (a 0-d array is always contiguous).
    sigma = cupy.asarray(sigma, dtype=w2d.dtype).reshape(())
    out = cupy.empty_like(w2d)
    cuda.sn_backward(g2d, w2d, u, v, sigma, out=out, partials=partials(), stream=stream())
    return out
