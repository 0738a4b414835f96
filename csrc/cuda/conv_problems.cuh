// The three convolution "problems" of the implicit GEMM in conv.cu (see its header comment):
// what the A and B operand tiles gather from the NCHW tensors and where an output element goes.
// Shared by the FP32 kernel (conv.cu) and the TF32 tensor-core kernel (conv_tf32.cuh).
// Included only from conv.cu, inside its anonymous namespace.
#pragma once

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
    static constexpr bool kMaskA = false;  // A's zeros are the padding the reference reads too
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
    // A's zeros where tap (i, j) never reaches pixel (h, w) stand for products the reference
    // (a GEMM with w, then col2im dropping what falls outside) never forms: with a NaN or inf
    // weight, 0 * w would put a NaN there that the reference does not have (see reaches()).
    static constexpr bool kMaskA = true;
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
                const int o = k / g.khw, rem = k - o * g.khw;
                const int pix = source(s.hp, s.wp, rem);
                if (pix >= 0) v = s.gyg[o * g.OHW + pix];
            }
            r[q] = v;
        }
    }
    // The output pixel oh * OW + ow that read input pixel (hp - ph, wp - pw) through tap
    // rem = i * kw + j, or -1: it exists iff oh*sh = hp - i*dh and ow*sw = wp - j*dw, in range.
    __device__ int source(int hp, int wp, int rem) const {
        const int i = rem / g.kw, j = rem - i * g.kw;
        const int th = hp - i * g.dh, tw = wp - j * g.dw;
        if (th < 0 || tw < 0) return -1;
        const int oh = th / g.sh, ow = tw / g.sw;
        if (oh * g.sh != th || ow * g.sw != tw || oh >= g.OH || ow >= g.OW) return -1;
        return oh * g.OW + ow;
    }
    // Whether GEMM entry (m, k) is a product the reference forms: pixel m reached through k.
    __device__ bool reaches(int m, int k) const {
        if (m >= M || k >= K) return false;
        const int r = m % g.HW, h = r / g.W, ww = r - h * g.W;
        return source(h + g.ph, ww + g.pw, k % g.khw) >= 0;
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
    static constexpr bool kMaskA = false;  // B's zeros are the padding the reference reads too
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

// The barrier after a k-tile is stored to shared memory; for a problem whose A has zeros that
// stand for absent products (kMaskA), also whether any B of the tile is NaN or infinite, so
// that the tile must skip those products (masked_tile_fma). Rare: only a broken run has such
// weights, and every other tile keeps the plain FMA loop, where 0 * a finite b adds nothing.
template <class P, typename T>
__device__ __forceinline__ bool sync_tile(const T (&rb)[4]) {
    if constexpr (P::kMaskA) {
        bool bad = false;
#pragma unroll
        for (int q = 0; q < 4; ++q) bad |= !isfinite(rb[q]);
        return __syncthreads_or(bad) != 0;
    } else {
        __syncthreads();
        return false;
    }
}

// acc[i][j] += sum over the tile's k of A(m, k) B(k, n), m = m0 + tx + 16 i, n = n0 + ty + 16 j,
// taking only the products the reference forms (P::reaches): the slow path of sync_tile.
template <class P, typename S, typename Acc>
__device__ void masked_tile_fma(const P& p, const S (*As)[BM + 4], const S (*Bs)[BN + 4],
                                int m0, int k0, Acc (&acc)[4][4]) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    for (int kk = 0; kk < BK; ++kk)
        for (int i = 0; i < 4; ++i) {
            if (!p.reaches(m0 + tx + 16 * i, k0 + kk)) continue;
            for (int j = 0; j < 4; ++j)
                acc[i][j] += static_cast<Acc>(As[kk][tx + 16 * i]) * Bs[kk][ty + 16 * j];
        }
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

