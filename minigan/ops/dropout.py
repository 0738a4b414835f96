"""Dropout (inverted): zero each element with probability p, scale the survivors by 1/(1-p), so
the expected activation is unchanged and evaluation needs no rescaling."""

from __future__ import annotations

import numpy as np

from .. import random as _random
from ..tensor import Tensor
from .elementwise import const


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """y = x * m / (1 - p) with m_i ~ Bernoulli(1 - p) drawn from minigan's generator (so
    ``mg.manual_seed`` reproduces the mask); y = x when not training or p = 0.

    The mask is a constant: dy/dx = m / (1 - p), and the second derivative is zero. The uniform
    draws are float32 whatever x's dtype, so one seed gives one mask in float32 and float64.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a Tensor, got {type(x).__name__}")
    if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    u = _random.rand(*x.shape, dtype=np.float32, device=x.device).array
    # keep with probability 1 - p (u is uniform on [0, 1))
    mask = (u >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * const(mask)
