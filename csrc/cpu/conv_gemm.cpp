// float32 convolution GEMMs with operands packed straight from the images (see conv_gemm.h).
//
// This file alone is compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma
// (CMakeLists.txt) and is only entered after cpu_has_avx512() said yes. Everything here has
// internal linkage and uses no C++ library template, so no AVX-512 copy of an inline function
// can be picked by the linker for code that runs on an older CPU.
//
// The GEMM is C (M x Ncols) = A (M x K) * B (K x Ncols), organised as in BLIS/GotoBLAS:
//   * A is packed once, whole, into MR-row panels [M/MR][K][MR] (it is the small operand: the
//     weights, or gy for the weight gradient);
//   * each thread owns a range of C's columns; for each block of NC columns and KC rows of K it
//     packs B into NR-column panels [NC/NR][KC][NR] -- here the packing *is* the im2col, done by
//     masked AVX-512 gathers into a buffer that stays in L2;
//   * an 8 x 48 micro-kernel (24 zmm accumulators, one broadcast of A and three loads of B per
//     k) accumulates a tile of a thread-local C block across the KC blocks;
//   * when a column block is finished, an op-specific store moves it to its place in the output
//     (NCHW y, plain gw, or a scatter-add into dx) -- once per element, not once per KC block.
// Loop order inside a block: one B panel (KC x 48 floats, 24 KB at KC = 128: L1) is reused by
// every A panel (8 x KC, streamed from the A block, M x KC: L2).
#include "conv_gemm.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace minigan::cpu {
namespace {

constexpr int64_t MR = 8;     // rows of a micro-tile
constexpr int64_t NR = 48;    // columns of a micro-tile: three 16-float vectors
constexpr int64_t KC = 128;   // largest K block (a B panel of 128 x 48 floats is 24 KB)
constexpr int64_t NC_MAX = 480;
constexpr int64_t CBLOCK_FLOATS = 65536;  // a thread's C block: 256 KB, L2
constexpr int32_t OUTSIDE = -(1 << 29);   // a lane's row/column origin that is never in bounds

inline int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t lmax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// c (MR x NR, row stride ldc) = (accumulate ? c : 0) + a^T b over kc steps, with a an MR panel
// ([kc][MR]) and b an NR panel ([kc][NR]). The arrays of accumulators are fully unrolled, so
// they live in 24 zmm registers; GCC turns set1(a[r]) into an embedded-broadcast FMA operand.
inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b,
                         float* __restrict c, int64_t ldc, bool accumulate) {
    __m512 c0[MR], c1[MR], c2[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        if (accumulate) {
            c0[r] = _mm512_load_ps(c + r * ldc);
            c1[r] = _mm512_load_ps(c + r * ldc + 16);
            c2[r] = _mm512_load_ps(c + r * ldc + 32);
        } else {
            c0[r] = c1[r] = c2[r] = _mm512_setzero_ps();
        }
    }
    for (int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16),
                     b2 = _mm512_load_ps(b + 32);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            const __m512 ar = _mm512_set1_ps(a[r]);
            c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
            c2[r] = _mm512_fmadd_ps(ar, b2, c2[r]);
        }
        a += MR;
        b += NR;
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        _mm512_store_ps(c + r * ldc, c0[r]);
        _mm512_store_ps(c + r * ldc + 16, c1[r]);
        _mm512_store_ps(c + r * ldc + 32, c2[r]);
    }
}

