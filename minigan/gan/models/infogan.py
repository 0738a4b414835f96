"""InfoGAN (Chen et al. 2016): structured latent codes whose mutual information with G's output
is maximized through an auxiliary distribution Q(c | x) that shares D's trunk.

The generator input is the latent l = [z, onehot(c_cat), c_cont] with z ~ N(0, I_z_dim),
c_cat ~ Uniform{0..n_cat-1} and c_cont ~ U(-1, 1)^c_dim. The mutual-information lower bound is

    L_I(G, Q) = E[log Q(c | G(l))] + H(c)  <=  I(c; G(l)),

so both players *minimize* ``infogan_mi_loss`` = -E log Q(c | G(l)) (H(c) is a constant):
the cross-entropy of the categorical code plus the Gaussian negative log-likelihood of the
continuous codes.
"""

from __future__ import annotations

import math
from typing import Any

from ... import nn
from ... import random as _random
from ...ops.loss import cross_entropy
from ...ops.elementwise import exp
from ...ops.reduce import mean
from ...ops.reduce import sum as _sum
from ...ops.shape import concat, reshape
from ...tensor import Tensor, array_module
from .common import maybe_sn, non_negative_int, positive_int

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _check_codes(n_cat: int, c_dim: int) -> None:
    non_negative_int("n_cat", n_cat)
    non_negative_int("c_dim", c_dim)
    if n_cat == 1:
        raise ValueError("n_cat: a categorical code needs at least 2 categories (or 0 for none), "
                         "got 1")
    if n_cat + c_dim == 0:
        raise ValueError("n_cat, c_dim: InfoGAN needs at least one code (n_cat >= 2 or c_dim "
                         ">= 1), got n_cat=0 and c_dim=0")


def infogan_latent(z: Tensor, cat_codes: Tensor | None, cont_codes: Tensor | None,
                   n_cat: int) -> Tensor:
    """l = [z, onehot(cat_codes, n_cat), cont_codes] along dim 1 (absent codes left out)."""
    parts = [z]
    if cat_codes is not None:
        idx = cat_codes.array if isinstance(cat_codes, Tensor) else cat_codes
        xp = array_module(z.array)
        parts.append(Tensor(xp.eye(n_cat, dtype=z.dtype)[xp.asarray(idx)]))
    if cont_codes is not None:
        parts.append(cont_codes)
    return concat(parts, axis=1) if len(parts) > 1 else z


def sample_latent(batch: int, z_dim: int, n_cat: int, c_dim: int, dtype: Any = None,
                  device: str = "cpu") -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Draw (latent, cat_codes, cont_codes) from minigan's generator, in this order: z (batch,
    z_dim) ~ N(0, 1), cat_codes (batch,) int64 ~ Uniform{0..n_cat-1} (None when n_cat = 0),
    cont_codes (batch, c_dim) ~ U(-1, 1) (None when c_dim = 0); latent is
    [z, onehot(cat_codes), cont_codes], shape (batch, z_dim + n_cat + c_dim)."""
    positive_int("batch", batch)
    positive_int("z_dim", z_dim)
    _check_codes(n_cat, c_dim)
    z = _random.randn(batch, z_dim, dtype=dtype, device=device)
    cat = _random.randint(0, n_cat, (batch,), device=device) if n_cat else None
    cont = (2 * _random.rand(batch, c_dim, dtype=dtype, device=device) - 1) if c_dim else None
    return infogan_latent(z, cat, cont, n_cat), cat, cont


class InfoGANGenerator(nn.Module):
    """G(l) = base(l) for latents l from ``sample_latent`` / ``infogan_latent``; ``base`` is an
    unconditional generator taking latent_dim = z_dim + n_cat + c_dim inputs."""

    def __init__(self, base: nn.Module, z_dim: int, n_cat: int = 10, c_dim: int = 2) -> None:
        super().__init__()
        self.z_dim = positive_int("z_dim", z_dim)
        _check_codes(n_cat, c_dim)
        self.n_cat, self.c_dim = n_cat, c_dim
        self.latent_dim = z_dim + n_cat + c_dim
        if getattr(base, "z_dim", self.latent_dim) != self.latent_dim:
            raise ValueError(f"base: its z_dim is {base.z_dim}, expected z_dim + n_cat + c_dim "
                             f"= {self.latent_dim}")
        self.base = base

    def sample_latent(self, batch: int, device: str = "cpu") -> tuple:
        """``sample_latent`` with this generator's sizes and parameter dtype."""
        dtype = next(self.parameters()).dtype
        return sample_latent(batch, self.z_dim, self.n_cat, self.c_dim, dtype, device)

    def forward(self, latent: Tensor) -> Tensor:
        if latent.ndim != 2 or latent.shape[1] != self.latent_dim:
            raise ValueError(f"latent: expected shape (N, {self.latent_dim}) = (N, z_dim + "
                             f"n_cat + c_dim), got {latent.shape}")
        return self.base(latent)


