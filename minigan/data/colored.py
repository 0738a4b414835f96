"""A second digit domain made offline: coloured digits on procedural textures (MNIST-M-like).

MNIST-M (Ganin & Lempitsky 2015) blends each digit into a patch of a photograph. Here the
"photograph" is a procedural texture, drawn deterministically with NumPy from the digit's index
and a seed -- nothing is downloaded or stored. For a digit d in [0, 1] (1 = ink) and a texture
T (3, H, W) in [0, 1], the coloured image is MNIST-M's blend

    B = |T - d|          per channel: the texture, inverted where the ink is,

returned in [-1, 1] like every minigan image. A texture is a random base colour plus two
oriented colour gratings and a soft blob:

    T_c(y, x) = base_c + a_c sin(2 pi (f1 . (y, x)) + p1) + b_c sin(2 pi (f2 . (y, x)) + p2)
                + g_c exp(-|(y, x) - m|^2 / (2 s^2)),     clipped to [0, 1],

with every coefficient drawn per image. Image i of a set with ``seed`` s always gets the same
texture (generator seeded by [s, i]), so a split is the same array on every machine.

:func:`gray` (the channel mean) maps a coloured image back to one channel, the input of the
digit classifier.
"""

from __future__ import annotations

import numpy as np


def textures(n: int, seed: int, size: int = 28, first: int = 0) -> np.ndarray:
    """Textures (n, 3, size, size) float32 in [0, 1] of images first .. first + n - 1."""
    if n < 0 or size < 1:
        raise ValueError(f"n, size: expected n >= 0 and size >= 1, got {n}, {size}")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    out = np.empty((n, 3, size, size), np.float32)
    for j in range(n):
        rng = np.random.default_rng([seed, first + j])
        base = rng.uniform(0.2, 0.8, 3)[:, None, None]
        amp = rng.uniform(-0.3, 0.3, (2, 3))[:, :, None, None]
        freq = rng.uniform(-4, 4, (2, 2))  # cycles per image, in y and x
        phase = rng.uniform(0, 2 * np.pi, 2)
        waves = [np.sin(2 * np.pi * (f[0] * yy + f[1] * xx) + p) for f, p in zip(freq, phase)]
        glow = rng.uniform(-0.4, 0.4, 3)[:, None, None]
        my, mx, s = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.15, 0.4)
        blob = np.exp(-((yy - my) ** 2 + (xx - mx) ** 2) / (2 * s * s))
        t = base + amp[0] * waves[0] + amp[1] * waves[1] + glow * blob
        out[j] = np.clip(t, 0.0, 1.0)
    return out


def colorize(digits: np.ndarray, seed: int, first: int = 0) -> np.ndarray:
    """Digits (n, 1, H, W) in [-1, 1] -> coloured digits (n, 3, H, W) in [-1, 1]: |T - d| on
    the textures of images first .. first + n - 1 (module docstring)."""
    d = np.asarray(digits, np.float32)
    if d.ndim != 4 or d.shape[1] != 1 or d.shape[2] != d.shape[3]:
        raise ValueError(f"digits: expected (N, 1, S, S) gray images, got {d.shape}")
    ink = (d + 1) / 2
    t = textures(len(d), seed, d.shape[2], first)
    return (2 * np.abs(t - ink) - 1).astype(np.float32)


def gray(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, 1, H, W): the mean over channels."""
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images: expected (N, C, H, W), got {x.shape}")
    return x.mean(axis=1, keepdims=True).astype(x.dtype)


def to_rgb(images: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) gray -> (N, 3, H, W) with the channel repeated."""
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"images: expected (N, 1, H, W), got {x.shape}")
    return np.repeat(x, 3, axis=1)
