"""Native backend of the conv family.

float32 with groups = 1: minigan._C's convolution kernels, which never write an im2col matrix.
"Direct" kernels read a zero-padded copy of x in place (csrc/cpu/conv_direct.cpp, one source
compiled per instruction set -- avx512, avx2, generic -- and chosen at run time, see
``_C.isa_info()``); with AVX-512 also a GEMM whose operand panels are gathered straight from the
image (csrc/cpu/conv_gemm.cpp), for the layers the direct form fits badly. Measured on the D's
second DCGAN layer (64x64x14x14 -> 128, 4x4/2): with AVX-512 (2 threads) forward 2.0 ms, input
gradient 2.5 ms, weight gradient 2.2 ms, against 4.4 / 5.3 / 7.2 ms for im2col + BLAS; on a
2-core AMD EPYC with AVX2 (1 thread) the avx2 direct kernels 10.4 / 11.4 / 10.4 ms against
14.2 / 13.1 / 14.2 ms. The panel forms group output positions (input pixels, for the input
gradient) by border class and skip the taps that fall in the padding -- 14% of the D.conv2
multiply-adds -- reading the image in place; where an inf or NaN would meet the padding's zeros
in the reference's product (weights in the forward, gy in the weight gradient) they keep every
tap. Layers with few channels and wide output rows take row forms (vectors along the rows; with
AVX-512 where measured faster, e.g. the D's first layer); ``_C.conv2d_*_f32(..., form=)`` forces
one form for tests and benchmarks.

Everything else (float64, groups > 1, and on the avx2/generic variants the calls the direct
form fits badly, see :func:`_direct_fits`): minigan._C's OpenMP im2col/col2im
(csrc/cpu/im2col.cpp) and the three convolution products from
:mod:`minigan.kernels.conv.fast` (BLAS GEMMs between).

The _C functions check their arguments themselves (dtype float32/float64, C-contiguous, shapes)
and raise TypeError/ValueError naming the argument; these wrappers keep the reference's
semantics, so they accept any strided input and hand _C a contiguous one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import backends
from .. import conv as ref
from .fast import _check_float, make_conv

Pair = tuple[int, int]

_C = backends.native()
if _C is None:  # the registry only imports this module for an available backend
    raise ImportError(f"minigan._C is not built ({backends.import_error('minigan._C')})")


def im2col(x: Any, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair,
           out: np.ndarray | None = None) -> np.ndarray:
    """See :func:`minigan.kernels.conv.im2col`."""
    _check_float(x=x)
    return _C.im2col(np.ascontiguousarray(x), kh, kw, tuple(stride), tuple(padding),
                     tuple(dilation), out=out)


def col2im(cols: Any, x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair,
           dilation: Pair, out: np.ndarray | None = None) -> np.ndarray:
    """See :func:`minigan.kernels.conv.col2im`."""
    _check_float(cols=cols)
    return _C.col2im(np.ascontiguousarray(cols), tuple(int(s) for s in x_shape), kh, kw,
                     tuple(stride), tuple(padding), tuple(dilation), out=out)


_conv = make_conv(im2col, col2im)
_unfused_bias = ref.with_bias(_conv["conv2d_forward"], _conv["conv2d_backward_weight"])
_INT32 = 2**31 - 1  # the _C conv kernels index with 32-bit offsets


def _direct_fits(channels: int, taps: int = 64) -> bool:
    """Whether the active ISA variant's _C conv kernels take a call whose panel dimension (the
    output channels; the input channels for the input gradient) is ``channels`` and whose
    reduction per output is ``taps`` long. With avx512 always (the packed GEMM covers what the
    direct form fits badly). With avx2: when the channels fill the 16-wide panels and, for the
    forward, the reduction is long enough to hide the tile's transposed store -- measured on a
    2-core AMD EPYC (1 thread): D.conv1 (C = 1, 16 taps) forward 1.01 ms direct vs 0.75 ms
    im2col + BLAS, its input gradient (C = 1) 5.5 vs 0.6 ms. generic (SSE2 without FMA on
    x86-64; NEON on ARM64) loses to an optimised BLAS everywhere it was measured (D.conv2 30 vs
    14 ms on that EPYC), so it is reached only through _C directly (tests, benchmarks)."""
    isa = _C.isa()
    if isa == "avx512":
        return True
    if isa != "avx2":
        return False
    return (channels % 16 == 0 or channels >= 64) and taps >= 64


def _native_path(dtype: Any, groups: int, *shapes: tuple) -> bool:
    """Whether _C's float32 conv kernels may take this call (groups 1, sizes they support)."""
    if not (dtype == np.float32 and groups == 1):
        return False
    sizes = [math.prod(s) for s in shapes]  # (math's: np.prod on a tuple costs ~1.5 us each)
    return 0 < min(sizes) and max(sizes) < _INT32


