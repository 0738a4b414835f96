// float32 convolutions, "direct" forms (see conv_gemm.h): x is copied once into a zero-padded
// buffer and read in place by the micro-kernel -- no operand packing of the image at all.
//
// One source, compiled once per instruction set (isa.h; CMakeLists.txt gives each unit its
// flags, MG_ISA_NS and MG_VEC_BYTES): the micro-kernel is written with the vector type of vec.h,
// so it becomes AVX-512, AVX2+FMA, SSE2 or NEON code. Everything but the exported table has
// internal linkage (anonymous namespace), so no wide-ISA copy of a helper can be picked by the
// linker for code that runs on an older CPU.
#include <cstdlib>
#include <cstring>
#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "avx512_util.h"
#include "isa.h"
#include "vec.h"

#ifndef MG_ISA_NS
#error "conv_direct.cpp: compile with -DMG_ISA_NS=isa_<name> -DMG_ISA_NAME=\"<name>\""
#endif

namespace minigan::cpu::MG_ISA_NS {
// x is copied once into a zero-padded buffer, so every tap of every output position is an
// in-bounds load; the micro-kernel then broadcasts x values straight from it (DR output
// positions at a time, through DR base pointers and one shared tap offset) against packed rows
// of DV weights (forward) or DV gradient channels (weight gradient). No gathers, no B packing.

using vec::vf;

namespace {

// Channels per tile: two vectors. Rows per tile: as many as the accumulators (2 per row), the
// two weight vectors and the broadcast leave registers for -- 32 with AVX-512, 16 otherwise.
constexpr int64_t DV = 2 * vec::kFloats;
constexpr int64_t DR = vec::kBytes == 64 ? 8 : 6;  // positions (forward) / taps (weight grad.)
// Pixels per tile of the input gradient: with AVX-512, 14 rows (28 accumulators, a few base
// pointers spill to the stack) beat 8 there (D.conv2 input gradient, 1 thread: 5.5 vs 5.9 ms).
constexpr int64_t DRD = vec::kBytes == 64 ? 14 : 6;
constexpr int64_t QB = 64;  // output positions per block of the weight gradient's reduction

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

// acc[r] (2 vectors) += sum_t v[t][0:DV] * base[r][off[t]] over t < n, r < R: the direct
// micro-kernel (2R vector accumulators). R = DR everywhere but the input gradient (R = DRD).
template <int R>
inline void direct_kernel(int64_t n, const int32_t* __restrict off, const float* __restrict v,
                          const float* const* base, vf acc[][2]) {
    const float* b[R];
    for (int r = 0; r < R; ++r) b[r] = base[r];
    for (int64_t t = 0; t < n; ++t) {
        const int32_t o = off[t];
        const vf v0 = vec::load(v + t * DV), v1 = vec::load(v + t * DV + vec::kFloats);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const vf a = vec::splat(b[r][o]);
            acc[r][0] = vec::madd(a, v0, acc[r][0]);
            acc[r][1] = vec::madd(a, v1, acc[r][1]);
        }
    }
}

// The tile's accumulators to memory, row r at tile[r] (DV floats).
template <int R>
inline void store_tile(vf acc[][2], float (*tile)[DV]) {
    for (int r = 0; r < R; ++r) {
        vec::store(tile[r], acc[r][0]);
        vec::store(tile[r] + vec::kFloats, acc[r][1]);
    }
}

void forward(const float* x, const float* w, const float* bias, float* y,
                                  const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, NP = s.N * P;
    const int64_t opanels = cdiv(s.O, DV), qtiles = cdiv(NP, DR);
    const Padded xp(x, s, threads);
    // Weights as [o-panel][k][32 o]: a tap's 32 output channels are one aligned pair of vectors.
    Floats wp(opanels * K * DV);
    Bytes taps_buf(K * 4);
    int32_t* taps = static_cast<int32_t*>(taps_buf.p);
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
                vf acc[DR][2];
                for (int r = 0; r < DR; ++r) acc[r][0] = acc[r][1] = vf{};
                direct_kernel<DR>(K, taps, wp.p + op * K * DV, base, acc);
                alignas(64) float tile[DR][DV];
                store_tile<DR>(acc, tile);
                const int64_t omax = lmin(DV, s.O - op * DV);
                for (int64_t r = 0; r < DR && qt * DR + r < NP; ++r) {
                    const int64_t n = qs[r] / P, p = qs[r] % P;
                    float* dst = y + (n * s.O + op * DV) * P + p;
                    const float* b = bias ? bias + op * DV : nullptr;
                    for (int64_t v = 0; v < omax; ++v) dst[v * P] = tile[r][v] + (b ? b[v] : 0.0f);
                }
            }
        }
    }
}

