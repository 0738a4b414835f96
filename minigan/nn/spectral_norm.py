"""Spectral normalization (Miyato et al. 2018), with PyTorch's ``spectral_norm`` semantics.

The layer's weight W is viewed as a matrix (d_out, rest) -- the ``dim`` axis first, dim 1 for
transposed convolutions, whose weights are laid out (in, out, kh, kw). Its largest singular value
sigma is estimated by power iteration with persistent vectors u (d_out,) and v (rest,); the
layer runs with W_bar = W / sigma, so its Lipschitz constant is about 1.

Each training forward runs ``n_power_iterations`` of

    v <- normalize(W^T u),   u <- normalize(W v)        (normalize(x) = x / max(||x||, eps))

on plain arrays (no graph), then sigma = u^T W v is computed *with* the graph through W and u, v
held constant -- the gradient is d(W / sigma)/dW with u, v fixed, as in the paper and PyTorch.
In evaluation mode u and v are not updated; sigma is recomputed from the stored ones.
"""

from __future__ import annotations

from typing import Any

from ..ops.matmul import matmul
from ..ops.shape import permute, reshape
from ..random import randn
from ..tensor import Tensor, array_module, no_grad
from .module import Module, Parameter


def _normalize(x: Any, eps: float) -> Any:
    xp = array_module(x)
    return x / xp.maximum(xp.linalg.norm(x), eps).astype(x.dtype)


def power_iteration(w2d: Any, u: Any, n_iterations: int, eps: float) -> tuple:
    """``n_iterations`` of v = normalize(W^T u), u = normalize(W v) on arrays; returns (u, v).
    Needs n_iterations >= 1 (v is derived from u)."""
    for _ in range(n_iterations):
        v = _normalize(w2d.T @ u, eps)
        u = _normalize(w2d @ v, eps)
    return u, v


class SpectralNorm:
    """The forward pre-hook that sets ``module.<name>`` to W / sigma before each forward."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float) -> None:
        self.name, self.n_power_iterations, self.dim, self.eps = (
            name, n_power_iterations, dim, eps)

    def weight_matrix(self, weight: Tensor) -> Tensor:
        """W as a (d_out, rest) matrix, differentiably (axis ``dim`` moved first)."""
        if self.dim != 0:
            order = (self.dim, *[d for d in range(weight.ndim) if d != self.dim])
            weight = permute(weight, order)
        return reshape(weight, (weight.shape[0], -1))

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u_buf, v_buf = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        w2d = self.weight_matrix(weight)
        if do_power_iteration:
            u, v = power_iteration(w2d.data, u_buf.data, self.n_power_iterations, self.eps)
            with no_grad():  # the power iteration is state, never part of the graph
                u_buf.copy_(u)
                v_buf.copy_(v)
        # Copies as constants: a later forward updates the buffers in place, and this forward's
        # backward must still see the u, v it used.
        u, v = Tensor(u_buf.data.copy()), Tensor(v_buf.data.copy())
        sigma = matmul(u, matmul(w2d, v))
        return weight / sigma

    def __call__(self, module: Module, args: tuple) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))


def _default_dim(module: Module) -> int:
    from .layers import ConvTranspose2d

    return 1 if isinstance(module, ConvTranspose2d) else 0


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Spectrally normalize ``module.<name>`` in place and return the module.

    The parameter is re-registered as ``<name>_orig``; buffers ``<name>_u`` (d_out,) and
    ``<name>_v`` (rest,) hold the power-iteration vectors (persistent: they are in the
    state_dict), u drawn N(0, 1) from minigan's generator and normalized. ``dim`` defaults to 1
    for ConvTranspose2d and 0 otherwise."""
    if not isinstance(module, Module):
        raise TypeError(f"module: expected a Module, got {type(module).__name__}")
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            raise RuntimeError(f"spectral_norm: {name!r} of {type(module).__name__} is already "
                               "spectrally normalized")
    weight = module._parameters.get(name)
    if not isinstance(weight, Parameter):
        raise ValueError(f"name: {type(module).__name__} has no parameter {name!r}")
    if not isinstance(n_power_iterations, int) or n_power_iterations < 1:
        raise ValueError(f"n_power_iterations: expected a positive int, got "
                         f"{n_power_iterations!r}")
    dim = _default_dim(module) if dim is None else dim
    if not -weight.ndim <= dim < weight.ndim:
        raise ValueError(f"dim: {dim} is out of range for a weight of shape {weight.shape}")
    fn = SpectralNorm(name, n_power_iterations, dim % weight.ndim, eps)
    h, w = fn.weight_matrix(weight).shape
    u = randn(h, dtype=weight.dtype, device=weight.device)
    v = randn(w, dtype=weight.dtype, device=weight.device)
    u.data, v.data = _normalize(u.data, eps), _normalize(v.data, eps)

    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    # Until the first forward, module.<name> is the raw weight (as in PyTorch).
    object.__setattr__(module, name, weight.detach())
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``spectral_norm``: ``module.<name>`` becomes a Parameter holding W / sigma (sigma
    from the stored u, v), and ``<name>_orig``, ``<name>_u``, ``<name>_v`` are removed."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            break
    else:
        raise ValueError(f"name: spectral_norm of {name!r} not found in {type(module).__name__}")
    with no_grad():
        weight = hook.compute_weight(module, do_power_iteration=False)
    del module._forward_pre_hooks[key]
    module.__dict__.pop(name, None)
    for suffix in ("_orig", "_u", "_v"):
        delattr(module, name + suffix)
    module.register_parameter(name, Parameter(weight.data))
    return module
