"""Spectral normalization on CuPy arrays: the matrix-vector products on cuBLAS (gemv, dot), the
vector norms as a ``ReductionKernel`` (float64 accumulation), and each elementwise step as one
fused ``ElementwiseKernel``. No value comes back to the host: sigma stays a 0-d device array.

Same contract as :mod:`minigan.kernels.spectral_norm` (the maths is there)::

    power iteration:  v = W^T u / max(||W^T u||, eps);  t = W v;  u = t / max(||t||, eps)
                      sigma = u . t
    normalize:        W / sigma,  sigma = u . (W v)
    backward:         dW = G / sigma - (<G, W> / sigma^2) u v^T      (one pass over G and W)
"""

from __future__ import annotations

from typing import Any

from .. import spectral_norm as ref
from ..common.cupy import ACC, cached, cupy, float_dtype

NORM = ("T x", "T y", "x * x", "a + b", "y = (T)sqrt(a)", "0", "minigan_sn_norm")
# max(norm, eps) as the reference's xp.maximum: a NaN norm (NaN or inf in W) stays NaN, where
# `norm > eps ? norm : eps` would pick eps and hide it behind finite vectors.
SCALE = ("T x, T norm, T eps", "T y", "y = x / ((norm > eps || norm != norm) ? norm : eps)",
         "minigan_sn_scale")
DIVIDE = ("T w, T sigma", "T y", "y = w / sigma", "minigan_sn_divide")
BACKWARD = ("T g, T u, T v, T sigma, T gw", "T dw",
            "dw = g / sigma - (gw / (sigma * sigma)) * (u * v)", "minigan_sn_backward")


@cached
def _norm() -> Any:
    return cupy().ReductionKernel(*NORM, reduce_type=ACC)


@cached
def _elementwise(spec: tuple) -> Any:
    return cupy().ElementwiseKernel(*spec)


def _normalize(x: Any, eps: Any) -> Any:
    """x / max(||x||, eps), the norm a 0-d device array (no host round trip)."""
    return _elementwise(SCALE)(x, _norm()(x), eps)


def spectral_norm_power_iteration(w2d: Any, u: Any, n_iter: int, eps: float) -> tuple:
    """(sigma, u, v) after ``n_iter`` power-iteration steps; see
    :func:`minigan.kernels.spectral_norm.spectral_norm_power_iteration`."""
    ref._check(w2d, u=u)
    if int(n_iter) != n_iter or n_iter < 1:
        raise ValueError(f"n_iter: expected an int >= 1, got {n_iter!r}")
    dtype = float_dtype(w2d=w2d, u=u)
    if dtype is None:
        return ref.spectral_norm_power_iteration(w2d, u, n_iter, eps)
    e = dtype.type(eps)
    for _ in range(int(n_iter)):
        v = _normalize(w2d.T @ u, e)
        t = w2d @ v
        u = _normalize(t, e)
    return u @ t, u, v


def spectral_norm_normalize(w2d: Any, u: Any, v: Any) -> tuple:
    """(W / sigma, sigma), sigma = u^T W v; see
    :func:`minigan.kernels.spectral_norm.spectral_norm_normalize`."""
    ref._check(w2d, u=u, v=v)
    if float_dtype(w2d=w2d, u=u, v=v) is None:
        return ref.spectral_norm_normalize(w2d, u, v)
    sigma = u @ (w2d @ v)
    return _elementwise(DIVIDE)(w2d, sigma), sigma


def spectral_norm_backward(g2d: Any, w2d: Any, u: Any, v: Any, sigma: Any) -> Any:
    """dW = G / sigma - (<G, W> / sigma^2) u v^T in one pass; see
    :func:`minigan.kernels.spectral_norm.spectral_norm_backward`."""
    ref._check(w2d, u=u, v=v)
    if g2d.shape != w2d.shape:
        raise ValueError(f"g2d: expected shape {w2d.shape} (w2d's), got {g2d.shape}")
    dtype = float_dtype(g2d=g2d, w2d=w2d, u=u, v=v)
    if dtype is None:
        return ref.spectral_norm_backward(g2d, w2d, u, v, sigma)
    cp = cupy()
    sigma = cp.asarray(sigma, dtype=dtype)
    gw = cp.vdot(g2d, w2d).astype(dtype, copy=False)
    return _elementwise(BACKWARD)(g2d, u.reshape(-1, 1), v.reshape(1, -1), sigma, gw)
