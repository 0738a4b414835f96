"""``minigan.optim.lr_scheduler``: PyTorch's learning-rate schedulers.

Each scheduler sets ``group['lr']`` of its optimizer's parameter groups, stepping once per call
of ``step()`` (construction performs the first step, to epoch 0, as in PyTorch). The updates use
PyTorch's recursive ("chainable") forms, so in float64 the learning rates are PyTorch's to the
last bit; ``state_dict()`` is plain data (LambdaLR's functions are not saved).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR",
           "MultiStepLR", "ReduceLROnPlateau", "StepLR"]


class LRScheduler:
    """Base class: ``get_lr()`` gives the new rates from the current ones and ``last_epoch``."""

    def __init__(self, optimizer: Any, last_epoch: int = -1, verbose: Any = None) -> None:
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"optimizer: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
        else:
            for i, g in enumerate(optimizer.param_groups):
                if "initial_lr" not in g:
                    raise KeyError(f"param_groups[{i}]: 'initial_lr' is missing; resuming "
                                   "(last_epoch != -1) needs the optimizer's saved state")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list = []
        self.step()

    def get_lr(self) -> list:
        raise NotImplementedError

    def get_last_lr(self) -> list:
        """The learning rates the last step set, one per parameter group."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or jump to ``epoch``, recomputing from the closed form where the
        scheduler has one)."""
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_closed_form", None)
            lrs = closed() if closed is not None else self.get_lr()
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _lrs(self) -> list:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Everything but the optimizer (and functions), as plain data."""
        return {k: v for k, v in self.__dict__.items()
                if k != "optimizer" and not callable(v) and k != "lr_lambdas"}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict: expected a dict, got {type(state_dict).__name__}")
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "lr_lambdas"})


_LRScheduler = LRScheduler


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch) (one function, or one per group)."""

    def __init__(self, optimizer: Any, lr_lambda: Callable | Sequence[Callable],
                 last_epoch: int = -1, verbose: Any = None) -> None:
        n = len(optimizer.param_groups)
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(fns) != n:
            raise ValueError(f"lr_lambda: expected {n} functions (one per group), got {len(fns)}")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class StepLR(LRScheduler):
    """lr multiplied by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1, verbose: Any = None) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _closed_form(self) -> list:
        return [b * self.gamma ** (self.last_epoch // self.step_size) for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr multiplied by ``gamma`` at each epoch listed in ``milestones``."""

    def __init__(self, optimizer: Any, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1, verbose: Any = None) -> None:
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return self._lrs()
        return [lr * self.gamma ** hits for lr in self._lrs()]

    def _closed_form(self) -> list:
        k = sum(m <= self.last_epoch for m in self.milestones)
        return [b * self.gamma ** k for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr multiplied by ``gamma`` every epoch."""

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1,
                 verbose: Any = None) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _closed_form(self) -> list:
        return [b * self.gamma ** self.last_epoch for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr_t = eta_min + (base - eta_min)(1 + cos(pi t / T_max)) / 2, applied recursively:
    lr_{t+1} = eta_min + (lr_t - eta_min)(1 + cos(pi (t+1)/T)) / (1 + cos(pi t / T))."""

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1, verbose: Any = None) -> None:
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        t, T, m = self.last_epoch, self.T_max, self.eta_min
        if t == 0:
            return self._lrs()
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (b - m) * (1 - math.cos(math.pi / T)) / 2
                    for lr, b in zip(self._lrs(), self.base_lrs)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - m) + m for lr in self._lrs()]

    def _closed_form(self) -> list:
        t, T, m = self.last_epoch, self.T_max, self.eta_min
        return [m + (b - m) * (1 + math.cos(math.pi * t / T)) / 2 for b in self.base_lrs]


class LinearLR(LRScheduler):
    """lr goes linearly from base * start_factor to base * end_factor over ``total_iters``
    epochs, then stays."""

    def __init__(self, optimizer: Any, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1, verbose: Any = None) -> None:
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"start_factor/end_factor: expected (0, 1] and [0, 1], got "
                             f"{start_factor}, {end_factor}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        t, s, e, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        if t == 0:
            return [lr * s for lr in self._lrs()]
        if t > n:
            return self._lrs()
        f = 1.0 + (e - s) / (n * s + (t - 1) * (e - s))
        return [lr * f for lr in self._lrs()]

    def _closed_form(self) -> list:
        t, s, e, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        return [b * (s + (e - s) * min(n, t) / n) for b in self.base_lrs]


class ReduceLROnPlateau:
    """Multiply the learning rates by ``factor`` (not below ``min_lr``) once the metric passed to
    ``step(metric)`` has not improved for more than ``patience`` steps, then wait ``cooldown``
    steps. Improvement (mode 'min'): metric < best (1 - threshold) ('rel') or best - threshold
    ('abs'); 'max' mirrors it. A change smaller than ``eps`` is skipped, as in PyTorch."""

    def __init__(self, optimizer: Any, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8,
                 verbose: Any = None) -> None:
        if factor >= 1.0:
            raise ValueError(f"factor: must be below 1, got {factor}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"mode, threshold_mode: expected 'min'/'max' and 'rel'/'abs', got "
                             f"{mode!r}, {threshold_mode!r}")
        n = len(optimizer.param_groups)
        lows = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(lows) != n:
            raise ValueError(f"min_lr: expected {n} values (one per group), got {len(lows)}")
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown = threshold, threshold_mode, cooldown
        self.min_lrs, self.eps = lows, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a: float) -> bool:
        t, best = self.threshold, self.best
        if self.mode == "min":
            return a < (best * (1.0 - t) if self.threshold_mode == "rel" else best - t)
        return a > (best * (t + 1.0) if self.threshold_mode == "rel" else best + t)

    def step(self, metrics: Any, epoch: int | None = None) -> None:
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, low in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(float(g["lr"]) * self.factor, low)
                if float(g["lr"]) - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
