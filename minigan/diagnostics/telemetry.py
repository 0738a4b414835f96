"""Training telemetry: per-layer gradient norms, weight norms and spectral norm estimates.

Cheap enough to record every ``log_every`` steps: one reduction per parameter, and for the
spectral norm one power iteration per weight per record from a persistent vector, so the
estimate sharpens over the run the way spectral normalization's own estimate does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import array_module, host_values


def grad_norms(module: Any) -> dict[str, float]:
    """||grad||_2 of every parameter that has a gradient, by PyTorch-style name."""
    names, squares = [], []
    for name, p in module.named_parameters():
        if p.grad is not None:
            g = p.grad.array.astype(np.float64)
            names.append(name)
            squares.append((g ** 2).sum())
    # Reduced where the gradients live; on a GPU all values come back in one copy.
    return {name: float(math.sqrt(v)) for name, v in zip(names, host_values(*squares))}


def total_norm(norms: dict[str, float]) -> float:
    """The norm of all gradients together: sqrt(sum of squared per-parameter norms)."""
    return float(math.sqrt(sum(v * v for v in norms.values())))


def weight_norms(module: Any) -> dict[str, float]:
    """Frobenius norm of every weight (parameters with 2 or more dims)."""
    named = [(name, p.array) for name, p in module.named_parameters() if p.ndim >= 2]
    norms = [array_module(w).linalg.norm(w.astype(np.float64)) for _, w in named]
    return {name: v for (name, _), v in zip(named, host_values(*norms))}


class SpectralTracker:
    """sigma_max of each weight reshaped to (out, rest), by power iteration on a persistent u
    (kept on the weight's device, so a GPU run copies only the final values to the host)."""

    def __init__(self, seed: int = 0) -> None:
        self.u: dict[str, Any] = {}
        self.rng = np.random.default_rng(seed)

    def update(self, module: Any, iterations: int = 1) -> dict[str, float]:
        out = {}
        for name, p in module.named_parameters():
            if p.ndim < 2:
                continue
            xp = array_module(p.array)
            w = p.array.astype(np.float64)
            # ConvTranspose weights are (in, out, kh, kw): their operator's rows are dim 1.
            if "ConvTranspose" in self._owner(module, name):
                w = xp.swapaxes(w, 0, 1)
            w = w.reshape(w.shape[0], -1)
            u = self.u.get(name)
            if u is None or u.shape[0] != w.shape[0]:
                u = self.rng.standard_normal(w.shape[0])
            u = xp.asarray(u)
            for _ in range(iterations):
                v = w.T @ u
                v /= xp.maximum(xp.linalg.norm(v), 1e-12)
                u = w @ v
                u /= xp.maximum(xp.linalg.norm(u), 1e-12)
            self.u[name] = u
            out[name] = u @ w @ v
        return dict(zip(out, host_values(*out.values())))

    def state_dict(self) -> dict:
        """The persistent vectors (on the host) and the generator of new ones: checkpointed,
        so a resumed run records the same estimates as an uninterrupted one."""
        return {"u": {k: v if isinstance(v, np.ndarray) else v.get() for k, v in self.u.items()},
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, st: dict) -> None:
        self.u = {str(k): np.asarray(v, dtype=np.float64) for k, v in st["u"].items()}
        self.rng.bit_generator.state = st["rng"]

    @staticmethod
    def _owner(module: Any, name: str) -> str:
        obj = module
        for part in name.split(".")[:-1]:
            obj = getattr(obj, part, None) if not part.isdigit() else obj[int(part)]
        return type(obj).__name__