// Lanes t < n of a 16-lane mask.
inline __mmask16 first_lanes(int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// In-bounds test 0 <= h < H and 0 <= w < W for 16 lanes at once (negative -> huge unsigned).
inline __mmask16 inside(__m512i h, __m512i w, __m512i H, __m512i W) {
    return _mm512_cmplt_epu32_mask(h, H) & _mm512_cmplt_epu32_mask(w, W);
}

float* alloc_floats(int64_t n) {
    const size_t bytes = size_t(cdiv(lmax(n, 16) * int64_t(sizeof(float)), 64) * 64);
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<float*>(p);
}

struct Floats {  // an owned, 64-byte aligned float buffer
    float* p;
    explicit Floats(int64_t n) : p(alloc_floats(n)) {}
    ~Floats() { std::free(p); }
    Floats(const Floats&) = delete;
    Floats& operator=(const Floats&) = delete;
};

// Runs C = A * B over threads, each on its own range of C's columns. Column ranges are cut at
// multiples of `granule` (NR, or the columns of one image when stores of two threads could
// otherwise meet in one image). pack_a(panel, dst) fills A panel `panel` ([K][MR]);
// pack_b(k0, kc, j0, nc, dst) fills ceil(nc/NR) panels [kc][NR], zero in columns >= nc;
// begin(j0, j1) runs once per thread before its stores; store(j0, nc, cblock, ldc) puts a
// finished column block (MR-padded rows, ldc floats apart) into the output.
template <class PackA, class PackB, class Begin, class Store>
void parallel_gemm(int64_t M, int64_t K, int64_t ncols, int64_t granule, int threads,
                   const PackA& pack_a, const PackB& pack_b, const Begin& begin,
                   const Store& store) {
    const int64_t mpanels = cdiv(M, MR), mpad = mpanels * MR;
    const int64_t kblocks = cdiv(K, KC), kc_max = cdiv(K, kblocks);  // even K blocks
    const int64_t nc_max = lmin(NC_MAX, lmax(NR, CBLOCK_FLOATS / mpad / NR * NR));
    const int64_t units = cdiv(ncols, granule);
    const int nt = int(lmax(1, lmin(int64_t(threads), units)));

    Floats a_packed(mpad * K);
    Floats work(int64_t(nt) * (kc_max * nc_max + mpad * nc_max));

#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
#pragma omp for schedule(static)
        for (int64_t p = 0; p < mpanels; ++p) pack_a(p, a_packed.p + p * K * MR);

        const int64_t j0 = lmin(ncols, units * t / nt * granule);
        const int64_t j1 = lmin(ncols, units * (t + 1) / nt * granule);
        float* bbuf = work.p + int64_t(t) * (kc_max * nc_max + mpad * nc_max);
        float* cblk = bbuf + kc_max * nc_max;
        if (j0 < j1) begin(j0, j1);
        for (int64_t jc = j0; jc < j1; jc += nc_max) {
            const int64_t nc = lmin(nc_max, j1 - jc), npanels = cdiv(nc, NR), ldc = npanels * NR;
            for (int64_t pc = 0; pc < K; pc += kc_max) {
                const int64_t kc = lmin(kc_max, K - pc);
                pack_b(pc, kc, jc, nc, bbuf);
                for (int64_t jp = 0; jp < npanels; ++jp)
                    for (int64_t ir = 0; ir < mpanels; ++ir)
                        micro_kernel(kc, a_packed.p + ir * K * MR + pc * MR, bbuf + jp * kc * NR,
                                     cblk + ir * MR * ldc + jp * NR, ldc, pc > 0);
            }
            store(jc, nc, cblk, ldc);
        }
    }
}

// A panel from a row-major matrix: dst[k][r] = a[(p*MR + r) * lda + k], 0 for rows >= M.
inline void pack_a_rows(const float* a, int64_t lda, int64_t M, int64_t K, int64_t p,
                        float* dst) {
    for (int64_t r = 0; r < MR; ++r) {
        const int64_t m = p * MR + r;
        if (m < M) {
            const float* src = a + m * lda;
            for (int64_t k = 0; k < K; ++k) dst[k * MR + r] = src[k];
        } else {
            for (int64_t k = 0; k < K; ++k) dst[k * MR + r] = 0.0f;
        }
    }
}

// Where output column j = (n, oh, ow) reads x: the flat index of x[n, 0, oh*sh-ph, ow*sw-pw]
// and the window's top-left (h0, w0); OUTSIDE for columns past the end (gathers skip them).
struct ColumnOrigins {
    alignas(64) int32_t off[NR];
    alignas(64) int32_t h0[NR];
    alignas(64) int32_t w0[NR];

    void set(const ConvShape& s, int64_t j, int64_t count) {
        const int64_t P = s.OH * s.OW;
        int64_t n = j / P, rem = j % P, oh = rem / s.OW, ow = rem % s.OW;
        for (int64_t t = 0; t < NR; ++t) {
            if (t < count) {
                const int64_t hh = oh * s.sh - s.ph, ww = ow * s.sw - s.pw;
                h0[t] = int32_t(hh);
                w0[t] = int32_t(ww);
                off[t] = int32_t(n * s.C * s.H * s.W + hh * s.W + ww);
                if (++ow == s.OW) {
                    ow = 0;
                    if (++oh == s.OH) oh = 0, ++n;
                }
            } else {
                h0[t] = w0[t] = OUTSIDE;
                off[t] = 0;
            }
        }
    }
};

}  // namespace

// ---- forward: y (O x N*P) = w (O x K) * col (K x N*P) ---------------------------------------

