"""Numba backend of the conv family: im2col/col2im as parallel ``@njit`` loops, and the three
convolution products from :mod:`minigan.kernels.conv.fast` (BLAS GEMMs between them).

Imported only when the ``numba`` backend first asks for a conv kernel (the registry imports it
lazily). Each loop compiles once per dtype on first call and is cached on disk (``cache=True``),
so later processes load machine code instead of compiling.

Layout contract: the one in :mod:`minigan.kernels.conv` (rows (n, oh, ow), columns (c, i, j)).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ... import backends
from .. import conv as ref
from .fast import _check_float, make_conv

numba.set_num_threads(min(backends.num_threads(), numba.config.NUMBA_NUM_THREADS))

Pair = tuple[int, int]


# Each kernel is a serial loop over a span [lo, hi) of independent work items, plus a parallel
# driver that splits the items into one span per thread. Small problems call the span directly:
# a parallel region costs ~20 us on an idle machine, but on a loaded one its barrier waits for a
# descheduled thread -- measured 8-12 ms per call of a tiny kernel with numba's OpenMP layer.
GRAIN = 1 << 15  # elements; as kParallelGrain in csrc/cpu/parallel.h


@numba.njit(cache=True)
def _im2col_span(x, cols, lo, hi, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW):  # pragma: no cover
    # Work item t = one (n, oh) strip of rows: each writes whole contiguous rows of cols.
    N, C, H, W = x.shape
    for t in range(lo, hi):
        n = t // OH
        oh = t % OH
        h0 = oh * sh - ph
        for ow in range(OW):
            r = (n * OH + oh) * OW + ow
            w0 = ow * sw - pw
            for c in range(C):
                for i in range(kh):
                    h = h0 + i * dh
                    base = (c * kh + i) * kw
                    if h < 0 or h >= H:
                        for j in range(kw):
                            cols[r, base + j] = 0
                    else:
                        for j in range(kw):
                            w = w0 + j * dw
                            cols[r, base + j] = x[n, c, h, w] if 0 <= w < W else 0


@numba.njit(cache=True)
def _col2im_span(cols, x, lo, hi, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW):  # pragma: no cover
    # Work item t = one image plane (n, c): overlapping windows add into one plane, so a plane
    # must belong to one thread (splitting over rows of cols would race).
    N, C, H, W = x.shape
    for t in range(lo, hi):
        n = t // C
        c = t % C
        for h in range(H):
            for w in range(W):
                x[n, c, h, w] = 0
        for oh in range(OH):
            h0 = oh * sh - ph
            for ow in range(OW):
                r = (n * OH + oh) * OW + ow
                w0 = ow * sw - pw
                for i in range(kh):
                    h = h0 + i * dh
                    if 0 <= h < H:
                        base = (c * kh + i) * kw
                        for j in range(kw):
                            w = w0 + j * dw
                            if 0 <= w < W:
                                x[n, c, h, w] += cols[r, base + j]


@numba.njit(parallel=True, cache=True)
def _im2col_par(x, cols, items, parts, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW):  # pragma: no cover
    for k in numba.prange(parts):
        _im2col_span(x, cols, k * items // parts, (k + 1) * items // parts,
                     kh, kw, sh, sw, ph, pw, dh, dw, OH, OW)


@numba.njit(parallel=True, cache=True)
def _col2im_par(cols, x, items, parts, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW):  # pragma: no cover
    for k in numba.prange(parts):
        _col2im_span(cols, x, k * items // parts, (k + 1) * items // parts,
                     kh, kw, sh, sw, ph, pw, dh, dw, OH, OW)


def im2col(x: Any, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair,
           out: np.ndarray | None = None) -> np.ndarray:
    """See :func:`minigan.kernels.conv.im2col`."""
    ref._check_4d("x", x)
    _check_float(x=x)
    OH, OW = ref._out_hw(x.shape, kh, kw, stride, padding, dilation)
    N, C = x.shape[:2]
    shape = (N * OH * OW, C * kh * kw)
    cols = np.empty(shape, dtype=x.dtype) if out is None else out
    if cols.shape != shape or cols.dtype != x.dtype:
        raise ValueError(f"out: expected a {x.dtype} array of shape {shape}, got "
                         f"{cols.dtype} {cols.shape}")
    geom = (kh, kw, *stride, *padding, *dilation, OH, OW)
    if cols.size < GRAIN:
        _im2col_span(np.ascontiguousarray(x), cols, 0, N * OH, *geom)
    else:
        _im2col_par(np.ascontiguousarray(x), cols, N * OH, numba.get_num_threads(), *geom)
    return cols


def col2im(cols: Any, x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair,
           dilation: Pair, out: np.ndarray | None = None) -> np.ndarray:
    """See :func:`minigan.kernels.conv.col2im`."""
    _check_float(cols=cols)
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
    N, C = x_shape[:2]
    OH, OW = ref._out_hw(x_shape, kh, kw, stride, padding, dilation)
    if tuple(cols.shape) != (N * OH * OW, C * kh * kw):
        raise ValueError(f"cols: expected shape {(N * OH * OW, C * kh * kw)} for x_shape "
                         f"{x_shape} and kernel ({kh}, {kw}), got {tuple(cols.shape)}")
    x = np.empty(x_shape, dtype=cols.dtype) if out is None else out
    if x.shape != x_shape or x.dtype != cols.dtype:
        raise ValueError(f"out: expected a {cols.dtype} array of shape {x_shape}, got "
                         f"{x.dtype} {x.shape}")
    geom = (kh, kw, *stride, *padding, *dilation, OH, OW)
    if cols.size < GRAIN:
        _col2im_span(np.ascontiguousarray(cols), x, 0, N * C, *geom)
    else:
        _col2im_par(np.ascontiguousarray(cols), x, N * C, numba.get_num_threads(), *geom)
    return x


_conv = make_conv(im2col, col2im)
conv2d_forward = _conv["conv2d_forward"]
conv2d_backward_data = _conv["conv2d_backward_data"]
conv2d_backward_weight = _conv["conv2d_backward_weight"]


conv2d_forward_bias, conv2d_backward_weight_bias = ref.with_bias(conv2d_forward,
                                                                 conv2d_backward_weight)
