"""Losses and the softmax family, composed from stable primitives (softplus, logsumexp) so they
differentiate to any order and stay finite for huge logits. PyTorch's names, arguments and
``reduction='mean'|'sum'|'none'``; the class-index losses (nll, cross_entropy) live in
:mod:`minigan.ops.nll`."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor, array_module, host_values
from .activation import softplus
from .elementwise import abs as _abs
from .elementwise import clip, const, exp, log, maximum, where
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


def _axis(dim: Any, axis: Any, dtype: Any, x: Tensor) -> tuple:
    """PyTorch's ``dim`` (or NumPy's ``axis``), and x cast to ``dtype`` when given."""
    if dtype is not None:
        from .elementwise import cast

        x = cast(x, dtype)
    return (dim if axis is None else axis), x


def softmax(x: Tensor, dim: int = -1, *, axis: int | None = None, dtype: Any = None) -> Tensor:
    """softmax(x)_i = e^(x_i - m) / sum_j e^(x_j - m), m = max_j x_j: no overflow."""
    axis, x = _axis(dim, axis, dtype, x)
    e = exp(_shifted(x, axis))
    return e / _sum(e, axis, keepdims=True)


def log_softmax(x: Tensor, dim: int = -1, *, axis: int | None = None,
                dtype: Any = None) -> Tensor:
    """log softmax(x)_i = (x_i - m) - log sum_j e^(x_j - m), m = max_j x_j."""
    axis, x = _axis(dim, axis, dtype, x)
    z = _shifted(x, axis)
    return z - log(_sum(exp(z), axis, keepdims=True))


def _weighted(loss: Tensor, weight: Any) -> Tensor:
    if weight is None:
        return loss
    return loss * (weight if isinstance(weight, Tensor) else const(
        array_module(loss.array).asarray(weight, dtype=loss.dtype)))


def binary_cross_entropy_with_logits(logits: Tensor, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """l = -w [p t log sigmoid(z) + (1 - t) log(1 - sigmoid(z))]
    = w [(1 - t) z + (1 + (p - 1) t) softplus(-z)]  (p = pos_weight, broadcast over the last
    dim; w = weight, broadcast over the input).

    softplus is evaluated without overflow, so the loss and its gradient stay exact for |z| up
    to the dtype's range (no log(0) = -inf). ``target`` is a tensor of the logits' shape or a
    number (e.g. 1.0 for "real").
    """
    _check_reduction(reduction)
    t = _target_like(target, logits)
    if pos_weight is None:
        loss = softplus(logits) - logits * t
    else:
        # log weight 1 + (p - 1) t; softplus(z) - t z = (1 - t) z + softplus(-z) when p = 1.
        loss = (1 - t) * logits + (1 + _weighted(t, pos_weight) - t) * softplus(-logits)
    return _reduce(_weighted(loss, weight), reduction)


def _clamped_log(x: Tensor) -> Tensor:
    """max(log x, -100), with log taken only of positive entries: x = 0 gives -100 and a zero
    gradient (not 0 * inf = NaN)."""
    pos = x.array > 0
    return where(pos, clip(log(where(pos, x, 1.0)), -100.0), -100.0)


# PyTorch's floor on x (1 - x) is the float literal 1e-12, i.e. 1e-12 rounded to float32.
_BCE_EPS = 9.999999960041972e-13


class BinaryCrossEntropy(Function):
    """l = -[t max(log x, -100) + (1 - t) max(log(1 - x), -100)], PyTorch's definition, with
    PyTorch's input gradient dl/dx = (x - t) / max(x (1 - x), 1e-12): finite and non-zero at a
    saturated x = 0 or 1 (a float32 sigmoid does reach 1.0), where the clamped log's own
    derivative would be 0. The gradients are written with differentiable ops (double
    backprop); the target's is log(1 - x) - log(x), both logs clamped."""

    @staticmethod
    def forward(ctx, x, t):
        xp = array_module(x)
        with _quiet(xp):
            lx = xp.maximum(xp.log(x), -100)
            l1x = xp.maximum(xp.log(1 - x), -100)
        ctx.save_for_backward(x, t)
        return (-(t * lx + (1 - t) * l1x)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        gx = g * (x - t) / maximum(x * (1 - x), _BCE_EPS)
        gt = g * (_clamped_log(1 - x) - _clamped_log(x))
        return gx, gt


def _quiet(xp: Any) -> Any:
    # log(0) = -inf is expected here (it is clamped): no NumPy warning for it.
    return np.errstate(divide="ignore") if xp is np else contextlib.nullcontext()


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """l = -w [t log x + (1 - t) log(1 - x)] for probabilities x, each log clamped at -100 as
    in PyTorch (so x = 0 or 1 gives a finite loss), with PyTorch's gradient (see
    :class:`BinaryCrossEntropy`)."""
    _check_reduction(reduction)
    t = _target_like(target, input)
    if not isinstance(t, Tensor):
        t = const(array_module(input.array).full(input.shape, t, dtype=input.dtype))
    elif t.array.dtype != input.array.dtype:  # as PyTorch, refused here rather than in backward
        raise TypeError(f"binary_cross_entropy: target dtype {t.dtype} differs from input dtype "
                        f"{input.dtype}; convert the target (target.to(input.dtype))")
    return _reduce(_weighted(BinaryCrossEntropy.apply(input, t), weight), reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """l = (input - target)^2, averaged (or summed) over all elements."""
    _check_reduction(reduction)
    d = input - _target_like(target, input)
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """l = |input - target|; gradient sign(input - target) (0 at 0, as PyTorch)."""
    _check_reduction(reduction)
    return _reduce(_abs(input - _target_like(target, input)), reduction)


def smooth_l1_loss(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
                   beta: float = 1.0) -> Tensor:
    """l = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target);
    beta = 0 is the L1 loss."""
    _check_reduction(reduction)
    if beta < 0:
        raise ValueError(f"beta: expected a non-negative number, got {beta!r}")
    d = input - _target_like(target, input)
    a = _abs(d)
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(where(a.array < beta, 0.5 * d * d / beta, a - 0.5 * beta), reduction)


def kl_div(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
           log_target: bool = False) -> Tensor:
    """Pointwise KL with ``input`` = log q: l = t (log t - input), 0 where t = 0
    (``log_target``: t given as log t, l = e^t (t - input)). ``reduction='batchmean'`` divides
    the sum by the batch size (the true KL divergence); 'mean' divides by the element count."""
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"reduction: expected one of {_REDUCTIONS + ('batchmean',)}, "
                         f"got {reduction!r}")
    t = _target_like(target, input)
    if not isinstance(t, Tensor):
        t = const(array_module(input.array).full(input.shape, t, dtype=input.dtype))
    if log_target:
        loss = exp(t) * (t - input)
    else:
        # t log t with 0 log 0 = 0: the log of a safe argument, then masked (no NaN anywhere).
        pos = t.array > 0
        loss = where(pos, t * (log(where(pos, t, 1.0)) - input), 0.0)
    if reduction == "batchmean":
        return _sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def _class_indices(target: Any, like: Tensor, want: tuple) -> Any:
    idx = array_module(like.array).asarray(target.array if isinstance(target, Tensor) else target)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"target: expected integer class indices, got dtype {idx.dtype}")
    if idx.shape != want:
        raise ValueError(f"target: expected shape {want} for input of shape {like.shape}, "
                         f"got {idx.shape}")
    return idx