void conv2d_forward_avx512(const float* x, const float* w, float* y, const ConvShape& s,
                           int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, khw = s.kh * s.kw;
    const __m512i H = _mm512_set1_epi32(int32_t(s.H)), W = _mm512_set1_epi32(int32_t(s.W));

    auto pack_a = [&](int64_t p, float* dst) { pack_a_rows(w, K, s.O, K, p, dst); };
    // B panel rows k = (c, i, j) of col, for 48 output positions: one masked gather per 16.
    auto pack_b = [&](int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
        ColumnOrigins o;
        for (int64_t jp = 0; jp * NR < nc; ++jp, dst += kc * NR) {
            o.set(s, j0 + jp * NR, nc - jp * NR);
            __m512i off[3], h0[3], w0[3];
            for (int g = 0; g < 3; ++g) {
                off[g] = _mm512_load_si512(o.off + 16 * g);
                h0[g] = _mm512_load_si512(o.h0 + 16 * g);
                w0[g] = _mm512_load_si512(o.w0 + 16 * g);
            }
            int64_t c = k0 / khw, i = (k0 % khw) / s.kw, j = k0 % s.kw;
            for (int64_t k = 0; k < kc; ++k) {
                const int32_t di = int32_t(i * s.dh), dj = int32_t(j * s.dw);
                const __m512i vdi = _mm512_set1_epi32(di), vdj = _mm512_set1_epi32(dj);
                const __m512i koff = _mm512_set1_epi32(int32_t(c * s.H * s.W + di * s.W + dj));
                for (int g = 0; g < 3; ++g) {
                    const __mmask16 m = inside(_mm512_add_epi32(h0[g], vdi),
                                               _mm512_add_epi32(w0[g], vdj), H, W);
                    const __m512 v = _mm512_mask_i32gather_ps(
                        _mm512_setzero_ps(), m, _mm512_add_epi32(off[g], koff), x, 4);
                    _mm512_store_ps(dst + k * NR + 16 * g, v);
                }
                if (++j == s.kw) {
                    j = 0;
                    if (++i == s.kh) i = 0, ++c;
                }
            }
        }
    };
    auto begin = [](int64_t, int64_t) {};
    // Column block -> y[n, o, p]: runs of consecutive p within one image are contiguous.
    auto store = [&](int64_t j0, int64_t nc, const float* cblk, int64_t ldc) {
        for (int64_t j = j0; j < j0 + nc;) {
            const int64_t n = j / P, p = j % P, run = lmin(P - p, j0 + nc - j);
            for (int64_t o = 0; o < s.O; ++o)
                std::memcpy(y + (n * s.O + o) * P + p, cblk + o * ldc + (j - j0),
                            size_t(run) * sizeof(float));
            j += run;
        }
    };
    parallel_gemm(s.O, K, s.N * P, NR, threads, pack_a, pack_b, begin, store);
}

// ---- weight gradient: gw (O x K) = gy (O x N*P) * col^T (N*P x K) ----------------------------

void conv2d_backward_weight_avx512(const float* gy, const float* x, float* gw,
                                   const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, khw = s.kh * s.kw, NP = s.N * P;
    const __m512i H = _mm512_set1_epi32(int32_t(s.H)), W = _mm512_set1_epi32(int32_t(s.W));

    // A panel rows o, reduction index q = (n, p): gy[n, o, p].
    auto pack_a = [&](int64_t pnl, float* dst) {
        for (int64_t r = 0; r < MR; ++r) {
            const int64_t o = pnl * MR + r;
            for (int64_t n = 0; n < s.N; ++n)
                for (int64_t p = 0; p < P; ++p)
                    dst[(n * P + p) * MR + r] = o < s.O ? gy[(n * s.O + o) * P + p] : 0.0f;
        }
    };
    // B panel rows q = (n, oh, ow), columns k = (c, i, j): col[k, q], gathered 16 k at a time.
    auto pack_b = [&](int64_t q0, int64_t qc, int64_t k0, int64_t nc, float* dst) {
        for (int64_t kp = 0; kp * NR < nc; ++kp, dst += qc * NR) {
            alignas(64) int32_t koff[NR], di[NR], dj[NR];
            for (int64_t t = 0; t < NR; ++t) {
                const int64_t k = k0 + kp * NR + t;
                if (kp * NR + t < nc) {
                    const int64_t c = k / khw, i = (k % khw) / s.kw, j = k % s.kw;
                    di[t] = int32_t(i * s.dh);
                    dj[t] = int32_t(j * s.dw);
                    koff[t] = int32_t(c * s.H * s.W + i * s.dh * s.W + j * s.dw);
                } else {
                    di[t] = dj[t] = OUTSIDE;
                    koff[t] = 0;
                }
            }
            __m512i vk[3], vi[3], vj[3];
            for (int g = 0; g < 3; ++g) {
                vk[g] = _mm512_load_si512(koff + 16 * g);
                vi[g] = _mm512_load_si512(di + 16 * g);
                vj[g] = _mm512_load_si512(dj + 16 * g);
            }
            int64_t n = q0 / P, oh = (q0 % P) / s.OW, ow = q0 % s.OW;
            for (int64_t q = 0; q < qc; ++q) {
                const int64_t hh = oh * s.sh - s.ph, ww = ow * s.sw - s.pw;
                const __m512i vh = _mm512_set1_epi32(int32_t(hh)),
                              vw = _mm512_set1_epi32(int32_t(ww)),
                              base = _mm512_set1_epi32(int32_t(n * s.C * s.H * s.W + hh * s.W + ww));
                for (int g = 0; g < 3; ++g) {
                    const __mmask16 m = inside(_mm512_add_epi32(vi[g], vh),
                                               _mm512_add_epi32(vj[g], vw), H, W);
                    const __m512 v = _mm512_mask_i32gather_ps(
                        _mm512_setzero_ps(), m, _mm512_add_epi32(vk[g], base), x, 4);
                    _mm512_store_ps(dst + q * NR + 16 * g, v);
                }
                if (++ow == s.OW) {
                    ow = 0;
                    if (++oh == s.OH) oh = 0, ++n;
                }
            }
        }
    };
    auto begin = [](int64_t, int64_t) {};
    auto store = [&](int64_t k0, int64_t nc, const float* cblk, int64_t ldc) {
        for (int64_t o = 0; o < s.O; ++o)
            std::memcpy(gw + o * K + k0, cblk + o * ldc, size_t(nc) * sizeof(float));
    };
    parallel_gemm(s.O, NP, K, NR, threads, pack_a, pack_b, begin, store);
}

