"""The ``cuda`` backend of the conv family: minigan._cuda's implicit-GEMM convolution kernels
(csrc/cuda/conv.cu: the operands are gathered from the NCHW tensors inside a shared-memory
tiled GEMM, no im2col buffer) and its im2col/col2im, with the NumPy reference's signatures
(:mod:`minigan.kernels.conv`). Arguments are checked by the reference's own checks first, so
errors read the same on every backend; strided inputs are made contiguous.

Tensor cores, opt-in: ``set_tf32(True)`` (or ``MINIGAN_CUDA_TF32=1``) runs the float32
convolutions on tensor cores in TF32 -- operands rounded to a 10-bit mantissa, float32
accumulation -- with the error bound |y - y_exact| <= 2^-9 * sum_k |x_k w_k| instead of float32's
(csrc/cuda/conv_tf32.cuh). float64 always takes the exact path.

The weight gradient is a small output (Co x C/G*kh*kw) with a long reduction (N*OH*OW), so its
reduction is split over enough blocks to fill the GPU (split-K), the partial products summed in
a fixed order (deterministic, no atomics).
"""

from __future__ import annotations

import os
from typing import Any

import cupy

from .. import conv as ref
from ..common.cuda import as_device, cuda, sm_count, stream

Pair = tuple[int, int]
_TILE = 64  # the kernels' output tile (BM = BN = 64)
_tf32 = os.environ.get("MINIGAN_CUDA_TF32", "0").strip().lower() in ("1", "true", "yes", "on")


def set_tf32(enabled: bool) -> bool:
    """Turn the TF32 tensor-core path of the float32 convolutions on or off (process-wide);
    returns the previous setting. Its tolerance: |y - y_exact| <= 2^-9 * sum_k |x_k w_k|."""
    global _tf32
    previous, _tf32 = _tf32, bool(enabled)
    return previous


def _use_tf32(a: Any) -> bool:
    return _tf32 and a.dtype == cupy.float32


def _pairs(stride: Pair, padding: Pair, dilation: Pair) -> tuple:
    # Plain ints: the module accepts Python ints only (never a silent float truncation).
    return tuple(tuple(int(v) for v in pair) for pair in (stride, padding, dilation))


def _check_gy(gy: Any, x_shape: tuple, w_shape: tuple, stride: Pair, padding: Pair,
              dilation: Pair) -> None:
    """The reference's grad_output check, without its (N*OH*OW, O) reshape (a copy on CuPy)."""
    ref._check_4d("grad_output", gy)
    OH, OW = ref._out_hw(x_shape, w_shape[2], w_shape[3], stride, padding, dilation)
    want = (x_shape[0], w_shape[0], OH, OW)
    if tuple(gy.shape) != want:
        raise ValueError(f"grad_output: expected shape {want} for input {tuple(x_shape)} and "
                         f"weight {tuple(w_shape)}, got {tuple(gy.shape)}")


def im2col(x: Any, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair) -> Any:
    """See :func:`minigan.kernels.conv.im2col`."""
    x = as_device("x", x)
    ref._check_4d("x", x)
    N, C = x.shape[:2]
    OH, OW = ref._out_hw(x.shape, kh, kw, stride, padding, dilation)
    out = cupy.empty((N * OH * OW, C * kh * kw), dtype=x.dtype)
    return cuda.im2col(x, int(kh), int(kw), *_pairs(stride, padding, dilation), out=out,
                       stream=stream())


def col2im(cols: Any, x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair,
           dilation: Pair) -> Any:
    """See :func:`minigan.kernels.conv.col2im`."""
    cols = as_device("cols", cols)
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
    OH, OW = ref._out_hw(x_shape, kh, kw, stride, padding, dilation)
    N, C = x_shape[:2]
    if tuple(cols.shape) != (N * OH * OW, C * kh * kw):
        raise ValueError(f"cols: expected shape {(N * OH * OW, C * kh * kw)} for x_shape "
                         f"{x_shape} and kernel ({kh}, {kw}), got {tuple(cols.shape)}")
    out = cupy.empty(x_shape, dtype=cols.dtype)
    return cuda.col2im(cols, x_shape, int(kh), int(kw), *_pairs(stride, padding, dilation),
                       out=out, stream=stream())