def conv2d_forward(x: Any, w: Any, stride: Pair, padding: Pair, dilation: Pair,
                   groups: int = 1) -> np.ndarray:
    """See :func:`minigan.kernels.conv.conv2d_forward`."""
    return _forward(x, w, None, stride, padding, dilation, groups)


def conv2d_forward_bias(x: Any, w: Any, b: Any, stride: Pair, padding: Pair, dilation: Pair,
                        groups: int = 1) -> np.ndarray:
    """See :func:`minigan.kernels.conv.conv2d_forward_bias`: on the _C path the bias add is
    part of the output store; elsewhere composed (:func:`minigan.kernels.conv.with_bias`)."""
    return _forward(x, w, b, stride, padding, dilation, groups)


def _forward(x: Any, w: Any, b: Any, stride: Pair, padding: Pair, dilation: Pair,
             groups: int) -> np.ndarray:
    ref._check_4d("x", x)
    dtype = _check_float(x=x, weight=w) if b is None else _check_float(x=x, weight=w, bias=b)
    if b is not None:
        ref._check_bias(b, w.shape[0], dtype)
    ref._check_conv(x.shape, w.shape, groups)
    ref._out_hw(x.shape, w.shape[2], w.shape[3], stride, padding, dilation)
    if (_native_path(dtype, groups, x.shape, w.shape)
            and _direct_fits(w.shape[0], math.prod(w.shape[1:]))):
        return _C.conv2d_forward_f32(np.ascontiguousarray(x), np.ascontiguousarray(w),
                                     tuple(stride), tuple(padding), tuple(dilation),
                                     bias=None if b is None else np.ascontiguousarray(b))
    if b is None:
        return _conv["conv2d_forward"](x, w, stride, padding, dilation, groups)
    return _unfused_bias[0](x, w, b, stride, padding, dilation, groups)


def conv2d_backward_data(gy: Any, w: Any, x_shape: tuple, stride: Pair, padding: Pair,
                         dilation: Pair, groups: int = 1) -> np.ndarray:
    """See :func:`minigan.kernels.conv.conv2d_backward_data`."""
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
    dtype = _check_float(grad_output=gy, weight=w)
    ref._check_conv(x_shape, w.shape, groups)
    ref.check_grad_output(gy, x_shape, w.shape, stride, padding, dilation)
    if _native_path(dtype, groups, gy.shape, w.shape, x_shape) and _direct_fits(x_shape[1]):
        return _C.conv2d_backward_data_f32(np.ascontiguousarray(gy), np.ascontiguousarray(w),
                                           x_shape, tuple(stride), tuple(padding),
                                           tuple(dilation))
    return _conv["conv2d_backward_data"](gy, w, x_shape, stride, padding, dilation, groups)


def conv2d_backward_weight(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                           dilation: Pair, groups: int = 1) -> np.ndarray:
    """See :func:`minigan.kernels.conv.conv2d_backward_weight`."""
    return _backward_weight(gy, x, w_shape, stride, padding, dilation, groups, False)


def conv2d_backward_weight_bias(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                                dilation: Pair, groups: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`minigan.kernels.conv.conv2d_backward_weight_bias`: on the _C path the bias
    gradient is summed (in double) from the gy blocks the weight gradient already reads."""
    return _backward_weight(gy, x, w_shape, stride, padding, dilation, groups, True)


def _backward_weight(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                     dilation: Pair, groups: int, need_bias: bool) -> Any:
    ref._check_4d("x", x)
    dtype = _check_float(grad_output=gy, x=x)
    w_shape = tuple(int(s) for s in w_shape)
    ref._check_conv(x.shape, w_shape, groups)
    ref.check_grad_output(gy, x.shape, w_shape, stride, padding, dilation)
    if _native_path(dtype, groups, gy.shape, x.shape, w_shape) and _direct_fits(w_shape[0]):
        return _C.conv2d_backward_weight_f32(np.ascontiguousarray(gy), np.ascontiguousarray(x),
                                             w_shape, tuple(stride), tuple(padding),
                                             tuple(dilation), need_bias=need_bias)
    if need_bias:
        return _unfused_bias[1](gy, x, w_shape, stride, padding, dilation, groups)
    return _conv["conv2d_backward_weight"](gy, x, w_shape, stride, padding, dilation, groups)