// ---- data gradient: dcol (K x N*P) = w^T (K x O) * gy (O x N*P), then dx = col2im(dcol) -------
// Threads own whole images (granule P), so the scatter-adds of two threads never meet.

void conv2d_backward_data_avx512(const float* gy, const float* w, float* dx, const ConvShape& s,
                                 int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, khw = s.kh * s.kw;
    const int64_t CHW = s.C * s.H * s.W;
    const __m512i H = _mm512_set1_epi32(int32_t(s.H)), W = _mm512_set1_epi32(int32_t(s.W));

    // A panel rows k, reduction index o: w[o, k] -- MR consecutive k of one row of w.
    auto pack_a = [&](int64_t pnl, float* dst) {
        for (int64_t o = 0; o < s.O; ++o)
            for (int64_t r = 0; r < MR; ++r) {
                const int64_t k = pnl * MR + r;
                dst[o * MR + r] = k < K ? w[o * K + k] : 0.0f;
            }
    };
    // B panel rows o, columns (n, p): gy[n, o, p]; one masked load when the 48 columns are
    // consecutive positions of one image, else a gather.
    auto pack_b = [&](int64_t o0, int64_t oc, int64_t j0, int64_t nc, float* dst) {
        for (int64_t jp = 0; jp * NR < nc; ++jp, dst += oc * NR) {
            const int64_t jb = j0 + jp * NR, cnt = lmin(NR, nc - jp * NR);
            const int64_t n0 = jb / P, p0 = jb % P;
            const bool one_image = p0 + cnt <= P;
            alignas(64) int32_t off[NR];
            for (int64_t t = 0; t < NR; ++t) {
                const int64_t j = jb + lmin(t, cnt - 1);
                off[t] = int32_t((j / P) * s.O * P + j % P);
            }
            for (int g = 0; g < 3; ++g) {
                const __mmask16 m = first_lanes(cnt - 16 * g);
                const __m512i vo = _mm512_load_si512(off + 16 * g);
                for (int64_t o = o0; o < o0 + oc; ++o) {
                    __m512 v;
                    if (one_image)
                        v = _mm512_maskz_loadu_ps(m, gy + (n0 * s.O + o) * P + p0 + 16 * g);
                    else
                        v = _mm512_mask_i32gather_ps(
                            _mm512_setzero_ps(), m,
                            _mm512_add_epi32(vo, _mm512_set1_epi32(int32_t(o * P))), gy, 4);
                    _mm512_store_ps(dst + (o - o0) * NR + 16 * g, v);
                }
            }
        }
    };
    auto begin = [&](int64_t j0, int64_t j1) {
        std::memset(dx + (j0 / P) * CHW, 0, size_t((j1 - j0) / P * CHW) * sizeof(float));
    };
    // dx[n, c, h0 + i*dh, w0 + j*dw] += dcol[(c, i, j), (n, p)] for in-bounds positions: for a
    // fixed row (c, i, j) the 16 columns of a vector hit 16 different pixels, so one masked
    // gather-add-scatter per vector is exact.
    auto store = [&](int64_t j0, int64_t nc, const float* cblk, int64_t ldc) {
        for (int64_t jp = 0; jp * NR < nc; ++jp) {
            ColumnOrigins o;
            o.set(s, j0 + jp * NR, nc - jp * NR);
            __m512i off[3], h0[3], w0[3];
            for (int g = 0; g < 3; ++g) {
                off[g] = _mm512_load_si512(o.off + 16 * g);
                h0[g] = _mm512_load_si512(o.h0 + 16 * g);
                w0[g] = _mm512_load_si512(o.w0 + 16 * g);
            }
            int64_t c = 0, i = 0, j = 0;
            for (int64_t k = 0; k < K; ++k) {
                const int32_t di = int32_t(i * s.dh), dj = int32_t(j * s.dw);
                const __m512i vdi = _mm512_set1_epi32(di), vdj = _mm512_set1_epi32(dj);
                const __m512i koff = _mm512_set1_epi32(int32_t(c * s.H * s.W + di * s.W + dj));
                const float* row = cblk + k * ldc + jp * NR;
                for (int g = 0; g < 3; ++g) {
                    const __mmask16 m = inside(_mm512_add_epi32(h0[g], vdi),
                                               _mm512_add_epi32(w0[g], vdj), H, W);
                    if (m == 0) continue;
                    const __m512i idx = _mm512_add_epi32(off[g], koff);
                    const __m512 old = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, dx, 4);
                    _mm512_mask_i32scatter_ps(dx, m, idx,
                                              _mm512_add_ps(old, _mm512_load_ps(row + 16 * g)), 4);
                }
                if (++j == s.kw) {
                    j = 0;
                    if (++i == s.kh) i = 0, ++c;
                }
            }
        }
    };
    parallel_gemm(K, s.O, s.N * P, P, threads, pack_a, pack_b, begin, store);
}


