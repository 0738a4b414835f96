"""A small SNGAN-style ResNet (Miyato et al. 2018, appendix B.4; the CIFAR-10 models of
Gulrajani et al. 2017), for 32x32 images (28x28 and 64x64 follow the same rules).

With ch = ``base_width``:

    G: Linear(z -> ch*s*s), Unflatten, k x GBlock(ch -> ch, 2x up), BN, ReLU,
       Conv3x3(ch -> C), Tanh                     (s = 4 for 32 and 64, 7 for 28; k stages)
    GBlock(x) = Conv3x3(ReLU(BN(Conv3x3(up(ReLU(BN(x))))))) + Conv1x1(up(x))
    D: DBlock_opt(C -> ch, down), DBlock(ch -> ch, down) until 8x8 (7x7 for 28),
       2 x DBlock(ch -> ch), ReLU, global sum pooling over (H, W), Linear(ch -> 1)
    DBlock(x) = pool?(Conv3x3(ReLU(Conv3x3(ReLU(x))))) + pool?(Conv1x1(x)) (identity shortcut
    when shapes match); DBlock_opt(x) = pool(Conv3x3(ReLU(Conv3x3(x)))) + Conv1x1(pool(x))

``up`` is nearest-neighbour upsampling, ``pool`` a 2x2 average pool (``mg.ops.upsample_nearest``,
``mg.ops.avg_pool2d``). Every D layer is spectrally normalized when ``spectral_norm`` (the
default, as in SNGAN). Init as in the SNGAN code: Glorot-uniform with gain sqrt(2) on the
residual convs (and G's input linear and output conv), gain 1 on shortcuts and D's head, biases 0.
"""

from __future__ import annotations

import math

from ... import nn
from ...nn import init
from ...ops.pool import avg_pool2d, upsample_nearest
from ...ops.reduce import sum as _sum
from ...tensor import Tensor
from .common import PackedInput, TrunkHeadDiscriminator, maybe_sn, positive_int
from .dcgan import check_image_size

IMAGE_SIZES = (28, 32, 64)


def _xavier(m: nn.Module, gain: float) -> None:
    init.xavier_uniform_(m._parameters.get("weight_orig", m._parameters.get("weight")), gain)
    if m._parameters.get("bias") is not None:
        init.zeros_(m.bias)


def _g_base(image_size: int) -> tuple[int, int]:
    """(base side s, number of 2x upsampling stages k): halve while the result stays >= 4."""
    s, k = image_size, 0
    while s % 2 == 0 and s // 2 >= 4:
        s, k = s // 2, k + 1
    return s, k


class GBlock(nn.Module):
    """Pre-activation residual block with 2x nearest upsampling (see the module docstring)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False)  # BN follows
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1)
        for m, gain in ((self.conv1, math.sqrt(2)), (self.conv2, math.sqrt(2)),
                        (self.shortcut, 1.0)):
            _xavier(m, gain)

    def forward(self, x: Tensor) -> Tensor:
        h = upsample_nearest(nn.functional.relu(self.bn1(x)), 2)
        h = self.conv2(nn.functional.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(upsample_nearest(x, 2))


class DBlock(nn.Module):
    """Residual block with optional 2x average-pool downsampling; ``optimized`` is SNGAN's first
    block (no leading ReLU: the input is the image)."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool, spectral_norm: bool,
                 optimized: bool = False) -> None:
        super().__init__()
        self.downsample, self.optimized = downsample, optimized
        self.conv1 = maybe_sn(nn.Conv2d(in_ch, out_ch, 3, 1, 1), spectral_norm)
        self.conv2 = maybe_sn(nn.Conv2d(out_ch, out_ch, 3, 1, 1), spectral_norm)
        _xavier(self.conv1, math.sqrt(2))
        _xavier(self.conv2, math.sqrt(2))
        if optimized or downsample or in_ch != out_ch:
            self.shortcut = maybe_sn(nn.Conv2d(in_ch, out_ch, 1), spectral_norm)
            _xavier(self.shortcut, 1.0)
        else:
            self.shortcut = None

    def forward(self, x: Tensor) -> Tensor:
        relu = nn.functional.relu
        h = self.conv2(relu(self.conv1(x if self.optimized else relu(x))))
        if self.downsample:
            h = avg_pool2d(h, 2)
        if self.optimized:  # pool first: the 1x1 conv then runs on a quarter of the pixels
            return h + self.shortcut(avg_pool2d(x, 2))
        s = x if self.shortcut is None else self.shortcut(x)
        return h + (avg_pool2d(s, 2) if self.downsample else s)


class ResNetGenerator(nn.Module):
    """z (N, z_dim) -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, z_dim: int = 128, channels: int = 3, image_size: int = 32,
                 base_width: int = 128) -> None:
        super().__init__()
        self.z_dim = positive_int("z_dim", z_dim)
        self.channels = positive_int("channels", channels)
        self.image_size = check_image_size(image_size, IMAGE_SIZES)
        ch = positive_int("base_width", base_width)
        s, k = _g_base(image_size)
        self.fc = nn.Linear(z_dim, ch * s * s)
        self.unflatten = nn.Unflatten(1, (ch, s, s))
        self.blocks = nn.Sequential(*[GBlock(ch, ch) for _ in range(k)])
        self.bn = nn.BatchNorm2d(ch)
        self.conv_out = nn.Conv2d(ch, channels, 3, 1, 1)
        _xavier(self.fc, math.sqrt(2))
        _xavier(self.conv_out, math.sqrt(2))

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z: expected shape (N, {self.z_dim}), got {z.shape}")
        h = self.blocks(self.unflatten(self.fc(z)))
        return nn.functional.tanh(self.conv_out(nn.functional.relu(self.bn(h))))


class ResNetTrunk(PackedInput):
    """The SNGAN discriminator up to its globally sum-pooled features phi(x), shape (N, ch).
    Input channels are channels * pack (already packed: the owner packs)."""

    def __init__(self, channels: int, image_size: int, base_width: int,
                 spectral_norm: bool = True, pack: int = 1) -> None:
        super().__init__(channels * positive_int("pack", pack), 1)
        check_image_size(image_size, IMAGE_SIZES)
        ch = positive_int("base_width", base_width)
        blocks = [DBlock(channels * pack, ch, True, spectral_norm, optimized=True)]
        side = image_size // 2
        while side > 8 and side % 2 == 0:
            blocks.append(DBlock(ch, ch, True, spectral_norm))
            side //= 2
        blocks += [DBlock(ch, ch, False, spectral_norm) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = ch

    def forward(self, x: Tensor) -> Tensor:
        return _sum(nn.functional.relu(self.blocks(self._packed(x))), axis=(2, 3))


class ResNetDiscriminator(TrunkHeadDiscriminator):
    """images (N, channels, S, S) (or packed) -> logits (N/pack,)."""

    def __init__(self, channels: int = 3, image_size: int = 32, base_width: int = 128,
                 spectral_norm: bool = True, pack: int = 1) -> None:
        trunk = ResNetTrunk(channels, image_size, base_width, spectral_norm, pack)
        super().__init__(trunk, trunk.feature_dim, channels, pack, spectral_norm)
        self.image_size = image_size
        _xavier(self.head, 1.0)
