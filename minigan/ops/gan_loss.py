"""GAN loss terms as one op: ``gan_loss(kind, side, logits)``, the mean over the logits of the
per-logit term l(x) tabulated in :mod:`minigan.kernels.gan_loss`.

The forward runs the fused kernel, which returns the loss *and* d(loss)/d(logits) in one pass;
the first-order backward then only scales that cached gradient by the incoming one. When a graph
of the gradient is requested (``create_graph=True``, e.g. a gradient penalty through the loss),
the backward instead writes l'(x) / N with differentiable ops, so it differentiates again:

    softplus(+-x) -> +-sigmoid(+-x),   (x - t)^2 / 2 -> x - t,   relu(1 -+ x) and +-x -> constants.

``composed_gan_loss`` is the same loss built from elementary ops (as gan/losses.py did before the
fused kernel); it is kept as the readable definition and as the tests' reference.
"""

from __future__ import annotations

from typing import Any

from ..function import Function
from ..kernels import gan_loss as _kernels
from ..kernels import registry
from ..tensor import Tensor, array_module, is_grad_enabled
from .activation import relu, sigmoid, softplus
from .elementwise import const
from .reduce import mean


def _device(a: Any) -> str:
    return "cpu" if array_module(a).__name__ == "numpy" else "cuda"


def _slope(kind: str, side: str, x: Tensor) -> Tensor:
    """l'(x) / N with differentiable ops (the table in minigan.kernels.gan_loss)."""
    n = x.numel()
    xp = array_module(x.array)
    if kind in ("minimax", "ns"):
        if side == "d_fake":
            return sigmoid(x) / n
        if side == "g" and kind == "minimax":
            return -sigmoid(x) / n
        return -sigmoid(-x) / n
    if kind == "lsgan":
        return (x if side == "d_fake" else x - 1) / n
    if kind == "hinge" and side == "d_real":
        return const(-(x.array < 1).astype(x.dtype) / n)
    if kind == "hinge" and side == "d_fake":
        return const((x.array > -1).astype(x.dtype) / n)
    sign = 1 if (kind == "wgan" and side == "d_fake") else -1
    return const(xp.full(x.shape, sign / n, dtype=x.dtype))


class GANLoss(Function):
    @staticmethod
    def forward(ctx, logits, kind, side):
        fused = registry.get("fused_gan_loss", _device(logits))
        loss, dlogits = fused(kind, side, logits)
        ctx.kind, ctx.side = kind, side
        ctx.dlogits = dlogits
        ctx.save_for_backward(logits)
        return loss

    @staticmethod
    def backward(ctx, g):
        if not is_grad_enabled():
            # First order: the kernel's gradient, scaled by d(out)/d(loss).
            return Tensor(ctx.dlogits * g.array), None, None
        (x,) = ctx.saved_tensors
        return g * _slope(ctx.kind, ctx.side, x), None, None


def _check(kind: str, side: str, logits: Any) -> None:
    _kernels.check_kind_side(kind, side)
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits: expected a Tensor, got {type(logits).__name__}")
    if logits.dtype.kind != "f":
        raise TypeError(f"logits: expected a floating tensor, got {logits.dtype}")
    if logits.numel() == 0:
        raise ValueError(f"logits: expected at least one logit, got shape {logits.shape}")


def gan_loss(kind: str, side: str, logits: Tensor) -> Tensor:
    """mean_i l(logits_i) for GAN loss ``kind`` (minimax, ns, lsgan, wgan, hinge) and ``side``
    (d_real, d_fake, g), a 0-d tensor; see :mod:`minigan.kernels.gan_loss` for l. One fused
    pass computes the loss and its gradient; stable for logits of any size."""
    _check(kind, side, logits)
    return GANLoss.apply(logits, kind, side)


def composed_gan_loss(kind: str, side: str, logits: Tensor) -> Tensor:
    """The same loss as :func:`gan_loss`, composed from elementary differentiable ops."""
    _check(kind, side, logits)
    x = logits
    if kind in ("minimax", "ns"):
        if side == "d_fake":
            return mean(softplus(x))
        if side == "g" and kind == "minimax":
            return -mean(softplus(x))
        return mean(softplus(-x))
    if kind == "lsgan":
        d = x if side == "d_fake" else x - 1
        return 0.5 * mean(d * d)
    if kind == "hinge" and side == "d_real":
        return mean(relu(1 - x))
    if kind == "hinge" and side == "d_fake":
        return mean(relu(1 + x))
    return mean(x) if (kind == "wgan" and side == "d_fake") else -mean(x)


__all__ = ["composed_gan_loss", "gan_loss"]
