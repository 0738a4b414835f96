"""AdamW (Loshchilov & Hutter 2019): Adam with the weight decay decoupled from the gradient,
as PyTorch's ``torch.optim.AdamW``:

    p <- p (1 - lr wd)            then Adam's step on p with the raw gradient (no L2 term).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import Adam


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2, as PyTorch)."""

    _implied = {"decoupled_weight_decay": True}

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, **flags: Any) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, **flags)

    def _step_group(self, params: list, group: dict, device: str) -> None:
        decay = 1.0 - float(group["lr"]) * float(group["weight_decay"])
        if decay != 1.0:
            for p in params:
                p.array *= p.array.dtype.type(decay)
        super()._step_group(params, {**group, "weight_decay": 0.0}, device)
