// Convolution as implicit GEMM: one tiled GEMM kernel, C[m, n] = sum_k A(m, k) B(k, n) per
// group, whose operands are gathered from the NCHW tensors on the fly -- no im2col buffer is
// ever materialised. Three "problems" say what A, B and the output are:
//
//   forward          m = (n, oh, ow)  n = o        k = (c, i, j)   A = x gathered, B = w
//   backward data    m = (n, h, w)    n = c        k = (o, i, j)   A = gy gathered, B = w
//   backward weight  m = o            n = (c,i,j)  k = (n, oh, ow) A = gy,          B = x gathered
//
// Backward data gathers gy for each input pixel (the oh with oh*sh - ph + i*dh = h exist only
// where the stride divides), so every gx element is written once: no atomics, deterministic.
// Where no oh exists the gathered A is 0, and a k-tile whose weights hold NaN or inf takes a
// masked loop that leaves those products out, as the reference does (sync_tile).
// Kernels first, then their launchers (see conv.h).
#include <mma.h>

#include <algorithm>
#include <type_traits>

#include "conv.h"
#include "launch.h"

namespace minigan::cuda {
namespace {

#include "conv_problems.cuh"
#include "conv_tf32.cuh"

// blockIdx = (m tile, n tile, group * splits + split). Global loads for the next k-tile are
// issued into registers before the current tile's FMAs, so their latency hides behind them.
template <typename T, class P>
__global__ void __launch_bounds__(kThreads) igemm_kernel(const P p, int splits, int kchunk) {
    __shared__ T As[BK][BM + 4];
    __shared__ T Bs[BK][BN + 4];
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int grp = blockIdx.z / splits, split = blockIdx.z - grp * splits;
    const int kbeg = split * kchunk, kend = min(p.K, kbeg + kchunk);
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;

    const auto sa = p.a_state(grp, m0);
    const auto sb = p.b_state(grp, n0);
    T acc[4][4] = {};
    T ra[4], rb[4];
    if (kbeg < kend) {
        load_a<T>(p, sa, m0, kbeg, ra);
        p.load_b(sb, n0, kbeg, rb);
    }
    for (int k0 = kbeg; k0 < kend; k0 += BK) {
        __syncthreads();  // the previous tile's FMAs are done with As/Bs
        to_shared<P::kAOuterFast>(As, ra);
        to_shared<P::kBOuterFast>(Bs, rb);
        const bool masked = sync_tile<P>(rb);  // NaN/inf in B: only the reference's products
        if (k0 + BK < kend) {
            load_a<T>(p, sa, m0, k0 + BK, ra);
            p.load_b(sb, n0, k0 + BK, rb);
        }
        if constexpr (P::kMaskA) {
            if (masked) {
                masked_tile_fma(p, As, Bs, m0, k0, acc);
                continue;
            }
        }
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[kk][tx + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[kk][ty + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
        }
    }
    // m = m0 + tx + 16 i: neighbouring threads store neighbouring pixels (coalesced NCHW).
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int m = m0 + tx + 16 * i, n = n0 + ty + 16 * j;
            if (m < p.M && n < p.N) p.store(grp, split, m, n, acc[i][j]);
        }
}

// gw[e] = sum over s of ws[s * total + e], in order s = 0, 1, ... (deterministic).
template <typename T>
__global__ void sum_splits_kernel(const T* __restrict__ ws, T* __restrict__ gw, int splits,
                                  int total) {
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += blockDim.x * gridDim.x) {
        T s = T(0);
        for (int k = 0; k < splits; ++k) s += ws[static_cast<int64_t>(k) * total + e];
        gw[e] = s;
    }
}

// ---- launchers ---------------------------------------------------------------------------

Geom make_geom(const ConvShape& s) {
    const ConvGeometry& c = s.g;
    MG_CHECK(s.groups >= 1 && c.C % s.groups == 0 && s.Co % s.groups == 0,
             "conv: groups must divide C and Co");
    const int64_t xs = c.N * c.C * c.H * c.W, ys = c.N * s.Co * c.OH * c.OW,
                  ws = s.Co * (c.C / s.groups) * c.kh * c.kw;
    MG_CHECK(xs <= kInt32Max && ys <= kInt32Max && ws <= kInt32Max,
             "conv: every array must have fewer than 2^31 elements (x ", xs, ", y ", ys, ", w ",
             ws, ")");
    auto i = [](int64_t v) { return static_cast<int>(v); };
    return Geom{i(c.N), i(c.C), i(c.H), i(c.W), i(c.kh), i(c.kw), i(c.sh), i(c.sw), i(c.ph),
                i(c.pw), i(c.dh), i(c.dw), i(c.OH), i(c.OW), i(s.Co), i(s.groups),
                i(c.C / s.groups), i(s.Co / s.groups), i(c.kh * c.kw), i(c.H * c.W),
                i(c.OH * c.OW)};
}

template <typename T, class P>
void launch_igemm(const P& p, int groups, int splits, bool tf32, const char* kernel,
                  cudaStream_t stream) {
    if (p.M == 0 || p.N == 0) return;  // nothing to write (a zero-size grid is a launch error)
    const int64_t ktiles = ceil_div(p.K, BK);
    const int kchunk = static_cast<int>(ceil_div(ktiles, splits) * BK);
    const dim3 grid(static_cast<unsigned>(ceil_div(p.M, BM)),
                    static_cast<unsigned>(ceil_div(p.N, BN)),
                    static_cast<unsigned>(int64_t{groups} * splits));
    MG_CHECK(grid.y <= 65535 && grid.z <= 65535, kernel, ": grid (", grid.x, ", ", grid.y, ", ",
             grid.z, ") exceeds the 65535 limit of gridDim.y/z");
    if constexpr (std::is_same_v<T, float>) {
        if (tf32) {
            int dev = 0, major = 0;
            MG_CHECK(cudaGetDevice(&dev) == cudaSuccess &&
                         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ==
                             cudaSuccess,
                     kernel, ": cannot query the device's compute capability");
            MG_CHECK(major >= 8, kernel, ": the TF32 path needs compute capability 8.0 or newer, "
                     "this device has ", major, ".x");
            igemm_tf32_kernel<P><<<grid, kThreads, 0, stream>>>(p, splits, kchunk);
            check_launch(kernel);
            return;
        }
    }
    MG_CHECK(!tf32, kernel, ": the TF32 path exists for float32 only");
    igemm_kernel<T, P><<<grid, kThreads, 0, stream>>>(p, splits, kchunk);
    check_launch(kernel);
}

}  // namespace

