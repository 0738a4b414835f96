"""Adam and SGD group updates in Numba, with the NumPy reference's signatures
(minigan/kernels/optim/). One compiled element loop per parameter (parallel for large
ones); hyperparameters are rounded to the parameter's dtype first, as NumPy does with a Python
float, so float32 stays float32 arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from ... import backends
from . import adam_update, check_adam_group, check_group, inplace_ok, sgd_update

numba.set_num_threads(min(backends.num_threads(), numba.config.NUMBA_NUM_THREADS))

_PARALLEL_MIN = 1 << 15


def _adam_body(p, g, m, v, vmax, amsgrad, decay, wd, b1, b2, c1, c2, step_size, bc2, eps):
    for i in prange(p.shape[0]):
        gi = g[i]
        if decay:
            gi = gi + wd * p[i]
        mi = m[i] * b1 + c1 * gi
        vi = v[i] * b2 + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        if amsgrad:
            if vmax[i] > vi:
                vi = vmax[i]
            vmax[i] = vi
        p[i] = p[i] - step_size * (mi / (np.sqrt(vi) / bc2 + eps))


def _sgd_body(p, g, buf, has_buf, fresh, nesterov, decay, wd, lr, mom, damp):
    for i in prange(p.shape[0]):
        gi = g[i]
        if decay:
            gi = gi + wd * p[i]
        if has_buf:
            b = gi if fresh else buf[i] * mom + damp * gi
            buf[i] = b
            gi = gi + mom * b if nesterov else b
        p[i] = p[i] - lr * gi


_adam = (njit(cache=True, error_model="numpy")(_adam_body),
         njit(cache=True, parallel=True, error_model="numpy")(_adam_body))
_sgd = (njit(cache=True, error_model="numpy")(_sgd_body),
        njit(cache=True, parallel=True, error_model="numpy")(_sgd_body))


def _flat(a: Any) -> Any:
    # A C-contiguous array reshaped to 1-d is a view, so in-place writes reach the caller.
    return a.reshape(-1)


def adam_step(params: Sequence, grads: Sequence, exp_avgs: Sequence, exp_avg_sqs: Sequence,
              max_exp_avg_sqs: Sequence | None, step: int | Sequence[int], lr: float,
              beta1: float, beta2: float, eps: float, weight_decay: float,
              amsgrad: bool) -> None:
    steps = check_adam_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step,
                             amsgrad)
    lr, beta1, beta2 = float(lr), float(beta1), float(beta2)
    eps, weight_decay = float(eps), float(weight_decay)
    for i, p in enumerate(params):
        vmax = max_exp_avg_sqs[i] if amsgrad else None
        if not inplace_ok(p, exp_avgs[i], exp_avg_sqs[i], vmax):
            adam_update(p, grads[i], exp_avgs[i], exp_avg_sqs[i], vmax, steps[i], lr=lr,
                        beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
            continue
        t = p.dtype.type
        fn = _adam[p.size >= _PARALLEL_MIN]
        fn(_flat(p), np.ascontiguousarray(grads[i]).reshape(-1), _flat(exp_avgs[i]),
           _flat(exp_avg_sqs[i]), _flat(vmax if amsgrad else p), amsgrad, weight_decay != 0,
           t(weight_decay), t(beta1), t(beta2), t(1 - beta1), t(1 - beta2),
           t(lr / (1 - beta1 ** steps[i])), t(math.sqrt(1 - beta2 ** steps[i])), t(eps))


def sgd_step(params: Sequence, grads: Sequence, momentum_buffers: Sequence, lr: float,
             momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> list:
    check_group(params, grads=grads, momentum_buffers=momentum_buffers)
    lr, momentum, dampening = float(lr), float(momentum), float(dampening)
    weight_decay, nesterov = float(weight_decay), bool(nesterov)
    out = []
    for p, g, b in zip(params, grads, momentum_buffers):
        fresh = momentum != 0 and b is None
        buf = np.empty_like(p) if fresh else (b if momentum != 0 else None)
        if not inplace_ok(p, buf):
            out.append(sgd_update(p, g, None if fresh else buf, lr=lr, momentum=momentum,
                                  dampening=dampening, nesterov=nesterov,
                                  weight_decay=weight_decay))
            continue
        t = p.dtype.type
        fn = _sgd[p.size >= _PARALLEL_MIN]
        fn(_flat(p), np.ascontiguousarray(g).reshape(-1), _flat(p if buf is None else buf),
           buf is not None, fresh, nesterov, weight_decay != 0, t(weight_decay), t(lr),
           t(momentum), t(1 - dampening))
        out.append(buf)
    return out
