"""Optimizer update kernels: SGD and Adam in place over all parameters of a group.

The per-parameter rules ``sgd_update`` and ``adam_update`` (PyTorch's documented algorithms)
are the readable reference; ``sgd_step`` / ``adam_step`` apply them to lists of arrays, which is
the unit a fused backend kernel replaces (one call per parameter group, not per parameter).
Hyperparameters enter as Python floats, so float32 parameters and state stay float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ...tensor import array_module
from .. import registry, table

# ---- per-parameter rules ----------------------------------------------------------------------


def sgd_update(param: Any, grad: Any, momentum_buffer: Any, *, lr: float, momentum: float,
               dampening: float, nesterov: bool, weight_decay: float) -> Any:
    """One SGD step in place on ``param``; returns the (new or updated) momentum buffer.

    g = grad + weight_decay * param
    b = g on the first step, else b = momentum * b + (1 - dampening) * g     (if momentum != 0)
    g = g + momentum * b if nesterov else b                                  (if momentum != 0)
    param = param - lr * g
    """
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        if momentum_buffer is None:
            # PyTorch starts the buffer at the first gradient itself, undamped.
            momentum_buffer = grad.copy()
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        grad = grad + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * grad
    return momentum_buffer


def adam_update(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any,
                step: int, *, lr: float, beta1: float, beta2: float, eps: float,
                weight_decay: float) -> None:
    """One Adam step in place on ``param`` and its moment buffers (``step`` counts from 1).

    g = grad + weight_decay * param                      (L2 penalty, not decoupled as in AdamW)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    v_max = max(v_max, v); use v_max for v below          (amsgrad: ``max_exp_avg_sq`` given)
    param = param - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    xp = array_module(param)
    if weight_decay != 0:
        grad = grad + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (grad * grad)
    second = exp_avg_sq
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    # eps is added after the bias correction of v, as PyTorch does (not eps-hat of the paper).
    step_size = lr / (1 - beta1 ** step)
    denom = xp.sqrt(second) / math.sqrt(1 - beta2 ** step) + eps
    param -= step_size * (exp_avg / denom)


# ---- group kernels ----------------------------------------------------------------------------


def check_group(params: Sequence, **lists: Sequence | None) -> None:
    """Every list as long as ``params``; each array (None allowed where noted by the caller) of
    its parameter's shape and dtype."""
    n = len(params)
    for name, arrays in lists.items():
        if arrays is None:
            continue
        if len(arrays) != n:
            raise ValueError(f"{name}: expected {n} arrays (one per parameter), got {len(arrays)}")
        for i, (p, a) in enumerate(zip(params, arrays)):
            if a is None:
                continue
            if a.shape != p.shape or a.dtype != p.dtype:
                raise ValueError(f"{name}[{i}]: expected shape {p.shape} and dtype {p.dtype} "
                                 f"(params[{i}]'s), got {a.shape} {a.dtype}")


def check_adam_group(params: Sequence, grads: Sequence, exp_avgs: Sequence,
                     exp_avg_sqs: Sequence, max_exp_avg_sqs: Sequence | None,
                     step: int | Sequence[int], amsgrad: bool) -> list[int]:
    """The argument checks every ``adam_step`` implementation shares; returns the steps as one
    int per parameter."""
    if amsgrad != (max_exp_avg_sqs is not None):
        raise ValueError("max_exp_avg_sqs: expected a list of arrays with amsgrad=True, None "
                         "without")
    check_group(params, grads=grads, exp_avgs=exp_avgs, exp_avg_sqs=exp_avg_sqs,
                max_exp_avg_sqs=max_exp_avg_sqs)
    return steps_list(step, len(params))


def inplace_ok(*arrays: Any) -> bool:
    """True when every array (None allowed) can be updated in place by a compiled kernel."""
    return all(a is None or (a.flags.c_contiguous and a.flags.writeable) for a in arrays)


def steps_list(step: int | Sequence[int], n: int) -> list[int]:
    """``step`` as one int per parameter (an int is shared by all); each >= 1."""
    steps = [step] * n if isinstance(step, (int, np.integer)) else list(step)
    if len(steps) != n:
        raise ValueError(f"step: expected an int or {n} ints (one per parameter), got "
                         f"{len(steps)}")
    for s in steps:
        if isinstance(s, bool) or int(s) != s or s < 1:
            raise ValueError(f"step: expected ints >= 1, got {s!r}")
    return [int(s) for s in steps]


def adam_step(params: Sequence, grads: Sequence, exp_avgs: Sequence, exp_avg_sqs: Sequence,
              max_exp_avg_sqs: Sequence | None, step: int | Sequence[int], lr: float,
              beta1: float, beta2: float, eps: float, weight_decay: float,
              amsgrad: bool) -> None:
    """``adam_update`` on every parameter of a group, in place. ``step``: the step number (from
    1) shared by all, or one per parameter; ``max_exp_avg_sqs`` is needed iff ``amsgrad``."""
    steps = check_adam_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step,
                             amsgrad)
    for i, p in enumerate(params):
        adam_update(p, grads[i], exp_avgs[i], exp_avg_sqs[i],
                    max_exp_avg_sqs[i] if amsgrad else None, steps[i], lr=float(lr),
                    beta1=float(beta1), beta2=float(beta2), eps=float(eps),
                    weight_decay=float(weight_decay))


