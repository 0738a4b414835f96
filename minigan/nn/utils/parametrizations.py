"""``minigan.nn.utils.parametrizations``: spectral_norm and weight_norm as parametrizations,
PyTorch's newer API (``torch.nn.utils.parametrizations``), with its numbers and state_dict keys.

Spectral norm, W viewed as its (d_out, rest) matrix (axis ``dim`` first). Registration draws
u (d_out,) and v (rest,) N(0, 1), normalizes them and runs 15 power iterations; every read of
``module.weight`` in training mode runs ``n_power_iterations`` more, each

    u <- normalize(W v),   v <- normalize(W^T u)           (normalize(x) = x / max(||x||, eps))

(u first: the order of PyTorch's parametrization, the reverse of the older ``spectral_norm``),
then returns W / sigma with sigma = u^T W v, u and v constants for autograd. In evaluation mode
u and v stay. A 1-D weight is returned normalized, W / max(||W||, eps), with no u, v.
state_dict: ``parametrizations.weight.original``, ``parametrizations.weight.0._u``, ``._v``.

Weight norm: W = g * V / ||V||, the norm over every axis but ``dim`` (``dim=None``: over all);
``original0`` is g (registered as ||W|| along those axes), ``original1`` is V.
"""

from __future__ import annotations

from typing import Any

from ...kernels.spectral_norm import _normalize
from ...ops.elementwise import sqrt
from ...ops.reduce import sum as sum_
from ...random import randn
from ...tensor import Tensor
from .. import functional as F
from ..module import Module
from ..spectral_norm import SpectralNormalize, _default_dim, _matrix
from . import parametrize

__all__ = ["spectral_norm", "weight_norm"]


class _SpectralNorm(Module):
    """The parametrization W -> W / sigma(W); buffers ``_u``, ``_v`` (see the module
    docstring)."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if not -ndim <= dim < ndim:
            raise IndexError(f"dim: {dim} is out of range for a weight of {ndim} dimensions")
        if not isinstance(n_power_iterations, int) or n_power_iterations < 1:
            raise ValueError(f"n_power_iterations: expected a positive int, got "
                             f"{n_power_iterations!r}")
        self.dim, self.eps, self.n_power_iterations = dim % ndim, eps, n_power_iterations
        if ndim > 1:
            h, w = _matrix(weight.array, self.dim).shape
            u = randn(h, dtype=weight.dtype, device=weight.device)
            v = randn(w, dtype=weight.dtype, device=weight.device)
            u.array, v.array = _normalize(u.array, eps), _normalize(v.array, eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(_matrix(weight.array, self.dim), 15)

    def _power_method(self, w2d: Any, n_power_iterations: int) -> None:
        """Update the buffers in place (no graph: the iteration is state)."""
        u, v = self._u.array, self._v.array
        for _ in range(n_power_iterations):
            u = _normalize(w2d @ v, self.eps)
            v = _normalize(w2d.T @ u, self.eps)
        self._u.array[...] = u
        self._v.array[...] = v
        self._u._version[0] += 1
        self._v._version[0] += 1

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        if self.training:
            self._power_method(_matrix(weight.array, self.dim), self.n_power_iterations)
        # Copies as constants: a later read updates the buffers in place, and this read's
        # backward must still see the u, v it used.
        return SpectralNormalize.apply(weight, self._u.array.copy(), self._v.array.copy(),
                                       self.dim)

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Register the spectral-norm parametrization on ``module.<name>`` and return the module.
    ``dim`` defaults to 1 for ConvTranspose2d and 0 otherwise."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"name: {type(module).__name__} has no parameter or buffer {name!r}")
    dim = _default_dim(module) if dim is None else dim
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


def _norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """||V|| over every axis but ``dim`` (kept as size-1 axes); over all of V for dim = -1."""
    if dim == -1:  # PyTorch's convention: -1 is every axis, not the last one
        return sqrt(sum_(v * v))
    axes = tuple(a for a in range(v.ndim) if a != dim % v.ndim)
    return sqrt(sum_(v * v, axes, keepdim=True))


class _WeightNorm(Module):
    """The parametrization (g, V) -> g * V / ||V|| (see the module docstring)."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight: Tensor) -> tuple:
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Register the weight-norm parametrization on ``module.<name>``: ``original0`` = g,
    ``original1`` = V; returns the module."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module
