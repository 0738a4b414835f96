"""The fused GAN loss as ``numba.cuda.jit`` kernels, with the NumPy reference's signature
(minigan/kernels/gan_loss/).

One pass over the logits: each thread computes l(x) and l'(x) / N for its logits (grid-stride),
writes the gradient, and adds l(x) to a float64 partial; the block's partials are summed in
shared memory into one value per block. A second, single-block launch sums those (at most
MAX_BLOCKS) values in a fixed order and writes the mean, so the loss is deterministic.

The terms are computed in the logits' dtype, as the reference does, with the stable forms of
its docstring: softplus(x) = max(x, 0) + log1p(exp(-|x|)) and sigmoid(x) = exp(min(x, 0)) /
(1 + exp(-|x|)) exponentiate only non-positive numbers, so |x| = 1e4 is fine in float32.

No builtin max/min in the kernels: the CUDA target of some Numba versions fails to compile
their varargs overload; ``zero if h < zero else h`` also keeps NaN, as np.maximum does.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

from ..common import numba_cuda as common
from . import code


@functools.cache
def _kernels(dtype_name: str, BLOCK: int) -> tuple:
    """(term pass, finish) for one dtype and block size, compiled on their first launch."""
    T = common.numba_type(np.dtype(dtype_name))
    f64 = common.numba_type(np.float64)
    zero, one, half = T(0.0), T(1.0), T(0.5)
    tree_sum = common.tree_sum(BLOCK)

    @cuda.jit(device=True)
    def softplus_sigmoid(s):
        e = math.exp(-abs(s))
        sp = (zero if s < zero else s) + math.log1p(e)
        sg = (one if s >= zero else e) / (one + e)
        return sp, sg

    @cuda.jit(device=True)
    def term(c, x):
        # c = 3 * kind + side, kinds (minimax, ns, lsgan, wgan, hinge), sides (d_real, d_fake, g).
        kind = c // 3
        side = c - 3 * kind
        if kind <= 1:
            if side == 1:
                return softplus_sigmoid(x)
            if side == 2 and kind == 0:
                sp, sg = softplus_sigmoid(x)
                return -sp, -sg
            sp, sg = softplus_sigmoid(-x)
            return sp, -sg
        if kind == 2:
            d = x if side == 1 else x - one
            return half * d * d, d
        if kind == 4 and side == 0:
            h = one - x
            return (zero if h < zero else h), (-one if x < one else zero)
        if kind == 4 and side == 1:
            h = one + x
            return (zero if h < zero else h), (one if x > -one else zero)
        sign = one if (kind == 3 and side == 1) else -one
        return sign * x, sign

    @cuda.jit
    def terms(c, x, n_t, grad, partials):
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        acc = 0.0
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            value, slope = term(c, x[i])
            grad[i] = slope / n_t
            acc += value
        sh[tid] = acc
        total = tree_sum(sh, tid)
        if tid == 0:
            partials[cuda.blockIdx.x] = total

    @cuda.jit
    def finish(partials, n_parts, n, loss):
        sh = cuda.shared.array(BLOCK, f64)
        tid = cuda.threadIdx.x
        acc = 0.0
        for b in range(tid, n_parts, BLOCK):
            acc += partials[b]
        sh[tid] = acc
        total = tree_sum(sh, tid)
        if tid == 0:
            loss[0] = total / n

    return terms, finish


def fused_gan_loss(kind: str, side: str, logits: Any, out_grad: Any = None) -> tuple:
    """(mean_i l(x_i), l'(x) / N) for the (kind, side) term of gan_loss.py's table; the loss is a
    0-d array of the logits' dtype. ``out_grad`` (optional) receives dlogits and is returned."""
    c = code(kind, side)
    dtype = common.float_dtype("logits", logits)
    if logits.size == 0:
        raise ValueError(f"logits: expected at least one logit, got shape {logits.shape}")
    if out_grad is not None and (out_grad.shape != logits.shape or out_grad.dtype != dtype):
        raise ValueError(f"out_grad: expected shape {logits.shape} and dtype {dtype}, got "
                         f"{out_grad.shape} {out_grad.dtype}")
    launch = common.Launch(logits=logits, out_grad=out_grad)
    xp = launch.xp
    flat = xp.ascontiguousarray(logits).reshape(-1)
    n = flat.shape[0]
    # Write straight into out_grad when it is contiguous (reshape is then a view).
    direct = out_grad is not None and out_grad.flags.c_contiguous
    grad = out_grad.reshape(-1) if direct else xp.empty(n, dtype=dtype)
    block = common.BLOCK
    blocks = common.blocks_for(n, block)
    partials = xp.empty(blocks, dtype=np.float64)
    loss = xp.empty(1, dtype=dtype)
    terms, finish = _kernels(dtype.name, block)
    launch(terms, blocks, block, c, flat, dtype.type(n), grad, partials)
    launch(finish, 1, block, partials, blocks, float(n), loss)
    if out_grad is None:
        return loss.reshape(()), grad.reshape(logits.shape)
    if not direct:
        out_grad[...] = grad.reshape(logits.shape)
    return loss.reshape(()), out_grad