def sgd_step(params: Sequence, grads: Sequence, momentum_buffers: Sequence, lr: float,
             momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> list:
    """``sgd_update`` on every parameter of a group, in place. ``momentum_buffers[i]`` is None
    before parameter i's first step; returns the list of buffers (all None if momentum == 0)."""
    check_group(params, grads=grads, momentum_buffers=momentum_buffers)
    return [sgd_update(p, g, b, lr=float(lr), momentum=float(momentum),
                       dampening=float(dampening), nesterov=bool(nesterov),
                       weight_decay=float(weight_decay))
            for p, g, b in zip(params, grads, momentum_buffers)]


for _name, _fn in (("adam_step", adam_step), ("sgd_step", sgd_step)):
    registry.define("optim", _name, _fn)
    registry.provide(_name, "native", f"minigan.kernels.optim.native:{_name}")
    registry.provide(_name, "numba", f"minigan.kernels.optim.numba:{_name}")
    registry.provide(_name, "cupy", f"minigan.kernels.optim.cupy:{_name}")
    registry.provide(_name, "numba_cuda", f"minigan.kernels.optim.numba_cuda:{_name}")
    registry.provide(_name, "cuda", f"minigan.kernels.optim.cuda:{_name}")


# ---- parity rows ------------------------------------------------------------------------------

SMALL = [(3, 5), (7,), (2, 3, 1, 3), (1,)]
# The parameters of `minigan bench step`'s G and D (weights and biases / BN affine).
BENCH = [(100, 6272), (6272,), (6272,), (6272,), (128, 64, 4, 4), (64,), (64,), (64,),
         (64, 1, 4, 4), (1,), (64, 1, 4, 4), (64,), (128, 64, 4, 4), (128,), (1, 6272), (1,)]


def _adam_row(shapes: list, label: str, amsgrad: bool, wd: float, step: Any,
              bench: bool = False) -> table.KernelCase:
    def make(rng, dtype):
        arr = [lambda s=s: rng.standard_normal(s).astype(dtype) for s in shapes]
        params, grads, m = [f() for f in arr], [f() for f in arr], [f() for f in arr]
        v = [np.abs(f()) for f in arr]  # second moments are non-negative
        vmax = [np.abs(f()) for f in arr] if amsgrad else None
        return (params, grads, m, v, vmax, step, 1e-2, 0.9, 0.999, 1e-8, wd, amsgrad), {}

    def outputs(args, _):
        return (*args[0], *args[2], *args[3], *(args[4] or ()))

    numel = sum(int(np.prod(s)) for s in shapes)
    return table.KernelCase("adam_step", label, make, outputs=outputs, flops=12 * numel,
                            bytes=4 * 7 * numel, bench=bench)


def _sgd_row(shapes: list, label: str, momentum: float, dampening: float, nesterov: bool,
             wd: float, fresh: bool, bench: bool = False) -> table.KernelCase:
    def make(rng, dtype):
        params = [rng.standard_normal(s).astype(dtype) for s in shapes]
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        bufs = [None if fresh or momentum == 0 else rng.standard_normal(s).astype(dtype)
                for s in shapes]
        return (params, grads, bufs, 1e-2, momentum, dampening, nesterov, wd), {}

    def outputs(args, bufs):
        return (*args[0], *[b for b in bufs if b is not None])

    numel = sum(int(np.prod(s)) for s in shapes)
    return table.KernelCase("sgd_step", label, make, outputs=outputs, flops=6 * numel,
                            bytes=4 * 5 * numel, bench=bench)


table.add(
    _adam_row(SMALL, "4 params,t=1", False, 0.0, 1),
    _adam_row(SMALL, "4 params,t=(3,1,7,2),wd", False, 0.01, [3, 1, 7, 2]),
    _adam_row(SMALL, "4 params,t=5,amsgrad,wd", True, 0.01, 5),
    _sgd_row(SMALL, "4 params,plain", 0.0, 0.0, False, 0.0, True),
    _sgd_row(SMALL, "4 params,momentum,first", 0.9, 0.0, False, 0.01, True),
    _sgd_row(SMALL, "4 params,momentum,dampening", 0.9, 0.1, False, 0.0, False),
    _sgd_row(SMALL, "4 params,nesterov,wd", 0.9, 0.0, True, 0.01, False),
    # NaN/inf in the gradients and in the parameters
    *(table.nonfinite(_adam_row(SMALL, "4 params,t=5,amsgrad,wd", True, 0.01, 5), arg)
      for arg in (0, 1)),
    *(table.nonfinite(_sgd_row(SMALL, "4 params,nesterov,wd", 0.9, 0.0, True, 0.01, False), arg)
      for arg in (0, 1)),
    _adam_row(BENCH, "dcgan G+D params", False, 0.0, 10, bench=True),
    _sgd_row(BENCH, "dcgan G+D params,momentum", 0.9, 0.0, False, 0.0, False, bench=True),
    # on a GPU also 16M parameters, where HBM bandwidth is judged (see gan_loss's GPU rows)
    replace(_adam_row([(4096, 4096), (4096,)], "16M params", False, 0.0, 10, bench=True),
            devices=("cuda",)),
)