void backward_weight(const float* gy, const float* x, float* gw, float* gb,
                                          const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, NP = s.N * P;
    const int64_t opanels = cdiv(s.O, DV), ktiles = cdiv(K, DR);
    const Padded xp(x, s, threads);
    // gy as [o-panel][q][32 o], and every position's window corner.
    Floats gp(opanels * NP * DV);
    // Every thread's partial sums, [thread][o-panel][k][32 o] with K rounded up to whole tap
    // tiles; allocated here (nothing may throw inside the parallel region). At most 64 MB of
    // them: bigger layers run on fewer threads.
    const int64_t KP = ktiles * DR, part_size = opanels * KP * DV;
    const int team = int(lmax(1, lmin(threads, (int64_t(1) << 24) / part_size)));
    Floats parts(team * part_size);
    // The bias gradient's partial sums, per thread and channel (32 per o-panel), in double.
    Bytes bparts_buf(gb ? int64_t(sizeof(double)) * team * opanels * DV : 0);
    double* bparts = static_cast<double*>(bparts_buf.p);
    Bytes corners_buf(NP * 4);
    int32_t* corners = static_cast<int32_t*>(corners_buf.p);
#pragma omp parallel num_threads(team)
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        double* bsum = gb ? bparts + tid * opanels * DV : nullptr;
        if (bsum)
            for (int64_t o = 0; o < opanels * DV; ++o) bsum[o] = 0.0;
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
        // Each thread reduces over its own range of output positions (split-K) into partial
        // sums for every weight, then the partials are added in thread order: with a fixed
        // thread count the result is deterministic. Why not split the weights: then every thread
        // streams all of x from L3 once per o-panel; this way each reads only its own images'
        // x, which stays in its L2 across every tap tile (D.conv2, 2 threads: 2.9 vs 3.2 ms).
        // Positions go in blocks of QB (8 KB of gy per o-panel, in L1 for a few o-panels) that
        // every tap tile runs over; a partial tile is reloaded once per block. The result
        // depends on the team size only through the rounding of that final sum.
        const int64_t qa = NP * tid / nth, qb = NP * (tid + 1) / nth;
        float* part = parts.p + tid * part_size;
        if (qa == qb) std::memset(part, 0, sizeof(float) * size_t(part_size));
        for (int64_t q0 = qa; q0 < qb; q0 += QB) {
            const int64_t nq = lmin(QB, qb - q0);
            if (bsum)  // the bias gradient from the gy block while it is in L1, in double
                for (int64_t op = 0; op < opanels; ++op) {
                    double sums[DV] = {};  // per channel, in q order (the compiler vectorises)
                    for (int64_t q = q0; q < q0 + nq; ++q) {
                        const float* row = gp.p + (op * NP + q) * DV;
                        for (int64_t v = 0; v < DV; ++v) sums[v] += double(row[v]);
                    }
                    for (int64_t v = 0; v < DV; ++v) bsum[op * DV + v] += sums[v];
                }
            for (int64_t kt = 0; kt < ktiles; ++kt) {
                const float* base[DR];
                for (int64_t r = 0; r < DR; ++r)
                    base[r] = xp.buf.p + xp.tap(s, lmin(kt * DR + r, K - 1));
                for (int64_t op = 0; op < opanels; ++op) {
                    float* tile = part + (op * KP + kt * DR) * DV;
                    vf acc[DR][2];
                    for (int r = 0; r < DR; ++r)
                        for (int h = 0; h < 2; ++h)
                            acc[r][h] = q0 > qa ? vec::load(tile + r * DV + vec::kFloats * h)
                                                : vf{};
                    direct_kernel<DR>(nq, corners + q0, gp.p + (op * NP + q0) * DV, base, acc);
                    for (int r = 0; r < DR; ++r)
                        for (int h = 0; h < 2; ++h)
                            vec::store(tile + r * DV + vec::kFloats * h, acc[r][h]);
                }
            }
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t o = 0; o < s.O; ++o)
            for (int64_t k = 0; k < K; ++k) {
                const int64_t at = ((o / DV) * KP + k) * DV + o % DV;
                float sum = parts.p[at];
                for (int t = 1; t < nth; ++t) sum += parts.p[t * part_size + at];
                gw[o * K + k] = sum;
            }
        if (gb) {
#pragma omp for schedule(static)
            for (int64_t o = 0; o < s.O; ++o) {
                double sum = 0.0;
                for (int t = 0; t < nth; ++t) sum += bparts[t * opanels * DV + o];
                gb[o] = float(sum);
            }
        }
    }
}


