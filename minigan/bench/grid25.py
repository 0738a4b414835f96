"""The default job's training step (``minigan train``, preset grid25), in minigan and in PyTorch,
for ``minigan bench step --preset grid25``.

The minigan side is the trainer's own step (:meth:`minigan.gan.trainer.Trainer.train_step`), so
the bench times exactly what ``minigan train`` runs between its log steps. The PyTorch side is
the same step written as one would in PyTorch:

    G = Linear(2 -> 128), ReLU, Linear(128 -> 128), ReLU, Linear(128 -> 128), ReLU, Linear(-> 2)
    D = Linear(2 -> 128), LeakyReLU(0.2), (Linear(128 -> 128), LeakyReLU(0.2)) x 2, Linear(-> 1)
    D step: real x ~ grid25 (drawn on the host, as the trainer does), fake = G(z) without grad,
        loss = E softplus(-D(x)) + E softplus(D(fake)) + k gamma/2 E ||grad_x D(x)||^2 (lazy
        R1, gamma 0.1, on every k-th step, k = the preset's r1_interval; double backprop),
        Adam(lr, betas (0.5, 0.999))
    G step: loss = E softplus(-D(G(z))), Adam; then the EMA of G's weights (decay 0.99 with
        the trainer's warm-up) and the linear learning-rate decay.

Both copy the step's metrics to Python floats (losses, mean and std of the logits), as the
trainer does. One call runs k steps -- one period of the R1 schedule, so that every timed call
does the same work -- and the bench reports the time per step (:func:`steps_per_call`). The
minigan step also checks that the losses and gradients are finite, a check the PyTorch step
does without.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

BATCH = 256  # the preset's batch size


def steps_per_call() -> int:
    """Steps one call of either step function runs: the preset's lazy-R1 period."""
    from ..gan import config

    return config.resolve("grid25")["r1_interval"]


def make_minigan_step(batch: int = BATCH, seed: int = 0) -> Callable[[], dict]:
    """The trainer's step on the grid25 preset (no telemetry: that runs only at log steps),
    with the run's thread counts (gan.resources.run_threads: the config key ``threads``) set
    from here on, as ``minigan train`` sets them for its steps; ``step.close()`` restores the
    process's. (``bench step`` runs each implementation in a process of its own.)"""
    from ..gan import config, resources
    from ..gan.trainer import Trainer

    cfg = config.resolve("grid25", None, [f"batch_size={batch}", f"seed={seed}"])
    trainer = Trainer(cfg, tempfile.mkdtemp(prefix="minigan-bench-"), progress=False)
    threads = contextlib.ExitStack()
    threads.enter_context(resources.run_threads(cfg))

    k = cfg["r1_interval"]

    def step() -> dict:
        if trainer.step >= cfg["steps"] - k:
            trainer.step = 0  # keep the learning rate of the linear decay above 0
        for _ in range(k):
            rec = trainer.train_step()
        return rec

    step.trainer = trainer  # type: ignore[attr-defined]
    step.close = threads.close  # type: ignore[attr-defined]
    return step


def make_torch_step(batch: int = BATCH, seed: int = 0) -> Callable[[], dict]:
    """The same step in PyTorch (float32, CPU)."""
    import copy

    import torch
    from torch import nn
    from torch.nn import functional as F

    from ..data import toy
    from ..gan import config

    cfg = config.resolve("grid25", None, [])
    torch.manual_seed(seed)
    h, z_dim, steps = cfg["g_hidden"], cfg["z_dim"], cfg["steps"]
    G = nn.Sequential(nn.Linear(z_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
                      nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))
    hd = cfg["d_hidden"]
    D = nn.Sequential(nn.Linear(2, hd), nn.LeakyReLU(0.2), nn.Linear(hd, hd), nn.LeakyReLU(0.2),
                      nn.Linear(hd, hd), nn.LeakyReLU(0.2), nn.Linear(hd, 1))
    G_ema = copy.deepcopy(G)
    betas = (cfg["beta1"], cfg["beta2"])
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr_g"], betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr_d"], betas=betas)
    mixture = toy.mixture("grid25")
    rng = np.random.default_rng([seed, 2])
    gamma, decay, k = cfg["r1_gamma"], cfg["ema"], cfg["r1_interval"]
    ema_p, g_p = list(G_ema.parameters()), list(G.parameters())
    state = {"step": 0}

    def one_step() -> dict:
        t = state["step"]
        for opt, key in ((opt_g, "lr_g"), (opt_d, "lr_d")):
            for group in opt.param_groups:
                group["lr"] = cfg[key] * (1 - t / steps)
        # D step: the logits on real data serve the loss and R1's input gradient alike; R1 on
        # the last step of every k, weighted k times.
        lazy = t % k == k - 1
        real = torch.from_numpy(mixture.sample(batch, rng)).requires_grad_(lazy)
        with torch.no_grad():
            fake = G(torch.randn(batch, z_dim))
        r, f = D(real).reshape(-1), D(fake).reshape(-1)
        d_loss = F.softplus(-r).mean() + F.softplus(f).mean()
        if lazy:
            (gx,) = torch.autograd.grad(r.sum(), real, create_graph=True)
            penalty = (k * gamma / 2) * gx.pow(2).sum(1).mean()
        else:
            penalty = torch.zeros(())
        opt_d.zero_grad()
        (d_loss + penalty).backward()
        opt_d.step()
        # G step, then the EMA.
        g_loss = F.softplus(-D(G(torch.randn(batch, z_dim))).reshape(-1)).mean()
        opt_g.zero_grad()
        D.zero_grad()
        g_loss.backward()
        opt_g.step()
        d = min(decay, (1 + t) / (10 + t))
        with torch.no_grad():
            torch._foreach_lerp_(ema_p, g_p, 1 - d)
        state["step"] += 1
        rd, fd = r.detach(), f.detach()
        return {"d_loss": d_loss.item(), "penalty": penalty.item(), "g_loss": g_loss.item(),
                "d_real": rd.mean().item(), "d_fake": fd.mean().item(),
                "d_real_std": rd.std().item(), "d_fake_std": fd.std().item()}

    def step() -> dict:
        if state["step"] > steps - 1 - k:
            state["step"] = 0  # keep the learning rate above 0, a whole period at a time
        for _ in range(k):
            rec = one_step()
        return rec

    return step


def make_step(impl: str, batch: int, seed: int = 0) -> Any:
    """``impl`` is "torch" or anything else (minigan on the backend in use)."""
    return make_torch_step(batch, seed) if impl == "torch" else make_minigan_step(batch, seed)
