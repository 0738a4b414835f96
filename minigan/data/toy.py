"""Toy 2-D mixtures used to measure mode collapse, exactly as published.

* ``grid25``: 25 Gaussians with means (-4 + 2i, -4 + 2j), i, j in 0..4, std 0.05.
* ``ring8``: 8 Gaussians with means (cos 2 pi k/8, sin 2 pi k/8), std 0.01 -- k/8, not a
  ``linspace(0, 2 pi, 8)``, which would put two means on the same point.
* ``spiral``: a continuous 2-D spiral (no discrete modes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mixture:
    name: str
    means: np.ndarray  # (K, 2)
    std: float

    def sample(self, n: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
        """n points: a uniformly chosen mode plus isotropic Gaussian noise."""
        k = rng.integers(0, len(self.means), size=n)
        return (self.means[k] + self.std * rng.standard_normal((n, 2))).astype(dtype)


def grid25() -> Mixture:
    i, j = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
    means = np.stack([-4.0 + 2 * i.ravel(), -4.0 + 2 * j.ravel()], axis=1)
    return Mixture("grid25", means, 0.05)


def ring8() -> Mixture:
    angles = 2 * np.pi * np.arange(8) / 8
    return Mixture("ring8", np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01)


def spiral(n: int, rng: np.random.Generator, noise: float = 0.05,
           dtype=np.float32) -> np.ndarray:
    """Points on r = theta / (3 pi), theta in [0, 3 pi], with Gaussian noise."""
    theta = np.sqrt(rng.random(n)) * 3 * np.pi
    r = theta / (3 * np.pi) * 2
    pts = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return (pts + noise * rng.standard_normal((n, 2))).astype(dtype)


MIXTURES = {"grid25": grid25, "ring8": ring8}


def mixture(name: str) -> Mixture:
    if name not in MIXTURES:
        raise ValueError(f"dataset: unknown 2-D mixture {name!r}; expected one of "
                         f"{', '.join(sorted(MIXTURES))}")
    return MIXTURES[name]()
