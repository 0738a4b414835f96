// float32 convolution GEMMs with operands packed straight from the images (see conv_gemm.h).
//
// This file and conv_direct.cpp are compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl
// -mfma (CMakeLists.txt) and only entered after cpu_has_avx512() said yes. Everything in them
// has internal linkage and uses no C++ library template, so no AVX-512 copy of an inline
// function can be picked by the linker for code that runs on an older CPU.
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

#include "avx512_util.h"

namespace minigan::cpu {
namespace {

constexpr int64_t MR = 8;     // rows of a micro-tile
constexpr int64_t NR = 48;    // columns of a micro-tile: three 16-float vectors
constexpr int64_t KC = 128;   // largest K block (a B panel of 128 x 48 floats is 24 KB)
constexpr int64_t NC_MAX = 480;
constexpr int64_t CBLOCK_FLOATS = 65536;  // a thread's C block: 256 KB, L2
constexpr int32_t OUTSIDE = -(1 << 29);   // a lane's row/column origin that is never in bounds


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

void conv2d_forward_avx512(const float* x, const float* w, const float* bias, float* y,
                           const ConvShape& s, int threads) {
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
            for (int64_t o = 0; o < s.O; ++o) {
                float* dst = y + (n * s.O + o) * P + p;
                const float* src = cblk + o * ldc + (j - j0);
                const float b = bias ? bias[o] : 0.0f;
                for (int64_t t = 0; t < run; ++t) dst[t] = src[t] + b;
            }
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
                              base = _mm512_set1_epi32(
                                  int32_t(n * s.C * s.H * s.W + hh * s.W + ww));
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

}  // namespace minigan::cpu

#else  // not built for AVX-512: cpu_has_avx512() is false there, so these are never called

namespace minigan::cpu {
void conv2d_forward_avx512(const float*, const float*, const float*, float*, const ConvShape&,
                           int) {}
void conv2d_backward_weight_avx512(const float*, const float*, float*, const ConvShape&, int) {}
void conv2d_backward_data_avx512(const float*, const float*, float*, const ConvShape&, int) {}
}  // namespace minigan::cpu

#endif
