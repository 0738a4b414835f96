"""Adam and SGD group updates from minigan._C, with the NumPy reference's signatures
(minigan/kernels/optim/).

Gradients that are not C-contiguous (a broadcast view, say) are copied; a parameter or state
buffer that is not contiguous cannot be updated in place by the native loop, so that one
parameter takes the reference rule instead."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ... import backends
from . import adam_update, check_adam_group, check_group, inplace_ok, sgd_update


def adam_step(params: Sequence, grads: Sequence, exp_avgs: Sequence, exp_avg_sqs: Sequence,
              max_exp_avg_sqs: Sequence | None, step: int | Sequence[int], lr: float,
              beta1: float, beta2: float, eps: float, weight_decay: float,
              amsgrad: bool) -> None:
    steps = check_adam_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step,
                             amsgrad)
    vmax = max_exp_avg_sqs if amsgrad else [None] * len(params)
    fast = [i for i in range(len(params))
            if inplace_ok(params[i], exp_avgs[i], exp_avg_sqs[i], vmax[i])]
    hyper = dict(lr=float(lr), beta1=float(beta1), beta2=float(beta2), eps=float(eps),
                 weight_decay=float(weight_decay))
    backends.native().adam_step(
        [params[i] for i in fast], [np.ascontiguousarray(grads[i]) for i in fast],
        [exp_avgs[i] for i in fast], [exp_avg_sqs[i] for i in fast],
        [vmax[i] for i in fast] if amsgrad else None, [steps[i] for i in fast], **hyper)
    for i in sorted(set(range(len(params))) - set(fast)):
        adam_update(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], vmax[i], steps[i], **hyper)


def sgd_step(params: Sequence, grads: Sequence, momentum_buffers: Sequence, lr: float,
             momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> list:
    check_group(params, grads=grads, momentum_buffers=momentum_buffers)
    hyper = dict(lr=float(lr), momentum=float(momentum), dampening=float(dampening),
                 nesterov=bool(nesterov), weight_decay=float(weight_decay))
    bufs = list(momentum_buffers) if momentum != 0 else [None] * len(params)
    fresh = [momentum != 0 and b is None for b in bufs]
    bufs = [np.empty_like(p) if f else b for p, b, f in zip(params, bufs, fresh)]
    fast = [i for i in range(len(params)) if inplace_ok(params[i], bufs[i])]
    backends.native().sgd_step(
        [params[i] for i in fast], [np.ascontiguousarray(grads[i]) for i in fast],
        [bufs[i] for i in fast], [fresh[i] for i in fast], **hyper)
    for i in sorted(set(range(len(params))) - set(fast)):
        bufs[i] = sgd_update(params[i], grads[i], None if fresh[i] else bufs[i], **hyper)
    return bufs
