"""Native backend of the conv family: minigan._C's OpenMP im2col/col2im (csrc/cpu/im2col.cpp)
and the three convolution products from :mod:`minigan.kernels.fast_conv` (BLAS GEMMs between).

The _C functions check their arguments themselves (dtype float32/float64, C-contiguous, shapes)
and raise TypeError/ValueError naming the argument; these wrappers keep the reference's
semantics, so they accept any strided input and hand _C a contiguous one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends
from .fast_conv import _check_float, make_conv

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
conv2d_forward = _conv["conv2d_forward"]
conv2d_backward_data = _conv["conv2d_backward_data"]
conv2d_backward_weight = _conv["conv2d_backward_weight"]
