"""Paired image-to-image translation, pix2pix-style (Isola et al. 2017), ``task = "pix2pix"``.

The pairs are built offline from the digits (:mod:`minigan.data.paired`, ``paired_task``):
``edges`` (the stroke's outline -> the digit) or ``inpaint`` (the digit with a 12x12 hole ->
the digit); from the images of another ``dataset`` (:mod:`.data`; side divisible by 4) the
same way, the outline taken of the grey (channel-mean) image. The generator is a U-Net on
28x28 images, w = ``base_width``:

    e1 = LeakyReLU(conv4x4/2(x))                   1 -> w,    28 -> 14
    e2 = LeakyReLU(IN(conv4x4/2(e1)))              w -> 2w,   14 -> 7
    b  = ReLU(IN(conv3x3(e2)))                     2w -> 2w,  7
    d2 = ReLU(IN(convT4x4/2([b, e2])))             4w -> w,   7 -> 14    (skip from e2)
    G(x) = tanh(convT4x4/2([d2, e1]))              2w -> 1,   14 -> 28   (skip from e1)

(IN: instance norm.) The discriminator is a PatchGAN on the pair [x, y] (2 channels): two
4x4 stride-2 convolutions and a 3x3 one give a 7x7 map of logits, each judging an 18x18 patch;
the GAN loss averages over them. G minimises

    L_G = l1_weight * |G(x) - y|_1 + adv_weight * g_loss(D([x, G(x)]))

(the paper's lambda = 100 with adv_weight 1). The summary scores the outputs on held-out
digits against the same U-Net trained on the L1 term alone for the same steps (L1, PSNR,
SSIM, the digit classifier's accuracy on the outputs).
"""

from __future__ import annotations

import numpy as np

from ... import nn
from ...nn import functional as F
from ...ops import concat, tanh
from ...tensor import Tensor
from ..config import ConfigError
from .paired import PairedLoop


class UNet(nn.Module):
    """The U-Net of the module docstring: (N, c_in, S, S) -> (N, c_out, S, S) in (-1, 1), for
    a side S divisible by 4 (28 for the digits)."""

    def __init__(self, width: int = 32, c_in: int = 1, c_out: int = 1) -> None:
        super().__init__()
        w = width
        self.e1 = nn.Conv2d(c_in, w, 4, stride=2, padding=1)
        self.e2 = nn.Conv2d(w, 2 * w, 4, stride=2, padding=1)
        self.n2 = nn.InstanceNorm2d(2 * w, affine=True)
        self.b = nn.Conv2d(2 * w, 2 * w, 3, padding=1)
        self.nb = nn.InstanceNorm2d(2 * w, affine=True)
        self.d2 = nn.ConvTranspose2d(4 * w, w, 4, stride=2, padding=1)
        self.nd2 = nn.InstanceNorm2d(w, affine=True)
        self.d1 = nn.ConvTranspose2d(2 * w, c_out, 4, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        e1 = F.leaky_relu(self.e1(x), 0.2)
        e2 = F.leaky_relu(self.n2(self.e2(e1)), 0.2)
        b = F.relu(self.nb(self.b(e2)))
        d2 = F.relu(self.nd2(self.d2(concat([b, e2], axis=1))))
        return tanh(self.d1(concat([d2, e1], axis=1)))


class PatchDiscriminator(nn.Module):
    """PatchGAN on [condition, image]: (N, c_in, S, S) -> (N, 1, S/4, S/4) logits (a 2-channel
    pair of 28x28 digits: 7x7)."""

    def __init__(self, width: int = 32, c_in: int = 2) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(c_in, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.InstanceNorm2d(2 * w, affine=True),
            nn.LeakyReLU(0.2), nn.Conv2d(2 * w, 1, 3, padding=1))

    def forward(self, xy: Tensor) -> Tensor:
        return self.net(xy)


class Pix2PixTrainer(PairedLoop):
    """``task = "pix2pix"`` (see the module docstring)."""

    def load_pairs(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        from ...data.paired import HOLE, make_pairs
        from .data import need_side

        task = self.cfg["paired_task"]
        if task not in ("edges", "inpaint"):
            raise ConfigError(f"config key 'paired_task': expected edges or inpaint, got "
                              f"{task!r}")
        y, labels, index = self.split(split)
        # The U-Net halves the side twice; the hole sits 4 pixels in from every edge.
        need_side(self.cfg["dataset"], y, 4, "dataset", HOLE + 8 if task == "inpaint" else 0)
        x = make_pairs(task, y, index)
        self.in_channels = int(x.shape[1])
        return x, y, labels

    def build_generator(self) -> UNet:
        return UNet(self.cfg["base_width"], self.in_channels, self.channels)

    def build_discriminator(self) -> PatchDiscriminator:
        return PatchDiscriminator(self.cfg["base_width"], self.in_channels + self.channels)

    def d_input(self, x: Tensor, y: Tensor) -> Tensor:
        return concat([x, y], axis=1)  # a conditional D: it judges the pair

    def content_loss(self, out: Tensor, y: Tensor, x: Tensor) -> tuple[Tensor, dict]:
        l1 = F.l1_loss(out, y)
        return self.cfg["l1_weight"] * l1, {"l1_loss": float(l1.array)}
