"""Fused GAN losses: the loss and d(loss)/d(logits) in one pass over the logits.

``fused_gan_loss(kind, side, logits, out_grad=None) -> (loss, dlogits)``. Every loss is a mean
over all N logits of a per-logit term l(x); the gradient is l'(x) / N. ``out_grad``, when given,
is a buffer of the logits' shape and dtype that receives dlogits (and is returned).

==========  ==============  ==================  ===================  ==========================
kind        side            l(x)                l'(x)                matches gan/losses.py
==========  ==============  ==================  ===================  ==========================
minimax/ns  d_real          softplus(-x)        -sigmoid(-x)         -log D(x)
minimax/ns  d_fake          softplus(x)         sigmoid(x)           -log(1 - D(G(z)))
minimax     g               -softplus(x)        -sigmoid(x)          log(1 - D(G(z)))
ns          g               softplus(-x)        -sigmoid(-x)         -log D(G(z))
lsgan       d_real, g       (x - 1)^2 / 2       x - 1
lsgan       d_fake          x^2 / 2             x
wgan        d_real, g       -x                  -1
wgan        d_fake          x                   1
hinge       d_real          relu(1 - x)         -[x < 1]
hinge       d_fake          relu(1 + x)         [x > -1]
hinge       g               -x                  -1
==========  ==============  ==================  ===================  ==========================

A discriminator loss is the sum of its d_real and d_fake terms, each averaged over its own batch.
At the hinge's kink the derivative is 0, as relu's is at 0.

Stable for logits of any size: softplus(x) = max(x, 0) + log1p(exp(-|x|)) and sigmoid(x) =
exp(min(x, 0)) / (1 + exp(-|x|)) exponentiate only non-positive numbers, so |x| = 1e4 gives
neither overflow nor NaN in float32.
"""

from __future__ import annotations

from typing import Any

from ...tensor import array_module
from .. import registry, table

KINDS = ("minimax", "ns", "lsgan", "wgan", "hinge")
SIDES = ("d_real", "d_fake", "g")


def check_kind_side(kind: str, side: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if side not in SIDES:
        raise ValueError(f"side: expected one of {', '.join(SIDES)}, got {side!r}")


def code(kind: str, side: str) -> int:
    """The (kind, side) pair as one small int, for the compiled kernels: 3 * kind + side."""
    check_kind_side(kind, side)
    return 3 * KINDS.index(kind) + SIDES.index(side)


def _softplus(xp: Any, x: Any) -> Any:
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _sigmoid(xp: Any, x: Any) -> Any:
    return xp.exp(xp.minimum(x, 0)) / (1 + xp.exp(-xp.abs(x)))


def _terms(xp: Any, kind: str, side: str, x: Any) -> tuple:
    """(l(x), l'(x)) elementwise, per the table in the module docstring."""
    if kind in ("minimax", "ns"):
        if side == "d_fake":
            return _softplus(xp, x), _sigmoid(xp, x)
        if side == "g" and kind == "minimax":
            return -_softplus(xp, x), -_sigmoid(xp, x)
        return _softplus(xp, -x), -_sigmoid(xp, -x)        # d_real, and ns's g
    if kind == "lsgan":
        d = x if side == "d_fake" else x - 1
        return 0.5 * d * d, d
    if kind == "hinge" and side != "g":
        if side == "d_real":
            return xp.maximum(1 - x, 0), -(x < 1).astype(x.dtype)
        return xp.maximum(1 + x, 0), (x > -1).astype(x.dtype)
    sign = 1 if (kind == "wgan" and side == "d_fake") else -1  # wgan, and hinge's g
    return sign * x, xp.full_like(x, sign)


def fused_gan_loss(kind: str, side: str, logits: Any, out_grad: Any = None) -> tuple:
    """(mean_i l(x_i), l'(x) / N) for the (kind, side) term in the module docstring's table.
    The loss is a 0-d array of the logits' dtype; dlogits has the logits' shape and dtype."""
    check_kind_side(kind, side)
    if logits.dtype.kind != "f":
        raise TypeError(f"logits: expected a float32 or float64 array, got {logits.dtype}")
    if logits.size == 0:
        raise ValueError(f"logits: expected at least one logit, got shape {logits.shape}")
    xp = array_module(logits)
    value, slope = _terms(xp, kind, side, logits)
    n = logits.size
    loss = xp.asarray(value.mean(), dtype=logits.dtype)
    grad = (slope / n).astype(logits.dtype, copy=False)
    if out_grad is not None:
        if out_grad.shape != logits.shape or out_grad.dtype != logits.dtype:
            raise ValueError(f"out_grad: expected shape {logits.shape} and dtype "
                             f"{logits.dtype}, got {out_grad.shape} {out_grad.dtype}")
        out_grad[...] = grad
        grad = out_grad
    return loss, grad


registry.define("gan_loss", "fused_gan_loss", fused_gan_loss)
for _backend in ("native", "numba", "cupy", "numba_cuda", "cuda"):
    registry.provide("fused_gan_loss", _backend,
                     f"minigan.kernels.gan_loss.{_backend}:fused_gan_loss")


# ---- parity rows ------------------------------------------------------------------------------

def _make(kind: str, side: str, shape: tuple, scale: float):
    def make(rng, dtype):
        x = (scale * rng.standard_normal(shape)).astype(dtype)
        if scale > 100:  # also the kinks and zero exactly, and the extremes
            x.reshape(-1)[:5] = [0.0, 1.0, -1.0, 1e4, -1e4]
        return (kind, side, x), {}
    return make


def _rows() -> list:
    rows = []
    for kind in KINDS:
        for side in SIDES:
            for shape, scale in (((37,), 3.0), ((5, 3, 1), 1e3)):
                label = f"{kind},{side},{'x'.join(map(str, shape))},|x|~{scale:g}"
                rows.append(table.KernelCase("fused_gan_loss", label,
                                             _make(kind, side, shape, scale)))
    # NaN/inf logits: the loss and the gradient propagate them as the reference does.
    rows += [table.nonfinite(table.KernelCase("fused_gan_loss", f"{kind},{side},37",
                                              _make(kind, side, (37,), 3.0)), 2)
             for kind in KINDS for side in SIDES]
    # Benchmark: 1M logits, forward and backward in one call (read x, write dlogits).
    n = 1 << 20
    for kind, side in (("ns", "g"), ("minimax", "d_real"), ("hinge", "d_fake")):
        rows.append(table.KernelCase("fused_gan_loss", f"{kind},{side},{n}",
                                     _make(kind, side, (n,), 3.0), bytes=8 * n, bench=True))
    # On a GPU also 16M logits: 1M fills an H100 for a few microseconds, launch-bound; HBM
    # bandwidth is judged from 16M elements up.
    n = 1 << 24
    for kind, side in (("ns", "g"), ("hinge", "d_fake")):
        rows.append(table.KernelCase("fused_gan_loss", f"{kind},{side},{n}",
                                     _make(kind, side, (n,), 3.0), bytes=8 * n, bench=True,
                                     devices=("cuda",)))
    return rows


table.add(*_rows())