// ---- direct forms: the image is read in place (zero-padded copy), never packed -----------------
// x is copied once into a zero-padded buffer, so every tap of every output position is an
// in-bounds load; the micro-kernel then broadcasts x values straight from it (8 output
// positions at a time, through 8 base pointers and one shared tap offset) against packed rows of
// 32 weights (forward) or 32 gradient channels (weight gradient). No gathers, no B packing.

namespace {

constexpr int64_t DR = 8;   // output positions (forward) / taps (weight gradient) per tile
constexpr int64_t DV = 32;  // channels per tile: two 16-float vectors

struct Padded {  // x[n, c] planes, zero-padded to (Hp, Wp)
    Floats buf;
    int64_t Hp, Wp;
    Padded(const float* x, const ConvShape& s, int threads)
        : buf(s.N * s.C * (s.H + 2 * s.ph) * (s.W + 2 * s.pw)),
          Hp(s.H + 2 * s.ph), Wp(s.W + 2 * s.pw) {
        const int64_t planes = s.N * s.C;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t pl = 0; pl < planes; ++pl) {
            float* dst = buf.p + pl * Hp * Wp;
            const float* src = x + pl * s.H * s.W;
            std::memset(dst, 0, size_t(s.ph * Wp) * sizeof(float));
            for (int64_t h = 0; h < s.H; ++h) {
                float* row = dst + (h + s.ph) * Wp;
                std::memset(row, 0, size_t(s.pw) * sizeof(float));
                std::memcpy(row + s.pw, src + h * s.W, size_t(s.W) * sizeof(float));
                std::memset(row + s.pw + s.W, 0, size_t(s.pw) * sizeof(float));
            }
            std::memset(dst + (s.H + s.ph) * Wp, 0, size_t(s.ph * Wp) * sizeof(float));
        }
    }
    // Offset of tap k = (c, i, j) from a window's top-left corner.
    int32_t tap(const ConvShape& s, int64_t k) const {
        const int64_t khw = s.kh * s.kw, c = k / khw, i = (k % khw) / s.kw, j = k % s.kw;
        return int32_t(c * Hp * Wp + i * s.dh * Wp + j * s.dw);
    }
    // Offset of output position q = (n, oh, ow)'s window top-left corner.
    int64_t corner(const ConvShape& s, int64_t q) const {
        const int64_t P = s.OH * s.OW, n = q / P, oh = (q % P) / s.OW, ow = q % s.OW;
        return n * s.C * Hp * Wp + oh * s.sh * Wp + ow * s.sw;
    }
};

