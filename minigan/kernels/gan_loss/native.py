"""The fused GAN loss from minigan._C, with the NumPy reference's signature
(minigan/kernels/gan_loss/)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import backends
from . import code


def fused_gan_loss(kind: str, side: str, logits: Any, out_grad: Any = None) -> tuple:
    c = code(kind, side)
    loss, grad = backends.native().gan_loss(c, np.ascontiguousarray(logits), out=out_grad)
    return np.asarray(loss, dtype=logits.dtype), grad