def _classes_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N * d1 * ..., C): a plain row-per-sample gather afterwards."""
    if x.ndim > 2:
        x = permute(x, (0, *range(2, x.ndim), 1))
    return reshape(x, (-1, x.shape[-1]))


def nll_loss(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """l_n = -w_{t_n} input[n, t_n] for log-probabilities ``input`` (N, C) or (N, C, d1, ...)
    and class indices ``target`` (N,) or (N, d1, ...); entries whose target is
    ``ignore_index`` contribute 0. 'mean' divides by sum_n w_{t_n} over the kept entries."""
    _check_reduction(reduction)
    if input.ndim < 2:
        raise ValueError(f"input: expected shape (N, C, ...), got {input.shape}")
    c = input.shape[1]
    idx = _class_indices(target, input, (input.shape[0],) + input.shape[2:])
    xp = array_module(input.array)
    flat = idx.reshape(-1)
    keep = flat != ignore_index
    kept = flat[keep]
    if kept.size:
        lo, hi = (int(v) for v in host_values(kept.min(), kept.max()))  # one copy on a GPU
        if lo < 0 or hi >= c:
            raise ValueError(f"target: class indices must lie in [0, {c}) (or be ignore_index "
                             f"{ignore_index}), got range [{lo}, {hi}]")
    safe = xp.where(keep, flat, 0)
    w = keep.astype(input.dtype)
    if weight is not None:
        wv = weight.array if isinstance(weight, Tensor) else xp.asarray(weight, input.dtype)
        if wv.shape != (c,):
            raise ValueError(f"weight: expected shape ({c},), got {wv.shape}")
        w = w * wv[safe]
    picked = getitem(_classes_last(input), (xp.arange(flat.shape[0]), safe))
    loss = reshape(-picked * const(w), idx.shape)
    if reduction == "mean":
        return _sum(loss) / const(w.sum())
    return _reduce(loss, reduction)


def cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy, class axis 1: nll_loss(log_softmax(input, 1), target, ...).

    Integer ``target`` (class indices): with label smoothing e the loss is
    (1 - e) nll + e/C * sum_c -w_c log p_c (ignored entries 0; 'mean' divides both parts by
    sum_n w_{t_n}, as PyTorch). A float ``target`` of the input's shape holds class
    probabilities: l_n = -sum_c w_c t'_nc log p_nc with t' = (1 - e) t + e/C; 'mean' divides by N.
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing: expected a number in [0, 1], got {label_smoothing!r}")
    if input.ndim < 2:
        raise ValueError(f"input: expected shape (N, C, ...), got {input.shape}")
    lp = log_softmax(input, 1)
    c = input.shape[1]
    xp = array_module(input.array)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    wv = None if weight is None else \
        (weight.array if isinstance(weight, Tensor) else xp.asarray(weight, input.dtype))
    tv = target.array if isinstance(target, Tensor) else xp.asarray(target)
    if tv.dtype.kind == "f":  # class probabilities
        if tv.shape != input.shape:
            raise TypeError(f"target: expected integer class indices, or class probabilities "
                            f"of the input's shape {input.shape}; got dtype {tv.dtype}, shape "
                            f"{tv.shape}")
        t = _target_like(target, input)
        if label_smoothing:
            t = t * (1 - label_smoothing) + label_smoothing / c
        terms = lp * t if wv is None else lp * t * const(wv.reshape(bshape))
        loss = -_sum(terms, 1)
        if reduction == "mean":
            return _sum(loss) / input.shape[0]
        return _reduce(loss, reduction)
    nll = nll_loss(lp, target, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    keep = (tv != ignore_index).astype(input.dtype)
    per_class = lp if wv is None else lp * const(wv.reshape(bshape))
    smooth = -_sum(per_class, 1) * const(keep)
    if reduction == "mean":
        denom = keep.sum() if wv is None else (wv[xp.where(keep > 0, tv, 0)] * keep).sum()
        smooth = _sum(smooth) / const(denom)
    else:
        smooth = _reduce(smooth, reduction)
    return (1 - label_smoothing) * nll + (label_smoothing / c) * smooth
