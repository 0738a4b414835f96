"""DCGAN (Radford et al. 2016) generator and discriminator for 28x28, 32x32 and 64x64 images.

With width w = ``base_width`` and C = ``channels``:

28x28 (the model of ``minigan bench step``; w = 64 gives its 128 / 64 channels)::

    G: Linear(z -> 2w*7*7), BN1d, ReLU, Unflatten(2w, 7, 7),
       ConvT(2w -> w, 4, 2, 1), BN2d, ReLU, ConvT(w -> C, 4, 2, 1), Tanh
    D: Conv(C -> w, 4, 2, 1), LReLU(0.2), Conv(w -> 2w, 4, 2, 1), [BN2d], LReLU(0.2),
       Flatten, Linear(2w*7*7 -> 1)

32x32 and 64x64 -- the standard 4x4 stride-2 pyramid, k = 3 (32) or 4 (64) stages::

    G: ConvT(z -> 2^(k-1) w, 4, 1, 0) (1x1 -> 4x4), BN, ReLU,
       then per stage ConvT(c -> c/2, 4, 2, 1), BN, ReLU ... last ConvT(w -> C, 4, 2, 1), Tanh
    D: Conv(C -> w, 4, 2, 1), LReLU, then Conv(c -> 2c, 4, 2, 1), [BN], LReLU down to 4x4,
       Flatten, Linear(2^(k-1) w * 4 * 4 -> 1)      (the same map as DCGAN's final 4x4 conv)

Layers followed by batch norm have no bias (BN's shift replaces it; a bias there would get an
exactly zero gradient). Weights get ``dcgan_init``: N(0, 0.02^2), BN scale N(1, 0.02^2).
"""

from __future__ import annotations

from ... import nn
from ...nn.init import dcgan_init
from ...tensor import Tensor
from .common import TrunkHeadDiscriminator, maybe_sn, positive_int

IMAGE_SIZES = (28, 32, 64)


def check_image_size(image_size: int, valid: tuple = IMAGE_SIZES) -> int:
    if (not isinstance(image_size, int) or isinstance(image_size, bool)
            or image_size not in valid):
        raise ValueError(f"image_size: expected one of {', '.join(map(str, valid))}, "
                         f"got {image_size!r}")
    return image_size


def _stages(image_size: int) -> int:
    """Number of stride-2 stages between the 4x4 (7x7 for 28) base and the image."""
    return {28: 2, 32: 3, 64: 4}[image_size]


class DCGANGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, z_dim: int = 100, channels: int = 1, image_size: int = 28,
                 base_width: int = 64) -> None:
        super().__init__()
        self.z_dim = positive_int("z_dim", z_dim)
        self.channels = positive_int("channels", channels)
        self.image_size = check_image_size(image_size)
        w = positive_int("base_width", base_width)
        k = _stages(image_size)
        top = w * 2 ** (k - 1)
        if image_size == 28:
            mods: list[nn.Module] = [
                nn.Linear(z_dim, top * 7 * 7, bias=False), nn.BatchNorm1d(top * 7 * 7),
                nn.ReLU(), nn.Unflatten(1, (top, 7, 7))]
        else:
            mods = [nn.Unflatten(1, (z_dim, 1, 1)),
                    nn.ConvTranspose2d(z_dim, top, 4, 1, 0, bias=False), nn.BatchNorm2d(top),
                    nn.ReLU()]
        c = top
        for _ in range(k - 1):
            mods += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2),
                     nn.ReLU()]
            c //= 2
        mods += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*mods)
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z: expected shape (N, {self.z_dim}), got {z.shape}")
        return self.net(z)


def dcgan_trunk(channels: int, image_size: int, base_width: int, spectral_norm: bool = False,
                batch_norm: bool = True, pack: int = 1) -> tuple[nn.Sequential, int]:
    """The DCGAN discriminator up to its flattened features (see the module docstring); input
    channels = channels * pack. Returns (trunk, feature width F)."""
    positive_int("channels", channels)
    w = positive_int("base_width", base_width)
    k = _stages(check_image_size(image_size))
    mods: list[nn.Module] = [
        maybe_sn(nn.Conv2d(channels * positive_int("pack", pack), w, 4, 2, 1), spectral_norm),
        nn.LeakyReLU(0.2)]
    c = w
    for _ in range(k - 1):
        mods.append(maybe_sn(nn.Conv2d(c, 2 * c, 4, 2, 1, bias=not batch_norm), spectral_norm))
        if batch_norm:
            mods.append(nn.BatchNorm2d(2 * c))
        mods.append(nn.LeakyReLU(0.2))
        c *= 2
    side = 7 if image_size == 28 else 4
    mods.append(nn.Flatten())
    return nn.Sequential(*mods), c * side * side


class DCGANDiscriminator(TrunkHeadDiscriminator):
    """images (N, channels, S, S) (or packed (N/pack, pack*channels, S, S)) -> logits (N/pack,).

    ``spectral_norm`` wraps every conv and the final linear; ``batch_norm`` puts BN after every
    conv but the first (turn it off for WGAN-GP critics, whose per-sample gradient penalty
    assumes samples do not interact)."""

    def __init__(self, channels: int = 1, image_size: int = 28, base_width: int = 64,
                 spectral_norm: bool = False, batch_norm: bool = True, pack: int = 1) -> None:
        trunk, feat = dcgan_trunk(channels, image_size, base_width, spectral_norm, batch_norm,
                                  pack)
        super().__init__(trunk, feat, channels, pack, spectral_norm)
        self.image_size = image_size
        dcgan_init(self)
