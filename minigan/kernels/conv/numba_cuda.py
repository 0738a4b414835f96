"""2-D convolution as ``numba.cuda.jit`` kernels, with the NumPy reference's signatures and layout
(minigan/kernels/conv/).

The three convolution products are implicit GEMMs: no im2col buffer is materialized; each tile
of the GEMM operands is gathered from the image straight into shared memory. With P x Q outputs,
a reduction of length R, and one grid z-slice per group g:

    forward          C[m, o]  = sum_k   A[m, k] B[k, o]    A = im2col(x) gathered, B = w
                     m = (n, oh, ow), k = (c, i, j), o within the group; C -> y[n, g*O/G + o]
    backward-weight  C[k, o]  = sum_m   A[k, m] B[m, o]    A = im2col(x)^T, B = gy as rows
                     C -> gw[g*O/G + o, k]
    backward-data    C[p, c]  = sum_r   A[p, r] B[r, c]    p = (n, h, w), r = (o, i, j)
                     A[p, r] = gy[n, o, oh, ow] where oh*sh - ph + i*dh = h and ow likewise
                     (0 where no such integer (oh, ow) exists), B[r, c] = w[o, c, i, j]

so the data gradient is a gather (a transposed convolution), with no atomics and no col2im.

Tiling (one kernel body for the three): a block of TX x TY threads computes a BM x BN tile of C,
BM = TX*RM, BN = TY*RN, each thread an RM x RN patch held in registers (rows tx + TX*a, columns
ty + TY*b, so a warp reads shared memory conflict-free along rows and as a broadcast along
columns). The reduction walks BK-wide slabs: every thread gathers its share of the BM x BK and
BK x BN slabs into shared memory, a barrier, then BK rank-1 updates of the register tile. Tails
(P, Q, R not multiples of the tile) load zeros and skip the stores.

Accumulation is in the inputs' dtype, like cuBLAS's default SGEMM. im2col and col2im are plain
grid-stride kernels (col2im as a gather over the kernel offsets, so again no atomics).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

from ..common import numba_cuda as common
from . import Pair, _check_4d, _check_conv, _check_dtypes, _out_hw, with_bias

# (TX, TY, RM, RN, BK). The GPU tile is 64 x 64 x 16 with 256 threads; the simulator, which
# runs one Python thread per CUDA thread, runs the same kernel with a 16 x 16 x 8 tile and 16.
GPU_TILE = (16, 16, 4, 4, 16)
SIM_TILE = (4, 4, 4, 4, 8)
TILE = SIM_TILE if common.simulated() else GPU_TILE

# Geometry tuple passed to every kernel: (N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw,
# Cg, Og), Cg/Og the input/output channels of one group.


@cuda.jit(device=True)
def _im2col_value(x, m, k, g, geo, zero):
    """x[n, g*Cg + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] for row m = (n, oh, ow) and column
    k = (c, i, j) of the group's im2col matrix; ``zero`` (of x's dtype) in the padding."""
    OW, OH, kw, kh = geo[5], geo[4], geo[7], geo[6]
    ow = m % OW
    t = m // OW
    oh = t % OH
    n = t // OH
    j = k % kw
    t = k // kw
    i = t % kh
    c = t // kh
    h = oh * geo[8] - geo[10] + i * geo[12]
    w = ow * geo[9] - geo[11] + j * geo[13]
    if h >= 0 and h < geo[2] and w >= 0 and w < geo[3]:
        return x[n, g * geo[14] + c, h, w]
    return zero


@cuda.jit(device=True)
def _fwd_a(x, p, r, g, geo, zero):
    return _im2col_value(x, p, r, g, geo, zero)


@cuda.jit(device=True)
def _fwd_b(w2, r, q, g, geo, zero):
    return w2[g * geo[15] + q, r]


@cuda.jit(device=True)
def _fwd_store(y, p, q, g, v, geo):
    OW, OH = geo[5], geo[4]
    ow = p % OW
    t = p // OW
    y[t // OH, g * geo[15] + q, t % OH, ow] = v


@cuda.jit(device=True)
def _bww_a(x, p, r, g, geo, zero):
    return _im2col_value(x, r, p, g, geo, zero)


@cuda.jit(device=True)
def _bww_b(gy, r, q, g, geo, zero):
    OW, OH = geo[5], geo[4]
    ow = r % OW
    t = r // OW
    return gy[t // OH, g * geo[15] + q, t % OH, ow]


@cuda.jit(device=True)
def _bww_store(gw2, p, q, g, v, geo):
    gw2[g * geo[15] + q, p] = v


@cuda.jit(device=True)
def _bwd_a(gy, p, r, g, geo, zero):
    W, H, kw, kh = geo[3], geo[2], geo[7], geo[6]
    wq = p % W
    t = p // W
    h = t % H
    n = t // H
    j = r % kw
    t = r // kw
    i = t % kh
    o = t // kh
    hh = h + geo[10] - i * geo[12]
    ww = wq + geo[11] - j * geo[13]
    if hh >= 0 and ww >= 0 and hh % geo[8] == 0 and ww % geo[9] == 0:
        oh = hh // geo[8]
        ow = ww // geo[9]
        if oh < geo[4] and ow < geo[5]:
            return gy[n, g * geo[15] + o, oh, ow]
    return zero


@cuda.jit(device=True)
def _bwd_b(w, r, q, g, geo, zero):
    kw, kh = geo[7], geo[6]
    j = r % kw
    t = r // kw
    return w[g * geo[15] + t // kh, q, t % kh, j]


@cuda.jit(device=True)
def _bwd_store(gx, p, q, g, v, geo):
    W, H = geo[3], geo[2]
    wq = p % W
    t = p // W
    gx[t // H, g * geo[14] + q, t % H, wq] = v


def _gemm(T: Any, tile: tuple, load_a: Any, load_b: Any, store: Any) -> Any:
    """The tiled implicit-GEMM kernel C[P, Q] = sum_r A[p, r] B[r, q] (per group, grid z) with
    the given gathers and store; see the module docstring."""
    TX, TY, RM, RN, BK = tile
    BM, BN, NT = TX * RM, TY * RN, TX * TY
    if (BM * BK) % NT or (BK * BN) % NT:
        raise ValueError(f"tile {tile}: the BM x BK and BK x BN slabs must split evenly over "
                         f"the {NT} threads")
    LOAD_A, LOAD_B = BM * BK // NT, BK * BN // NT
    zero = T(0.0)

    @cuda.jit
    def kernel(a_src, b_src, out, P, Q, R, geo):
        As = cuda.shared.array((BK, BM), T)
        Bs = cuda.shared.array((BK, BN), T)
        acc = cuda.local.array((RM, RN), T)
        a_reg = cuda.local.array(RM, T)
        b_reg = cuda.local.array(RN, T)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TX + tx
        p0 = cuda.blockIdx.x * BM
        q0 = cuda.blockIdx.y * BN
        g = cuda.blockIdx.z
        for a in range(RM):
            for b in range(RN):
                acc[a, b] = zero
        for r0 in range(0, R, BK):
            # Consecutive threads gather consecutive p (resp. q): neighbouring output pixels.
            for s in range(LOAD_A):
                e = tid + s * NT
                pp = e % BM
                rr = e // BM
                v = zero
                if p0 + pp < P and r0 + rr < R:
                    v = load_a(a_src, p0 + pp, r0 + rr, g, geo, zero)
                As[rr, pp] = v
            for s in range(LOAD_B):
                e = tid + s * NT
                qq = e % BN
                rr = e // BN
                v = zero
                if q0 + qq < Q and r0 + rr < R:
                    v = load_b(b_src, r0 + rr, q0 + qq, g, geo, zero)
                Bs[rr, qq] = v
            cuda.syncthreads()
            for kk in range(BK):
                for a in range(RM):
                    a_reg[a] = As[kk, tx + a * TX]
                for b in range(RN):
                    b_reg[b] = Bs[kk, ty + b * TY]
                for a in range(RM):
                    for b in range(RN):
                        acc[a, b] += a_reg[a] * b_reg[b]
            cuda.syncthreads()
        for a in range(RM):
            p = p0 + tx + a * TX
            if p < P:
                for b in range(RN):
                    q = q0 + ty + b * TY
                    if q < Q:
                        store(out, p, q, g, acc[a, b], geo)

    return kernel


@functools.cache
def _kernels(dtype_name: str, tile: tuple) -> dict:
    """The conv kernels for one dtype and tile, compiled on their first launch."""
    T = common.numba_type(np.dtype(dtype_name))
    zero = T(0.0)

    @cuda.jit
    def im2col_k(x, cols, geo):
        R, K = cols.shape
        for e in range(cuda.grid(1), R * K, cuda.gridsize(1)):
            m = e // K
            k = e - m * K
            cols[m, k] = _im2col_value(x, m, k, 0, geo, zero)

    @cuda.jit
    def col2im_k(cols, x, geo):
        # One thread per image element: the sum over the kernel offsets (i, j) whose window
        # position lands on it, i.e. h + ph - i*dh = oh*sh for an integer 0 <= oh < OH.
        N, C, H, W = x.shape
        OH, OW, kh, kw = geo[4], geo[5], geo[6], geo[7]
        for e in range(cuda.grid(1), N * C * H * W, cuda.gridsize(1)):
            wq = e % W
            t = e // W
            h = t % H
            t = t // H
            c = t % C
            n = t // C
            acc = zero
            for i in range(kh):
                hh = h + geo[10] - i * geo[12]
                if hh < 0 or hh % geo[8] != 0 or hh // geo[8] >= OH:
                    continue
                for j in range(kw):
                    ww = wq + geo[11] - j * geo[13]
                    if ww < 0 or ww % geo[9] != 0 or ww // geo[9] >= OW:
                        continue
                    row = (n * OH + hh // geo[8]) * OW + ww // geo[9]
                    acc += cols[row, (c * kh + i) * kw + j]
            x[n, c, h, wq] = acc

    return {
        "forward": _gemm(T, tile, _fwd_a, _fwd_b, _fwd_store),
        "backward_weight": _gemm(T, tile, _bww_a, _bww_b, _bww_store),
        "backward_data": _gemm(T, tile, _bwd_a, _bwd_b, _bwd_store),
        "im2col": im2col_k,
        "col2im": col2im_k,
    }


def _geo(x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair,
         Cg: int, Og: int) -> tuple:
    OH, OW = _out_hw(x_shape, kh, kw, stride, padding, dilation)
    N, C, H, W = (int(s) for s in x_shape)
    return (N, C, H, W, OH, OW, int(kh), int(kw), int(stride[0]), int(stride[1]),
            int(padding[0]), int(padding[1]), int(dilation[0]), int(dilation[1]), int(Cg),
            int(Og))


def _launch_gemm(launch: Any, which: str, dtype: np.dtype, a_src: Any, b_src: Any, out: Any,
                 P: int, Q: int, R: int, G: int, geo: tuple) -> None:
    if out.size == 0:
        return
    if R == 0:  # an empty reduction (no input channels): the product is zero
        out[...] = 0
        return
    tile = TILE
    TX, TY, RM, RN, _ = tile
    grid = (math.ceil(P / (TX * RM)), math.ceil(Q / (TY * RN)), G)
    launch(_kernels(dtype.name, tile)[which], grid, (TX, TY), a_src, b_src, out, P, Q, R, geo)


def im2col(x: Any, kh: int, kw: int, stride: Pair, padding: Pair, dilation: Pair) -> Any:
    """cols[(n*OH + oh)*OW + ow, (c*kh + i)*kw + j] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw +
    j*dw] (0 in the padding): (N, C, H, W) -> (N*OH*OW, C*kh*kw)."""
    _check_4d("x", x)
    dtype = common.float_dtype("x", x)
    geo = _geo(x.shape, kh, kw, stride, padding, dilation, x.shape[1], 0)
    launch = common.Launch(x=x)
    N, C, OH, OW = geo[0], geo[1], geo[4], geo[5]
    cols = launch.xp.empty((N * OH * OW, C * kh * kw), dtype=dtype)
    if cols.size:
        block = common.BLOCK
        launch(_kernels(dtype.name, TILE)["im2col"], common.blocks_for(cols.size, block), block,
               x, cols, geo)
    return cols


def col2im(cols: Any, x_shape: tuple, kh: int, kw: int, stride: Pair, padding: Pair,
           dilation: Pair) -> Any:
    """The adjoint of im2col: x[n, c, h, w] = the sum of the cols entries im2col copied from
    there (entries that came from the padding are dropped)."""
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
    dtype = common.float_dtype("cols", cols)
    geo = _geo(x_shape, kh, kw, stride, padding, dilation, x_shape[1], 0)
    N, C, OH, OW = geo[0], geo[1], geo[4], geo[5]
    if tuple(cols.shape) != (N * OH * OW, C * kh * kw):
        raise ValueError(f"cols: expected shape {(N * OH * OW, C * kh * kw)} for x_shape "
                         f"{x_shape} and kernel ({kh}, {kw}), got {tuple(cols.shape)}")
    launch = common.Launch(cols=cols)
    x = launch.xp.empty(x_shape, dtype=dtype)
    if x.size:
        block = common.BLOCK
        launch(_kernels(dtype.name, TILE)["col2im"], common.blocks_for(x.size, block), block,
               cols, x, geo)
    return x


def conv2d_forward(x: Any, w: Any, stride: Pair, padding: Pair, dilation: Pair,
                   groups: int = 1) -> Any:
    """y[n, o, oh, ow] = sum_{c,i,j} x[n, g*C/G + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
    * w[o, c, i, j] (g the group of o): x (N, C, H, W), w (O, C/G, kh, kw) -> (N, O, OH, OW),
    as one tiled implicit GEMM per group."""
    _check_4d("x", x)
    _check_dtypes(x=x, weight=w)
    dtype = common.float_dtype("x", x)
    G, Cg, Og = _check_conv(x.shape, w.shape, groups)
    kh, kw = int(w.shape[2]), int(w.shape[3])
    geo = _geo(x.shape, kh, kw, stride, padding, dilation, Cg, Og)
    launch = common.Launch(x=x, weight=w)
    xp = launch.xp
    N, OH, OW = geo[0], geo[4], geo[5]
    y = xp.empty((N, int(w.shape[0]), OH, OW), dtype=dtype)
    w2 = xp.ascontiguousarray(w).reshape(w.shape[0], -1)
    _launch_gemm(launch, "forward", dtype, x, w2, y, N * OH * OW, Og, Cg * kh * kw, G, geo)
    return y


def _check_gy(gy: Any, x_shape: tuple, w_shape: tuple, geo: tuple) -> None:
    _check_4d("grad_output", gy)
    want = (geo[0], int(w_shape[0]), geo[4], geo[5])
    if tuple(gy.shape) != want:
        raise ValueError(f"grad_output: expected shape {want} for input {tuple(x_shape)} and "
                         f"weight {tuple(w_shape)}, got {tuple(gy.shape)}")


def conv2d_backward_data(gy: Any, w: Any, x_shape: tuple, stride: Pair, padding: Pair,
                         dilation: Pair, groups: int = 1) -> Any:
    """gx = the adjoint of conv2d_forward in x applied to gy (the transposed convolution):
    gx[n, c, h, w] = sum of gy[n, o, oh, ow] * w[o, c', i, j] over oh*sh - ph + i*dh = h,
    ow*sw - pw + j*dw = w; an implicit GEMM gathering gy (module docstring)."""
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, C, H, W), got {x_shape}")
    _check_dtypes(grad_output=gy, weight=w)
    dtype = common.float_dtype("grad_output", gy)
    G, Cg, Og = _check_conv(x_shape, w.shape, groups)
    kh, kw = int(w.shape[2]), int(w.shape[3])
    geo = _geo(x_shape, kh, kw, stride, padding, dilation, Cg, Og)
    _check_gy(gy, x_shape, w.shape, geo)
    launch = common.Launch(grad_output=gy, weight=w)
    gx = launch.xp.empty(x_shape, dtype=dtype)
    N, H, W = x_shape[0], x_shape[2], x_shape[3]
    _launch_gemm(launch, "backward_data", dtype, gy, w, gx, N * H * W, Cg, Og * kh * kw, G, geo)
    return gx


def conv2d_backward_weight(gy: Any, x: Any, w_shape: tuple, stride: Pair, padding: Pair,
                           dilation: Pair, groups: int = 1) -> Any:
    """gw[o, c, i, j] = sum_{n,oh,ow} gy[n, o, oh, ow] * x[n, g*C/G + c, oh*sh - ph + i*dh,
    ow*sw - pw + j*dw]: the adjoint of conv2d_forward in w, an implicit GEMM reducing over
    (n, oh, ow)."""
    _check_4d("x", x)
    _check_dtypes(grad_output=gy, x=x)
    dtype = common.float_dtype("x", x)
    w_shape = tuple(int(s) for s in w_shape)
    G, Cg, Og = _check_conv(x.shape, w_shape, groups)
    kh, kw = w_shape[2], w_shape[3]
    geo = _geo(x.shape, kh, kw, stride, padding, dilation, Cg, Og)
    _check_gy(gy, x.shape, w_shape, geo)
    launch = common.Launch(grad_output=gy, x=x)
    gw = launch.xp.empty(w_shape, dtype=dtype)
    N, OH, OW = geo[0], geo[4], geo[5]
    _launch_gemm(launch, "backward_weight", dtype, x, gy, gw.reshape(w_shape[0], -1),
                 Cg * kh * kw, Og, N * OH * OW, G, geo)
    return gw


conv2d_forward_bias, conv2d_backward_weight_bias = with_bias(conv2d_forward,
                                                             conv2d_backward_weight)
