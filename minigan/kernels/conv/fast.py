"""The convolution products of the fast CPU backends, built on a backend's im2col/col2im.

Numba and native share this layer: each supplies ``im2col(x, kh, kw, stride, padding, dilation,
out=None)`` and ``col2im(cols, x_shape, kh, kw, stride, padding, dilation, out=None)`` with the
layout contract of :mod:`minigan.kernels.conv`, and the GEMMs go through NumPy's matmul (BLAS):
on this kind of machine BLAS beats any blocked GEMM we would write, and the layout the unfold
kernels produce is already the one BLAS wants, so no copy sits between the two.

What differs from the reference (same maths, same results up to rounding):

* the unfold/fold run in compiled code, parallel, instead of a 6-D strided copy and a kh*kw loop
  of strided adds (those two were most of the reference's non-GEMM time);
* groups are one 2-D GEMM each on column slices of ``cols`` (BLAS reads a slice through its
  leading dimension), written straight into the output with ``out=``, instead of a 3-D batched
  matmul that needs the grouped copy.

The weight gradient gw (Co, K) = rows^T @ cols is computed in whichever orientation puts the
larger of Co and K first (as gw^T = cols^T @ rows when K > Co). With OpenBLAS on 2 threads a
long-reduction product with a short first dimension sometimes runs ~10-60x slower (84-96 ms
instead of 4-8 ms for the D's second layer with Co = 128 first; 320 ms instead of ~1.5 ms for its
first layer with K = 16 first), seen in many processes on this 2-core machine under load; the
orientation with the longer first dimension was fast in every one of those runs, and in quiet
runs the two are equal. (An empirical rule about one BLAS; re-check it with another.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import conv as ref

Pair = tuple[int, int]


def _check_float(**arrays: Any) -> np.dtype:
    """The one float32/float64 dtype of ``arrays``; TypeError naming the argument otherwise."""
    dtype = None
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name}: expected a numpy.ndarray, got {type(a).__name__}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: expected dtype float32 or float64, got {a.dtype}")
        if dtype is not None and a.dtype != dtype:
            raise TypeError("conv: expected one floating dtype, got " +
                            ", ".join(f"{k} {v.dtype}" for k, v in arrays.items()))
        dtype = a.dtype
    return dtype


def _rows(gy: np.ndarray) -> np.ndarray:
    """gy (N, Co, OH, OW) as rows (N*OH*OW, Co), C-contiguous (one transposing copy)."""
    N, Co, OH, OW = gy.shape
    rows = np.empty((N, OH * OW, Co), dtype=gy.dtype)
    rows[...] = gy.reshape(N, Co, OH * OW).transpose(0, 2, 1)
    return rows.reshape(N * OH * OW, Co)


def make_conv(im2col: Callable, col2im: Callable) -> dict[str, Callable]:
    """conv2d_forward / conv2d_backward_data / conv2d_backward_weight on top of the given
    unfold/fold kernels, each with the reference's signature."""

    def conv2d_forward(x: Any, w: Any, stride: Pair, padding: Pair, dilation: Pair,
                       groups: int = 1) -> np.ndarray:
        """See :func:`minigan.kernels.conv.conv2d_forward`."""
        ref._check_4d("x", x)
        _check_float(x=x, weight=w)
        G, Cg, Og = ref._check_conv(x.shape, w.shape, groups)
        N, Co, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
        OH, OW = ref._out_hw(x.shape, kh, kw, stride, padding, dilation)
        cols = im2col(np.ascontiguousarray(x), kh, kw, stride, padding, dilation)
        w2 = np.ascontiguousarray(w).reshape(Co, Cg * kh * kw)
        if G == 1:
            y2 = cols @ w2.T                                           # (N*OH*OW, Co)
        else:
            y2 = np.empty((cols.shape[0], Co), dtype=x.dtype)
            K = Cg * kh * kw
            for g in range(G):
                np.matmul(cols[:, g * K:(g + 1) * K], w2[g * Og:(g + 1) * Og].T,
                          out=y2[:, g * Og:(g + 1) * Og])
        y = np.empty((N, Co, OH * OW), dtype=x.dtype)
        y[...] = y2.reshape(N, OH * OW, Co).transpose(0, 2, 1)
        return y.reshape(N, Co, OH, OW)

    def conv2d_backward_data(gy: Any, w: Any, x_shape: tuple, stride: Pair, padding: Pair,
                             dilation: Pair, groups: int = 1) -> np.ndarray:
        """See :func:`minigan.kernels.conv.conv2d_backward_data`."""
        x_shape = tuple(int(s) for s in x_shape)
        if len(x_shape) != 4:
            raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
        _check_float(grad_output=gy, weight=w)
        G, Cg, Og = ref._check_conv(x_shape, w.shape, groups)
        Co, kh, kw = w.shape[0], w.shape[2], w.shape[3]
        ref._gy_rows(gy, x_shape, w.shape, stride, padding, dilation)   # shape check only
        rows = _rows(gy)
        K = Cg * kh * kw
        w2 = np.ascontiguousarray(w).reshape(Co, K)
        if G == 1:
            dcols = rows @ w2                                          # (N*OH*OW, C*kh*kw)
        else:
            dcols = np.empty((rows.shape[0], G * K), dtype=gy.dtype)
            for g in range(G):
                np.matmul(rows[:, g * Og:(g + 1) * Og], w2[g * Og:(g + 1) * Og],
                          out=dcols[:, g * K:(g + 1) * K])
        return col2im(dcols, x_shape, kh, kw, stride, padding, dilation)

    def conv2d_backward_weight(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                               dilation: Pair, groups: int = 1) -> np.ndarray:
        """See :func:`minigan.kernels.conv.conv2d_backward_weight`."""
        ref._check_4d("x", x)
        _check_float(grad_output=gy, x=x)
        w_shape = tuple(int(s) for s in w_shape)
        G, Cg, Og = ref._check_conv(x.shape, w_shape, groups)
        Co, kh, kw = w_shape[0], w_shape[2], w_shape[3]
        ref._gy_rows(gy, x.shape, w_shape, stride, padding, dilation)   # shape check only
        rows = _rows(gy)
        cols = im2col(np.ascontiguousarray(x), kh, kw, stride, padding, dilation)
        K = Cg * kh * kw
        gw = np.empty((Co, K), dtype=x.dtype)
        gwT = np.empty((K, Co), dtype=x.dtype) if K > Co else None
        for g in range(G):
            r, c = rows[:, g * Og:(g + 1) * Og], cols[:, g * K:(g + 1) * K]
            if gwT is None:
                np.matmul(r.T, c, out=gw[g * Og:(g + 1) * Og])
            else:  # the longer dimension first: see the module docstring
                np.matmul(c.T, r, out=gwT[:, g * Og:(g + 1) * Og])
        if gwT is not None:
            gw[...] = gwT.T
        return gw.reshape(w_shape)

    return {"conv2d_forward": conv2d_forward, "conv2d_backward_data": conv2d_backward_data,
            "conv2d_backward_weight": conv2d_backward_weight}
