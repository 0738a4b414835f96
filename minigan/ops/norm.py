"""Normalization: batch_norm, layer_norm, instance_norm, group_norm.

Both standardize x over some axes, xhat = (x - mean) / sqrt(var + eps) (biased variance), then
apply an optional per-feature affine map y = xhat * weight + bias. The standardization is one
Function with a closed-form backward,

    dx = invstd * (g - mean(g) - xhat * mean(g * xhat))        (means over the normalized axes)

written with differentiable ops on the saved input x, so gradient penalties through a
normalized discriminator (WGAN-GP, R1) differentiate it a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..function import Function
from ..kernels import registry
from ..tensor import Tensor, array_module, is_grad_enabled
from .elementwise import const, sqrt
from .reduce import mean
from .reduce import sum as sum_
from .shape import reshape


def _moments(xp: Any, x: Any, axes: tuple) -> tuple:
    """Mean and biased variance of an array over axes (kept as size-1 dims)."""
    mu = x.mean(axis=axes, keepdims=True)
    d = x - mu
    return mu, (d * d).mean(axis=axes, keepdims=True)


class Standardize(Function):
    """xhat = (x - mean(x)) / sqrt(var(x) + eps) over ``axes``."""

    @staticmethod
    def forward(ctx, x, axes, eps):
        xp = array_module(x)
        mu, var = _moments(xp, x, axes)
        invstd = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = ((x - mu) * invstd).astype(x.dtype, copy=False)
        ctx.axes, ctx.eps = axes, eps
        ctx.invstd = invstd
        ctx.save_for_backward(x, xhat)
        return xhat

    @staticmethod
    def backward(ctx, g):
        x, xhat = ctx.saved_tensors
        axes = ctx.axes
        if is_grad_enabled():
            # Double backprop: xhat and invstd must be functions of x in the graph, not the
            # forward's constants, or the second derivative would miss their dependence on x.
            mu = mean(x, axes, keepdims=True)
            d = x - mu
            invstd = 1 / sqrt(mean(d * d, axes, keepdims=True) + ctx.eps)
            xhat = d * invstd
        else:
            invstd = const(ctx.invstd)
        gx = invstd * (g - mean(g, axes, keepdims=True)
                       - xhat * mean(g * xhat, axes, keepdims=True))
        return gx, None, None


def _check_param(p: Tensor | None, name: str, shape: tuple, x: Tensor) -> None:
    if p is None:
        return
    if not isinstance(p, Tensor):
        raise TypeError(f"{name}: expected a Tensor or None, got {type(p).__name__}")
    if tuple(p.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(p.shape)}")
    if p.dtype != x.dtype:
        raise TypeError(f"{name}: expected dtype {x.dtype} (the input's), got {p.dtype}")


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, bshape: tuple) -> Tensor:
    if weight is not None:
        y = y * reshape(weight, bshape)
    if bias is not None:
        y = y + reshape(bias, bshape)
    return y


class BatchNorm(Function):
    """Training-mode batch norm (batch statistics) through the fused kernels of
    :mod:`minigan.kernels.batch_norm`: y = xhat * weight + bias, xhat = (x - mean_B) invstd_B.

    First-order backward: the fused kernel (two reductions, one elementwise pass). With a graph
    of the gradient requested, the same formulas (see the kernel module) written with
    differentiable ops on x, whose statistics are recomputed in the graph."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        fwd = registry.get("batch_norm_forward", _device(x))
        y, mu, invstd = fwd(x, weight, bias, running_mean, running_var, True, momentum, eps)
        ctx.mean, ctx.invstd, ctx.eps = mu, invstd, eps
        ctx.affine = (weight is not None, bias is not None)
        ctx.save_for_backward(*((x, weight) if weight is not None else (x,)))
        return y

    @staticmethod
    def backward(ctx, g):
        x, *w = ctx.saved_tensors
        w = w[0] if w else None
        has_w, has_b = ctx.affine
        rest = (None, None, None, None)
        if not is_grad_enabled():
            bwd = registry.get("batch_norm_backward", _device(x.array))
            gx, gw, gb = bwd(g.array, x.array, None if w is None else w.array, ctx.mean,
                             ctx.invstd)
            return (Tensor(gx), Tensor(gw) if has_w else None, Tensor(gb) if has_b else None,
                    *rest)
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        n = x.numel() // x.shape[1]
        d = x - mean(x, axes, keepdims=True)
        invstd = 1 / sqrt(mean(d * d, axes, keepdims=True) + ctx.eps)
        xhat = d * invstd
        gb = sum_(g, axes)
        gw = sum_(g * xhat, axes)
        scale = invstd if w is None else reshape(w, bshape) * invstd
        gx = scale * (g - reshape(gb, bshape) / n - xhat * (reshape(gw, bshape) / n))
        return gx, gw if has_w else None, gb if has_b else None, *rest


