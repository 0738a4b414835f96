"""Fully connected G and D for low-dimensional data (the 2-D mixtures ring8 and grid25).

    G: z -> [Linear(h), (BN), ReLU] x layers -> Linear(out_dim)          (no output squashing:
                                                                          the data are unbounded)
    D: x (packed: pack * in_dim) -> [Linear(h), act] x layers -> Linear(1)

Both keep PyTorch's default initialisation (U(+-1/sqrt(fan_in))), which is what these toy
benchmarks are usually run with.
"""

from __future__ import annotations

from ... import nn
from ...tensor import Tensor
from .common import TrunkHeadDiscriminator, activation, maybe_sn, positive_int


class MLPGenerator(nn.Module):
    """G(z) = Linear(h -> out_dim)(ReLU(BN?(Linear(... ReLU(BN?(Linear(z_dim -> h)(z))))))),
    with ``layers`` hidden layers of width ``hidden``; z (N, z_dim) -> samples (N, out_dim)."""

    def __init__(self, z_dim: int, hidden: int = 128, layers: int = 3, out_dim: int = 2,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.z_dim = positive_int("z_dim", z_dim)
        self.out_dim = positive_int("out_dim", out_dim)
        positive_int("hidden", hidden)
        mods: list[nn.Module] = []
        width = z_dim
        for _ in range(positive_int("layers", layers)):
            # A bias in front of batch norm is cancelled by its mean subtraction.
            mods.append(nn.Linear(width, hidden, bias=not batch_norm))
            if batch_norm:
                mods.append(nn.BatchNorm1d(hidden))
            mods.append(nn.ReLU())
            width = hidden
        mods.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*mods)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z: expected shape (N, {self.z_dim}), got {z.shape}")
        return self.net(z)


def mlp_trunk(in_dim: int, hidden: int, layers: int, spectral_norm: bool = False,
              activation_name: str = "leaky_relu") -> tuple[nn.Sequential, int]:
    """[Linear, act] x layers from in_dim inputs; returns (trunk, feature width = hidden)."""
    positive_int("in_dim", in_dim)
    positive_int("hidden", hidden)
    mods: list[nn.Module] = []
    width = in_dim
    for _ in range(positive_int("layers", layers)):
        mods += [maybe_sn(nn.Linear(width, hidden), spectral_norm), activation(activation_name)]
        width = hidden
    return nn.Sequential(*mods), hidden


class MLPDiscriminator(TrunkHeadDiscriminator):
    """D(x) = Linear(h -> 1)(act(Linear(... act(Linear(pack*in_dim -> h)(pack(x))))));
    ``layers`` hidden layers, every Linear spectrally normalized when ``spectral_norm``.

    x is (N, in_dim) (packed here into (N/pack, pack*in_dim)) or already packed; the result is
    (N/pack,) logits."""

    def __init__(self, in_dim: int = 2, hidden: int = 128, layers: int = 3, pack: int = 1,
                 spectral_norm: bool = False, activation: str = "leaky_relu") -> None:
        positive_int("pack", pack)
        trunk, width = mlp_trunk(positive_int("in_dim", in_dim) * pack, hidden, layers,
                                 spectral_norm, activation)
        super().__init__(trunk, width, in_dim, pack, spectral_norm)
