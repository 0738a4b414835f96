"""Spectral normalization kernels, NumPy reference (works unchanged on CuPy arrays).

W is a (d_out, rest) matrix, u a (d_out,) and v a (rest,) vector, all of one float dtype.

* ``spectral_norm_power_iteration(w2d, u, n_iter, eps) -> (sigma, u, v)``: ``n_iter`` steps of

      v <- normalize(W^T u),   t <- W v,   u <- normalize(t)

  with normalize(x) = x / max(||x||, eps) (PyTorch's ``F.normalize``), then sigma = u^T W v,
  which is u^T t: the last product W v is reused, no extra pass over W.
* ``spectral_norm_normalize(w2d, u, v) -> (w_bar, sigma)``: sigma = u^T W v and W / sigma for
  given u, v (the forward of the layer's weight; evaluation mode runs no iteration).
* ``spectral_norm_backward(g2d, w2d, u, v, sigma) -> dW``: the gradient of W / sigma with u, v
  held constant (d sigma / dW = u v^T):

      dW = G / sigma - (<G, W> / sigma^2) u v^T            (<G, W> = sum(G * W))

sigma is returned as a 0-d array of W's dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...tensor import array_module
from .. import registry, table


def _check(w2d: Any, **vectors: Any) -> None:
    if w2d.ndim != 2:
        raise ValueError(f"w2d: expected a 2-d (d_out, rest) matrix, got shape {w2d.shape}")
    want = {"u": w2d.shape[0], "v": w2d.shape[1]}
    for name, a in vectors.items():
        if a.shape != (want[name],):
            raise ValueError(f"{name}: expected shape ({want[name]},) for w2d of shape "
                             f"{w2d.shape}, got {a.shape}")
        if a.dtype != w2d.dtype:
            raise TypeError(f"{name}: expected dtype {w2d.dtype} (w2d's), got {a.dtype}")


def _normalize(x: Any, eps: float) -> Any:
    xp = array_module(x)
    return x / xp.maximum(xp.linalg.norm(x), eps).astype(x.dtype)


def spectral_norm_power_iteration(w2d: Any, u: Any, n_iter: int, eps: float) -> tuple:
    """``n_iter`` (>= 1) power-iteration steps from u; returns (sigma, u, v), sigma = u^T W v."""
    _check(w2d, u=u)
    if int(n_iter) != n_iter or n_iter < 1:
        raise ValueError(f"n_iter: expected an int >= 1, got {n_iter!r}")
    xp = array_module(w2d)
    for _ in range(n_iter):
        v = _normalize(w2d.T @ u, eps)
        t = w2d @ v
        u = _normalize(t, eps)
    return xp.asarray(u @ t, dtype=w2d.dtype), u, v


def spectral_norm_normalize(w2d: Any, u: Any, v: Any) -> tuple:
    """(W / sigma, sigma) with sigma = u^T W v."""
    _check(w2d, u=u, v=v)
    xp = array_module(w2d)
    sigma = xp.asarray(u @ (w2d @ v), dtype=w2d.dtype)
    return w2d / sigma, sigma


def spectral_norm_backward(g2d: Any, w2d: Any, u: Any, v: Any, sigma: Any) -> Any:
    """dW = G / sigma - (<G, W> / sigma^2) u v^T: the gradient of W / sigma, u and v constant."""
    _check(w2d, u=u, v=v)
    if g2d.shape != w2d.shape:
        raise ValueError(f"g2d: expected shape {w2d.shape} (w2d's), got {g2d.shape}")
    xp = array_module(w2d)
    sigma = xp.asarray(sigma, dtype=w2d.dtype)
    gw = xp.vdot(g2d, w2d).astype(w2d.dtype)
    return g2d / sigma - (gw / (sigma * sigma)) * xp.outer(u, v)


for _name, _fn in (("spectral_norm_power_iteration", spectral_norm_power_iteration),
                   ("spectral_norm_normalize", spectral_norm_normalize),
                   ("spectral_norm_backward", spectral_norm_backward)):
    registry.define("spectral_norm", _name, _fn)
    registry.provide(_name, "native", f"minigan.kernels.spectral_norm.native:{_name}")
    registry.provide(_name, "numba", f"minigan.kernels.spectral_norm.numba:{_name}")
    registry.provide(_name, "cupy", f"minigan.kernels.spectral_norm.cupy:{_name}")
    registry.provide(_name, "numba_cuda", f"minigan.kernels.spectral_norm.numba_cuda:{_name}")
    registry.provide(_name, "cuda", f"minigan.kernels.spectral_norm.cuda:{_name}")


# ---- parity rows ------------------------------------------------------------------------------

def _unit(rng: np.random.Generator, n: int, dtype: Any) -> np.ndarray:
    u = rng.standard_normal(n)
    return (u / np.linalg.norm(u)).astype(dtype)


def _rows(d_out: int, rest: int, bench: bool = False) -> list:
    label = f"{d_out}x{rest}"
    mn = d_out * rest

    def power(rng, dtype, n_iter=1):
        w = rng.standard_normal((d_out, rest)).astype(dtype)
        return (w, _unit(rng, d_out, dtype), n_iter, 1e-12), {}

    def normalize(rng, dtype):
        w = rng.standard_normal((d_out, rest)).astype(dtype)
        return (w, _unit(rng, d_out, dtype), _unit(rng, rest, dtype)), {}

    def backward(rng, dtype):
        w = rng.standard_normal((d_out, rest)).astype(dtype)
        g = rng.standard_normal((d_out, rest)).astype(dtype)
        u, v = _unit(rng, d_out, dtype), _unit(rng, rest, dtype)
        return (g, w, u, v, np.asarray(float(u @ w @ v) + 3.0, dtype=dtype)), {}

    rows = [
        table.KernelCase("spectral_norm_power_iteration", label, power, flops=4 * mn,
                         bytes=4 * (2 * mn + 2 * (d_out + rest)), bench=bench),
        table.KernelCase("spectral_norm_normalize", label, normalize, flops=3 * mn,
                         bytes=4 * (3 * mn), bench=bench),
        table.KernelCase("spectral_norm_backward", label, backward, flops=5 * mn,
                         bytes=4 * (4 * mn), bench=bench),
    ]
    if not bench:
        # NaN/inf in W, u and eps; in W (normalize); in G and W (backward)
        rows += [*(table.nonfinite(rows[0], arg) for arg in (0, 1, 3)),
                 table.nonfinite(rows[1], 0),
                 *(table.nonfinite(rows[2], arg) for arg in (0, 1))]
        rows.append(table.KernelCase(
            "spectral_norm_power_iteration", f"{label},3 iters",
            lambda rng, dtype: power(rng, dtype, 3), flops=12 * mn, bytes=4 * 6 * mn))
    return rows


table.add(*_rows(7, 13), *_rows(1, 5), *_rows(33, 1))
# The discriminator's second SN-Conv2d of `minigan bench step`: (128, 64*4*4).
table.add(*_rows(128, 64 * 4 * 4, bench=True))