def conv2d_forward(x: Any, w: Any, stride: Pair, padding: Pair, dilation: Pair,
                   groups: int = 1) -> Any:
    """y[n, o, oh, ow] = sum_{c,i,j} x[n, g*C/G + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
    * w[o, c, i, j]; see :func:`minigan.kernels.conv.conv2d_forward`."""
    x, w = as_device("x", x), as_device("weight", w)
    ref._check_4d("x", x)
    ref._check_dtypes(x=x, weight=w)
    ref._check_conv(x.shape, w.shape, groups)
    OH, OW = ref._out_hw(x.shape, w.shape[2], w.shape[3], stride, padding, dilation)
    out = cupy.empty((x.shape[0], w.shape[0], OH, OW), dtype=x.dtype)
    return cuda.conv2d_forward(x, w, *_pairs(stride, padding, dilation), int(groups), out=out,
                               tf32=_use_tf32(x), stream=stream())


def conv2d_backward_data(gy: Any, w: Any, x_shape: tuple, stride: Pair, padding: Pair,
                         dilation: Pair, groups: int = 1) -> Any:
    """gx = the adjoint of conv2d_forward in x applied to gy (also the transposed convolution of
    gy); see :func:`minigan.kernels.conv.conv2d_backward_data`."""
    gy, w = as_device("grad_output", gy), as_device("weight", w)
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
    ref._check_dtypes(grad_output=gy, weight=w)
    ref._check_conv(x_shape, w.shape, groups)
    _check_gy(gy, x_shape, w.shape, stride, padding, dilation)
    out = cupy.empty(x_shape, dtype=gy.dtype)
    return cuda.conv2d_backward_data(gy, w, x_shape, *_pairs(stride, padding, dilation),
                                     int(groups), out=out, tf32=_use_tf32(gy), stream=stream())


def weight_splits(x_shape: tuple, w_shape: tuple, stride: Pair, padding: Pair, dilation: Pair,
                  groups: int) -> int:
    """How many ways to split the weight gradient's N*OH*OW reduction: enough blocks for about
    two per multiprocessor, never more than the kernel allows (4 k-tiles per split)."""
    G = int(groups)
    tiles = G * -(-(w_shape[0] // G) // _TILE) * -(-(w_shape[1] * w_shape[2] * w_shape[3]) // _TILE)
    want = -(-2 * sm_count() // max(tiles, 1))
    most = cuda.conv_max_weight_splits(x_shape, w_shape, *_pairs(stride, padding, dilation), G)
    return max(1, min(want, most, 64))


def conv2d_backward_weight(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                           dilation: Pair, groups: int = 1) -> Any:
    """gw = the adjoint of conv2d_forward in w applied to gy; see
    :func:`minigan.kernels.conv.conv2d_backward_weight`."""
    gy, x = as_device("grad_output", gy), as_device("x", x)
    ref._check_4d("x", x)
    ref._check_dtypes(grad_output=gy, x=x)
    w_shape = tuple(int(s) for s in w_shape)
    ref._check_conv(x.shape, w_shape, groups)
    _check_gy(gy, x.shape, w_shape, stride, padding, dilation)
    splits = weight_splits(x.shape, w_shape, stride, padding, dilation, groups)
    work = cupy.empty((splits, *w_shape), dtype=gy.dtype) if splits > 1 else None
    out = cupy.empty(w_shape, dtype=gy.dtype)
    return cuda.conv2d_backward_weight(gy, x, w_shape, *_pairs(stride, padding, dilation),
                                       int(groups), out=out, workspace=work, splits=splits,
                                       tf32=_use_tf32(gy), stream=stream())


_with_bias = ref.with_bias(conv2d_forward, conv2d_backward_weight)


def conv2d_forward_bias(x: Any, w: Any, b: Any, stride: Pair, padding: Pair, dilation: Pair,
                        groups: int = 1) -> Any:
    """See :func:`minigan.kernels.conv.conv2d_forward_bias`: this backend's convolution, then
    the bias added in place."""
    return _with_bias[0](x, w, b, stride, padding, dilation, groups)


def conv2d_backward_weight_bias(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                                dilation: Pair, groups: int = 1) -> tuple[Any, Any]:
    """See :func:`minigan.kernels.conv.conv2d_backward_weight_bias`: this backend's weight
    gradient, and the channel sum of gy."""
    return _with_bias[1](gy, x, w_shape, stride, padding, dilation, groups)