def _device(a: Any) -> str:
    return "cpu" if array_module(a).__name__ == "numpy" else "cuda"


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over every axis but 1 (the channel axis), PyTorch semantics
    (``training`` defaults to False, as in ``torch.nn.functional.batch_norm``).

    Training: y = (x - mean_B) / sqrt(var_B + eps) * weight + bias with the batch's mean and
    biased variance; the running statistics (when given) are updated in place, outside the graph,
    as r <- (1 - momentum) r + momentum s with the *unbiased* batch variance n/(n-1) var_B.
    Evaluation: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, which is affine
    in x. With no running statistics, batch statistics are used in both modes.

    Both modes run the fused kernels of the backend in use (minigan.kernels.batch_norm); the
    gradient stays differentiable to any order.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"x: expected at least 2 dims (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(p, name, (c,), x)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: pass both or neither")
    bshape = (1, c) + (1,) * (x.ndim - 2)
    use_batch = training or running_mean is None
    if use_batch:
        n = x.numel() // c
        if n <= 1:
            raise ValueError(f"x: batch norm in training needs more than 1 value per channel, "
                             f"got shape {x.shape}")
        update = training and running_mean is not None
        y = BatchNorm.apply(x, weight, bias, running_mean.array if update else None,
                            running_var.array if update else None, momentum, eps)
        if update:  # updated in place by the kernel: saved-tensor checks must see it
            running_mean._version[0] += 1
            running_var._version[0] += 1
        return y
    recording = is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight, bias))
    if not recording:  # inference: one fused pass
        fwd = registry.get("batch_norm_forward", _device(x.array))
        return Tensor(fwd(x.array, None if weight is None else weight.array,
                          None if bias is None else bias.array, running_mean.array,
                          running_var.array, False, momentum, eps)[0])
    xp = array_module(x.array)
    invstd = (1 / xp.sqrt(running_var.array + eps)).astype(x.dtype, copy=False)
    y = (x - const(running_mean.array.reshape(bshape))) * const(invstd.reshape(bshape))
    return _affine(y, weight, bias, bshape)


def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` axes:
    y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per leading index, biased
    variance; weight and bias have shape ``normalized_shape``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a Tensor, got {type(x).__name__}")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"normalized_shape: {shape} must match the trailing dims of x, "
                         f"got x of shape {x.shape}")
    _check_param(weight, "weight", shape, x)
    _check_param(bias, "bias", shape, x)
    y = Standardize.apply(x, tuple(range(x.ndim - k, x.ndim)), eps)
    return _affine(y, weight, bias, shape)


def instance_norm(x: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalization of (N, C, ...) input: each (n, c) plane standardized over its
    spatial axes, y = (x - mean_nc) / sqrt(var_nc + eps) * weight_c + bias_c (biased variance).

    With ``use_input_stats`` and running statistics given, they are updated in place as
    r <- (1 - momentum) r + momentum mean_n(s_nc), s the plane's mean or *unbiased* variance (as
    PyTorch). Without ``use_input_stats`` the running statistics normalize (batch_norm's
    evaluation mode)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a Tensor, got {type(x).__name__}")
    if x.ndim < 3:
        raise ValueError(f"x: expected (N, C, ...) input with spatial dims, got shape {x.shape}")
    c = x.shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(p, name, (c,), x)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("running_mean, running_var: needed when use_input_stats=False")
        return batch_norm(x, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = tuple(range(2, x.ndim))
    if running_mean is not None and running_var is not None:
        n = x.numel() // (x.shape[0] * c)
        mu, var = _moments(array_module(x.array), x.array, axes)
        unbiased = var * (n / max(n - 1, 1))
        m = x.dtype.type(momentum)
        running_mean.array[...] = (1 - m) * running_mean.array + m * mu.mean(axis=0).reshape(c)
        running_var.array[...] = (1 - m) * running_var.array \
            + m * unbiased.mean(axis=0).reshape(c)
        running_mean._version[0] += 1
        running_var._version[0] += 1
    y = Standardize.apply(x, axes, eps)
    return _affine(y, weight, bias, (1, c) + (1,) * (x.ndim - 2))


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalization: the C channels split into ``num_groups`` groups, each (n, group)
    standardized over its channels and spatial axes, then a per-channel affine map."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a Tensor, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"num_groups: {num_groups} must divide the channel count of x, "
                         f"got shape {x.shape}")
    c = x.shape[1]
    _check_param(weight, "weight", (c,), x)
    _check_param(bias, "bias", (c,), x)
    g = reshape(x, (x.shape[0], num_groups, -1))
    y = reshape(Standardize.apply(g, (2,), eps), x.shape)
    return _affine(y, weight, bias, (1, c) + (1,) * (x.ndim - 2))
