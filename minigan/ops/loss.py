"""Losses and the softmax family, composed from stable primitives (softplus, logsumexp) so they
differentiate to any order and stay finite for huge logits."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor, array_module, host_values
from .activation import softplus
from .elementwise import const, exp, log
from .reduce import mean
from .reduce import sum as _sum
from .shape import getitem, permute, reshape

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return _sum(loss)
    return loss


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")


def _target_like(target: Any, like: Tensor, name: str = "target") -> Any:
    """A tensor target must match ``like`` in shape; a Python number is a constant everywhere."""
    if isinstance(target, Tensor):
        if target.shape != like.shape:
            raise ValueError(f"{name}: expected shape {like.shape} (the input's), "
                             f"got {target.shape}")
        return target
    if isinstance(target, (int, float)):
        return float(target)
    arr = array_module(like.array).asarray(target, dtype=like.dtype)
    if arr.shape != like.shape:
        raise ValueError(f"{name}: expected shape {like.shape} (the input's), got {arr.shape}")
    return Tensor(arr)


def _shifted(x: Tensor, axis: int) -> Tensor:
    """x - max(x) along axis, the max a constant: softmax and log_softmax are invariant to the
    shift, so its gradient contribution is exactly zero, and exp() of the result cannot overflow.
    Shifting first also keeps x - max exact (no rounding at the scale of huge logits)."""
    xp = array_module(x.array)
    m = x.array.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0).astype(x.dtype)
    return x - const(m)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_i = e^(x_i - m) / sum_j e^(x_j - m), m = max_j x_j: no overflow."""
    e = exp(_shifted(x, axis))
    return e / _sum(e, axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log softmax(x)_i = (x_i - m) - log sum_j e^(x_j - m), m = max_j x_j."""
    z = _shifted(x, axis)
    return z - log(_sum(exp(z), axis, keepdims=True))


def binary_cross_entropy_with_logits(logits: Tensor, target: Any,
                                     reduction: str = "mean") -> Tensor:
    """l = -[t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))] = softplus(z) - t z.

    softplus(z) = max(z, 0) + log1p(e^-|z|) is evaluated without overflow, so the loss and its
    gradient sigmoid(z) - t stay exact for |z| up to the dtype's range (no log(0) = -inf).
    ``target`` is a tensor of the logits' shape or a number (e.g. 1.0 for "real").
    """
    _check_reduction(reduction)
    t = _target_like(target, logits)
    return _reduce(softplus(logits) - logits * t, reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """l = (input - target)^2, averaged (or summed) over all elements."""
    _check_reduction(reduction)
    d = input - _target_like(target, input)
    return _reduce(d * d, reduction)


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy with class indices: l_n = logsumexp_c(z_nc) - z_{n, t_n}
    = -log softmax(z_n)_{t_n}.

    ``logits`` is (N, C) or (N, C, d1, ...), class axis 1 as in PyTorch; ``target`` holds integer
    class indices of shape (N,) or (N, d1, ...).
    """
    _check_reduction(reduction)
    if logits.ndim < 2:
        raise ValueError(f"logits: expected shape (N, C, ...), got {logits.shape}")
    idx = target.array if isinstance(target, Tensor) else target
    xp = array_module(logits.array)
    idx = xp.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"target: expected integer class indices, got dtype {idx.dtype}")
    want = (logits.shape[0],) + logits.shape[2:]
    if idx.shape != want:
        raise ValueError(f"target: expected shape {want} for logits of shape {logits.shape}, "
                         f"got {idx.shape}")
    c = logits.shape[1]
    if idx.size:
        lo, hi = (int(v) for v in host_values(idx.min(), idx.max()))  # one copy on a GPU
        if lo < 0 or hi >= c:
            raise ValueError(f"target: class indices must lie in [0, {c}), got range "
                             f"[{lo}, {hi}]")
    # Move the class axis last and flatten the rest: a plain (M, C) gather.
    z = logits
    if logits.ndim > 2:
        z = permute(logits, (0, *range(2, logits.ndim), 1))
    z = reshape(z, (-1, c))
    flat = idx.reshape(-1)
    # -log_softmax at the target (not logsumexp - z_t): the max is subtracted before anything
    # is rounded, so huge logits keep full relative precision.
    loss = -getitem(log_softmax(z, 1), (xp.arange(flat.shape[0]), flat))
    return _reduce(reshape(loss, idx.shape), reduction)

