"""Regularizers of the discriminator built on double backprop.

Each penalty differentiates D's output with respect to its input with ``create_graph=True`` and
returns a scalar whose own gradient reaches D's parameters: the gradient of a gradient.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import random as _random
from ..distributed.shard import batch_std
from ..ops import mean, relu, sqrt, sum
from ..ops.sq_norm import mean_sq_norm
from ..tensor import Tensor, grad


def _per_sample_sq_norm(g: Tensor) -> Tensor:
    """||g_i||^2 for each sample i, over all non-batch dimensions."""
    return sum(g * g, axis=tuple(range(1, g.ndim))) if g.ndim > 1 else g * g


def _input_grad(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    x = x.detach().requires_grad_()
    out = D(x)
    (g,) = grad(out.sum(), x, create_graph=True)
    return g


def _uniform_like_batch(x: Tensor) -> Tensor:
    """One U(0,1) draw per sample, shaped to broadcast over the sample's other dims."""
    return _random.rand(x.shape[0], *([1] * (x.ndim - 1)), dtype=x.dtype, device=x.device)


def gradient_penalty(D: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     center: float = 1.0, one_sided: bool = False) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)|| - center)^2] at x_hat = a real +
    (1 - a) fake with one a ~ U(0, 1) per sample. ``one_sided`` penalizes only norms above
    ``center``: E[max(0, ||grad|| - center)^2]."""
    if real.shape != fake.shape:
        raise ValueError(f"fake: expected the shape of real {real.shape}, got {fake.shape}")
    alpha = _uniform_like_batch(real)
    x_hat = alpha * real.detach() + (1 - alpha) * fake.detach()
    # sqrt(s + tiny) keeps the gradient finite where a sample's gradient is exactly zero.
    norm = sqrt(_per_sample_sq_norm(_input_grad(D, x_hat)) + 1e-12)
    gap = norm - center
    if one_sided:
        gap = relu(gap)
    return mean(gap * gap)


def r1_penalty(D: Callable[[Tensor], Tensor], real: Tensor, gamma: float = 1.0) -> Tensor:
    """R1 (Mescheder et al. 2018): gamma/2 E||grad D(x)||^2 on real data."""
    return mean_sq_norm(_input_grad(D, real), gamma / 2)


def r1_from_logits(logits: Tensor, real: Tensor, gamma: float = 1.0) -> Tensor:
    """R1 from logits = D(real) already computed with ``real`` requiring grad: the same
    gamma/2 E||grad D(x)||^2 as :func:`r1_penalty`, without a second forward of D when the loss
    already ran D on the real batch (a training step's D forward on real data serves both)."""
    if not real.requires_grad:
        raise ValueError("real: expected the tensor D's logits were computed from, with "
                         "requires_grad=True (x.detach().requires_grad_() before D(x))")
    (g,) = grad(logits.sum(), real, create_graph=True)
    return mean_sq_norm(g, gamma / 2)


def r2_penalty(D: Callable[[Tensor], Tensor], fake: Tensor, gamma: float = 1.0) -> Tensor:
    """R2: gamma/2 E||grad D(x)||^2 on generated data."""
    return mean_sq_norm(_input_grad(D, fake), gamma / 2)


def dragan_penalty(D: Callable[[Tensor], Tensor], real: Tensor, k: float = 1.0,
                   c: float = 0.5) -> Tensor:
    """DRAGAN (Kodali et al. 2017): E[(||grad D(x + delta)|| - k)^2] with x real and
    delta = c * std(x) * U(0, 1) noise -- a gradient penalty around the data only."""
    noise = _random.rand(*real.shape, dtype=real.dtype, device=real.device)
    std = batch_std(real.array)  # of the global batch, also when data parallel
    # On a GPU the scale stays a device scalar: float() would stop the step for a copy.
    scale = c * float(std) if real.device == "cpu" else Tensor((c * std).astype(real.dtype))
    x = real.detach() + scale * noise
    norm = sqrt(_per_sample_sq_norm(_input_grad(D, x)) + 1e-12)
    return mean((norm - k) * (norm - k))


def clip_weights(params, clip: float) -> None:
    """WGAN weight clipping: every parameter limited to [-clip, clip], in place."""
    from ..tensor import no_grad

    with no_grad():
        for p in params:
            p.clamp_(-clip, clip)
