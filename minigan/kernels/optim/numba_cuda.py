"""Adam and SGD group updates as ``numba.cuda.jit`` kernels, with the NumPy reference's
signatures (minigan/kernels/optim/).

One grid-stride launch per parameter updates the parameter and its state in place, reading
each element once and writing it once (the per-step scalars, bias corrections included, are
computed on the host). Hyperparameters are rounded to the parameter's dtype first, as NumPy does
with a Python float, so float32 stays float32 arithmetic. A parameter or buffer that is not
C-contiguous (so has no flat in-place view) goes through the reference update instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import cuda

from ..common import numba_cuda as common
from . import adam_update, check_adam_group, check_group, sgd_update


@functools.cache
def _kernels(dtype_name: str) -> tuple:
    """(adam, sgd) for one dtype, compiled on their first launch."""

    @cuda.jit
    def adam(p, g, m, v, vmax, amsgrad, decay, wd, b1, b2, c1, c2, step_size, bc2, eps):
        for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
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
            p[i] = p[i] - step_size * (mi / (math.sqrt(vi) / bc2 + eps))

    @cuda.jit
    def sgd(p, g, buf, has_buf, fresh, nesterov, decay, wd, lr, mom, damp):
        for i in range(cuda.grid(1), p.shape[0], cuda.gridsize(1)):
            gi = g[i]
            if decay:
                gi = gi + wd * p[i]
            if has_buf:
                b = gi if fresh else buf[i] * mom + damp * gi
                buf[i] = b
                gi = gi + mom * b if nesterov else b
            p[i] = p[i] - lr * gi

    return adam, sgd


def _inplace_ok(*arrays: Any) -> bool:
    # CuPy's flags have no 'writeable'; its arrays always are.
    return all(a is None or (a.flags.c_contiguous and getattr(a.flags, "writeable", True))
               for a in arrays)


def _flat(a: Any) -> Any:
    return a.reshape(-1)  # a view: a is C-contiguous


def _stand_in(launch: common.Launch, dtype: np.dtype) -> Any:
    # For a buffer argument the kernel never touches (no amsgrad / no momentum): a separate
    # array, not a view of one it writes (the simulator copies each argument back after a launch).
    return launch.xp.empty(1, dtype=dtype)


def adam_step(params: Sequence, grads: Sequence, exp_avgs: Sequence, exp_avg_sqs: Sequence,
              max_exp_avg_sqs: Sequence | None, step: int | Sequence[int], lr: float,
              beta1: float, beta2: float, eps: float, weight_decay: float,
              amsgrad: bool) -> None:
    """Adam in place on every parameter of a group (kernels.optim.adam_update per element):
    g += wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; (amsgrad: v = max(v_max, v));
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    steps = check_adam_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step,
                             amsgrad)
    lr, beta1, beta2 = float(lr), float(beta1), float(beta2)
    eps, weight_decay = float(eps), float(weight_decay)
    block = common.BLOCK
    for i, p in enumerate(params):
        vmax = max_exp_avg_sqs[i] if amsgrad else None
        dtype = common.float_dtype(f"params[{i}]", p)
        launch = common.Launch(**{f"params[{i}]": p, f"grads[{i}]": grads[i],
                                  f"exp_avgs[{i}]": exp_avgs[i],
                                  f"exp_avg_sqs[{i}]": exp_avg_sqs[i],
                                  f"max_exp_avg_sqs[{i}]": vmax})
        if p.size == 0:
            continue
        if not _inplace_ok(p, exp_avgs[i], exp_avg_sqs[i], vmax):
            adam_update(p, grads[i], exp_avgs[i], exp_avg_sqs[i], vmax, steps[i], lr=lr,
                        beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
            continue
        t = dtype.type
        adam = _kernels(dtype.name)[0]
        launch(adam, common.blocks_for(p.size, block), block, _flat(p),
               launch.xp.ascontiguousarray(grads[i]).reshape(-1), _flat(exp_avgs[i]),
               _flat(exp_avg_sqs[i]), _flat(vmax) if amsgrad else _stand_in(launch, dtype), amsgrad,
               weight_decay != 0, t(weight_decay), t(beta1), t(beta2), t(1 - beta1),
               t(1 - beta2), t(lr / (1 - beta1 ** steps[i])),
               t(math.sqrt(1 - beta2 ** steps[i])), t(eps))


def sgd_step(params: Sequence, grads: Sequence, momentum_buffers: Sequence, lr: float,
             momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> list:
    """SGD in place on every parameter of a group (kernels.optim.sgd_update per element):
    g += wd p; with momentum b = g (first step) or b = momentum b + (1 - dampening) g, and
    g = g + momentum b (nesterov) or b; p -= lr g. Returns the momentum buffers (None before a
    parameter's first step; a new buffer is allocated on it)."""
    check_group(params, grads=grads, momentum_buffers=momentum_buffers)
    lr, momentum, dampening = float(lr), float(momentum), float(dampening)
    weight_decay, nesterov = float(weight_decay), bool(nesterov)
    block = common.BLOCK
    out = []
    for i, (p, g, b) in enumerate(zip(params, grads, momentum_buffers)):
        dtype = common.float_dtype(f"params[{i}]", p)
        launch = common.Launch(**{f"params[{i}]": p, f"grads[{i}]": g,
                                  f"momentum_buffers[{i}]": b})
        if momentum == 0:
            buf = None
        else:
            buf = launch.xp.empty_like(p) if b is None else b
        fresh = momentum != 0 and b is None
        if p.size == 0 or not _inplace_ok(p, buf):
            out.append(sgd_update(p, g, b, lr=lr, momentum=momentum, dampening=dampening,
                                  nesterov=nesterov, weight_decay=weight_decay))
            continue
        t = dtype.type
        sgd = _kernels(dtype.name)[1]
        launch(sgd, common.blocks_for(p.size, block), block, _flat(p),
               launch.xp.ascontiguousarray(g).reshape(-1),
               _stand_in(launch, dtype) if buf is None else _flat(buf), buf is not None, fresh,
               nesterov,
               weight_decay != 0, t(weight_decay), t(lr), t(momentum), t(1 - dampening))
        # With momentum 0 the reference hands back the buffer it was given, untouched.
        out.append(b if momentum == 0 else buf)
    return out
