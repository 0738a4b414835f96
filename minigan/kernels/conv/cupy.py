"""2-D convolution on CuPy arrays: unfold/fold as ``cupy.ElementwiseKernel`` gathers, and every
product as one cuBLAS GEMM (a strided-batched GEMM over the groups).

The public ``im2col``/``col2im`` keep the reference's layout (``minigan.kernels.conv``: cols of
shape (N*OH*OW, C*kh*kw)). The three convolution products use the same unfold in the
*channel-major* layout colsT (K, N*L), K = C*kh*kw, L = OH*OW, with k = (c*kh + i)*kw + j and
column n*L + l. Then every product is a plain 2-D GEMM with no transposing copy of the large
operand (group g owns rows [g*K/G, (g+1)*K/G) of colsT and rows [g*O/G, ...) of w)::

    forward:          Y  (O, N*L) = W2 (O, K) @ colsT (K, N*L);   y = Y as (N, O, OH, OW)
    backward data:    dcolsT (K, N*L) = W2^T @ gyT (O, N*L);       gx = fold(dcolsT)
    backward weight:  gW (O, K) = gyT (O, N*L) @ colsT^T

gyT is gy with its first two axes swapped (one copy of the small operand); y is turned back
the same way. The fold is a gather (each input pixel sums the window entries that read it, in
the reference's (i, j) order), so it needs no atomics and is deterministic.
"""

from __future__ import annotations

from typing import Any

from .. import conv as ref
from ..common.cupy import cached, cupy, float_dtype

Pair = tuple[int, int]

# Shared by unfold and fold: the geometry, and where cols entry (n, k, l) lives. k_major: the
# (K, N*L) layout of the products; else the reference's (N*L, K).
_GEOM = ("int64 N, int64 C, int64 H, int64 W, int64 OH, int64 OW, int32 kh, int32 kw, "
         "int32 sh, int32 sw, int32 ph, int32 pw, int32 dh, int32 dw, int32 k_major")

UNFOLD = (
    "raw T x, " + _GEOM, "T col",
    """
    const long long K = C * kh * kw, L = OH * OW;
    long long idx = i, n, k, l;
    if (k_major) { k = idx / (N * L); idx -= k * (N * L); n = idx / L; l = idx - n * L; }
    else { const long long row = idx / K; k = idx - row * K; n = row / L; l = row - n * L; }
    const long long j = k % kw, ck = k / kw, ki = ck % kh, c = ck / kh;
    const long long oh = l / OW, ow = l - oh * OW;
    const long long h = oh * sh - ph + ki * dh, w = ow * sw - pw + j * dw;
    col = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * C + c) * H + h) * W + w] : T(0);
    """,
    "minigan_unfold")

FOLD = (
    "raw T col, " + _GEOM, "T img",
    """
    const long long K = C * kh * kw, L = OH * OW;
    long long idx = i;
    const long long w = idx % W; idx /= W;
    const long long h = idx % H; idx /= H;
    const long long c = idx % C, n = idx / C;
    T acc = T(0);
    for (int ki = 0; ki < kh; ++ki) {
        const long long hh = h + ph - (long long)ki * dh;
        if (hh < 0 || hh % sh != 0) continue;
        const long long oh = hh / sh;
        if (oh >= OH) continue;
        for (int j = 0; j < kw; ++j) {
            const long long ww = w + pw - (long long)j * dw;
            if (ww < 0 || ww % sw != 0) continue;
            const long long ow = ww / sw;
            if (ow >= OW) continue;
            const long long k = (c * kh + ki) * kw + j, l = oh * OW + ow;
            acc += col[k_major ? k * (N * L) + n * L + l : (n * L + l) * K + k];
        }
    }
    img = acc;
    """,
    "minigan_fold")


@cached
def _kernel(spec: tuple) -> Any:
    return cupy().ElementwiseKernel(*spec)


def _geom(x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair,
          k_major: bool) -> tuple:
    N, C, H, W = (int(s) for s in x_shape)
    OH, OW = ref._out_hw(x_shape, kh, kw, stride, padding, dilation)
    return (N, C, H, W, OH, OW, int(kh), int(kw), *(int(v) for v in stride),
            *(int(v) for v in padding), *(int(v) for v in dilation), int(k_major))


def _unfold(x: Any, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair,
            k_major: bool) -> Any:
    cp = cupy()
    g = _geom(x.shape, kh, kw, stride, padding, dilation, k_major)
    N, C, OH, OW = g[0], g[1], g[4], g[5]
    shape = (C * kh * kw, N * OH * OW) if k_major else (N * OH * OW, C * kh * kw)
    cols = cp.empty(shape, dtype=x.dtype)
    _kernel(UNFOLD)(cp.ascontiguousarray(x).reshape(-1), *g, cols)
    return cols


def _fold(cols: Any, x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair,
          dilation: Pair, k_major: bool) -> Any:
    cp = cupy()
    img = cp.empty(tuple(int(s) for s in x_shape), dtype=cols.dtype)
    g = _geom(x_shape, kh, kw, stride, padding, dilation, k_major)
    _kernel(FOLD)(cp.ascontiguousarray(cols).reshape(-1), *g, img)
    return img


def im2col(x: Any, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair) -> Any:
    """cols (N*OH*OW, C*kh*kw) of x (N, C, H, W); see :func:`minigan.kernels.conv.im2col`."""
    ref._check_4d("x", x)
    ref._out_hw(x.shape, kh, kw, stride, padding, dilation)
    if float_dtype(x=x) is None:
        return ref.im2col(x, kh, kw, stride, padding, dilation)
    return _unfold(x, kh, kw, stride, padding, dilation, False)


