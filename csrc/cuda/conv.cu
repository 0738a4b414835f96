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
// Kernels first, then their launchers (see conv.h).
#include <algorithm>

#include "conv.h"
#include "launch.h"

namespace minigan::cuda {
namespace {

// 64x64 output tile per block of 256 threads, 4x4 outputs per thread, k in steps of 16.
constexpr int BM = 64, BN = 64, BK = 16, kThreads = 256;

// The geometry in int32 for cheap in-kernel index arithmetic (the launcher checks it fits).
struct Geom {
    int N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW;
    int Co, G, Cg, Og, khw, HW, OHW;
};

// Each thread loads 4 elements of a 64x16 operand tile, in one of two orders, so that
// neighbouring threads read neighbouring addresses of the tensor it comes from:
//   outer-fast: outer = t % 64, k = t / 64 + 4 q        (tile rows m or n contiguous in memory)
//   k-fast:     k = t % 16,     outer = t / 16 + 16 q   (k contiguous in memory)
__device__ __forceinline__ int fast_outer() { return threadIdx.x % 64; }
__device__ __forceinline__ int fast_outer_k(int q) { return threadIdx.x / 64 + 4 * q; }
__device__ __forceinline__ int kfast_k() { return threadIdx.x % 16; }
__device__ __forceinline__ int kfast_outer(int q) { return threadIdx.x / 16 + 16 * q; }

template <typename T>
struct Forward {
    static constexpr bool kAOuterFast = true, kBOuterFast = false;
    const T* x;
    const T* w;
    T* y;
    Geom g;
    int M, N, K;

    struct AState {
        const T* xg;
        int hb, wb;
        bool ok;
    };
    __device__ AState a_state(int grp, int m0) const {
        const int m = m0 + fast_outer();
        AState s{nullptr, 0, 0, m < M};
        const int mm = s.ok ? m : 0;
        const int n = mm / g.OHW, r = mm - n * g.OHW, oh = r / g.OW, ow = r - oh * g.OW;
        s.xg = x + (static_cast<int64_t>(n) * g.C + grp * g.Cg) * g.HW;
        s.hb = oh * g.sh - g.ph;
        s.wb = ow * g.sw - g.pw;
        return s;
    }
    __device__ void load_a(const AState& s, int k0, T (&r)[4]) const {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int k = k0 + fast_outer_k(q);
            T v = T(0);
            if (s.ok && k < K) {
                const int c = k / g.khw, rem = k - c * g.khw, i = rem / g.kw, j = rem - i * g.kw;
                const int h = s.hb + i * g.dh, ww = s.wb + j * g.dw;
                if (h >= 0 && h < g.H && ww >= 0 && ww < g.W) v = s.xg[(c * g.H + h) * g.W + ww];
            }
            r[q] = v;
        }
    }
    struct BState {
        const T* wg;
    };
    __device__ BState b_state(int grp, int) const {
        return {w + static_cast<int64_t>(grp) * g.Og * K};
    }
    __device__ void load_b(const BState& s, int n0, int k0, T (&r)[4]) const {
        const int k = k0 + kfast_k();
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int n = n0 + kfast_outer(q);
            r[q] = (n < N && k < K) ? s.wg[n * K + k] : T(0);
        }
    }
    __device__ void store(int grp, int, int m, int n, T v) const {
        const int img = m / g.OHW, pix = m - img * g.OHW;
        y[(static_cast<int64_t>(img) * g.Co + grp * g.Og + n) * g.OHW + pix] = v;
    }
};

template <typename T>
struct BackwardData {
    static constexpr bool kAOuterFast = true, kBOuterFast = false;
    const T* gy;
    const T* w;
    T* gx;
    Geom g;
    int M, N, K;

