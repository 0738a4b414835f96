"""Super-resolution of digits, SRGAN-style (Ledig et al. 2017), ``task = "sr"``.

Input: a digit downsampled by ``sr_factor`` (2 or 4: 14x14 or 7x7, block means,
:func:`minigan.data.paired.downsample`); target: the 28x28 digit. The generator works at the
low resolution and upsamples with sub-pixel convolutions:

    h0 = LeakyReLU(conv3x3(x))                               c = base_width channels
    h  = h0 + conv3x3(res_blocks x [h + conv3x3(LeakyReLU(conv3x3(h)))])
    per factor 2: h = LeakyReLU(PixelShuffle(2)(conv3x3(h)))   c -> 4c -> c, side x 2
    G(x) = bicubic(x) + conv3x3(h)                           (a residual over bicubic)

so G starts at bicubic upsampling and learns the detail bicubic misses. The discriminator is a
small strided CNN on the 28x28 image alone. G's content loss is

    L_content = pixel(G(x), y) + perceptual_weight * mean((phi(G(x)) - phi(y))^2)

with ``pixel`` MSE or L1 (``content_loss``) and phi the feature layer of minigan's own digit
classifier (:mod:`minigan.metrics.classifier`) in place of SRGAN's VGG; the adversarial term
(``adv_weight``, the configured GAN loss) is added by :class:`~.paired.PairedLoop`. The
summary scores the output, bicubic upsampling and (``paired_baseline``) the same generator
trained without the adversarial term, on held-out digits: L1, PSNR, SSIM and the classifier's
accuracy on the super-resolved digits. Other data (``dataset``, :mod:`.data`): any channels,
a side divisible by ``sr_factor``; the perceptual loss needs 1x28x28 images (else
``perceptual_weight = 0``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import nn
from ...nn import functional as F
from ...ops.resample import interpolate
from ...tensor import Tensor
from ..config import ConfigError
from .paired import PairedLoop

SIDE = 28


class ResBlock(nn.Module):
    """h + conv(LeakyReLU(conv(h))), 3x3 convolutions keeping the size."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.conv2(F.leaky_relu(self.conv1(h), 0.2))


class SRGenerator(nn.Module):
    """The generator of the module docstring: (N, C, s, s) -> (N, C, s f, s f)."""

    def __init__(self, factor: int = 4, width: int = 32, blocks: int = 4,
                 channels: int = 1) -> None:
        super().__init__()
        if factor not in (2, 4, 8):
            raise ValueError(f"factor: expected 2, 4 or 8, got {factor}")
        self.factor = factor
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.blocks = nn.Sequential(*[ResBlock(width) for _ in range(blocks)])
        self.body = nn.Conv2d(width, width, 3, padding=1)
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(factor))):
            ups += [nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2),
                    nn.LeakyReLU(0.2)]
        self.up = nn.Sequential(*ups)
        self.tail = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h0 = F.leaky_relu(self.head(x), 0.2)
        h = h0 + self.body(self.blocks(h0))
        base = interpolate(x, scale_factor=self.factor, mode="bicubic")
        return base + self.tail(self.up(h))


class SRDiscriminator(nn.Module):
    """(N, C, S, S) image -> one logit: three 3x3 convolutions (stride 1, 2, 2) with LeakyReLU,
    then a linear layer on the ceil(S / 4)-sided map (7x7 for 28x28 digits)."""

    def __init__(self, width: int = 32, channels: int = 1, side: int = SIDE) -> None:
        super().__init__()
        q = (side + 3) // 4  # two stride-2, padding-1, 3x3 convolutions: ceil(ceil(S/2)/2)
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * q * q, 1))

    def forward(self, y: Tensor) -> Tensor:
        return self.net(y)


def bicubic(x: np.ndarray, factor: int) -> np.ndarray:
    """PyTorch-style bicubic upsampling (a = -0.75) of NumPy images, the baseline."""
    return interpolate(Tensor(np.asarray(x, np.float32)), scale_factor=factor,
                       mode="bicubic").numpy()


def perceptual_loss(features: Any, out: Tensor, y: Tensor) -> Tensor:
    """mean((phi(out) - phi(y))^2) over the batch and the feature layer; phi(y) a constant."""
    target = features(y).detach()
    d = features(out) - target
    return (d * d).mean()


def build_generator(cfg: dict, channels: int = 1) -> SRGenerator:
    """The run's generator from its config and its data's ``channels`` (``minigan sr`` rebuilds
    it from a checkpoint)."""
    return SRGenerator(cfg["sr_factor"], cfg["base_width"], cfg["res_blocks"], channels)


class SRTrainer(PairedLoop):
    """``task = "sr"`` (see the module docstring)."""

    def load_pairs(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        from ...data.paired import make_pairs
        from .data import digit_features, need_side

        cfg = self.cfg
        if cfg["sr_factor"] not in (2, 4):
            raise ConfigError(f"config key 'sr_factor': expected 2 or 4 (28 -> 14 or 7), got "
                              f"{cfg['sr_factor']}")
        if cfg["content_loss"] not in ("mse", "l1"):
            raise ConfigError(f"config key 'content_loss': expected mse or l1, got "
                              f"{cfg['content_loss']!r}")
        y, labels, index = self.split(split)
        need_side(cfg["dataset"], y, cfg["sr_factor"], "sr_factor")
        if cfg["perceptual_weight"] > 0 and not digit_features(y):
            raise ConfigError(f"config key 'perceptual_weight': the perceptual loss is in the "
                              f"digit classifier's features, which take 1x28x28 images; dataset "
                              f"{cfg['dataset']!r} has {'x'.join(map(str, y.shape[1:]))}: set "
                              f"perceptual_weight=0")
        return make_pairs("sr", y, index, cfg["sr_factor"]), y, labels

    def build_generator(self) -> SRGenerator:
        return build_generator(self.cfg, self.channels)

    def build_discriminator(self) -> SRDiscriminator:
        return SRDiscriminator(self.cfg["base_width"], self.channels, self.side)

    def content_loss(self, out: Tensor, y: Tensor, x: Tensor) -> tuple[Tensor, dict]:
        cfg = self.cfg
        pix = F.mse_loss(out, y) if cfg["content_loss"] == "mse" else F.l1_loss(out, y)
        rec = {"pixel_loss": float(pix.array)}
        if cfg["perceptual_weight"] > 0:
            p = perceptual_loss(self.classifier().features, out, y)
            rec["perceptual_loss"] = float(p.array)
            return pix + cfg["perceptual_weight"] * p, rec
        return pix, rec

    def references(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"bicubic": bicubic(x, self.cfg["sr_factor"])}

    def show_input(self, x: np.ndarray) -> np.ndarray:
        f = self.cfg["sr_factor"]
        return x.repeat(f, axis=2).repeat(f, axis=3)  # the low-res pixels, drawn as blocks
