"""2-D convolution kernels, NumPy reference (works unchanged on CuPy arrays): im2col/col2im and
the three convolution products built on them.

Layout contract (shared with csrc/cpu/im2col.cpp, which is tested against this file), NCHW::

    OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1        (OW likewise)
    cols: (N*OH*OW, C*kh*kw),  row = (n*OH + oh)*OW + ow,  column = (c*kh + i)*kw + j
    cols[row, col] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]     (0 outside the image)

A convolution is then one matrix product per group: with weight w of shape (O, C/G, kh, kw),
``y[n, o, oh, ow] = sum_{c,i,j} cols[row, (c,i,j)] * w[o, c, i, j]``. Its two adjoints are the
data gradient (a product with w, then col2im) and the weight gradient (a product with cols).

Geometry arguments ``stride``, ``padding``, ``dilation`` are (h, w) pairs of ints here; the ops
layer (minigan/ops/conv.py) accepts ints and normalises them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...tensor import array_module
from .. import registry, table

Pair = tuple[int, int]


def _check_geometry(stride: Pair, padding: Pair, dilation: Pair) -> None:
    for name, pair, low in (("stride", stride, 1), ("padding", padding, 0),
                            ("dilation", dilation, 1)):
        if len(pair) != 2 or any(int(v) != v or v < low for v in pair):
            raise ValueError(f"{name}: expected a pair of integers >= {low}, got {pair!r}")


def out_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis:
    (size + 2*padding - dilation*(k-1) - 1) // stride + 1."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _out_hw(x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair,
            dilation: Pair) -> Pair:
    _check_geometry(stride, padding, dilation)
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel size: expected positive (kh, kw), got ({kh}, {kw})")
    H, W = x_shape[2], x_shape[3]
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if H + 2 * padding[0] < span_h or W + 2 * padding[1] < span_w:
        raise ValueError(
            f"kernel ({kh}, {kw}) with dilation {tuple(dilation)} spans ({span_h}, {span_w}) "
            f"pixels, larger than the padded input ({H + 2 * padding[0]}, "
            f"{W + 2 * padding[1]}) (input {H}x{W}, padding {tuple(padding)})")
    return (out_size(H, kh, stride[0], padding[0], dilation[0]),
            out_size(W, kw, stride[1], padding[1], dilation[1]))


def _check_4d(name: str, a: Any) -> None:
    if a.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D (N, C, H, W) array, got shape {tuple(a.shape)}")


def im2col(x: Any, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair) -> Any:
    """Unfold every (kh, kw) window of x (N, C, H, W) into a row of cols (N*OH*OW, C*kh*kw),
    layout as in the module docstring."""
    _check_4d("x", x)
    N, C, H, W = x.shape
    OH, OW = _out_hw(x.shape, kh, kw, stride, padding, dilation)
    xp = array_module(x)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    if ph or pw:
        padded = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
        padded[:, :, ph:ph + H, pw:pw + W] = x
    else:
        padded = x
    # An (N, OH, OW, C, kh, kw) view of the windows, then one copy that lays the data out in the
    # final row/column order (copy() always copies, so cols never aliases x, even for 1x1).
    bn, bc, bh, bw = padded.strides
    windows = xp.lib.stride_tricks.as_strided(
        padded, shape=(N, OH, OW, C, kh, kw),
        strides=(bn, bh * sh, bw * sw, bc, bh * dh, bw * dw))
    return windows.copy().reshape(N * OH * OW, C * kh * kw)


def col2im(cols: Any, x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair,
           dilation: Pair) -> Any:
    """The adjoint of im2col: x[n, c, h, w] = the sum of every cols entry im2col copied from
    there (overlapping windows add up; entries that fell in the padding are dropped)."""
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {tuple(x_shape)}")
    N, C, H, W = x_shape
    OH, OW = _out_hw(x_shape, kh, kw, stride, padding, dilation)
    if tuple(cols.shape) != (N * OH * OW, C * kh * kw):
        raise ValueError(f"cols: expected shape {(N * OH * OW, C * kh * kw)} for x_shape "
                         f"{tuple(x_shape)} and kernel ({kh}, {kw}), got {tuple(cols.shape)}")
    xp = array_module(cols)
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    # Accumulate channels-last, (N, H, W, C): the slab one kernel offset (i, j) adds is then
    # cols' own (n, oh, ow, c) order, read with unit stride along c (a channels-first slab would
    # read one element per row of cols). Measured ~1.7x faster than channels-first; one
    # transposing copy at the end gives NCHW back.
    c6 = cols.reshape(N, OH, OW, C, kh, kw)
    padded = xp.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=cols.dtype)
    # One vectorised add per kernel offset (kh*kw of them, independent of the image size): the
    # windows of one offset never overlap each other, so plain += is exact (no np.add.at).
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
        for j in range(kw):
            w0 = j * dw
            padded[:, rows, w0:w0 + sw * (OW - 1) + 1:sw, :] += c6[:, :, :, :, i, j]
    return xp.ascontiguousarray(padded[:, ph:ph + H, pw:pw + W, :].transpose(0, 3, 1, 2))


def _check_conv(x_shape: tuple, w_shape: tuple, groups: int) -> tuple:
    """Validate channels against groups; returns (G, C/G, O/G)."""
    if int(groups) != groups or groups < 1:
        raise ValueError(f"groups: expected a positive integer, got {groups!r}")
    if len(w_shape) != 4:
        raise ValueError(f"weight: expected a 4-D (out, in/groups, kh, kw) array, got shape "
                         f"{tuple(w_shape)}")
    C, Co, Cg = x_shape[1], w_shape[0], w_shape[1]
    if C != Cg * groups:
        raise ValueError(f"weight: input has {C} channels but weight {tuple(w_shape)} with "
                         f"groups={groups} expects {Cg * groups} (= weight.shape[1] * groups)")
    if Co % groups:
        raise ValueError(f"weight: {Co} output channels (weight.shape[0]) are not divisible by "
                         f"groups={groups}")
    return groups, Cg, Co // groups


def _check_dtypes(**arrays: Any) -> None:
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) != 1:
        raise TypeError("conv: expected one floating dtype, got " +
                        ", ".join(f"{k} {v}" for k, v in dtypes.items()))


def _grouped(cols: Any, groups: int) -> Any:
    """cols (R, G*K) as a (G, R, K) view: group g reads columns [g*K, (g+1)*K)."""
    R, GK = cols.shape
    return cols.reshape(R, groups, GK // groups).transpose(1, 0, 2)


def _ungrouped(a: Any) -> Any:
    """(G, R, K) -> (R, G*K), the inverse of _grouped (copies)."""
    G, R, K = a.shape
    return a.transpose(1, 0, 2).reshape(R, G * K)


def conv2d_forward(x: Any, w: Any, stride: Pair, padding: Pair, dilation: Pair,
                   groups: int = 1) -> Any:
    """y[n, o, oh, ow] = sum_{c,i,j} x[n, g*C/G + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
    * w[o, c, i, j]  (g = the group of o; x zero outside the image).

    x (N, C, H, W), w (O, C/G, kh, kw) -> y (N, O, OH, OW): im2col, then one GEMM per group
    (a single batched matmul over the G groups)."""
    _check_4d("x", x)
    _check_dtypes(x=x, weight=w)
    G, Cg, Og = _check_conv(x.shape, w.shape, groups)
    N, Co, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    OH, OW = _out_hw(x.shape, kh, kw, stride, padding, dilation)
    cols = im2col(x, kh, kw, stride, padding, dilation)             # (N*OH*OW, C*kh*kw)
    w3 = w.reshape(G, Og, Cg * kh * kw)
    y2d = _ungrouped(_grouped(cols, G) @ w3.transpose(0, 2, 1))     # (N*OH*OW, Co)
    y = y2d.reshape(N, OH, OW, Co).transpose(0, 3, 1, 2)
    return array_module(x).ascontiguousarray(y)


def _gy_rows(gy: Any, x_shape: tuple, w_shape: tuple, stride: Pair, padding: Pair,
             dilation: Pair) -> Any:
    """gy (N, O, OH, OW) checked against the geometry, as rows (N*OH*OW, O) matching cols."""
    check_grad_output(gy, x_shape, w_shape, stride, padding, dilation)
    N, Co, OH, OW = gy.shape
    return gy.transpose(0, 2, 3, 1).reshape(N * OH * OW, Co)


def check_grad_output(gy: Any, x_shape: tuple, w_shape: tuple, stride: Pair, padding: Pair,
                      dilation: Pair) -> None:
    """ValueError unless gy is 4-D with the output shape of conv(x_shape, w_shape)."""
    _check_4d("grad_output", gy)
    N, Co = x_shape[0], w_shape[0]
    OH, OW = _out_hw(x_shape, w_shape[2], w_shape[3], stride, padding, dilation)
    if tuple(gy.shape) != (N, Co, OH, OW):
        raise ValueError(f"grad_output: expected shape {(N, Co, OH, OW)} for input {tuple(x_shape)}"
                         f" and weight {tuple(w_shape)}, got {tuple(gy.shape)}")


def conv2d_backward_data(gy: Any, w: Any, x_shape: tuple, stride: Pair, padding: Pair,
                         dilation: Pair, groups: int = 1) -> Any:
    """gx = the adjoint of conv2d_forward in x applied to gy:
    gx[n, c, h, w] = sum over (o, oh, ow, i, j) with oh*sh - ph + i*dh = h, ow*sw - pw + j*dw = w
    of gy[n, o, oh, ow] * w[o, c', i, j]. This is also the transposed convolution of gy.

    One GEMM per group gives d(cols) = gy_rows @ w2d, then col2im folds it into x's shape."""
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
    _check_dtypes(grad_output=gy, weight=w)
    G, Cg, Og = _check_conv(x_shape, w.shape, groups)
    kh, kw = w.shape[2], w.shape[3]
    rows = _gy_rows(gy, x_shape, w.shape, stride, padding, dilation)      # (N*OH*OW, O)
    w3 = w.reshape(G, Og, Cg * kh * kw)
    dcols = _ungrouped(_grouped(rows, G) @ w3)                            # (N*OH*OW, C*kh*kw)
    return col2im(dcols, x_shape, kh, kw, stride, padding, dilation)


def conv2d_backward_weight(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                           dilation: Pair, groups: int = 1) -> Any:
    """gw = the adjoint of conv2d_forward in w applied to gy:
    gw[o, c, i, j] = sum_{n,oh,ow} gy[n, o, oh, ow] * x[n, g*C/G + c, oh*sh - ph + i*dh, ...].

    im2col of x, then one GEMM per group: gw2d = gy_rows^T @ cols."""
    _check_4d("x", x)
    _check_dtypes(grad_output=gy, x=x)
    w_shape = tuple(int(s) for s in w_shape)
    G, Cg, Og = _check_conv(x.shape, w_shape, groups)
    kh, kw = w_shape[2], w_shape[3]
    rows = _gy_rows(gy, x.shape, w_shape, stride, padding, dilation)      # (N*OH*OW, O)
    cols = im2col(x, kh, kw, stride, padding, dilation)                   # (N*OH*OW, C*kh*kw)
    r3, c3 = _grouped(rows, G), _grouped(cols, G)
    if c3.shape[2] <= r3.shape[2]:
        return (r3.transpose(0, 2, 1) @ c3).reshape(w_shape)             # (G, O/G, C/G*kh*kw)
    # The same product as (cols_g^T @ rows_g)^T, longer dimension first: OpenBLAS on 2 threads
    # sometimes runs the other orientation ~10x slower on the DCGAN layers (see conv/fast.py).
    gw3t = c3.transpose(0, 2, 1) @ r3                                     # (G, C/G*kh*kw, O/G)
    return array_module(x).ascontiguousarray(gw3t.transpose(0, 2, 1)).reshape(w_shape)


def _check_bias(b: Any, channels: int, dtype: Any) -> None:
    if tuple(b.shape) != (channels,):
        raise ValueError(f"bias: expected shape ({channels},), got {tuple(b.shape)}")
    if b.dtype != dtype:
        raise TypeError(f"bias: expected dtype {dtype}, got {b.dtype}")


def conv2d_forward_bias(x: Any, w: Any, b: Any, stride: Pair, padding: Pair, dilation: Pair,
                        groups: int = 1) -> Any:
    """conv2d_forward plus a bias per output channel: y[n, o, oh, ow] += b[o].

    native fuses the add into the convolution's output store (one pass over y fewer); the
    other backends compose it (:func:`with_bias`)."""
    _check_bias(b, w.shape[0], x.dtype)
    return conv2d_forward(x, w, stride, padding, dilation, groups) + b.reshape(1, -1, 1, 1)


def conv2d_backward_weight_bias(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                                dilation: Pair, groups: int = 1) -> tuple[Any, Any]:
    """(gw, gb): conv2d_backward_weight, and the bias gradient gb[o] = sum_{n,oh,ow}
    gy[n, o, oh, ow] (fused backends sum it on the pass that already reads gy)."""
    gw = conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups)
    return gw, gy.sum(axis=(0, 2, 3))


def with_bias(forward: Callable, backward_weight: Callable) -> tuple[Callable, Callable]:
    """conv2d_forward_bias and conv2d_backward_weight_bias for a backend whose convolutions do
    not take the bias themselves: its own convolution then the add (in place, on the fresh
    output), and its own weight gradient beside the channel sum of gy -- the unfused work, in
    one kernel call each, with the references' signatures."""

    def conv2d_forward_bias(x: Any, w: Any, b: Any, stride: Pair, padding: Pair,
                            dilation: Pair, groups: int = 1) -> Any:
        _check_bias(b, w.shape[0], x.dtype)
        y = forward(x, w, stride, padding, dilation, groups)
        y += b.reshape(1, -1, 1, 1)
        return y

    def conv2d_backward_weight_bias(gy: Any, x: Any, w_shape: tuple, stride: Pair,
                                    padding: Pair, dilation: Pair,
                                    groups: int = 1) -> tuple[Any, Any]:
        gw = backward_weight(gy, x, w_shape, stride, padding, dilation, groups)
        return gw, gy.sum(axis=(0, 2, 3))

    for fn in (conv2d_forward_bias, conv2d_backward_weight_bias):
        fn.__module__ = forward.__module__  # they belong to the backend they are built from
    return conv2d_forward_bias, conv2d_backward_weight_bias


# Entry points the backend registry picks up (a backend lacking one falls back to these).
REFERENCE = {
    "im2col": im2col,
    "col2im": col2im,
    "conv2d_forward": conv2d_forward,
    "conv2d_backward_data": conv2d_backward_data,
    "conv2d_backward_weight": conv2d_backward_weight,
    "conv2d_forward_bias": conv2d_forward_bias,
    "conv2d_backward_weight_bias": conv2d_backward_weight_bias,
}
_FUSED = ("conv2d_forward_bias", "conv2d_backward_weight_bias")

for _name, _fn in REFERENCE.items():
    registry.define("conv", _name, _fn)

for _name in REFERENCE:
    registry.provide(_name, "numba", f"minigan.kernels.conv.numba:{_name}")
    registry.provide(_name, "cupy", f"minigan.kernels.conv.cupy:{_name}")
    registry.provide(_name, "numba_cuda", f"minigan.kernels.conv.numba_cuda:{_name}")
    registry.provide(_name, "cuda", f"minigan.kernels.conv.cuda:{_name}")
    registry.provide(_name, "native", f"minigan.kernels.conv.native:{_name}")


# ---- parity table rows ------------------------------------------------------------------------
# (x shape, w shape, stride, padding, dilation, groups): odd sizes, stride 2, asymmetric
# geometry with dilation, groups (incl. depthwise), 1x1, and a kernel as large as the image.
_GEOMETRIES = [
    ((2, 3, 7, 9), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 4, 9, 8), (6, 4, 4, 4), (2, 2), (1, 1), (1, 1), 1),
    ((1, 3, 10, 11), (5, 3, 3, 2), (2, 3), (0, 2), (2, 1), 1),
    ((3, 6, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ((2, 4, 6, 6), (4, 1, 3, 3), (2, 1), (1, 1), (1, 1), 4),
    ((2, 5, 4, 3), (7, 5, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((2, 3, 5, 5), (2, 3, 5, 5), (1, 1), (0, 0), (1, 1), 1),
    # Shapes that cross the block sizes of native's AVX-512 GEMMs (csrc/cpu/conv_gemm.cpp):
    # C*kh*kw = 153 > 128 (two K blocks), 21 filters (not a multiple of 8), column panels of 48
    # that straddle two images; then 1122 output positions (several column blocks of 480).
    ((5, 17, 11, 13), (21, 17, 3, 3), (2, 2), (1, 1), (1, 1), 1),
    ((3, 9, 20, 21), (10, 9, 3, 3), (1, 1), (2, 1), (1, 2), 1),
    # ... and of its direct kernels (32-channel panels, 8-position/8-tap tiles): 32 and 64
    # filters with odd images and dilation, and 130 filters (a last panel of 2 channels); for
    # the input gradient (split by stride phase) 32 input channels with stride (2, 3) and
    # dilation, and stride 3 with a 2x2 kernel (phases no tap reaches: zero gradient).
    ((3, 5, 9, 7), (32, 5, 3, 3), (2, 1), (1, 2), (1, 1), 1),
    ((2, 8, 7, 9), (64, 8, 3, 3), (1, 1), (1, 1), (2, 1), 1),
    ((2, 8, 6, 5), (130, 8, 3, 3), (1, 1), (0, 1), (1, 1), 1),
    ((2, 32, 9, 8), (5, 32, 3, 3), (2, 3), (1, 0), (1, 2), 1),
    ((2, 32, 7, 7), (4, 32, 2, 2), (3, 3), (0, 0), (1, 1), 1),
    # Rows of 30 at stride 1: native's row forms (vectors along output rows, avx512's automatic
    # choice for such layers) take the forward and the weight gradient, with a partial vector.
    ((2, 3, 9, 30), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    # One output position: the direct weight gradient splits positions between threads, so
    # with 2 or more threads some get none (their partial sums must count as zero).
    ((1, 8, 3, 3), (32, 8, 3, 3), (1, 1), (0, 0), (1, 1), 1),
]
# The dcgan-mnist layers, batch 64: D.conv1, D.conv2, and the G's two transposed convolutions
# (their forward is conv2d_backward_data of the conv they transpose).
_BENCH = [
    ((64, 1, 28, 28), (64, 1, 4, 4), (2, 2), (1, 1), (1, 1), 1),
    ((64, 64, 14, 14), (128, 64, 4, 4), (2, 2), (1, 1), (1, 1), 1),
]
_BENCH_T = [
    ((64, 64, 14, 14), (128, 64, 4, 4), (2, 2), (1, 1), (1, 1), 1),
    ((64, 1, 28, 28), (64, 1, 4, 4), (2, 2), (1, 1), (1, 1), 1),
]


def _conv_cases(geom: tuple, which: tuple, bench: bool) -> list:
    x_shape, w_shape, s, p, d, g = geom
    kh, kw = w_shape[2], w_shape[3]
    OH, OW = out_size(x_shape[2], kh, s[0], p[0], d[0]), out_size(x_shape[3], kw, s[1], p[1], d[1])
    N, Co = x_shape[0], w_shape[0]
    y_shape = (N, Co, OH, OW)
    rows_k = (N * OH * OW, x_shape[1] * kh * kw)
    flops = 2.0 * N * Co * OH * OW * w_shape[1] * kh * kw
    label = (f"x{'x'.join(map(str, x_shape))},w{'x'.join(map(str, w_shape))},s{s[0]}{s[1]},"
             f"p{p[0]}{p[1]},d{d[0]}{d[1]},g{g}")

    def arrays(rng, dtype, *shapes):
        return [rng.standard_normal(sh).astype(dtype) for sh in shapes]

    make = {
        "im2col": lambda rng, dt: ((*arrays(rng, dt, x_shape), kh, kw, s, p, d), {}),
        "col2im": lambda rng, dt: ((*arrays(rng, dt, rows_k), x_shape, kh, kw, s, p, d), {}),
        "conv2d_forward": lambda rng, dt: ((*arrays(rng, dt, x_shape, w_shape), s, p, d, g), {}),
        "conv2d_backward_data":
            lambda rng, dt: ((*arrays(rng, dt, y_shape, w_shape), x_shape, s, p, d, g), {}),
        "conv2d_backward_weight":
            lambda rng, dt: ((*arrays(rng, dt, y_shape, x_shape), w_shape, s, p, d, g), {}),
        "conv2d_forward_bias":
            lambda rng, dt: ((*arrays(rng, dt, x_shape, w_shape, (Co,)), s, p, d, g), {}),
        "conv2d_backward_weight_bias":
            lambda rng, dt: ((*arrays(rng, dt, y_shape, x_shape), w_shape, s, p, d, g), {}),
    }
    copy_bytes = 8.0 * rows_k[0] * rows_k[1]
    cases = []
    for name in which:
        gemm = name.startswith("conv2d")
        cases.append(table.KernelCase(name, label, make[name], flops=flops if gemm else 0.0,
                                      bytes=0.0 if gemm else copy_bytes, bench=bench))
    return cases


_ALL = tuple(REFERENCE)
table.add(*(c for geom in _GEOMETRIES for c in _conv_cases(geom, _ALL, False)))
# NaN/inf in every array argument, on a small geometry, one the direct kernels take, and a padded
# 4x4/2 layer of 32 channels that native's panel forms take with every ISA variant (their
# border classes skip the taps a window has in the padding: not when 0 * inf must show)
_POISON = {"im2col": (0,), "col2im": (0,), "conv2d_forward": (0, 1),
           "conv2d_forward_bias": (0, 1, 2), "conv2d_backward_data": (0, 1),
           "conv2d_backward_weight": (0, 1), "conv2d_backward_weight_bias": (0, 1)}
_POISON_PANEL = ((2, 32, 8, 8), (32, 32, 4, 4), (2, 2), (1, 1), (1, 1), 1)
table.add(*(table.nonfinite(c, arg) for geom in (_GEOMETRIES[0], _GEOMETRIES[10], _POISON_PANEL)
            for c in _conv_cases(geom, _ALL, False) for arg in _POISON[c.kernel]))
table.add(*(c for geom in _BENCH for c in _conv_cases(
    geom, ("im2col", "col2im", "conv2d_forward", "conv2d_backward_weight", *_FUSED), True)))
table.add(*(c for geom in _BENCH_T for c in _conv_cases(geom, ("conv2d_backward_data",), True)))
