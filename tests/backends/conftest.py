"""A deliberately naive im2col/col2im, written straight from the spec with Python loops, that the
native and CUDA kernels are checked against. It shares no code with minigan/kernels/conv/, so
the two references check each other too.

    OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1      (OW likewise)
    cols[(n*OH + oh)*OW + ow, (c*kh + i)*kw + j] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
    (0 outside the image); col2im is the adjoint: every cols entry is added back where it came.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

# (x_shape, kh, kw, stride, padding, dilation): each stresses one part of the index arithmetic.
CASES = [
    ((2, 3, 5, 5), 3, 3, (1, 1), (1, 1), (1, 1)),  # the common 3x3 "same" conv
    ((1, 2, 7, 6), 3, 2, (2, 2), (1, 0), (1, 1)),  # stride 2, odd H, asymmetric kernel/padding
    ((2, 1, 9, 8), 3, 3, (1, 2), (2, 1), (2, 2)),  # dilation 2
    ((3, 4, 4, 4), 1, 1, (1, 1), (0, 0), (1, 1)),  # 1x1 kernel
    ((1, 3, 5, 7), 5, 3, (3, 2), (2, 1), (1, 2)),  # odd everything
    ((1, 1, 2, 2), 3, 3, (1, 1), (1, 1), (1, 1)),  # kernel larger than the image
    ((2, 2, 6, 6), 4, 4, (2, 2), (1, 1), (1, 1)),  # the DCGAN 4x4 stride-2 layer
]
CASE_IDS = [f"x{s}-k{kh}x{kw}-s{st}-p{p}-d{d}".replace(" ", "") for s, kh, kw, st, p, d in CASES]


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _positions(x_shape, kh, kw, stride, padding, dilation) -> Iterator[tuple]:
    """Every (row, col, n, c, h, w) pair that im2col copies, including out-of-image ones."""
    N, C, H, W = x_shape
    OH = out_size(H, kh, stride[0], padding[0], dilation[0])
    OW = out_size(W, kw, stride[1], padding[1], dilation[1])
    for n, oh, ow, c, i, j in itertools.product(
        range(N), range(OH), range(OW), range(C), range(kh), range(kw)
    ):
        h = oh * stride[0] - padding[0] + i * dilation[0]
        w = ow * stride[1] - padding[1] + j * dilation[1]
        yield (n * OH + oh) * OW + ow, (c * kh + i) * kw + j, n, c, h, w


def im2col_loop(x, kh, kw, stride, padding, dilation) -> np.ndarray:
    N, C, H, W = x.shape
    OH = out_size(H, kh, stride[0], padding[0], dilation[0])
    OW = out_size(W, kw, stride[1], padding[1], dilation[1])
    cols = np.zeros((N * OH * OW, C * kh * kw), dtype=x.dtype)
    for row, col, n, c, h, w in _positions(x.shape, kh, kw, stride, padding, dilation):
        if 0 <= h < H and 0 <= w < W:
            cols[row, col] = x[n, c, h, w]
    return cols


def col2im_loop(cols, x_shape, kh, kw, stride, padding, dilation) -> np.ndarray:
    _, _, H, W = x_shape
    x = np.zeros(x_shape, dtype=cols.dtype)
    for row, col, n, c, h, w in _positions(x_shape, kh, kw, stride, padding, dilation):
        if 0 <= h < H and 0 <= w < W:
            x[n, c, h, w] += cols[row, col]
    return x


@pytest.fixture
def loop_reference():
    """(im2col_loop, col2im_loop)."""
    return im2col_loop, col2im_loop


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Tests ask for `conv_case` to run once per CASES row (conftest.py cannot be imported by
    # test modules under --import-mode=importlib, so the table is shared this way).
    if "conv_case" in metafunc.fixturenames:
        metafunc.parametrize("conv_case", CASES, ids=CASE_IDS)
