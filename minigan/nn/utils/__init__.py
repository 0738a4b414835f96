"""``minigan.nn.utils``: gradient clipping, spectral norm, parameters <-> vector;
``parametrize`` and ``parametrizations`` (spectral_norm, weight_norm) as in PyTorch; the older
``weight_norm`` / ``remove_weight_norm``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ...tensor import Tensor, no_grad, tensor
from ..spectral_norm import remove_spectral_norm, spectral_norm
from . import parametrizations, parametrize
from .weight_norm import remove_weight_norm, weight_norm

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "parametrizations",
           "parametrize", "remove_spectral_norm", "remove_weight_norm", "spectral_norm",
           "vector_to_parameters", "weight_norm"]


def _with_grads(parameters: Any) -> list:
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in ps if p.grad is not None]


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Any = None) -> Tensor:
    """Scale all gradients by min(1, max_norm / (total_norm + 1e-6)) in place, total_norm the
    norm_type-norm of all gradients together; returns total_norm (as PyTorch)."""
    ps = _with_grads(parameters)
    if not ps:
        return tensor(0.0)
    norm_type = float(norm_type)
    with no_grad():
        if math.isinf(norm_type):
            total = max(float(abs(p.grad.array).max()) for p in ps)
        else:
            total = sum(float((abs(p.grad.array) ** norm_type).sum()) for p in ps) ** (
                1.0 / norm_type)
        if error_if_nonfinite and not math.isfinite(total):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is "
                               f"{total}; pass error_if_nonfinite=False to clip anyway")
        coef = min(max_norm / (total + 1e-6), 1.0)
        for p in ps:
            p.grad.array = p.grad.array * p.grad.dtype.type(coef)
    return tensor(total, dtype=ps[0].grad.dtype)


def clip_grad_value_(parameters: Any, clip_value: float, foreach: Any = None) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value] in place."""
    for p in _with_grads(parameters):
        p.grad.array = p.grad.array.clip(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    from ...ops import concat, reshape

    return concat([reshape(p, (-1,)) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    start = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.array[...] = vec.array[start:start + n].reshape(p.shape)
            p._version[0] += 1
            start += n
