"""The ``cuda`` backend of the optimizer kernels: minigan._cuda's fused Adam and SGD
(csrc/cuda/optim.cu) with the reference's signatures (:mod:`minigan.kernels.optim`).

One launch updates up to 32 parameters of a group (the kernel finds each block's tensor in a
table passed as its argument), in place. A parameter or state buffer that is not C-contiguous
cannot be updated in place by the kernel, so that one parameter takes the reference rule (which
runs on CuPy arrays unchanged); gradients are made contiguous. Mixed dtypes in one group are
launched per dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cupy

from ..common.cuda import cuda, stream
from . import adam_update, check_adam_group, check_group, sgd_update


def _on_gpu(name: str, i: int, a: Any) -> None:
    if a is not None and not isinstance(a, cupy.ndarray):
        raise TypeError(f"{name}[{i}]: expected a cupy.ndarray on the GPU (the cuda backend), "
                        f"got {type(a).__module__}.{type(a).__name__}")


def _contiguous(*arrays: Any) -> bool:
    return all(a is None or a.flags.c_contiguous for a in arrays)


def _by_dtype(params: Sequence, fast: list[int]) -> dict:
    groups: dict = {}
    for i in fast:
        groups.setdefault(params[i].dtype, []).append(i)
    return groups


def adam_step(params: Sequence, grads: Sequence, exp_avgs: Sequence, exp_avg_sqs: Sequence,
              max_exp_avg_sqs: Sequence | None, step: int | Sequence[int], lr: float,
              beta1: float, beta2: float, eps: float, weight_decay: float,
              amsgrad: bool) -> None:
    """``adam_update`` on every parameter of a group, in place (see the reference)."""
    steps = check_adam_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step,
                             amsgrad)
    vmax = list(max_exp_avg_sqs) if amsgrad else [None] * len(params)
    for name, arrays in (("params", params), ("grads", grads), ("exp_avgs", exp_avgs),
                         ("exp_avg_sqs", exp_avg_sqs), ("max_exp_avg_sqs", vmax)):
        for i, a in enumerate(arrays):
            _on_gpu(name, i, a)
    hyper = dict(lr=float(lr), beta1=float(beta1), beta2=float(beta2), eps=float(eps),
                 weight_decay=float(weight_decay))
    fast = [i for i in range(len(params))
            if _contiguous(params[i], exp_avgs[i], exp_avg_sqs[i], vmax[i])]
    for idx in _by_dtype(params, fast).values():
        cuda.adam_step([params[i] for i in idx],
                       [cupy.ascontiguousarray(grads[i]) for i in idx],
                       [exp_avgs[i] for i in idx], [exp_avg_sqs[i] for i in idx],
                       [vmax[i] for i in idx] if amsgrad else None, [steps[i] for i in idx],
                       **hyper, stream=stream())
    for i in sorted(set(range(len(params))) - set(fast)):
        adam_update(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], vmax[i], steps[i], **hyper)


def sgd_step(params: Sequence, grads: Sequence, momentum_buffers: Sequence, lr: float,
             momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> list:
    """``sgd_update`` on every parameter of a group, in place; returns the momentum buffers
    (new ones, allocated here, for the parameters whose buffer was None)."""
    check_group(params, grads=grads, momentum_buffers=momentum_buffers)
    for name, arrays in (("params", params), ("grads", grads),
                         ("momentum_buffers", momentum_buffers)):
        for i, a in enumerate(arrays):
            _on_gpu(name, i, a)
    hyper = dict(lr=float(lr), momentum=float(momentum), dampening=float(dampening),
                 nesterov=bool(nesterov), weight_decay=float(weight_decay))
    has_buf = momentum != 0
    fresh = [has_buf and b is None for b in momentum_buffers]
    bufs = [cupy.empty_like(p) if f else (b if has_buf else None)
            for p, b, f in zip(params, momentum_buffers, fresh)]
    fast = [i for i in range(len(params)) if _contiguous(params[i], bufs[i])]
    for idx in _by_dtype(params, fast).values():
        cuda.sgd_step([params[i] for i in idx], [cupy.ascontiguousarray(grads[i]) for i in idx],
                      [bufs[i] for i in idx] if has_buf else None, [fresh[i] for i in idx],
                      **hyper, stream=stream())
    for i in sorted(set(range(len(params))) - set(fast)):
        bufs[i] = sgd_update(params[i], grads[i], None if fresh[i] else bufs[i], **hyper)
    return bufs