int64_t conv_max_weight_splits(const ConvShape& s) {
    const int64_t K = s.g.N * s.g.OH * s.g.OW;
    return std::max<int64_t>(1, ceil_div(K, 4 * BK));
}

void check_conv_limits(const ConvShape& s, ConvPass pass, int64_t splits) {
    const ConvGeometry& c = s.g;
    auto fits = [](int64_t v) { return v >= 0 && v <= kInt32Max; };
    const char* x = pass == ConvPass::backward_data ? "x_shape" : "x";
    const char* y = pass == ConvPass::forward ? "out" : "grad_output";
    const int64_t xs = checked_mul(checked_mul(c.N, c.C, x), checked_mul(c.H, c.W, x), x);
    const int64_t ys =
        checked_mul(checked_mul(c.N, s.Co, y), checked_mul(c.OH, c.OW, y), y);
    const int64_t Cg = c.C / s.groups, Og = s.Co / s.groups;
    const int64_t khw = checked_mul(c.kh, c.kw, "weight");
    const int64_t ws = checked_mul(checked_mul(s.Co, Cg, "weight"), khw, "weight");
    MG_CHECK_ARG(fits(xs) && fits(c.H * c.W), x, xs, " elements: the CUDA conv kernels index "
                 "with int32, so at most 2^31 - 1");
    MG_CHECK_ARG(fits(ys) && fits(c.OH * c.OW), y, ys, " elements: the CUDA conv kernels index "
                 "with int32, so at most 2^31 - 1");
    MG_CHECK_ARG(fits(ws) && fits(khw), "weight", ws, " elements: the CUDA conv kernels index "
                 "with int32, so at most 2^31 - 1");
    // The padded input, and with it every in-kernel coordinate (oh * sh + i * dh), in int32.
    MG_CHECK_ARG(fits(c.H + 2 * c.ph) && fits(c.W + 2 * c.pw), "padding",
                 "the padded input (", c.H + 2 * c.ph, ", ", c.W + 2 * c.pw,
                 ") must be at most 2^31 - 1 a side for the CUDA conv kernels");
    MG_CHECK_ARG(fits(c.sh) && fits(c.sw), "stride", "expected at most 2^31 - 1, got (", c.sh,
                 ", ", c.sw, ")");
    MG_CHECK_ARG(fits(c.dh) && fits(c.dw), "dilation", "expected at most 2^31 - 1, got (", c.dh,
                 ", ", c.dw, ")");
    // The grid of launch_igemm: (M tiles, N tiles, groups * splits), N the problem's columns.
    const int64_t n = pass == ConvPass::forward         ? Og
                      : pass == ConvPass::backward_data ? Cg
                                                        : Cg * khw;
    MG_CHECK_ARG(ceil_div(n, BN) <= 65535, "weight", "a group's ", n, " GEMM columns need ",
                 ceil_div(n, BN), " tiles of ", BN, ", more than the 65535 of gridDim.y");
    MG_CHECK_ARG(checked_mul(s.groups, splits, "groups") <= 65535, "groups", "groups (",
                 s.groups, ") x splits (", splits, ") exceeds the 65535 of gridDim.z");
    if (pass == ConvPass::backward_weight && splits > 1)
        MG_CHECK_ARG(fits(checked_mul(splits, ws, "workspace")), "workspace",
                     "splits * w.size must be at most 2^31 - 1, got ", splits, " * ", ws);
}

