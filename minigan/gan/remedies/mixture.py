"""Multiple generators, as MGAN (Hoang et al. 2018) / MAD-GAN (Ghosh et al. 2018).

G is a mixture of k generators with separate weights (MGAN's parameter sharing of all but the
input layer is an efficiency option of the paper, not used here): a sample is G_u(z) with the
generator index u ~ Uniform{0..k-1} drawn per sample. A classifier head C on D's features
(MGAN: C shares every layer of D but the last) tells the generators apart; D and C minimise

    L_D + beta * CE(C(phi(G_u(z))), u)

and the generators minimise L_G + beta * CE(C(phi(G_u(z))), u) too: each generator wants its
samples to be recognisable, which pushes the k generators onto different modes (MGAN eq. 3,
beta its "diversity" weight).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import nn
from ... import random as mgrandom
from ...ops import concat, cross_entropy
from ...tensor import Tensor, array_module


class MixtureGenerator(nn.Module):
    """G(z) = G_u(z), u uniform per sample; ``last_index`` holds the u of the last batch.

    In training mode u comes from minigan's generator (saved in checkpoints: resume stays
    bitwise); in eval mode (pictures, ``minigan sample``/``eval``) from a fixed NumPy seed, so
    evaluation never moves the training random state and gives the same figures every time."""

    def __init__(self, generators: list[nn.Module]) -> None:
        super().__init__()
        if len(generators) < 2:
            raise ValueError(f"generators: expected at least 2, got {len(generators)}")
        self.gens = nn.ModuleList(generators)
        self.k = len(generators)
        self.z_dim = getattr(generators[0], "z_dim", None)
        self.last_index: np.ndarray | None = None

    def draw_index(self, n: int) -> np.ndarray:
        rng = mgrandom.generator() if self.training else np.random.default_rng([n, 5])
        return rng.integers(0, self.k, size=n)

    def forward(self, z: Tensor, index: Any = None) -> Tensor:
        n = z.shape[0]
        index = self.draw_index(n) if index is None else np.asarray(index)
        if index.shape != (n,) or index.min() < 0 or index.max() >= self.k:
            raise ValueError(f"index: expected {n} generator indices in [0, {self.k}), got "
                             f"shape {index.shape}")
        self.last_index = index
        # Each generator runs once, on its own rows; the outputs go back to the batch order.
        order = np.argsort(index, kind="stable")
        counts = np.bincount(index, minlength=self.k)
        xp = array_module(z.array)
        parts, start = [], 0
        for i, c in enumerate(counts):
            if c:
                parts.append(self.gens[i](z[xp.asarray(order[start:start + c])]))
                start += c
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.arange(n)
        return concat(parts, 0)[xp.asarray(inverse)]


def classifier_loss(D: Any, x: Tensor, index: np.ndarray) -> Tensor:
    """CE(C(phi(x)), index): the mean cross entropy of D's generator classifier head."""
    logits = D.gen_classifier(D.features(x))
    target = Tensor(array_module(logits.array).asarray(index))
    return cross_entropy(logits, target)
