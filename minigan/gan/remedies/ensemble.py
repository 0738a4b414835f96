"""Multiple discriminators, as GMAN (Durugkar et al. 2017).

k discriminators D_1..D_k (separate weights, separate initialisations) each train on their own
loss exactly as a single D would (each with its own Adam moments: the trainer's one optimizer
holds a state per parameter and updates only the member whose step it is). The generator gets
their feedback combined: with L_i the generator loss against D_i,

    mean:      L = (1/k) sum_i L_i
    max:       L = max_i L_i                           (the harshest discriminator)
    softmean:  L = sum_i w_i L_i,  w = softmax(lambda * L)   (GMAN's soft-discriminator F_lambda;
                                   lambda = 0 is the mean, lambda -> inf the max)

The weights w are a function of the losses and are differentiated through, as F_lambda is.
"""

from __future__ import annotations

from typing import Any

from ... import nn
from ...ops import max as _max
from ...ops import mean as _mean
from ...ops import softmax as _softmax
from ...ops import stack
from ...ops import sum as _sum
from ...tensor import Tensor

COMBINE = ("mean", "max", "softmean")


class DiscriminatorEnsemble(nn.Module):
    """D(x) = stack(D_1(x), ..., D_k(x)): logits of shape (k, N) for plain models."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"members: expected at least 2 discriminators, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.k = len(members)

    def forward(self, x: Tensor) -> Tensor:
        return stack([D(x) for D in self.members], 0)


def combine(losses: list[Tensor], how: str, lam: float = 1.0) -> Tensor:
    """The generator's loss from its losses against each discriminator (module docstring)."""
    if how not in COMBINE:
        raise ValueError(f"how: expected one of {', '.join(COMBINE)}, got {how!r}")
    L = stack([loss.reshape(()) for loss in losses], 0)
    if how == "mean":
        return _mean(L)
    if how == "max":
        return _max(L)
    return _sum(_softmax(L * lam, 0) * L)


def combined_g_loss(loss: Any, f: Tensor, real: Tensor | None, k: int, how: str,
                    lam: float) -> Tensor:
    """``loss.g_loss`` against each of k discriminators (rows of the (k * N,) logits), combined."""
    f = f.reshape(k, -1)
    r = real.reshape(k, -1) if real is not None else None
    per = [loss.g_loss(f[i], None if r is None else r[i]) for i in range(k)]
    return combine(per, how, lam)