template <typename T>
void conv2d_forward(const T* x, const T* w, T* y, const ConvShape& s, bool tf32,
                    cudaStream_t stream) {
    const Geom g = make_geom(s);
    const Forward<T> p{x, w, y, g, g.N * g.OHW, g.Og, g.Cg * g.khw};
    launch_igemm<T>(p, g.G, 1, tf32, "conv2d_forward_kernel", stream);
}

template <typename T>
void conv2d_backward_data(const T* gy, const T* w, T* gx, const ConvShape& s, bool tf32,
                          cudaStream_t stream) {
    const Geom g = make_geom(s);
    const BackwardData<T> p{gy, w, gx, g, g.N * g.HW, g.Cg, g.Og * g.khw};
    launch_igemm<T>(p, g.G, 1, tf32, "conv2d_backward_data_kernel", stream);
}

template <typename T>
void conv2d_backward_weight(const T* gy, const T* x, T* gw, T* workspace, int splits,
                            const ConvShape& s, bool tf32, cudaStream_t stream) {
    const Geom g = make_geom(s);
    const int64_t total = int64_t{g.Co} * g.Cg * g.khw;
    MG_CHECK(splits >= 1 && splits <= conv_max_weight_splits(s),
             "conv2d_backward_weight: splits must be in [1, ", conv_max_weight_splits(s),
             "], got ", splits);
    MG_CHECK(splits == 1 || (workspace != nullptr && splits * total <= kInt32Max),
             "conv2d_backward_weight: splits > 1 needs a workspace of splits * gw.size "
             "(< 2^31) elements");
    const int M = g.Og, N = g.Cg * g.khw, K = g.N * g.OHW;
    if (total == 0) return;
    // K == 0 (an empty batch) needs no special case: the tiles are stored as zeros.
    const BackwardWeight<T> p{gy, x, splits == 1 ? gw : workspace, g, M, N, K};
    launch_igemm<T>(p, g.G, splits, tf32, "conv2d_backward_weight_kernel", stream);
    if (splits > 1) {
        sum_splits_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(
            workspace, gw, splits, static_cast<int>(total));
        check_launch("conv2d_backward_weight sum_splits_kernel");
    }
}

#define MG_INSTANTIATE(T)                                                                     \
    template void conv2d_forward<T>(const T*, const T*, T*, const ConvShape&, bool,           \
                                    cudaStream_t);                                            \
    template void conv2d_backward_data<T>(const T*, const T*, T*, const ConvShape&, bool,     \
                                          cudaStream_t);                                      \
    template void conv2d_backward_weight<T>(const T*, const T*, T*, T*, int, const ConvShape&, \
                                            bool, cudaStream_t);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cuda