// acc[r] (2 vectors) += sum_t v[t][0:32] * base[r][off[t]] over t < n: the direct micro-kernel.
inline void direct_kernel(int64_t n, const int32_t* __restrict off, const float* __restrict v,
                          const float* const* base, __m512 acc[DR][2]) {
    const float *b0 = base[0], *b1 = base[1], *b2 = base[2], *b3 = base[3], *b4 = base[4],
                *b5 = base[5], *b6 = base[6], *b7 = base[7];
    for (int64_t t = 0; t < n; ++t) {
        const int32_t o = off[t];
        const __m512 v0 = _mm512_load_ps(v + t * DV), v1 = _mm512_load_ps(v + t * DV + 16);
        const float* bs[DR] = {b0 + o, b1 + o, b2 + o, b3 + o, b4 + o, b5 + o, b6 + o, b7 + o};
#pragma GCC unroll 8
        for (int r = 0; r < DR; ++r) {
            const __m512 a = _mm512_set1_ps(*bs[r]);
            acc[r][0] = _mm512_fmadd_ps(a, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, v1, acc[r][1]);
        }
    }
}

}  // namespace

void conv2d_forward_direct_avx512(const float* x, const float* w, float* y, const ConvShape& s,
                                  int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, NP = s.N * P;
    const int64_t opanels = cdiv(s.O, DV), qtiles = cdiv(NP, DR);
    const Padded xp(x, s, threads);
    // Weights as [o-panel][k][32 o]: a tap's 32 output channels are one aligned pair of vectors.
    Floats wp(opanels * K * DV);
    int32_t* taps = static_cast<int32_t*>(std::aligned_alloc(64, size_t(cdiv(K * 4, 64) * 64)));
    if (taps == nullptr) throw std::bad_alloc();
    for (int64_t k = 0; k < K; ++k) taps[k] = xp.tap(s, k);
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int64_t op = 0; op < opanels; ++op)
            for (int64_t k = 0; k < K; ++k)
                for (int64_t v = 0; v < DV; ++v) {
                    const int64_t o = op * DV + v;
                    wp.p[(op * K + k) * DV + v] = o < s.O ? w[o * K + k] : 0.0f;
                }
#pragma omp for schedule(static)
        for (int64_t qt = 0; qt < qtiles; ++qt) {
            const float* base[DR];
            int64_t qs[DR];
            for (int64_t r = 0; r < DR; ++r) {
                qs[r] = lmin(qt * DR + r, NP - 1);  // a short last tile repeats its last position
                base[r] = xp.buf.p + xp.corner(s, qs[r]);
            }
            for (int64_t op = 0; op < opanels; ++op) {
                __m512 acc[DR][2];
                for (int r = 0; r < DR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
                direct_kernel(K, taps, wp.p + op * K * DV, base, acc);
                alignas(64) float tile[DR][DV];
                for (int r = 0; r < DR; ++r) {
                    _mm512_store_ps(tile[r], acc[r][0]);
                    _mm512_store_ps(tile[r] + 16, acc[r][1]);
                }
                const int64_t omax = lmin(DV, s.O - op * DV);
                for (int64_t r = 0; r < DR && qt * DR + r < NP; ++r) {
                    const int64_t n = qs[r] / P, p = qs[r] % P;
                    float* dst = y + (n * s.O + op * DV) * P + p;
                    for (int64_t v = 0; v < omax; ++v) dst[v * P] = tile[r][v];
                }
            }
        }
    }
    std::free(taps);
}

void conv2d_backward_weight_direct_avx512(const float* gy, const float* x, float* gw,
                                          const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, NP = s.N * P;
    const int64_t opanels = cdiv(s.O, DV), ktiles = cdiv(K, DR);
    const Padded xp(x, s, threads);
    // gy as [o-panel][q][32 o], and every position's window corner.
    Floats gp(opanels * NP * DV);
    int32_t* corners = static_cast<int32_t*>(std::aligned_alloc(64, size_t(cdiv(NP * 4, 64) * 64)));
    if (corners == nullptr) throw std::bad_alloc();
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int64_t q = 0; q < NP; ++q) corners[q] = int32_t(xp.corner(s, q));
#pragma omp for schedule(static)
        for (int64_t n = 0; n < s.N; ++n)
            for (int64_t op = 0; op < opanels; ++op)
                for (int64_t v = 0; v < DV; ++v) {
                    const int64_t o = op * DV + v;
                    float* dst = gp.p + (op * NP + n * P) * DV + v;
                    if (o < s.O) {
                        const float* src = gy + (n * s.O + o) * P;
                        for (int64_t p = 0; p < P; ++p) dst[p * DV] = src[p];
                    } else {
                        for (int64_t p = 0; p < P; ++p) dst[p * DV] = 0.0f;
                    }
                }
        // Tiles of (32 channels) x (8 taps), the reduction over every output position; one
        // o-panel's gy (NP x 32 floats) is reused by all tap tiles of a thread.