    struct AState {
        const T* gyg;
        int hp, wp;
        bool ok;
    };
    __device__ AState a_state(int grp, int m0) const {
        const int m = m0 + fast_outer();
        AState s{nullptr, 0, 0, m < M};
        const int mm = s.ok ? m : 0;
        const int n = mm / g.HW, r = mm - n * g.HW, h = r / g.W, ww = r - h * g.W;
        s.gyg = gy + (static_cast<int64_t>(n) * g.Co + grp * g.Og) * g.OHW;
        s.hp = h + g.ph;
        s.wp = ww + g.pw;
        return s;
    }
    __device__ void load_a(const AState& s, int k0, T (&r)[4]) const {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int k = k0 + fast_outer_k(q);
            T v = T(0);
            if (s.ok && k < K) {
                const int o = k / g.khw, rem = k - o * g.khw, i = rem / g.kw, j = rem - i * g.kw;
                // Output (oh, ow) read pixel (h, w) through tap (i, j) iff
                // oh*sh = h + ph - i*dh and ow*sw = w + pw - j*dw, in range.
                const int th = s.hp - i * g.dh, tw = s.wp - j * g.dw;
                if (th >= 0 && tw >= 0) {
                    const int oh = th / g.sh, ow = tw / g.sw;
                    if (oh * g.sh == th && ow * g.sw == tw && oh < g.OH && ow < g.OW)
                        v = s.gyg[(o * g.OH + oh) * g.OW + ow];
                }
            }
            r[q] = v;
        }
    }
    struct BState {
        const T* wg;
    };
    __device__ BState b_state(int grp, int) const {
        return {w + static_cast<int64_t>(grp) * g.Og * g.Cg * g.khw};
    }
    __device__ void load_b(const BState& s, int n0, int k0, T (&r)[4]) const {
        const int k = k0 + kfast_k();
        const int o = k / g.khw, rem = k - o * g.khw;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int n = n0 + kfast_outer(q);
            r[q] = (n < N && k < K) ? s.wg[(o * g.Cg + n) * g.khw + rem] : T(0);
        }
    }
    __device__ void store(int grp, int, int m, int n, T v) const {
        const int img = m / g.HW, pix = m - img * g.HW;
        gx[(static_cast<int64_t>(img) * g.C + grp * g.Cg + n) * g.HW + pix] = v;
    }
};

template <typename T>
struct BackwardWeight {
    static constexpr bool kAOuterFast = false, kBOuterFast = false;
    const T* gy;
    const T* x;
    T* out;  // gw, or the split-K workspace (splits, Co, Cg*kh*kw)
    Geom g;
    int M, N, K;

    struct AState {
        const T* gyg;
    };
    __device__ AState a_state(int grp, int) const {
        return {gy + static_cast<int64_t>(grp) * g.Og * g.OHW};
    }
    __device__ void load_a(const AState& s, int k0, T (&r)[4], int m0) const {
        const int k = k0 + kfast_k();
        const int n = k / g.OHW, pix = k - n * g.OHW;
        const T* base = s.gyg + static_cast<int64_t>(n) * g.Co * g.OHW + pix;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int m = m0 + kfast_outer(q);
            r[q] = (m < M && k < K) ? base[m * g.OHW] : T(0);
        }
    }
    // The 4 columns (c, i, j) a thread loads never change: decompose them once.
    struct BState {
        const T* xg;
        int coff[4], di[4], dj[4];
        bool ok[4];
    };
    __device__ BState b_state(int grp, int n0) const {
        BState s;
        s.xg = x + static_cast<int64_t>(grp) * g.Cg * g.HW;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int n = n0 + kfast_outer(q);
            s.ok[q] = n < N;
            const int nn = s.ok[q] ? n : 0;
            const int c = nn / g.khw, rem = nn - c * g.khw, i = rem / g.kw, j = rem - i * g.kw;
            s.coff[q] = c * g.HW;
            s.di[q] = i * g.dh - g.ph;
            s.dj[q] = j * g.dw - g.pw;
        }
        return s;
    }
    __device__ void load_b(const BState& s, int, int k0, T (&r)[4]) const {
        const int k = k0 + kfast_k();
        const int n = k / g.OHW, pix = k - n * g.OHW, oh = pix / g.OW, ow = pix - oh * g.OW;
        const T* xn = s.xg + static_cast<int64_t>(n) * g.C * g.HW;
        const int hb = oh * g.sh, wb = ow * g.sw;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int h = hb + s.di[q], ww = wb + s.dj[q];
            const bool in = k < K && s.ok[q] && h >= 0 && h < g.H && ww >= 0 && ww < g.W;
            r[q] = in ? xn[s.coff[q] + h * g.W + ww] : T(0);
        }
    }
    __device__ void store(int grp, int split, int m, int n, T v) const {
        out[((static_cast<int64_t>(split) * g.G + grp) * M + m) * N + n] = v;
    }
};