// Input gradient, direct: dx[n, c, h, w] = sum over (o, i, j) with h = oh*sh - ph + i*dh (and
// likewise w) of w[o, c, i, j] * gy[n, o, oh, ow]. Pixels are split by phase (h + ph) mod sh,
// (w + pw) mod sw: within a phase the taps that reach a pixel are fixed (i*dh = phase mod sh)
// and oh = (h + ph)/sh - (i*dh - phase)/sh, so each phase is a stride-1 correlation of a padded gy
// with a sub-kernel: the direct micro-kernel again, 32 input channels by DRD pixels, every dx
// element written once (no scatter-add, no col2im).
void backward_data(const float* gy, const float* w, float* dx,
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
    Bytes taps_buf(int64_t(sizeof(Tap)) * phases * khw), ntaps_buf(8 * phases);
    Tap* taps = static_cast<Tap*>(taps_buf.p);
    int64_t* ntaps = static_cast<int64_t*>(ntaps_buf.p);
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
    Bytes offs_buf(phases * max_red * 4);
    int32_t* offs = static_cast<int32_t*>(offs_buf.p);
    // Pixels of each phase within an image: h = h0 + a*sh (a < nh), w = w0 + b*sw (b < nw),
    // the first h >= 0 with (h + ph) % sh == rh, and likewise w; count = nh*nw (0: no pixel).
    struct PhaseGrid {
        int64_t h0, w0, nw, count;
    };
    Bytes grid_buf(int64_t(sizeof(PhaseGrid)) * phases);
    PhaseGrid* grid = static_cast<PhaseGrid*>(grid_buf.p);
    int64_t tiles_max = 0;
    for (int64_t ph = 0; ph < phases; ++ph) {
        const int64_t rh = ph / s.sw, rw = ph % s.sw;
        const int64_t h0 = ((rh - s.ph) % s.sh + s.sh) % s.sh;
        const int64_t w0 = ((rw - s.pw) % s.sw + s.sw) % s.sw;
        const int64_t nh = h0 < s.H ? (s.H - 1 - h0) / s.sh + 1 : 0;
        const int64_t nw = w0 < s.W ? (s.W - 1 - w0) / s.sw + 1 : 0;
        grid[ph] = {h0, w0, nw, nh * nw};
        tiles_max = lmax(tiles_max, cdiv(s.N * nh * nw, DRD));
    }
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
        // One work item: tile tt of every phase -- DRD consecutive pixels of the phase in
        // (n, h, w) order over all images (a tile may run from one image into the next: each
        // row has its own base pointer), so no tile is cut short at an image's end. Doing all
        // phases of a tile together writes the interleaved pixels of the same dx lines close
        // in time (one trip of each line through the cache, not one per phase), and a static
        // split gives each thread its own images.
#pragma omp for schedule(static)
        for (int64_t tt = 0; tt < tiles_max; ++tt)
            for (int64_t ph = 0; ph < phases; ++ph) {
                const PhaseGrid& g = grid[ph];
                const int64_t t0 = tt * DRD, total = s.N * g.count;
                if (t0 >= total) continue;
                const float* base[DRD];
                float* dst[DRD];
                for (int64_t r = 0; r < DRD; ++r) {
                    const int64_t t = lmin(t0 + r, total - 1), n = t / g.count,
                                  u = t % g.count;
                    const int64_t h = g.h0 + (u / g.nw) * s.sh, ww = g.w0 + (u % g.nw) * s.sw;
                    dst[r] = dx + n * s.C * HW + h * s.W + ww;
                    base[r] = gp.p + n * s.O * plane + ((h + s.ph) / s.sh + PT) * Wg +
                              (ww + s.pw) / s.sw + PL;
                }
                for (int64_t cp = 0; cp < cpanels; ++cp) {
                    vf acc[DRD][2];
                    for (int r = 0; r < DRD; ++r) acc[r][0] = acc[r][1] = vf{};
                    direct_kernel<DRD>(s.O * ntaps[ph], offs + ph * max_red,
                                  wp.p + (ph * cpanels + cp) * max_red * DV, base, acc);
                    alignas(64) float tile[DRD][DV];
                    store_tile<DRD>(acc, tile);
                    const int64_t cmax = lmin(DV, s.C - cp * DV);
                    for (int64_t r = 0; r < DRD && t0 + r < total; ++r)
                        for (int64_t v = 0; v < cmax; ++v)
                            dst[r][(cp * DV + v) * HW] = tile[r][v];
                }
            }
    }
}

}  // namespace

extern const ConvDirect conv_direct_table;
const ConvDirect conv_direct_table = {MG_ISA_NAME, DV, &forward, &backward_weight, &backward_data};

}  // namespace minigan::cpu::MG_ISA_NS