#pragma omp for schedule(static) collapse(2)
        for (int64_t op = 0; op < opanels; ++op)
            for (int64_t kt = 0; kt < ktiles; ++kt) {
                const float* base[DR];
                for (int64_t r = 0; r < DR; ++r)
                    base[r] = xp.buf.p + xp.tap(s, lmin(kt * DR + r, K - 1));
                __m512 acc[DR][2];
                for (int r = 0; r < DR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
                direct_kernel(NP, corners, gp.p + op * NP * DV, base, acc);
                alignas(64) float tile[DR][DV];
                for (int r = 0; r < DR; ++r) {
                    _mm512_store_ps(tile[r], acc[r][0]);
                    _mm512_store_ps(tile[r] + 16, acc[r][1]);
                }
                const int64_t omax = lmin(DV, s.O - op * DV);
                for (int64_t r = 0; r < DR && kt * DR + r < K; ++r)
                    for (int64_t v = 0; v < omax; ++v) gw[(op * DV + v) * K + kt * DR + r] = tile[r][v];
            }
    }
    std::free(corners);
}


// Input gradient, direct: dx[n, c, h, w] = sum over (o, i, j) with h = oh*sh - ph + i*dh (and
// likewise w) of w[o, c, i, j] * gy[n, o, oh, ow]. Pixels are split by phase (h + ph) mod sh,
// (w + pw) mod sw: within a phase the taps that reach a pixel are fixed (i*dh = phase mod sh)
// and oh = (h + ph)/sh - (i*dh - phase)/sh, so each phase is a stride-1 correlation of a padded gy
// with a sub-kernel: the direct micro-kernel again, 32 input channels by 8 pixels, every dx
// element written once (no scatter-add, no col2im).
void conv2d_backward_data_direct_avx512(const float* gy, const float* w, float* dx,
                                        const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, khw = s.kh * s.kw;
    const int64_t cpanels = cdiv(s.C, DV);
    // gy zero-padded so that every oh (ow) a phase reads is in bounds.
    const int64_t PT = cdiv((s.kh - 1) * s.dh, s.sh), PL = cdiv((s.kw - 1) * s.dw, s.sw);
    const int64_t PB = lmax(0, (s.H - 1 + s.ph) / s.sh - (s.OH - 1));
    const int64_t PR = lmax(0, (s.W - 1 + s.pw) / s.sw - (s.OW - 1));
    const int64_t Hg = s.OH + PT + PB, Wg = s.OW + PL + PR, plane = Hg * Wg;
    Floats gp(s.N * s.O * plane);
    const int64_t phases = s.sh * s.sw;
    // Per phase: the taps (i, j) that reach its pixels, with their row/column shifts (ti, tj);
    // the reduction index is (o, tap) and its offset in the padded gy o*plane - ti*Wg - tj.
    struct Tap {
        int64_t i, j, ti, tj;
    };
    // [phase][tap] and the tap count per phase (heap: sh*sw*kh*kw is the caller's to choose).
    Tap* taps = static_cast<Tap*>(std::malloc(sizeof(Tap) * size_t(phases * khw)));
    int64_t* ntaps = static_cast<int64_t*>(std::malloc(sizeof(int64_t) * size_t(phases)));
    if (taps == nullptr || ntaps == nullptr) {
        std::free(taps);
        std::free(ntaps);
        throw std::bad_alloc();
    }
    int64_t max_red = 1;
    for (int64_t ph = 0; ph < phases; ++ph) {
        const int64_t rh = ph / s.sw, rw = ph % s.sw;
        ntaps[ph] = 0;
        for (int64_t i = 0; i < s.kh; ++i)
            for (int64_t j = 0; j < s.kw; ++j)
                if ((i * s.dh - rh) % s.sh == 0 && (j * s.dw - rw) % s.sw == 0)
                    taps[ph * khw + ntaps[ph]++] = {i, j, (i * s.dh - rh) / s.sh,
                                                    (j * s.dw - rw) / s.sw};
        max_red = lmax(max_red, s.O * ntaps[ph]);
    }
    Floats wp(phases * cpanels * max_red * DV);
    int32_t* offs =
        static_cast<int32_t*>(std::aligned_alloc(64, size_t(cdiv(phases * max_red * 4, 64) * 64)));
    if (offs == nullptr) {
        std::free(taps);
        std::free(ntaps);
        throw std::bad_alloc();
    }
    // Pixels of each phase, in (n, h, w) order: h = sh*a + rh - ph for a >= 0.
    const int64_t HW = s.H * s.W;
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static) collapse(2)
        for (int64_t ph = 0; ph < phases; ++ph)
            for (int64_t o = 0; o < s.O; ++o)
                for (int64_t u = 0; u < ntaps[ph]; ++u) {
                    const Tap& t = taps[ph * khw + u];
                    const int64_t n = o * ntaps[ph] + u;
                    offs[ph * max_red + n] = int32_t(o * plane - t.ti * Wg - t.tj);
                    for (int64_t cp = 0; cp < cpanels; ++cp)
                        for (int64_t v = 0; v < DV; ++v) {
                            const int64_t c = cp * DV + v;
                            wp.p[((ph * cpanels + cp) * max_red + n) * DV + v] =
                                c < s.C ? w[o * K + c * khw + t.i * s.kw + t.j] : 0.0f;
                        }
                }
