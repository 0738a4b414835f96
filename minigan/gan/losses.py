"""GAN losses, each as a pair of D and G objectives on logits (D's raw outputs).

Every loss is written with stable primitives: log sigmoid(t) = -softplus(-t) never forms
sigmoid(t) and so never takes log(0), for logits of any size.

=============  ==============================================  ==============================
name           D minimizes                                     G minimizes
=============  ==============================================  ==============================
minimax        softplus(-r) + softplus(f)                      -softplus(f)  (= log(1 - D(G)))
               (= -log D(x) - log(1 - D(G)))
ns             same as minimax                                 softplus(-f)  (= -log D(G))
lsgan          (r - 1)^2 / 2 + f^2 / 2                         (f - 1)^2 / 2
wgan, wgan-gp  f - r                                           -f
hinge          relu(1 - r) + relu(1 + f)                       -f
ragan          softplus(-(r - mean f)) + softplus(f - mean r)  softplus(-(f - mean r))
                                                               + softplus(r - mean f)
=============  ==============================================  ==============================
(all averaged over the batch; r = D(real), f = D(fake)).

Every loss but ragan runs each of its terms through :func:`minigan.ops.gan_loss.gan_loss`: one
fused pass over the logits gives the term and its gradient (the composed formulas above are
``composed_gan_loss`` there, and the fallback when a graph of the gradient is requested).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from ..ops import mean, softplus
from ..ops.gan_loss import gan_loss
from ..tensor import Tensor


@dataclass(frozen=True)
class GANLoss:
    """A named pair of objectives. ``g_loss`` takes the real logits too, which only the
    relativistic loss uses."""

    name: str
    _d: Callable[[Tensor, Tensor], Tensor]
    _g: Callable[[Tensor, Tensor | None], Tensor]
    needs_real_for_g: bool = False

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return self._d(real_logits, fake_logits)

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        if self.needs_real_for_g and real_logits is None:
            raise ValueError(f"real_logits: the {self.name} generator loss needs D(real) too")
        return self._g(fake_logits, real_logits)


def _fused(kind: str) -> GANLoss:
    """The loss whose D and G objectives are fused gan_loss terms."""
    return GANLoss(kind,
                   lambda r, f: gan_loss(kind, "d_real", r) + gan_loss(kind, "d_fake", f),
                   lambda f, r=None: gan_loss(kind, "g", f))


def _ragan_d(r: Tensor, f: Tensor) -> Tensor:
    return mean(softplus(-(r - mean(f)))) + mean(softplus(f - mean(r)))


def _ragan_g(f: Tensor, r: Tensor | None) -> Tensor:
    return mean(softplus(-(f - mean(r)))) + mean(softplus(r - mean(f)))


LOSSES = {
    **{kind: _fused(kind) for kind in ("minimax", "ns", "lsgan", "wgan", "hinge")},
    "ragan": GANLoss("ragan", _ragan_d, _ragan_g, needs_real_for_g=True),
}
ALIASES = {"non-saturating": "ns", "nonsaturating": "ns", "saturating": "minimax",
           "gan": "minimax", "ls": "lsgan", "wgan-gp": "wgan", "relativistic": "ragan"}


def get(name: str) -> GANLoss:
    """The loss called ``name`` (see the table above; 'wgan-gp' is 'wgan', its penalty is
    configured separately)."""
    key = ALIASES.get(name, name)
    if key not in LOSSES:
        valid = ", ".join(sorted(set(LOSSES) | set(ALIASES)))
        raise ValueError(f"loss: unknown GAN loss {name!r}; expected one of: {valid}")
    return LOSSES[key]