class InfoGANDiscriminator(nn.Module):
    """D(x) = (adv, cat_logits, cont_mean[, cont_logvar]) from one shared trunk phi(x):
    adv = Linear(F, 1) -> (N,); Q = Linear(F, q_hidden), BN, LReLU(0.2), Linear(q_hidden,
    n_cat + c_dim [+ c_dim]) split into cat_logits (N, n_cat), cont_mean (N, c_dim) and, with
    ``learn_variance``, cont_logvar (N, c_dim). An absent code's entry is None."""

    def __init__(self, trunk: nn.Module, feature_dim: int, n_cat: int = 10, c_dim: int = 2,
                 q_hidden: int = 128, learn_variance: bool = True,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        self.feature_dim = positive_int("feature_dim", feature_dim)
        _check_codes(n_cat, c_dim)
        self.n_cat, self.c_dim, self.learn_variance = n_cat, c_dim, learn_variance
        self.trunk = trunk
        self.adv = maybe_sn(nn.Linear(feature_dim, 1), spectral_norm)
        q_out = n_cat + c_dim * (2 if learn_variance else 1)
        self.q = nn.Sequential(
            maybe_sn(nn.Linear(feature_dim, positive_int("q_hidden", q_hidden), bias=False),
                     spectral_norm),
            nn.BatchNorm1d(q_hidden), nn.LeakyReLU(0.2),
            maybe_sn(nn.Linear(q_hidden, q_out), spectral_norm))

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor) -> tuple:
        phi = self.features(x)
        n = phi.shape[0]
        q = self.q(phi)
        k, c = self.n_cat, self.c_dim
        cat = q[:, :k] if k else None
        mu = q[:, k:k + c] if c else None
        out = (reshape(self.adv(phi), (n,)), cat, mu)
        if self.learn_variance:
            out += (q[:, k + c:] if c else None,)
        return out


def infogan_mi_loss(q_out: tuple, cat_codes: Any, cont_codes: Tensor | None,
                    cat_weight: float = 1.0, cont_weight: float = 1.0) -> Tensor:
    """-E log Q(c | x), the negated InfoGAN mutual-information bound (without H(c)):

        cat_weight  * mean_n CE(cat_logits_n, c_cat_n)
      + cont_weight * mean_n sum_j [ log(2 pi)/2 + s_nj/2 + (c_nj - mu_nj)^2 / (2 exp(s_nj)) ]

    with s = cont_logvar when ``q_out`` carries one (4 entries), else s = 0 (a unit-variance
    Gaussian: half the squared error plus a constant). ``q_out`` is the discriminator's tuple
    (adv, cat_logits, cont_mean[, cont_logvar]); codes whose entries are None are skipped.
    The InfoGAN paper weights the continuous term lower (e.g. cont_weight = 0.1)."""
    if not isinstance(q_out, tuple) or len(q_out) not in (3, 4):
        raise ValueError("q_out: expected the discriminator's tuple (adv, cat_logits, "
                         f"cont_mean[, cont_logvar]), got {type(q_out).__name__}")
    cat_logits, mu = q_out[1], q_out[2]
    logvar = q_out[3] if len(q_out) == 4 else None
    total = None
    if cat_logits is not None:
        if cat_codes is None:
            raise ValueError("cat_codes: Q predicts a categorical code; pass its labels")
        total = cat_weight * cross_entropy(cat_logits, cat_codes)
    if mu is not None:
        if cont_codes is None or tuple(cont_codes.shape) != mu.shape:
            raise ValueError(f"cont_codes: expected shape {mu.shape} to match Q's mean, got "
                             f"{None if cont_codes is None else cont_codes.shape}")
        d = cont_codes.detach() - mu
        if logvar is None:
            nll = 0.5 * (d * d) + _HALF_LOG_2PI
        else:
            nll = 0.5 * logvar + 0.5 * d * d * exp(-logvar) + _HALF_LOG_2PI
        term = cont_weight * mean(_sum(nll, axis=1))
        total = term if total is None else total + term
    if total is None:
        raise ValueError("q_out: holds neither a categorical nor a continuous code prediction")
    return total


__all__ = ["InfoGANDiscriminator", "InfoGANGenerator", "infogan_latent", "infogan_mi_loss",
           "sample_latent"]
