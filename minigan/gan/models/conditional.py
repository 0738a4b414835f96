"""Class-conditional models: a conditional generator, the projection discriminator (Miyato &
Koyama 2018) and ACGAN's discriminator with an auxiliary classifier (Odena et al. 2017).

Each wraps an unconditional backbone: the generator any G taking (N, z_in) noise, the
discriminators any *trunk* that maps x to features phi(x) of shape (N, F) (``mlp_trunk``,
``dcgan_trunk``, ``ResNetTrunk``).
"""

from __future__ import annotations

from typing import Any

from ... import nn
from ...nn import init
from ...ops.reduce import sum as _sum
from ...ops.shape import concat, reshape
from ...tensor import Tensor
from .common import maybe_sn, positive_int

COND_MODES = ("concat", "multiply")


def _labels(y: Any, n: int, n_classes: int) -> Any:
    """Check the labels of a batch of n: integer class indices, shape (n,)."""
    arr = y.array if isinstance(y, Tensor) else y
    shape = getattr(arr, "shape", None)
    if shape != (n,) or getattr(arr, "dtype", None) is None or arr.dtype.kind not in "iu":
        raise ValueError(f"y: expected integer class labels of shape ({n},), got "
                         f"{getattr(arr, 'dtype', type(arr).__name__)} of shape {shape}")
    return y


class ConditionalGenerator(nn.Module):
    """G(z, y) = base(h) with h the noise z (N, z_dim) combined with the label embedding e(y):

    * ``"concat"``:   h = [z, e(y)], e(y) in R^embed_dim, so base takes z_dim + embed_dim inputs;
    * ``"multiply"``: h = z * e(y), e(y) in R^z_dim (the PyTorch-GAN / cGAN-by-product form), so
      base takes z_dim inputs.

    ``base`` is an unconditional generator (e.g. ``DCGANGenerator``) whose ``z_dim`` matches.
    The embedding is initialised N(0, 1) (PyTorch's Embedding default)."""

    def __init__(self, base: nn.Module, z_dim: int, n_classes: int, mode: str = "concat",
                 embed_dim: int | None = None) -> None:
        super().__init__()
        if mode not in COND_MODES:
            raise ValueError(f"mode: expected one of {', '.join(COND_MODES)}, got {mode!r}")
        self.z_dim = positive_int("z_dim", z_dim)
        self.n_classes = positive_int("n_classes", n_classes)
        self.mode = mode
        if mode == "multiply":
            if embed_dim not in (None, z_dim):
                raise ValueError(f"embed_dim: the multiply mode needs embed_dim = z_dim "
                                 f"({z_dim}), got {embed_dim}")
            embed_dim = z_dim
        embed_dim = positive_int("embed_dim", n_classes if embed_dim is None else embed_dim)
        want = z_dim + embed_dim if mode == "concat" else z_dim
        if getattr(base, "z_dim", want) != want:
            raise ValueError(f"base: its z_dim is {base.z_dim}, but mode {mode!r} feeds it "
                             f"{want} inputs")
        self.embed_dim = embed_dim
        self.embed = nn.Embedding(n_classes, embed_dim)
        self.base = base

    def forward(self, z: Tensor, y: Any) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z: expected shape (N, {self.z_dim}), got {z.shape}")
        e = self.embed(_labels(y, z.shape[0], self.n_classes))
        return self.base(concat([z, e], axis=1) if self.mode == "concat" else z * e)


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = psi(phi(x)) + <e(y), phi(x)> (Miyato & Koyama 2018, eq. 3): phi the trunk's
    features (N, F), psi = Linear(F, 1), e = Embedding(n_classes, F). Returns logits (N,).

    With ``spectral_norm`` psi and the embedding matrix are spectrally normalized too, as in the
    paper's code; the trunk carries its own setting. The embedding starts Glorot-uniform."""

    def __init__(self, trunk: nn.Module, feature_dim: int, n_classes: int,
                 spectral_norm: bool = True) -> None:
        super().__init__()
        self.n_classes = positive_int("n_classes", n_classes)
        self.feature_dim = positive_int("feature_dim", feature_dim)
        self.trunk = trunk
        self.psi = maybe_sn(nn.Linear(feature_dim, 1), spectral_norm)
        self.embed = nn.Embedding(n_classes, feature_dim)
        init.xavier_uniform_(self.embed.weight)
        maybe_sn(self.embed, spectral_norm)

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor, y: Any) -> Tensor:
        phi = self.features(x)
        e = self.embed(_labels(y, phi.shape[0], self.n_classes))
        return reshape(self.psi(phi), (phi.shape[0],)) + _sum(e * phi, axis=1)


class ACGANDiscriminator(nn.Module):
    """D(x) = (adv(phi(x)), cls(phi(x))): adversarial logits (N,) and class logits
    (N, n_classes) from one shared trunk -- ACGAN adds cross_entropy(class logits, y) on real
    and fake batches to both players' losses."""

    def __init__(self, trunk: nn.Module, feature_dim: int, n_classes: int,
                 spectral_norm: bool = False) -> None:
        super().__init__()
        self.n_classes = positive_int("n_classes", n_classes)
        self.feature_dim = positive_int("feature_dim", feature_dim)
        self.trunk = trunk
        self.adv = maybe_sn(nn.Linear(feature_dim, 1), spectral_norm)
        self.cls = maybe_sn(nn.Linear(feature_dim, n_classes), spectral_norm)

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        phi = self.features(x)
        return reshape(self.adv(phi), (phi.shape[0],)), self.cls(phi)
