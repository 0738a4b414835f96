"""Fused GAN loss on CuPy arrays: one kernel pass reads the logits once, writes d(loss)/d(logits)
and leaves one partial sum of the loss terms per block; a second tiny reduction adds the partials.

Same contract as :func:`minigan.kernels.gan_loss.fused_gan_loss` (the table of l(x), l'(x) is
there). Per element, with the (kind, side) pair as ``code = 3 * kind + side``::

    dlogits[i] = l'(x_i) / N              (divided in the logits' dtype, as the reference does)
    loss       = sum_b (sum_{i in block b} l(x_i)) / N     (float64, then cast to the dtype)

softplus(x) = max(x, 0) + log1p(exp(-|x|)) and sigmoid(x) = exp(min(x, 0)) / (1 + exp(-|x|))
exponentiate only non-positive numbers: |x| = 1e4 gives neither overflow nor NaN in float32.
The sum is deterministic: fixed grid, fixed per-block order, no atomics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import gan_loss as ref
from ..common.cupy import ACC, BLOCK, MATH, cached, ctype, cupy, float_dtype, grid_for

_SOURCE = MATH + r"""
template <typename T>
__device__ __forceinline__ T softplus(T x) {
    return m_max(x, T(0)) + m_log1p(m_exp(-m_abs(x)));
}

template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
    return m_exp(m_min(x, T(0))) / (T(1) + m_exp(-m_abs(x)));
}

// (l(x), l'(x)) for code = 3 * kind + side, kinds (minimax, ns, lsgan, wgan, hinge),
// sides (d_real, d_fake, g): the table in minigan/kernels/gan_loss/.
template <typename T>
__device__ __forceinline__ void term(int code, T x, T& value, T& slope) {
    switch (code) {
        case 1: case 4:                                   // minimax/ns d_fake
            value = softplus(x); slope = sigmoid(x); break;
        case 2:                                           // minimax g
            value = -softplus(x); slope = -sigmoid(x); break;
        case 0: case 3: case 5:                           // d_real, ns g
            value = softplus(-x); slope = -sigmoid(-x); break;
        case 7:                                           // lsgan d_fake
            value = T(0.5) * x * x; slope = x; break;
        case 6: case 8: {                                 // lsgan d_real, g
            const T d = x - T(1);
            value = T(0.5) * d * d; slope = d; break;
        }
        case 10:                                          // wgan d_fake
            value = x; slope = T(1); break;
        case 12:                                          // hinge d_real
            value = m_max(T(1) - x, T(0)); slope = (x < T(1)) ? T(-1) : T(0); break;
        case 13:                                          // hinge d_fake
            value = m_max(T(1) + x, T(0)); slope = (x > T(-1)) ? T(1) : T(0); break;
        default:                                          // 9, 11 wgan d_real/g; 14 hinge g
            value = -x; slope = T(-1); break;
    }
}

// Grid-stride over the n logits; block b writes partial[b] = its sum of l(x) / n (float64).
// Assumes blockDim.x is a multiple of 32 and at most 1024 (the launcher uses 256).
template <typename T>
__global__ void gan_loss_fused(const T* __restrict__ x, T* __restrict__ grad,
                               double* __restrict__ partial, long long n, int code) {
    __shared__ double warp_sum[32];
    const T tn = (T)n;
    double acc = 0.0;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        T value, slope;
        term<T>(code, x[i], value, slope);
        grad[i] = slope / tn;
        acc += (double)value;
    }
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_sum[warp] = acc;
    __syncthreads();
    if (warp == 0) {
        acc = (lane < (int)(blockDim.x >> 5)) ? warp_sum[lane] : 0.0;
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) partial[blockIdx.x] = acc / (double)n;
    }
}
"""

_NAMES = ("gan_loss_fused<float>", "gan_loss_fused<double>")


@cached
def _module() -> Any:
    return cupy().RawModule(code=_SOURCE, options=("-std=c++17",), name_expressions=_NAMES)


@cached
def _finish() -> Any:
    # loss = the sum of the block partials (each already divided by n), in float64, cast once
    # to the logits' dtype; T comes from the ``out`` array.
    return cupy().ReductionKernel("float64 p", "T loss", "p", "a + b", "loss = (T)a", "0",
                                  "minigan_gan_loss_finish", reduce_type=ACC)


def fused_gan_loss(kind: str, side: str, logits: Any, out_grad: Any = None) -> tuple:
    """(mean_i l(x_i), l'(x) / N) on the GPU; see :func:`minigan.kernels.gan_loss.fused_gan_loss`
    (same arguments, checks and results; ``out_grad`` receives dlogits in place)."""
    code = ref.code(kind, side)
    if logits.dtype.kind != "f":
        raise TypeError(f"logits: expected a float32 or float64 array, got {logits.dtype}")
    if logits.size == 0:
        raise ValueError(f"logits: expected at least one logit, got shape {logits.shape}")
    if out_grad is not None and (out_grad.shape != logits.shape
                                 or out_grad.dtype != logits.dtype):
        raise ValueError(f"out_grad: expected shape {logits.shape} and dtype "
                         f"{logits.dtype}, got {out_grad.shape} {out_grad.dtype}")
    dtype = float_dtype(logits=logits, out_grad=out_grad)
    if dtype is None:  # float16 and friends: the reference runs on CuPy arrays too
        return ref.fused_gan_loss(kind, side, logits, out_grad)
    cp = cupy()
    x = cp.ascontiguousarray(logits)
    direct = out_grad is not None and out_grad.flags.c_contiguous
    grad = out_grad if direct else cp.empty(x.shape, dtype=dtype)
    n = int(x.size)
    blocks = grid_for(n)
    partial = cp.empty(blocks, dtype=np.float64)
    kernel = _module().get_function(f"gan_loss_fused<{ctype(dtype)}>")
    kernel((blocks,), (BLOCK,), (x, grad, partial, np.int64(n), np.int32(code)))
    loss = _finish()(partial, out=cp.empty((), dtype=dtype))
    if out_grad is not None and not direct:
        out_grad[...] = grad
        grad = out_grad
    return loss, grad
