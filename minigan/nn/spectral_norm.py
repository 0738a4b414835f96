"""Spectral normalization (Miyato et al. 2018), with PyTorch's ``spectral_norm`` semantics.

The layer's weight W is viewed as a matrix (d_out, rest) -- the ``dim`` axis first, dim 1 for
transposed convolutions, whose weights are laid out (in, out, kh, kw). Its largest singular value
sigma is estimated by power iteration with persistent vectors u (d_out,) and v (rest,); the
layer runs with W_bar = W / sigma, so its Lipschitz constant is about 1.

Each training forward runs ``n_power_iterations`` of

    v <- normalize(W^T u),   u <- normalize(W v)        (normalize(x) = x / max(||x||, eps))

on plain arrays (no graph; the backend's fused kernel), then W / sigma with sigma = u^T W v is
one op whose gradient is d(W / sigma)/dW with u, v held constant, as in the paper and PyTorch
(minigan/kernels/spectral_norm/ has the kernels and the formula).
In evaluation mode u and v are not updated; sigma is recomputed from the stored ones.
"""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..kernels import registry
from ..kernels.spectral_norm import _normalize
from ..ops.elementwise import const
from ..ops.matmul import matmul
from ..ops.reduce import sum as sum_
from ..ops.shape import permute, reshape
from ..random import randn
from ..tensor import Tensor, array_module, is_grad_enabled, no_grad
from .module import Module, Parameter


def _device(a: Any) -> str:
    return "cpu" if array_module(a).__name__ == "numpy" else "cuda"


def _matrix(w: Any, dim: int) -> Any:
    """The array W as a C-contiguous (d_out, rest) matrix, axis ``dim`` first."""
    xp = array_module(w)
    return xp.ascontiguousarray(xp.moveaxis(w, dim, 0).reshape(w.shape[dim], -1))


def _unmatrix(m: Any, shape: tuple, dim: int) -> Any:
    """Inverse of :func:`_matrix`: a (d_out, rest) matrix back in the weight's layout."""
    xp = array_module(m)
    moved = (shape[dim], *shape[:dim], *shape[dim + 1:])
    return xp.ascontiguousarray(xp.moveaxis(m.reshape(moved), 0, dim))


def power_iteration(w2d: Any, u: Any, n_iterations: int, eps: float) -> tuple:
    """``n_iterations`` of v = normalize(W^T u), u = normalize(W v) on arrays; returns (u, v).
    Needs n_iterations >= 1 (v is derived from u). Runs the backend's fused kernel."""
    fn = registry.get("spectral_norm_power_iteration", _device(w2d))
    _, u, v = fn(w2d, u, n_iterations, eps)
    return u, v


class SpectralNormalize(Function):
    """W / sigma with sigma = u^T W v (W as its (d_out, rest) matrix), u and v constants.

    Backward: dW = G / sigma - (<G, W> / sigma^2) u v^T -- the fused kernel for first-order
    gradients; under create_graph the same formula with differentiable ops, sigma recomputed
    from W in the graph, so SN discriminators differentiate twice (gradient penalties)."""

    @staticmethod
    def forward(ctx, weight, u, v, dim):
        w2d = _matrix(weight, dim)
        fn = registry.get("spectral_norm_normalize", _device(weight))
        w_bar, sigma = fn(w2d, u, v)
        ctx.u, ctx.v, ctx.sigma, ctx.dim = u, v, sigma, dim
        ctx.save_for_backward(weight)
        return _unmatrix(w_bar, weight.shape, dim)

    @staticmethod
    def backward(ctx, g):
        (weight,) = ctx.saved_tensors
        u, v, dim = ctx.u, ctx.v, ctx.dim
        if not is_grad_enabled():
            fn = registry.get("spectral_norm_backward", _device(weight.array))
            dw = fn(_matrix(g.array, dim), _matrix(weight.array, dim), u, v, ctx.sigma)
            return Tensor(_unmatrix(dw, weight.shape, dim)), None, None, None
        xp = array_module(weight.array)
        w2d = _weight_matrix(weight, dim)
        sigma = matmul(const(u), matmul(w2d, const(v)))
        uv = const(_unmatrix(xp.outer(u, v), weight.shape, dim))
        return g / sigma - (sum_(g * weight) / (sigma * sigma)) * uv, None, None, None


def _weight_matrix(weight: Tensor, dim: int) -> Tensor:
    """W as a (d_out, rest) matrix, differentiably (axis ``dim`` moved first)."""
    if dim != 0:
        order = (dim, *[d for d in range(weight.ndim) if d != dim])
        weight = permute(weight, order)
    return reshape(weight, (weight.shape[0], -1))


class SpectralNorm:
    """The forward pre-hook that sets ``module.<name>`` to W / sigma before each forward."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float) -> None:
        self.name, self.n_power_iterations, self.dim, self.eps = (
            name, n_power_iterations, dim, eps)

    def weight_matrix(self, weight: Tensor) -> Tensor:
        """W as a (d_out, rest) matrix, differentiably (axis ``dim`` moved first)."""
        return _weight_matrix(weight, self.dim)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u_buf, v_buf = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        if do_power_iteration:
            u, v = power_iteration(_matrix(weight.array, self.dim), u_buf.array,
                                   self.n_power_iterations, self.eps)
            with no_grad():  # the power iteration is state, never part of the graph
                u_buf.copy_(u)
                v_buf.copy_(v)
        # Copies as constants: a later forward updates the buffers in place, and this forward's
        # backward must still see the u, v it used.
        return SpectralNormalize.apply(weight, u_buf.array.copy(), v_buf.array.copy(), self.dim)

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
    u.array, v.array = _normalize(u.array, eps), _normalize(v.array, eps)

    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    # Until the first forward, module.<name> is the raw weight (as in PyTorch).
    object.__setattr__(module, name, weight.detach())
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    return module


def unhook(module: Module, hook_type: type, name: str, suffixes: tuple, what: str,
           **compute: Any) -> Module:
    """Remove the ``hook_type`` pre-hook of ``name``: ``module.<name>`` becomes a Parameter
    holding the hook's current weight, and the ``<name><suffix>`` tensors are deleted."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, hook_type) and hook.name == name:
            break
    else:
        raise ValueError(f"name: {what} of {name!r} not found in {type(module).__name__}")
    with no_grad():
        weight = hook.compute_weight(module, **compute)
    del module._forward_pre_hooks[key]
    module.__dict__.pop(name, None)
    for suffix in suffixes:
        delattr(module, name + suffix)
    module.register_parameter(name, Parameter(weight.array))
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``spectral_norm``: ``module.<name>`` becomes a Parameter holding W / sigma (sigma
    from the stored u, v), and ``<name>_orig``, ``<name>_u``, ``<name>_v`` are removed."""
    return unhook(module, SpectralNorm, name, ("_orig", "_u", "_v"), "spectral_norm",
                  do_power_iteration=False)
