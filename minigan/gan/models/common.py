"""Pieces shared by every model family: PacGAN packing, argument checks, optional spectral norm,
activations by name, and the trunk + head discriminator that the unconditional families share.

Calling conventions (all families):

* a discriminator *trunk* maps a batch x to features phi(x) of shape (N, F); its width F is the
  trunk's ``feature_dim``;
* an unconditional discriminator is ``head(phi(x))`` with ``head = Linear(F, 1)`` and returns
  logits of shape (N,) -- one per (packed) sample, the shape the losses in
  ``minigan.gan.losses`` and the penalties in ``minigan.gan.penalties`` expect.
"""

from __future__ import annotations

from typing import Any

from ...ops.shape import reshape
from ...tensor import Tensor
from ... import nn


def positive_int(name: str, v: Any) -> int:
    """v if it is a positive int (not a bool), else a ValueError naming ``name``."""
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name}: expected a positive int, got {v!r}")
    return v


def non_negative_int(name: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(f"{name}: expected a non-negative int, got {v!r}")
    return v


def maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    """``nn.spectral_norm(module)`` when ``on``, else the module unchanged."""
    return nn.spectral_norm(module) if on else module


ACTIVATIONS = ("leaky_relu", "relu", "tanh")


def activation(name: str) -> nn.Module:
    """The activation layer called ``name``: leaky_relu (slope 0.2, the GAN convention since
    DCGAN), relu or tanh."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {name!r}")


def pack_samples(x: Tensor, m: int) -> Tensor:
    """PacGAN packing (Lin et al. 2018): m consecutive samples become one D input.

    (N, d) -> (N/m, m*d) and (N, C, H, W) -> (N/m, m*C, H, W): packed row i holds samples
    i*m, ..., i*m + m - 1 side by side along dim 1 (sample j of the pack in columns / channels
    j*d ... j*d + d - 1). It is a reshape, so gradients flow back to every sample unchanged."""
    m = positive_int("m", m)
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"x: expected a batch of shape (N, d) or (N, C, H, W), got {x.shape}")
    n = x.shape[0]
    if n % m:
        raise ValueError(f"x: PacGAN packing needs a batch size divisible by the pack size "
                         f"m={m}, got N={n} (use a batch size that is a multiple of {m})")
    if m == 1:
        return x
    return reshape(x, (n // m, m * x.shape[1], *x.shape[2:]))


class PackedInput(nn.Module):
    """Base of the discriminators: ``self.in_channels`` (features or image channels per sample)
    and ``self.pack``. ``_packed(x)`` accepts samples either unpacked (dim 1 = in_channels; they
    are packed here, so the trainer and the penalties can pass plain batches) or already packed
    (dim 1 = pack * in_channels)."""

    def __init__(self, in_channels: int, pack: int) -> None:
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.pack = positive_int("pack", pack)

    def _packed(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected a Tensor, got {type(x).__name__}")
        c = x.shape[1] if x.ndim >= 2 else None
        if c == self.in_channels * self.pack:
            return x
        if c == self.in_channels:
            return pack_samples(x, self.pack)
        want = (f"{self.in_channels}" if self.pack == 1 else
                f"{self.in_channels} (unpacked) or {self.in_channels * self.pack} (packed)")
        raise ValueError(f"x: {type(self).__name__} expects dim 1 of size {want}, "
                         f"got shape {x.shape}")


class TrunkHeadDiscriminator(PackedInput):
    """D(x) = head(trunk(pack(x))) with head = Linear(F, 1) (spectrally normalized with the
    trunk when ``spectral_norm``), logits of shape (N / pack,)."""

    def __init__(self, trunk: nn.Module, feature_dim: int, in_channels: int, pack: int,
                 spectral_norm: bool) -> None:
        super().__init__(in_channels, pack)
        self.trunk = trunk
        self.head = maybe_sn(nn.Linear(feature_dim, 1), spectral_norm)
        self.feature_dim = feature_dim

    def features(self, x: Tensor) -> Tensor:
        """phi(x), shape (N / pack, F)."""
        return self.trunk(self._packed(x))

    def forward(self, x: Tensor) -> Tensor:
        out = self.head(self.features(x))
        return reshape(out, (out.shape[0],))