#pragma omp for schedule(static)
        for (int64_t p = 0; p < s.N * s.O; ++p) {
            float* dst = gp.p + p * plane;
            std::memset(dst, 0, size_t(plane) * sizeof(float));
            for (int64_t oh = 0; oh < s.OH; ++oh)
                std::memcpy(dst + (oh + PT) * Wg + PL, gy + (p * s.OH + oh) * s.OW,
                            size_t(s.OW) * sizeof(float));
        }
        // One work item: 8 consecutive pixels of one (image, phase); pixels of a phase within
        // an image are (a, b) pairs, h = a*sh + rh - ph.
#pragma omp for schedule(dynamic, 4) collapse(2)
        for (int64_t n = 0; n < s.N; ++n)
            for (int64_t ph = 0; ph < phases; ++ph) {
                const int64_t rh = ph / s.sw, rw = ph % s.sw;
                // First h >= 0 with (h + ph_pad) % sh == rh, and likewise w.
                const int64_t h0 = ((rh - s.ph) % s.sh + s.sh) % s.sh;
                const int64_t w0 = ((rw - s.pw) % s.sw + s.sw) % s.sw;
                if (h0 >= s.H || w0 >= s.W) continue;
                const int64_t nh = (s.H - 1 - h0) / s.sh + 1, nw = (s.W - 1 - w0) / s.sw + 1;
                const int64_t count = nh * nw;
                for (int64_t t0 = 0; t0 < count; t0 += DR) {
                    const float* base[DR];
                    int64_t hw[DR];
                    for (int64_t r = 0; r < DR; ++r) {
                        const int64_t t = lmin(t0 + r, count - 1);
                        const int64_t h = h0 + (t / nw) * s.sh, ww = w0 + (t % nw) * s.sw;
                        hw[r] = h * s.W + ww;
                        base[r] = gp.p + n * s.O * plane + ((h + s.ph) / s.sh + PT) * Wg +
                                  (ww + s.pw) / s.sw + PL;
                    }
                    for (int64_t cp = 0; cp < cpanels; ++cp) {
                        __m512 acc[DR][2];
                        for (int r = 0; r < DR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
                        direct_kernel(s.O * ntaps[ph], offs + ph * max_red,
                                      wp.p + (ph * cpanels + cp) * max_red * DV, base, acc);
                        alignas(64) float tile[DR][DV];
                        for (int r = 0; r < DR; ++r) {
                            _mm512_store_ps(tile[r], acc[r][0]);
                            _mm512_store_ps(tile[r] + 16, acc[r][1]);
                        }
                        const int64_t cmax = lmin(DV, s.C - cp * DV);
                        for (int64_t r = 0; r < DR && t0 + r < count; ++r) {
                            float* dst = dx + (n * s.C + cp * DV) * HW + hw[r];
                            for (int64_t v = 0; v < cmax; ++v) dst[v * HW] = tile[r][v];
                        }
                    }
                }
            }
    }
    std::free(offs);
    std::free(taps);
    std::free(ntaps);
}

}  // namespace minigan::cpu

#else  // not built for AVX-512: cpu_has_avx512() is false there, so these are never called

namespace minigan::cpu {
void conv2d_forward_avx512(const float*, const float*, float*, const ConvShape&, int) {}
void conv2d_backward_weight_avx512(const float*, const float*, float*, const ConvShape&, int) {}
void conv2d_backward_data_avx512(const float*, const float*, float*, const ConvShape&, int) {}
void conv2d_forward_direct_avx512(const float*, const float*, float*, const ConvShape&, int) {}
void conv2d_backward_data_direct_avx512(const float*, const float*, float*, const ConvShape&,
                                        int) {}
void conv2d_backward_weight_direct_avx512(const float*, const float*, float*, const ConvShape&,
                                          int) {}
}  // namespace minigan::cpu

#endif
