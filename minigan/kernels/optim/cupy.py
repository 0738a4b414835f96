"""Optimizer updates on CuPy arrays.

``adam_step``: one launch updates every parameter of a group (a multi-tensor ``RawKernel``).
The host packs, per parameter, the device pointers of (param, grad, exp_avg, exp_avg_sq,
max_exp_avg_sq), its size and its bias corrections into one int64 table, plus a list of
(parameter, start) chunks of ``CHUNK`` elements; the table goes to the device in one
asynchronous copy (CuPy stages host arrays in pinned memory), and each block walks chunks::

    g = grad + weight_decay * param
    m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2;   v_max = max(v_max, v)
    param -= lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)

``sgd_step``: one fused ``ElementwiseKernel`` per parameter (momentum buffer created on the
first step, as in PyTorch). Same contracts as :mod:`minigan.kernels.optim`.

Both compile with ``--fmad=false``: each rounding happens where the NumPy reference rounds (no
fused multiply-add), so float32 results follow the reference to its last bits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import optim as ref
from ..common.cupy import BLOCK, MATH, cached, ctype, cupy, float_dtype, grid_for

CHUNK = 4096  # elements per block iteration: 16 per thread at 256 threads
_FIELDS = 6   # per parameter: param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, numel

_ADAM_SOURCE = MATH + r"""
// table: [params x 6 pointers/sizes][params x 2 doubles as bits][chunks: param][chunks: start]
template <typename T>
__global__ void adam_multi(const long long* __restrict__ table, int n_params, int n_chunks,
                           int chunk, T beta1, T beta2, T one_minus_beta1, T one_minus_beta2,
                           T eps, T weight_decay, int amsgrad) {
    const long long* scal = table + 6 * (long long)n_params;
    const long long* chunk_param = scal + 2 * (long long)n_params;
    const long long* chunk_start = chunk_param + n_chunks;
    for (int c = blockIdx.x; c < n_chunks; c += gridDim.x) {
        const int t = (int)chunk_param[c];
        const long long* e = table + 6 * (long long)t;
        T* p = reinterpret_cast<T*>(e[0]);
        const T* g = reinterpret_cast<const T*>(e[1]);
        T* m = reinterpret_cast<T*>(e[2]);
        T* v = reinterpret_cast<T*>(e[3]);
        T* vmax = reinterpret_cast<T*>(e[4]);
        const long long numel = e[5];
        const T step_size = (T)__longlong_as_double(scal[2 * t]);
        const T bias2_sqrt = (T)__longlong_as_double(scal[2 * t + 1]);
        const long long start = chunk_start[c];
        const long long end = min(start + (long long)chunk, numel);
        for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
            const T pi = p[i];
            T gi = g[i];
            if (weight_decay != T(0)) gi = gi + weight_decay * pi;
            const T mi = m[i] * beta1 + one_minus_beta1 * gi;
            const T vi = v[i] * beta2 + one_minus_beta2 * (gi * gi);
            m[i] = mi;
            v[i] = vi;
            T second = vi;
            if (amsgrad) {
                second = m_max(vmax[i], vi);
                vmax[i] = second;
            }
            const T denom = m_sqrt(second) / bias2_sqrt + eps;
            p[i] = pi - step_size * (mi / denom);
        }
    }
}
"""
_ADAM_NAMES = ("adam_multi<float>", "adam_multi<double>")

SGD_PLAIN = ("T g, T lr, T weight_decay", "T p",
             "T gi = g; if (weight_decay != T(0)) gi = gi + weight_decay * p; p = p - lr * gi",
             "minigan_sgd")
SGD_MOMENTUM = ("T g, T lr, T momentum, T damp_keep, T weight_decay, int32 first, int32 nesterov",
                "T p, T buf",
                "T gi = g; if (weight_decay != T(0)) gi = gi + weight_decay * p;"
                " buf = first ? gi : buf * momentum + damp_keep * gi;"
                " gi = nesterov ? gi + momentum * buf : buf;"
                " p = p - lr * gi",
                "minigan_sgd_momentum")
_OPTIONS = ("--fmad=false",)


@cached
def _adam_module() -> Any:
    return cupy().RawModule(code=_ADAM_SOURCE, options=("-std=c++17", *_OPTIONS),
                            name_expressions=_ADAM_NAMES)


@cached
def _sgd(with_momentum: bool) -> Any:
    return cupy().ElementwiseKernel(*(SGD_MOMENTUM if with_momentum else SGD_PLAIN),
                                    options=_OPTIONS)


def _table(arrays: list, steps: list[int], beta1: float, beta2: float, lr: float) -> np.ndarray:
    """The host table the Adam kernel reads (layout in _ADAM_SOURCE's comment)."""
    n = len(arrays)
    ptrs = np.zeros((n, _FIELDS), dtype=np.int64)
    scal = np.empty((n, 2), dtype=np.float64)
    for i, (group, t) in enumerate(zip(arrays, steps)):
        for j, a in enumerate(group):
            ptrs[i, j] = 0 if a is None else a.data.ptr
        ptrs[i, 5] = group[0].size
        scal[i] = lr / (1 - beta1 ** t), math.sqrt(1 - beta2 ** t)
    chunks = -(-ptrs[:, 5] // CHUNK)
    chunk_param = np.repeat(np.arange(n, dtype=np.int64), chunks)
    first = np.repeat(np.cumsum(chunks) - chunks, chunks)
    chunk_start = (np.arange(len(chunk_param), dtype=np.int64) - first) * CHUNK
    return np.concatenate([ptrs.ravel(), scal.view(np.int64).ravel(), chunk_param, chunk_start])


def adam_step(params: Sequence, grads: Sequence, exp_avgs: Sequence, exp_avg_sqs: Sequence,
              max_exp_avg_sqs: Sequence | None, step: int | Sequence[int], lr: float,
              beta1: float, beta2: float, eps: float, weight_decay: float,
              amsgrad: bool) -> None:
    """Adam on every parameter of a group, in place, in one kernel launch per dtype; see
    :func:`minigan.kernels.optim.adam_step`."""
    steps = ref.check_adam_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step,
                                 amsgrad)
    if not params:
        return
    vmax = list(max_exp_avg_sqs) if amsgrad else [None] * len(params)
    fused, rest = {}, []
    for i, p in enumerate(params):
        dtype = float_dtype(param=p, grad=grads[i])
        state = (p, exp_avgs[i], exp_avg_sqs[i], vmax[i])
        if dtype is not None and ref.inplace_ok(*state):
            fused.setdefault(dtype, []).append(i)
        else:
            rest.append(i)
    cp = cupy()
    for dtype, idx in fused.items():
        # The gradient only needs to be readable: a broadcast or strided one is copied.
        arrays = [(params[i], cp.ascontiguousarray(grads[i]), exp_avgs[i], exp_avg_sqs[i],
                   vmax[i]) for i in idx]
        table = _table(arrays, [steps[i] for i in idx], float(beta1), float(beta2), float(lr))
        n_chunks = int(table.size - _FIELDS * len(idx) - 2 * len(idx)) // 2
        t = dtype.type
        kernel = _adam_module().get_function(f"adam_multi<{ctype(dtype)}>")
        kernel((grid_for(n_chunks, 1),), (BLOCK,),
               (cp.asarray(table), np.int32(len(idx)), np.int32(n_chunks), np.int32(CHUNK),
                t(beta1), t(beta2), t(1 - beta1), t(1 - beta2), t(eps), t(weight_decay),
                np.int32(bool(amsgrad))))
        del arrays  # (kept alive until after the launch; CuPy's pool is stream-ordered)
    for i in rest:  # another dtype, or a parameter/state that cannot be updated in place
        ref.adam_update(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], vmax[i], steps[i],
                        lr=float(lr), beta1=float(beta1), beta2=float(beta2), eps=float(eps),
                        weight_decay=float(weight_decay))


def sgd_step(params: Sequence, grads: Sequence, momentum_buffers: Sequence, lr: float,
             momentum: float, dampening: float, nesterov: bool, weight_decay: float) -> list:
    """SGD on every parameter of a group, in place, one fused kernel per parameter; returns the
    momentum buffers; see :func:`minigan.kernels.optim.sgd_step`."""
    ref.check_group(params, grads=grads, momentum_buffers=momentum_buffers)
    cp = cupy()
    out = []
    for p, g, buf in zip(params, grads, momentum_buffers):
        dtype = float_dtype(param=p, grad=g, momentum_buffer=buf)
        if dtype is None:
            out.extend(ref.sgd_step([p], [g], [buf], lr, momentum, dampening, nesterov,
                                    weight_decay))
            continue
        t = dtype.type
        if momentum == 0:
            _sgd(False)(g, t(lr), t(weight_decay), p)
            out.append(None)
            continue
        first = buf is None
        if first:  # PyTorch starts the buffer at the first (decayed) gradient itself
            buf = cp.empty_like(p)
        _sgd(True)(g, t(lr), t(momentum), t(1 - dampening), t(weight_decay), np.int32(first),
                   np.int32(bool(nesterov)), p, buf)
        out.append(buf)
    return out