def col2im(cols: Any, x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair,
           dilation: Pair) -> Any:
    """The adjoint of im2col; see :func:`minigan.kernels.conv.col2im`."""
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {tuple(x_shape)}")
    N, C, H, W = x_shape
    OH, OW = ref._out_hw(x_shape, kh, kw, stride, padding, dilation)
    if tuple(cols.shape) != (N * OH * OW, C * kh * kw):
        raise ValueError(f"cols: expected shape {(N * OH * OW, C * kh * kw)} for x_shape "
                         f"{tuple(x_shape)} and kernel ({kh}, {kw}), got {tuple(cols.shape)}")
    if float_dtype(cols=cols) is None:
        return ref.col2im(cols, x_shape, kh, kw, stride, padding, dilation)
    return _fold(cols, x_shape, kh, kw, stride, padding, dilation, False)


def _gy_t(gy: Any, x_shape: tuple, w_shape: tuple, stride: Pair, padding: Pair,
          dilation: Pair) -> Any:
    """gy (N, O, OH, OW), shape-checked, as gyT (O, N*OH*OW) (one transposing copy)."""
    ref._check_4d("grad_output", gy)
    N, Co = x_shape[0], w_shape[0]
    OH, OW = ref._out_hw(x_shape, w_shape[2], w_shape[3], stride, padding, dilation)
    if tuple(gy.shape) != (N, Co, OH, OW):
        raise ValueError(f"grad_output: expected shape {(N, Co, OH, OW)} for input "
                         f"{tuple(x_shape)} and weight {tuple(w_shape)}, got {tuple(gy.shape)}")
    return cupy().ascontiguousarray(gy.reshape(N, Co, OH * OW).transpose(1, 0, 2)).reshape(
        Co, N * OH * OW)


def conv2d_forward(x: Any, w: Any, stride: Pair, padding: Pair, dilation: Pair,
                   groups: int = 1) -> Any:
    """y = conv(x, w); see :func:`minigan.kernels.conv.conv2d_forward`."""
    ref._check_4d("x", x)
    ref._check_dtypes(x=x, weight=w)
    G, Cg, Og = ref._check_conv(x.shape, w.shape, groups)
    if float_dtype(x=x, weight=w) is None:
        return ref.conv2d_forward(x, w, stride, padding, dilation, groups)
    cp = cupy()
    N, Co, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    OH, OW = ref._out_hw(x.shape, kh, kw, stride, padding, dilation)
    cols = _unfold(x, kh, kw, stride, padding, dilation, True)          # (K, N*L)
    Kg = Cg * kh * kw
    w2 = cp.ascontiguousarray(w).reshape(Co, Kg)
    if G == 1:
        y2 = w2 @ cols                                                   # (O, N*L)
    else:
        y2 = cp.matmul(w2.reshape(G, Og, Kg), cols.reshape(G, Kg, -1)).reshape(Co, -1)
    y = cp.ascontiguousarray(y2.reshape(Co, N, OH * OW).transpose(1, 0, 2))
    return y.reshape(N, Co, OH, OW)


def conv2d_backward_data(gy: Any, w: Any, x_shape: tuple, stride: Pair, padding: Pair,
                         dilation: Pair, groups: int = 1) -> Any:
    """gx = conv^T(gy, w); see :func:`minigan.kernels.conv.conv2d_backward_data`."""
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
    ref._check_dtypes(grad_output=gy, weight=w)
    G, Cg, Og = ref._check_conv(x_shape, w.shape, groups)
    if float_dtype(grad_output=gy, weight=w) is None:
        return ref.conv2d_backward_data(gy, w, x_shape, stride, padding, dilation, groups)
    cp = cupy()
    Co, kh, kw = w.shape[0], w.shape[2], w.shape[3]
    gyT = _gy_t(gy, x_shape, w.shape, stride, padding, dilation)          # (O, N*L)
    Kg = Cg * kh * kw
    w2 = cp.ascontiguousarray(w).reshape(Co, Kg)
    if G == 1:
        dcols = w2.T @ gyT                                                # (K, N*L)
    else:
        dcols = cp.matmul(w2.reshape(G, Og, Kg).transpose(0, 2, 1),
                          gyT.reshape(G, Og, -1)).reshape(G * Kg, -1)
    return _fold(dcols, x_shape, kh, kw, stride, padding, dilation, True)


def conv2d_backward_weight(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                           dilation: Pair, groups: int = 1) -> Any:
    """gw = the weight gradient of conv; see
    :func:`minigan.kernels.conv.conv2d_backward_weight`."""
    ref._check_4d("x", x)
    ref._check_dtypes(grad_output=gy, x=x)
    w_shape = tuple(int(s) for s in w_shape)
    G, Cg, Og = ref._check_conv(x.shape, w_shape, groups)
    if float_dtype(grad_output=gy, x=x) is None:
        return ref.conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups)
    cp = cupy()
    kh, kw = w_shape[2], w_shape[3]
    gyT = _gy_t(gy, x.shape, w_shape, stride, padding, dilation)         # (O, N*L)
    cols = _unfold(x, kh, kw, stride, padding, dilation, True)          # (K, N*L)
    if G == 1:
        gw = gyT @ cols.T                                                # (O, K)
    else:
        Kg = Cg * kh * kw
        gw = cp.matmul(gyT.reshape(G, Og, -1), cols.reshape(G, Kg, -1).transpose(0, 2, 1))
    return cp.ascontiguousarray(gw).reshape(w_shape)


conv2d_forward_bias, conv2d_backward_weight_bias = ref.with_bias(conv2d_forward,
                                                                 conv2d_backward_weight)
