"""Layers that let a discriminator see a whole minibatch, against mode collapse.

Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs"), samples split
into groups of g (sample n in group member n // M, M = N / g, so group m holds samples m, m + M,
m + 2M, ...)::

    s_m   = mean over features f of sqrt(var_over_group(x[., m, f]) + 1e-8)      (biased var)
    out_n = concat(x_n, s_(n mod M))          one extra feature (MLP) / channel (images)

Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs"), with a
learned tensor T of shape (A, B, C)::

    M_i        = x_i T                              (B, C) per sample, x_i in R^A
    c_b(i, j)  = exp(-||M_i,b - M_j,b||_1)
    o_i,b      = sum_j c_b(i, j)                    (j = i included, as in the paper: adds 1)
    out_i      = concat(x_i, o_i)                   (A + B features)

Both are compositions of differentiable ops, so their gradients of gradients (R1, WGAN-GP on a
discriminator that uses them) come from the engine. |0|'s derivative is taken as 0 (sign(0)),
so the j = i term, which is exactly 1 for every T, contributes no gradient.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


def minibatch_stddev(x: Tensor, group_size: int) -> Tensor:
    """x (N, F) -> (N, F + 1), or (N, C, H, W) -> (N, C + 1, H, W); see the module docstring.
    ``group_size`` is capped at N and must then divide N."""
    if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1:
        raise ValueError(f"group_size: expected a positive int, got {group_size!r}")
    if x.ndim not in (2, 4):
        raise ValueError(f"x: expected (N, F) or (N, C, H, W), got shape {x.shape}")
    n = x.shape[0]
    g = min(group_size, n)
    if n % g:
        raise ValueError(f"x: minibatch stddev needs a batch size divisible by the group size "
                         f"{g}, got N={n}")
    m = n // g
    xg = ops.reshape(x, (g, m, *x.shape[1:]))
    dev = xg - ops.mean(xg, axis=0, keepdims=True)
    std = ops.sqrt(ops.mean(dev * dev, axis=0) + 1e-8)             # (M, F...)
    s = ops.mean(ops.reshape(std, (m, -1)), axis=1)                 # (M,)
    s = ops.reshape(ops.concat([s] * g, 0), (n, 1) + (1,) * (x.ndim - 2))   # s_(n mod M)
    if x.ndim == 4:  # one constant channel per sample
        s = ops.expand(s, (n, 1, *x.shape[2:]))
    return ops.concat([x, s], 1)


def minibatch_discrimination(x: Tensor, T: Tensor) -> Tensor:
    """x (N, A), T (A, B, C) -> (N, A + B); see the module docstring."""
    if x.ndim != 2 or T.ndim != 3 or T.shape[0] != x.shape[1]:
        raise ValueError(f"x, T: expected x (N, A) and T (A, B, C), got {x.shape} and {T.shape}")
    a, b, c = T.shape
    M = ops.reshape(ops.matmul(x, ops.reshape(T, (a, b * c))), (x.shape[0], b, c))
    diff = ops.unsqueeze(M, 1) - ops.unsqueeze(M, 0)                # (N, N, B, C)
    l1 = ops.sum(ops.abs(diff), axis=3)                             # (N, N, B)
    o = ops.sum(ops.exp(-l1), axis=1)                               # (N, B)
    return ops.concat([x, o], 1)


class MinibatchStdDev(Module):
    """``minibatch_stddev`` as a layer (no parameters): one extra feature or channel."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1:
            raise ValueError(f"group_size: expected a positive int, got {group_size!r}")
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        return minibatch_stddev(x, self.group_size)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class MinibatchDiscrimination(Module):
    """``minibatch_discrimination`` as a layer: in_features A -> A + kernels B, with a learned
    T (A, B, kernel_dim C), initialised N(0, 1/A) so that ||M_i,b - M_j,b||_1 starts O(C)."""

    def __init__(self, in_features: int, kernels: int = 5, kernel_dim: int = 5) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("kernels", kernels),
                        ("kernel_dim", kernel_dim)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        self.in_features, self.kernels, self.kernel_dim = in_features, kernels, kernel_dim
        self.T = Parameter(np.zeros((in_features, kernels, kernel_dim), dtype=np.float32))
        init.normal_(self.T, 0.0, 1.0 / math.sqrt(in_features))

    @property
    def out_features(self) -> int:
        return self.in_features + self.kernels

    def forward(self, x: Tensor) -> Tensor:
        return minibatch_discrimination(x, self.T)

    def extra_repr(self) -> str:
        return f"{self.in_features}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"
