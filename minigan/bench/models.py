"""The GAN whose training step ``minigan bench step`` times, in minigan and in PyTorch.

dcgan-mnist (issue 3), batch 64, 28x28x1 images, z of size 100:

    G = Linear(100 -> 128*7*7), BatchNorm1d, ReLU, Unflatten(128, 7, 7),
        ConvTranspose2d(128 -> 64, 4, 2, 1), BatchNorm2d, ReLU,
        ConvTranspose2d(64 -> 1, 4, 2, 1), Tanh
    D = SN-Conv2d(1 -> 64, 4, 2, 1), LeakyReLU(0.2), SN-Conv2d(64 -> 128, 4, 2, 1), LeakyReLU(0.2),
        Flatten, SN-Linear(128*7*7 -> 1)
    hinge loss; Adam(2e-4, betas (0.5, 0.999)) for both.

One step = a D step on (real, G(z).detach()) then a G step on D(G(z)), reusing G(z).
``tiny`` is the same architecture at 8x8 and width 4, for the training-parity tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# name -> (z size, channels c of the last hidden layer, image side; the first is 2c at side/4)
PRESETS = {"dcgan-mnist": (100, 64, 28), "tiny": (8, 4, 8)}


def build_minigan(preset: str, dtype: Any = np.float32) -> tuple:
    """(G, D) for ``preset``, initialised from minigan's generator (seed it first)."""
    import minigan as mg

    nn = mg.nn
    nz, c, side = PRESETS[preset]
    s = side // 4
    G = nn.Sequential(
        nn.Linear(nz, 2 * c * s * s), nn.BatchNorm1d(2 * c * s * s), nn.ReLU(),
        nn.Unflatten(1, (2 * c, s, s)),
        nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU(),
        nn.ConvTranspose2d(c, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(
        nn.spectral_norm(nn.Conv2d(1, c, 4, 2, 1)), nn.LeakyReLU(0.2),
        nn.spectral_norm(nn.Conv2d(c, 2 * c, 4, 2, 1)), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.spectral_norm(nn.Linear(2 * c * s * s, 1)))
    return G.to(dtype), D.to(dtype)


def make_minigan_step(preset: str, batch: int = 64, seed: int = 0, dtype: Any = np.float32,
                      device: str = "cpu", host_noise: bool = True,
                      ) -> Callable[[], tuple[float, float]]:
    """A closure running one D step + G step on the backend in use; returns (d_loss, g_loss).

    The models are built and initialised on the CPU, then moved to ``device``. With
    ``host_noise`` the latents are drawn from minigan's CPU generator and copied to the device,
    so a CUDA run sees the very numbers a CPU run sees (the GPU-vs-CPU parity tests); without
    it they are drawn on the device (the GPU benchmark: no per-step upload)."""
    import minigan as mg

    mg.manual_seed(seed)
    nz, _, side = PRESETS[preset]
    G, D = build_minigan(preset, dtype)
    real = mg.tanh(mg.randn(batch, 1, side, side, dtype=dtype))
    if device != "cpu":
        G.to(device)
        D.to(device)
        real = real.to(device)
    opt_g = mg.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = mg.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    hinge = mg.gan.losses.get("hinge")

    def noise() -> Any:
        if host_noise or device == "cpu":
            return mg.randn(batch, nz, dtype=dtype).to(device)
        return mg.randn(batch, nz, dtype=dtype, device=device)

    def step() -> tuple[float, float]:
        fake = G(noise())
        d_loss = hinge.d_loss(D(real), D(fake.detach()))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = hinge.g_loss(D(fake))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        return float(d_loss.item()), float(g_loss.item())

    step.models = (G, D)  # type: ignore[attr-defined]  (tests compare the trained weights)
    return step


def make_torch_step(preset: str, batch: int = 64, seed: int = 0,
                    device: str = "cpu") -> Callable[[], tuple]:
    """The same step in PyTorch (float32, on ``device``): the side-by-side reference."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    nz, c, side = PRESETS[preset]
    s = side // 4
    sn = nn.utils.spectral_norm
    G = nn.Sequential(
        nn.Linear(nz, 2 * c * s * s), nn.BatchNorm1d(2 * c * s * s), nn.ReLU(),
        nn.Unflatten(1, (2 * c, s, s)),
        nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU(),
        nn.ConvTranspose2d(c, 1, 4, 2, 1), nn.Tanh()).to(device)
    D = nn.Sequential(
        sn(nn.Conv2d(1, c, 4, 2, 1)), nn.LeakyReLU(0.2), sn(nn.Conv2d(c, 2 * c, 4, 2, 1)),
        nn.LeakyReLU(0.2), nn.Flatten(), sn(nn.Linear(2 * c * s * s, 1))).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.tanh(torch.randn(batch, 1, side, side, device=device))

    def step() -> tuple[float, float]:
        fake = G(torch.randn(batch, nz, device=device))
        d_loss = torch.relu(1 - D(real)).mean() + torch.relu(1 + D(fake.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = -D(fake).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        return d_loss.item(), g_loss.item()

    return step