// load_a of BackwardWeight needs m0 (its A tile is k-fast); the others ignore it.
template <typename T, class P>
__device__ __forceinline__ void load_a(const P& p, const typename P::AState& s, int m0, int k0,
                                       T (&r)[4]) {
    if constexpr (P::kAOuterFast)
        p.load_a(s, k0, r);
    else
        p.load_a(s, k0, r, m0);
}

// Stores a thread's 4 loaded elements into a BK x 64 shared tile, in the order they were read.
template <bool kOuterFast, typename T>
__device__ __forceinline__ void to_shared(T (*tile)[BM + 4], const T (&r)[4]) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        if constexpr (kOuterFast)
            tile[fast_outer_k(q)][fast_outer()] = r[q];
        else
            tile[kfast_k()][kfast_outer(q)] = r[q];
    }
}

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
        __syncthreads();
        if (k0 + BK < kend) {
            load_a<T>(p, sa, m0, k0 + BK, ra);
            p.load_b(sb, n0, k0 + BK, rb);
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
void launch_igemm(const P& p, int groups, int splits, const char* kernel, cudaStream_t stream) {
    if (p.M == 0 || p.N == 0) return;  // nothing to write (a zero-size grid is a launch error)
    const int64_t ktiles = ceil_div(p.K, BK);
    const int kchunk = static_cast<int>(ceil_div(ktiles, splits) * BK);
    const dim3 grid(static_cast<unsigned>(ceil_div(p.M, BM)),
                    static_cast<unsigned>(ceil_div(p.N, BN)),
                    static_cast<unsigned>(int64_t{groups} * splits));
    MG_CHECK(grid.y <= 65535 && grid.z <= 65535, kernel, ": grid (", grid.x, ", ", grid.y, ", ",
             grid.z, ") exceeds the 65535 limit of gridDim.y/z");
    igemm_kernel<T, P><<<grid, kThreads, 0, stream>>>(p, splits, kchunk);
    check_launch(kernel);
}

}  // namespace

int64_t conv_max_weight_splits(const ConvShape& s) {
    const int64_t K = s.g.N * s.g.OH * s.g.OW;
    return std::max<int64_t>(1, ceil_div(K, 4 * BK));
}

template <typename T>
void conv2d_forward(const T* x, const T* w, T* y, const ConvShape& s, cudaStream_t stream) {
    const Geom g = make_geom(s);
    const Forward<T> p{x, w, y, g, g.N * g.OHW, g.Og, g.Cg * g.khw};
    launch_igemm<T>(p, g.G, 1, "conv2d_forward_kernel", stream);
}

template <typename T>
void conv2d_backward_data(const T* gy, const T* w, T* gx, const ConvShape& s,
                          cudaStream_t stream) {
    const Geom g = make_geom(s);
    const BackwardData<T> p{gy, w, gx, g, g.N * g.HW, g.Cg, g.Og * g.khw};
    launch_igemm<T>(p, g.G, 1, "conv2d_backward_data_kernel", stream);
}

template <typename T>
void conv2d_backward_weight(const T* gy, const T* x, T* gw, T* workspace, int splits,
                            const ConvShape& s, cudaStream_t stream) {
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
    launch_igemm<T>(p, g.G, splits, "conv2d_backward_weight_kernel", stream);
    if (splits > 1) {
        sum_splits_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(
            workspace, gw, splits, static_cast<int>(total));
        check_launch("conv2d_backward_weight sum_splits_kernel");
    }
}

#define MG_INSTANTIATE(T)                                                                    \
    template void conv2d_forward<T>(const T*, const T*, T*, const ConvShape&, cudaStream_t); \
    template void conv2d_backward_data<T>(const T*, const T*, T*, const ConvShape&,          \
                                          cudaStream_t);                                     \
    template void conv2d_backward_weight<T>(const T*, const T*, T*, T*, int, const ConvShape&, \
                                            cudaStream_t);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cuda
