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

struct Padded {  // x[n, c] planes, zero-padded to (Hp, Wp) -- or x itself, unpadded
    Floats buf;
    int64_t Hp, Wp;
    const float* origin;  // where corner + tap offsets point into
    int64_t shift;        // added to every tap offset: -(ph*W + pw) when reading x itself
    // copy = false: no copy, (Hp, Wp) = (H, W), and offsets address x directly -- for callers
    // whose windows never reach into the padding (forward's border classes).
    Padded(const float* x, const ConvShape& s, int threads, bool copy = true)
        : buf(copy ? s.N * s.C * (s.H + 2 * s.ph) * (s.W + 2 * s.pw) : 0),
          Hp(copy ? s.H + 2 * s.ph : s.H), Wp(copy ? s.W + 2 * s.pw : s.W),
          origin(copy ? buf.p : x), shift(copy ? 0 : -(s.ph * s.W + s.pw)) {
        if (!copy) return;
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
        return int32_t(c * Hp * Wp + i * s.dh * Wp + j * s.dw + shift);
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

// acc[r] += sum_t v[wofs[t]][0:DV] * base[r][off[t]]: direct_kernel over a list of taps (the
// ones in bounds for a border class, see forward), each with its weight row's offset.
template <int R>
inline void direct_kernel_list(int64_t n, const int32_t* __restrict off,
                               const int32_t* __restrict wofs, const float* __restrict v,
                               const float* const* base, vf acc[][2]) {
    const float* b[R];
    for (int r = 0; r < R; ++r) b[r] = base[r];
    for (int64_t t = 0; t < n; ++t) {
        const int32_t o = off[t];
        const float* vt = v + wofs[t];
        const vf v0 = vec::load(vt), v1 = vec::load(vt + vec::kFloats);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const vf a = vec::splat(b[r][o]);
            acc[r][0] = vec::madd(a, v0, acc[r][0]);
            acc[r][1] = vec::madd(a, v1, acc[r][1]);
        }
    }
}

// Along one dimension of the output: runs of consecutive positions whose taps in bounds (of the
// unpadded input) are the same set, bit i for tap i. Kernels wider than 64 taps get one run with
// every tap (the padded copy makes them correct, only slower).
struct Run {
    int64_t first, count;
    uint64_t taps;
};

// Whether a run's mask keeps tap i (taps past 64 are always kept: see border_runs).
inline bool has_tap(uint64_t taps, int64_t i) { return i >= 64 || (taps >> i & 1); }

int64_t border_runs(int64_t out, int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                    Run* runs) {
    int64_t n = 0;
    for (int64_t o = 0; o < out; ++o) {
        uint64_t m = ~uint64_t(0);
        if (k <= 64) {
            m = 0;
            for (int64_t i = 0; i < k; ++i) {
                const int64_t at = o * stride - pad + i * dil;
                if (at >= 0 && at < in) m |= uint64_t(1) << i;
            }
        }
        if (n > 0 && runs[n - 1].taps == m)
            ++runs[n - 1].count;
        else
            runs[n++] = {o, 1, m};
    }
    return n;
}

// Whether a[0:n] holds no inf or NaN: x - x is 0 for finite x, NaN otherwise, and a sum of such
// terms is 0 only if every one is (lane-parallel: a scalar float sum is one dependent chain).
bool all_finite(const float* a, int64_t n) {
    vf acc = vf{};
    int64_t i = 0;
    for (; i + vec::kFloats <= n; i += vec::kFloats) {
        const vf v = vec::loadu(a + i);
        acc += v - v;
    }
    float tail = 0.0f;
    for (; i < n; ++i) tail += a[i] - a[i];
    for (int v = 0; v < vec::kFloats; ++v) tail += acc[v];
    return tail == 0.0f;
}

// Border classes of the output positions: runs of rows x runs of columns whose windows keep the
// same taps in bounds. Off -- one class with every tap, read from a zero-padded copy of x --
// when not wanted, for kernels over 64 taps wide, and past kMaxClasses classes (a kernel far
// wider than the image, where per-class tap lists would outgrow the work).
constexpr int64_t kMaxClasses = 64;

struct BorderClasses {
    Bytes buf;
    Run *rows, *cols;
    int64_t nr, nc;
    bool on;  // classes in use: no tap a class keeps is in the padding
    BorderClasses(const ConvShape& s, bool wanted) : buf(int64_t(sizeof(Run)) * (s.OH + s.OW)) {
        rows = static_cast<Run*>(buf.p);
        cols = rows + s.OH;
        nr = border_runs(s.OH, s.H, s.kh, s.sh, s.ph, s.dh, rows);
        nc = border_runs(s.OW, s.W, s.kw, s.sw, s.pw, s.dw, cols);
        on = wanted && s.kh <= 64 && s.kw <= 64 && nr * nc <= kMaxClasses;
        if (!on) {
            rows[0] = {0, s.OH, ~uint64_t(0)};
            cols[0] = {0, s.OW, ~uint64_t(0)};
            nr = nc = 1;
        }
    }
    int64_t count() const { return nr * nc; }
    bool keeps(int64_t cls, int64_t i, int64_t j) const {
        return has_tap(rows[cls / nc].taps, i) && has_tap(cols[cls % nc].taps, j);
    }
};

// The output positions (n*P + oh*OW + ow) into qlist, in chunks of `chunk` images and class by
// class within a chunk (a chunk's x stays in L2 while its classes run), each class's share of a
// chunk cut into pieces of at most `piece` positions -- equal ones with `even`, else full ones
// and a short last one; pieces gets [class, first, count] per piece. Returns the piece count,
// at most NP / piece + classes * cdiv(N, chunk).
int64_t order_positions(const ConvShape& s, const BorderClasses& bc, int64_t chunk, int64_t piece,
                        bool even, int32_t* qlist, int64_t* pieces) {
    const int64_t P = s.OH * s.OW;
    int64_t np = 0, nq = 0;
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk)
        for (int64_t cls = 0; cls < bc.count(); ++cls) {
            const Run &ra = bc.rows[cls / bc.nc], &rb = bc.cols[cls % bc.nc];
            const int64_t q0 = nq;
            for (int64_t n = n0; n < lmin(n0 + chunk, s.N); ++n)
                for (int64_t oh = ra.first; oh < ra.first + ra.count; ++oh)
                    for (int64_t ow = rb.first; ow < rb.first + rb.count; ++ow)
                        qlist[nq++] = int32_t(n * P + oh * s.OW + ow);
            const int64_t len = nq - q0, nb = cdiv(len, piece);
            for (int64_t b = 0; b < nb; ++b, ++np) {
                const int64_t first = even ? len * b / nb : b * piece;
                const int64_t last = even ? len * (b + 1) / nb : lmin(len, (b + 1) * piece);
                pieces[3 * np] = cls;
                pieces[3 * np + 1] = q0 + first;
                pieces[3 * np + 2] = last - first;
            }
        }
    return np;
}

// Forward, panel form. Output positions are grouped by border class (a run of rows x a run of
// columns whose windows cover the same in-bounds taps) and each class reduces over its taps
// only: the padded taps' products are zeros. On the D's second DCGAN layer (14x14 -> 7x7, 4x4,
// padding 1) that is 14% of the multiply-adds. Non-finite weights keep every tap -- 0 * inf must
// give NaN where the reference's im2col product does.
void forward(const float* x, const float* w, const float* bias, float* y,
                                  const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, NP = s.N * P;
    const int64_t opanels = cdiv(s.O, DV);
    const BorderClasses bc(s, all_finite(w, s.O * K));
    // With classes no tap is in the padding and x is read in place: no padded copy (on D.conv2
    // that copy was 0.2-0.4 ms of a 2.9-5.9 ms forward).
    const Padded xp(x, s, threads, !bc.on);
    // Weights as [o-panel][k][32 o]: a tap's 32 output channels are one aligned pair of vectors.
    Floats wp(opanels * K * DV);
    const int64_t classes = bc.count();
    // Per class: its taps (x offset and weight row offset) and its positions; tiles of DR
    // positions never span two classes.
    Bytes koff_buf(classes * K * 4), kw_buf(classes * K * 4), kn_buf(classes * 8);
    int32_t* koff = static_cast<int32_t*>(koff_buf.p);
    int32_t* kwof = static_cast<int32_t*>(kw_buf.p);
    int64_t* kn = static_cast<int64_t*>(kn_buf.p);
    Bytes q_buf(NP * 4), tile_buf((NP / DR + classes * cdiv(s.N, DR) + 1) * 24);
    int32_t* qlist = static_cast<int32_t*>(q_buf.p);
    int64_t* tiles = static_cast<int64_t*>(tile_buf.p);  // [tile][class, first, count]
    Bytes all_buf(K * 4);  // every tap's x offset, computed once
    int32_t* all = static_cast<int32_t*>(all_buf.p);
    for (int64_t k = 0; k < K; ++k) all[k] = xp.tap(s, k);
    for (int64_t cls = 0; cls < classes; ++cls) {
        int64_t m = 0;
        for (int64_t k = 0; k < K; k += s.kh * s.kw)  // per input channel, its kh x kw taps
            for (int64_t i = 0; i < s.kh; ++i)
                for (int64_t j = 0; j < s.kw; ++j)
                    if (bc.keeps(cls, i, j)) {
                        const int64_t kk = k + i * s.kw + j;
                        koff[cls * K + m] = all[kk];
                        kwof[cls * K + m] = int32_t(kk * DV);
                        ++m;
                    }
        kn[cls] = m;
    }
    // Chunks of DR images: every class a whole number of tiles. (Class by class over all images
    // streamed x once per class: D.conv2 3.8 instead of 2.9 ms.)
    const int64_t ntiles = order_positions(s, bc, DR, DR, false, qlist, tiles);
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
        for (int64_t t = 0; t < ntiles; ++t) {
            // DR positions, or fewer in a class's last tile (which repeats its last one)
            const int64_t cls = tiles[3 * t], first = tiles[3 * t + 1], count = tiles[3 * t + 2];
            const float* base[DR];
            int64_t qs[DR];
            for (int64_t r = 0; r < DR; ++r) {
                const int64_t q = qlist[first + lmin(r, count - 1)];
                qs[r] = (q / P) * s.O * P + q % P;  // y offset of (n, 0, p)
                base[r] = xp.origin + xp.corner(s, q);
            }
            for (int64_t op = 0; op < opanels; ++op) {
                vf acc[DR][2];
                for (int r = 0; r < DR; ++r) acc[r][0] = acc[r][1] = vf{};
                direct_kernel_list<DR>(kn[cls], koff + cls * K, kwof + cls * K,
                                       wp.p + op * K * DV, base, acc);
                alignas(64) float tile[DR][DV];
                store_tile<DR>(acc, tile);
                const int64_t omax = lmin(DV, s.O - op * DV);
                for (int64_t r = 0; r < count; ++r) {
                    float* dst = y + qs[r] + op * DV * P;
                    const float* b = bias ? bias + op * DV : nullptr;
                    for (int64_t v = 0; v < omax; ++v) dst[v * P] = tile[r][v] + (b ? b[v] : 0.0f);
                }
            }
        }
    }
}

// Weight gradient, panel form: gw[o, k] = sum over positions q of gy[q, o] * x(q, k). Tiles of
// DR taps x 32 channels reduce over blocks of positions. A tile is DR input channels at one
// kernel offset (i, j), so its taps are in or out of the padding together, and positions are
// grouped by border class as in the forward: a block of one class skips the tiles whose (i, j)
// its windows have in the padding, and x is read in place. Tiles go channel block by channel
// block with the kernel offsets inside, so consecutive tiles read the same DR planes of x.
// Exact when gy is finite; with an inf or NaN in gy (whose product with the padding's zeros is
// NaN in the reference) every tile runs, on a zero-padded copy of x.
void backward_weight(const float* gy, const float* x, float* gw, float* gb,
                                          const ConvShape& s, int threads) {
    const int64_t khw = s.kh * s.kw, K = s.C * khw, P = s.OH * s.OW, NP = s.N * P;
    const int64_t opanels = cdiv(s.O, DV), cblocks = cdiv(s.C, DR), ktiles = cblocks * khw;
    const BorderClasses bc(s, all_finite(gy, s.N * s.O * P));
    const Padded xp(x, s, threads, !bc.on);
    const int64_t classes = bc.count();
    // Positions in chunks of WCH images, class by class, each class's share cut into blocks of
    // at most QB, of equal size (no short last block: every block reloads the partial tiles).
    constexpr int64_t WCH = 16;
    Bytes q_buf(NP * 4), blk_buf((NP / QB + classes * cdiv(s.N, WCH) + 1) * 24);
    int32_t* qlist = static_cast<int32_t*>(q_buf.p);
    int64_t* blocks = static_cast<int64_t*>(blk_buf.p);  // [block][class, first, count]
    const int64_t nblocks = order_positions(s, bc, WCH, QB, true, qlist, blocks);
    // gy as [o-panel][sorted position][32 o], and every sorted position's window corner.
    Floats gp(opanels * NP * DV);
    Bytes corners_buf(NP * 4);
    int32_t* corners = static_cast<int32_t*>(corners_buf.p);
    // Every thread's partial sums, [thread][o-panel][tile][DR][32 o]; allocated here (nothing
    // may throw inside the parallel region). At most 64 MB of them: bigger layers run on fewer
    // threads.
    const int64_t KP = ktiles * DR, part_size = opanels * KP * DV;
    const int team = int(lmax(1, lmin(threads, (int64_t(1) << 24) / part_size)));
    Floats parts(team * part_size);
    // The bias gradient's partial sums, per thread and channel (32 per o-panel), in double.
    Bytes bparts_buf(gb ? int64_t(sizeof(double)) * team * opanels * DV : 0);
    double* bparts = static_cast<double*>(bparts_buf.p);
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
        float* part = parts.p + tid * part_size;
        std::memset(part, 0, sizeof(float) * size_t(part_size));
#pragma omp for schedule(static)
        for (int64_t q = 0; q < NP; ++q) {
            const int64_t at = qlist[q], n = at / P, p = at % P;
            corners[q] = int32_t(xp.corner(s, at));
            for (int64_t op = 0; op < opanels; ++op)
                for (int64_t v = 0; v < DV; ++v) {
                    const int64_t o = op * DV + v;
                    gp.p[(op * NP + q) * DV + v] = o < s.O ? gy[(n * s.O + o) * P + p] : 0.0f;
                }
        }
        // Each thread reduces over its own blocks (split-K) into partial sums for every
        // weight, then the partials are added in thread order: with a fixed thread count the
        // result is deterministic. Why not split the weights: then every thread streams all of
        // x once per o-panel; this way each reads only its own images' x, which stays in its
        // L2 across every tap tile (D.conv2, 2 threads: 2.9 vs 3.2 ms). A block's gy (8 KB per
        // o-panel) stays in L1 for a few o-panels while the tiles run over it.
#pragma omp for schedule(static)
        for (int64_t bk = 0; bk < nblocks; ++bk) {
            const int64_t cls = blocks[3 * bk], q0 = blocks[3 * bk + 1], nq = blocks[3 * bk + 2];
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
                const int64_t ij = kt % khw, i = ij / s.kw, j = ij % s.kw;
                if (!bc.keeps(cls, i, j)) continue;  // in the padding for this block
                const int64_t c0 = (kt / khw) * DR;
                const float* base[DR];
                for (int64_t r = 0; r < DR; ++r)
                    base[r] = xp.origin + xp.tap(s, lmin(c0 + r, s.C - 1) * khw + ij);
                for (int64_t op = 0; op < opanels; ++op) {
                    float* tile = part + (op * KP + kt * DR) * DV;
                    vf acc[DR][2];
                    for (int r = 0; r < DR; ++r)
                        for (int h = 0; h < 2; ++h)
                            acc[r][h] = vec::load(tile + r * DV + vec::kFloats * h);
                    direct_kernel<DR>(nq, corners + q0, gp.p + (op * NP + q0) * DV, base, acc);
                    for (int r = 0; r < DR; ++r)
                        for (int h = 0; h < 2; ++h)
                            vec::store(tile + r * DV + vec::kFloats * h, acc[r][h]);
                }
            }
        }
#pragma omp barrier
        // weight (o, c, ij) sits at tile (c / DR) * khw + ij, row c % DR of o's panel
#pragma omp for schedule(static)
        for (int64_t o = 0; o < s.O; ++o) {
            const float* po = parts.p + (o / DV) * KP * DV + o % DV;
            float* go = gw + o * K;
            for (int64_t c = 0; c < s.C; ++c)
                for (int64_t ij = 0; ij < khw; ++ij) {
                    const int64_t at = (((c / DR) * khw + ij) * DR + c % DR) * DV;
                    float sum = po[at];
                    for (int t = 1; t < nth; ++t) sum += po[t * part_size + at];
                    go[c * khw + ij] = sum;
                }
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


// The stride phases of the input gradient (see backward_data): phase ph = (rh, rw) = (ph / sw,
// ph % sw), its taps (i, j) -- those with i*dh = rh mod sh and j*dw = rw mod sw -- with their gy
// row / column shifts (ti, tj), and its pixels in an image: h = h0 + a*sh (a < nh), w = w0 +
// b*sw (b < nw), h0 the first h >= 0 with (h + ph) % sh == rh (likewise w0).
struct StridePhases {
    struct Tap {
        int64_t i, j, ti, tj;
    };
    struct Grid {
        int64_t h0, w0, nh, nw;
    };
    int64_t count, khw, max_red;  // max_red: the longest reduction, O x a phase's taps
    Bytes taps_buf, ntaps_buf, grid_buf;  // heap: sh*sw*kh*kw is the caller's to choose
    Tap* taps;
    int64_t* ntaps;
    Grid* grid;
    explicit StridePhases(const ConvShape& s)
        : count(s.sh * s.sw), khw(s.kh * s.kw), max_red(1),
          taps_buf(int64_t(sizeof(Tap)) * count * khw), ntaps_buf(8 * count),
          grid_buf(int64_t(sizeof(Grid)) * count) {
        taps = static_cast<Tap*>(taps_buf.p);
        ntaps = static_cast<int64_t*>(ntaps_buf.p);
        grid = static_cast<Grid*>(grid_buf.p);
        for (int64_t ph = 0; ph < count; ++ph) {
            const int64_t rh = ph / s.sw, rw = ph % s.sw;
            ntaps[ph] = 0;
            for (int64_t i = 0; i < s.kh; ++i)
                for (int64_t j = 0; j < s.kw; ++j)
                    if ((i * s.dh - rh) % s.sh == 0 && (j * s.dw - rw) % s.sw == 0)
                        taps[ph * khw + ntaps[ph]++] = {i, j, (i * s.dh - rh) / s.sh,
                                                        (j * s.dw - rw) / s.sw};
            max_red = lmax(max_red, s.O * ntaps[ph]);
            const int64_t h0 = ((rh - s.ph) % s.sh + s.sh) % s.sh;
            const int64_t w0 = ((rw - s.pw) % s.sw + s.sw) % s.sw;
            grid[ph] = {h0, w0, h0 < s.H ? (s.H - 1 - h0) / s.sh + 1 : 0,
                        w0 < s.W ? (s.W - 1 - w0) / s.sw + 1 : 0};
        }
    }
    const Tap& tap(int64_t ph, int64_t u) const { return taps[ph * khw + u]; }
};

// gy as the input gradients read it: zero-padded (PT rows above, PL columns left, and below /
// right as far as a phase reads) so that every row and column a tap reaches is in bounds -- or,
// with pad = false, gy itself (no margins).
struct GyPadding {
    int64_t PT, PL, Hg, Wg, plane;
    GyPadding(const ConvShape& s, bool pad)
        : PT(pad ? cdiv((s.kh - 1) * s.dh, s.sh) : 0), PL(pad ? cdiv((s.kw - 1) * s.dw, s.sw) : 0),
          Hg(s.OH + PT + (pad ? lmax(0, (s.H - 1 + s.ph) / s.sh - (s.OH - 1)) : 0)),
          Wg(s.OW + PL + (pad ? lmax(0, (s.W - 1 + s.pw) / s.sw - (s.OW - 1)) : 0)),
          plane(Hg * Wg) {}
    // gy's N*O planes into dst, zero margins included; a worksharing loop of the enclosing
    // parallel region.
    void copy(const float* gy, const ConvShape& s, float* dst) const {
#pragma omp for schedule(static)
        for (int64_t p = 0; p < s.N * s.O; ++p) {
            float* d = dst + p * plane;
            std::memset(d, 0, size_t(plane) * sizeof(float));
            for (int64_t oh = 0; oh < s.OH; ++oh)
                std::memcpy(d + (oh + PT) * Wg + PL, gy + (p * s.OH + oh) * s.OW,
                            size_t(s.OW) * sizeof(float));
        }
    }
};

// Input gradient, direct: dx[n, c, h, w] = sum over (o, i, j) with h = oh*sh - ph + i*dh (and
// likewise w) of w[o, c, i, j] * gy[n, o, oh, ow]. Pixels are split by phase (h + ph) mod sh,
// (w + pw) mod sw: within a phase the taps that reach a pixel are fixed (i*dh = phase mod sh)
// and oh = (h + ph)/sh - (i*dh - phase)/sh, so each phase is a stride-1 correlation of gy with
// a sub-kernel: the direct micro-kernel again, 32 input channels by DRD pixels, every dx element
// written once (no scatter-add, no col2im). A phase's pixels are grouped by border class (runs
// of rows x runs of columns whose taps find the same gy rows / columns in range) and each class
// reduces over its in-range taps only, reading gy in place. That is the reference's sum exactly
// -- col2im drops the products of out-of-range positions, inf or NaN weights included -- where
// reading a zero-padded gy made 0 * inf = NaN of them. (Kernels over 64 taps wide keep the
// padded copy and every tap -- the class masks have 64 bits -- and so do kernels far wider than
// the image, whose class lists would outgrow the work.)
void backward_data(const float* gy, const float* w, float* dx,
                                        const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, khw = s.kh * s.kw, HW = s.H * s.W;
    const int64_t cpanels = cdiv(s.C, DV);
    bool skip = s.kh <= 64 && s.kw <= 64;  // border classes (else see add_runs)
    const StridePhases sp(s);
    const int64_t phases = sp.count, max_red = sp.max_red;
    const int64_t* ntaps = sp.ntaps;
    const StridePhases::Grid* grid = sp.grid;
    // Weights [phase][c-panel][(o, tap)][32 c].
    Floats wp(phases * cpanels * max_red * DV);
    // Border classes per phase: runs of a (b) whose pixels find gy row (column) in range for
    // the same taps -- bit i (j) of a mask; one run with every tap when not skipping.
    Bytes runs_buf(int64_t(sizeof(Run)) * phases * (s.H + s.W + 2));
    Run* runs = static_cast<Run*>(runs_buf.p);
    Bytes rstart_buf(8 * (2 * phases + 1));
    int64_t* rstart = static_cast<int64_t*>(rstart_buf.p);  // [phase][rows, columns] -> first run
    int64_t nruns = 0;
    auto add_runs = [&](int64_t count, int64_t first, int64_t st, int64_t pad, int64_t k,
                        int64_t dil, int64_t phase, int64_t out) {
        for (int64_t a = 0; a < count; ++a) {
            uint64_t m = ~uint64_t(0);
            if (skip) {
                m = 0;
                const int64_t o0 = (first + a * st + pad) / st;  // gy index of tap shift 0
                for (int64_t i = 0; i < k; ++i)
                    if ((i * dil - phase) % st == 0) {
                        const int64_t o = o0 - (i * dil - phase) / st;
                        if (o >= 0 && o < out) m |= uint64_t(1) << i;
                    }
            }
            if (a > 0 && runs[nruns - 1].taps == m)
                ++runs[nruns - 1].count;
            else
                runs[nruns++] = {a, 1, m};
        }
    };
    int64_t nclass = 0;
    for (int pass = 0; pass < 2; ++pass) {  // a second pass without classes if too many
        nruns = 0;
        for (int64_t ph = 0; ph < phases; ++ph) {
            const StridePhases::Grid& g = grid[ph];
            rstart[2 * ph] = nruns;
            add_runs(g.nh, g.h0, s.sh, s.ph, s.kh, s.dh, ph / s.sw, s.OH);
            rstart[2 * ph + 1] = nruns;
            add_runs(g.nw, g.w0, s.sw, s.pw, s.kw, s.dw, ph % s.sw, s.OW);
        }
        rstart[2 * phases] = nruns;
        nclass = 0;
        for (int64_t ph = 0; ph < phases; ++ph)
            nclass += (rstart[2 * ph + 1] - rstart[2 * ph]) *
                      (rstart[2 * ph + 2] - rstart[2 * ph + 1]);
        // A kernel far wider than the image: per-class lists would outgrow the work (as in
        // BorderClasses). Every tap on a padded gy then -- where an inf/NaN weight meets the
        // padding that gives NaN which the reference does not have.
        if (!skip || nclass <= kMaxClasses * phases) break;
        skip = false;
    }
    // gy as read: in place (skip), or zero-padded so that every oh (ow) a phase reads is in
    // bounds.
    const GyPadding gpd(s, !skip);
    const int64_t PT = gpd.PT, PL = gpd.PL, Wg = gpd.Wg, plane = gpd.plane;
    Floats gp(skip ? 0 : s.N * s.O * plane);
    const float* g0 = skip ? gy : gp.p;
    // Classes: (phase, row run, column run), each with its reduction list -- gy offset from a
    // pixel's base and weight row -- over the (o, tap) pairs in range.
    Bytes cls_buf(int64_t(sizeof(int64_t)) * 4 * nclass);  // [class][phase, row run, col run, n]
    int64_t* cls = static_cast<int64_t*>(cls_buf.p);
    Bytes koff_buf(nclass * max_red * 4), kw_buf(nclass * max_red * 4);
    int32_t* koff = static_cast<int32_t*>(koff_buf.p);
    int32_t* kwof = static_cast<int32_t*>(kw_buf.p);
    {
        int64_t c = 0;
        for (int64_t ph = 0; ph < phases; ++ph)
            for (int64_t ra = rstart[2 * ph]; ra < rstart[2 * ph + 1]; ++ra)
                for (int64_t rb = rstart[2 * ph + 1]; rb < rstart[2 * ph + 2]; ++rb, ++c) {
                    int64_t m = 0;
                    for (int64_t o = 0; o < s.O; ++o)
                        for (int64_t u = 0; u < ntaps[ph]; ++u) {
                            const StridePhases::Tap& t = sp.tap(ph, u);
                            if (!(has_tap(runs[ra].taps, t.i) && has_tap(runs[rb].taps, t.j)))
                                continue;
                            koff[c * max_red + m] = int32_t(o * plane - t.ti * Wg - t.tj);
                            kwof[c * max_red + m] = int32_t((o * ntaps[ph] + u) * DV);
                            ++m;
                        }
                    cls[4 * c] = ph, cls[4 * c + 1] = ra, cls[4 * c + 2] = rb, cls[4 * c + 3] = m;
                }
    }
    // Pixels in chunks of DRD images, class by class (a chunk's gy and dx stay in L2 while its
    // classes run, and DRD images make every class a whole number of tiles): per pixel its dx
    // offset (channel 0) and its gy base offset (channel 0, tap shift 0).
    const int64_t NPIX = s.N * HW;
    Bytes pix_buf(NPIX * 16), tile_buf((NPIX / DRD + nclass * cdiv(s.N, DRD) + 1) * 24);
    int64_t* pix = static_cast<int64_t*>(pix_buf.p);  // [pixel][dx offset, gy offset]
    int64_t* tiles = static_cast<int64_t*>(tile_buf.p);  // [tile][class, first, count]
    int64_t ntiles = 0, np = 0;
    for (int64_t n0 = 0; n0 < s.N; n0 += DRD)
        for (int64_t c = 0; c < nclass; ++c) {
            const int64_t ph = cls[4 * c];
            const StridePhases::Grid& g = grid[ph];
            const Run &ra = runs[cls[4 * c + 1]], &rb = runs[cls[4 * c + 2]];
            const int64_t p0 = np;
            for (int64_t n = n0; n < lmin(n0 + DRD, s.N); ++n)
                for (int64_t a = ra.first; a < ra.first + ra.count; ++a)
                    for (int64_t b = rb.first; b < rb.first + rb.count; ++b) {
                        const int64_t h = g.h0 + a * s.sh, ww = g.w0 + b * s.sw;
                        pix[2 * np] = n * s.C * HW + h * s.W + ww;
                        pix[2 * np + 1] = n * s.O * plane + ((h + s.ph) / s.sh + PT) * Wg +
                                          (ww + s.pw) / s.sw + PL;
                        ++np;
                    }
            for (int64_t f = p0; f < np; f += DRD, ++ntiles) {
                tiles[3 * ntiles] = c;
                tiles[3 * ntiles + 1] = f;
                tiles[3 * ntiles + 2] = lmin(DRD, np - f);
            }
        }
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static) collapse(2)
        for (int64_t ph = 0; ph < phases; ++ph)
            for (int64_t o = 0; o < s.O; ++o)
                for (int64_t u = 0; u < ntaps[ph]; ++u) {
                    const StridePhases::Tap& t = sp.tap(ph, u);
                    const int64_t n = o * ntaps[ph] + u;
                    for (int64_t cp = 0; cp < cpanels; ++cp)
                        for (int64_t v = 0; v < DV; ++v) {
                            const int64_t c = cp * DV + v;
                            wp.p[((ph * cpanels + cp) * max_red + n) * DV + v] =
                                c < s.C ? w[o * K + c * khw + t.i * s.kw + t.j] : 0.0f;
                        }
                }
        if (!skip) gpd.copy(gy, s, gp.p);
#pragma omp for schedule(static)
        for (int64_t tt = 0; tt < ntiles; ++tt) {
            const int64_t c = tiles[3 * tt], first = tiles[3 * tt + 1], count = tiles[3 * tt + 2];
            const int64_t ph = cls[4 * c], red = cls[4 * c + 3];
            const float* base[DRD];
            for (int64_t r = 0; r < DRD; ++r) base[r] = g0 + pix[2 * (first + lmin(r, count - 1)) + 1];
            for (int64_t cp = 0; cp < cpanels; ++cp) {
                vf acc[DRD][2];
                for (int r = 0; r < DRD; ++r) acc[r][0] = acc[r][1] = vf{};
                direct_kernel_list<DRD>(red, koff + c * max_red, kwof + c * max_red,
                                        wp.p + (ph * cpanels + cp) * max_red * DV, base, acc);
                alignas(64) float tile[DRD][DV];
                store_tile<DRD>(acc, tile);
                const int64_t cmax = lmin(DV, s.C - cp * DV);
                for (int64_t r = 0; r < count; ++r) {
                    float* dst = dx + pix[2 * (first + r)] + cp * DV * HW;
                    for (int64_t v = 0; v < cmax; ++v) dst[v * HW] = tile[r][v];
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Row forms: vectors along an output row (kFloats consecutive ow, or consecutive pixels of one
// stride phase), loops over channels and taps outside. The panel forms above put 32 channels in
// a tile's vectors, which layers with few of them fill badly: the D's first DCGAN layer (C = 1,
// 16 taps) spends most of its forward on the tile's transposed store and most of its weight
// gradient on repacking gy to [q][32 o], for a few FMAs per value. Here every load and store of
// x, y, gy and dx runs along a contiguous image row, so nothing is transposed or repacked;
// rows narrower than a vector waste the rest (a masked tail), which is why the panel forms stay
// for layers whose rows are short and whose channels are many.

constexpr int64_t V = vec::kFloats;
// Forward tile: FR output rows x FO output channels (FR*FO accumulators, FR loads of x and FO
// broadcasts of w per tap). Weight gradient tile: WO channels x WT taps. Input gradient tile:
// DA rows of one stride phase (DA loads of gy and one broadcast of w per reduction step).
constexpr int64_t FR = 2, FO = vec::kBytes == 64 ? 8 : 4;
constexpr int64_t WO = vec::kBytes == 64 ? 4 : 2, WT = 4;
constexpr int64_t DA = vec::kBytes == 64 ? 8 : 4;
constexpr int64_t WB = 16;  // output rows per block of the weight gradient's reduction

// x zero-padded and split by column phase: xq[n][c][hp][r][u] = xpad[n][c][hp][u*sw + r] for
// hp < Hp, r < sw, u < Wq = cdiv(Wp, sw). Tap (c, i, j) of output (oh, ow) reads row
// oh*sh + i*dh, phase (j*dw) % sw, column ow + (j*dw) / sw: consecutive ow are consecutive
// floats, one vector load whatever the stride. V zeros after the end: a vector may run past
// the last row.
struct ColumnPhases {
    int64_t Hp, Wq, row;  // row: floats per padded row (sw phases of Wq)
    Floats buf;
    ColumnPhases(const float* x, const ConvShape& s, int threads)
        : Hp(s.H + 2 * s.ph), Wq(cdiv(s.W + 2 * s.pw, s.sw)), row(s.sw * Wq),
          buf(s.N * s.C * Hp * row + V) {
        const int64_t planes = s.N * s.C;
        std::memset(buf.p + planes * Hp * row, 0, sizeof(float) * size_t(V));
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t pl = 0; pl < planes; ++pl) {
            float* dst = buf.p + pl * Hp * row;
            std::memset(dst, 0, sizeof(float) * size_t(Hp * row));
            for (int64_t h = 0; h < s.H; ++h) {
                float* r = dst + (h + s.ph) * row;
                const float* src = x + (pl * s.H + h) * s.W;
                if (s.sw == 1) {
                    std::memcpy(r + s.pw, src, sizeof(float) * size_t(s.W));
                } else {  // phase by phase: padded column u*sw + ph is x column that - pw
                    for (int64_t ph = 0; ph < s.sw; ++ph) {
                        float* dst = r + ph * Wq;
                        const int64_t u0 = ph >= s.pw ? 0 : cdiv(s.pw - ph, s.sw);
                        for (int64_t u = u0, w = u0 * s.sw + ph - s.pw; u < Wq && w < s.W;
                             ++u, w += s.sw)
                            dst[u] = src[w];
                    }
                }
            }
        }
    }
    // Offset of tap k = (c, i, j) from output (oh, ow)'s row base (see row_base).
    int32_t tap(const ConvShape& s, int64_t k) const {
        const int64_t khw = s.kh * s.kw, c = k / khw, i = (k % khw) / s.kw, j = k % s.kw;
        return int32_t((c * Hp + i * s.dh) * row + ((j * s.dw) % s.sw) * Wq + (j * s.dw) / s.sw);
    }
    // Offset of output row q = (n, oh) at ow = 0.
    int64_t row_base(const ConvShape& s, int64_t q) const {
        const int64_t n = q / s.OH, oh = q % s.OH;
        return (n * s.C * Hp + oh * s.sh) * row;
    }
};

void forward_rows(const float* x, const float* w, const float* bias, float* y,
                  const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, rows = s.N * s.OH;
    const int64_t ochunks = cdiv(s.O, FO), colchunks = cdiv(s.OW, V), tiles = cdiv(rows, FR);
    const ColumnPhases xq(x, s, threads);
    // Weights as [o-chunk][k][FO o] (zeros past O): a tap's FO broadcasts are adjacent.
    Floats wp(ochunks * K * FO);
    Bytes taps_buf(K * 4);
    int32_t* taps = static_cast<int32_t*>(taps_buf.p);
    for (int64_t k = 0; k < K; ++k) taps[k] = xq.tap(s, k);
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (int64_t oc = 0; oc < ochunks; ++oc)
            for (int64_t k = 0; k < K; ++k)
                for (int64_t u = 0; u < FO; ++u) {
                    const int64_t o = oc * FO + u;
                    wp.p[(oc * K + k) * FO + u] = o < s.O ? w[o * K + k] : 0.0f;
                }
#pragma omp for schedule(static)
        for (int64_t t = 0; t < tiles; ++t) {
            const float* base[FR];
            int64_t yrow[FR];  // y offset of the row's (n, 0, oh, 0); -1: past the last row
            for (int64_t r = 0; r < FR; ++r) {
                const int64_t q = lmin(t * FR + r, rows - 1);  // a short tile repeats a row
                base[r] = xq.buf.p + xq.row_base(s, q);
                yrow[r] = t * FR + r < rows ? (q / s.OH) * s.O * P + (q % s.OH) * s.OW : -1;
            }
            for (int64_t cc = 0; cc < colchunks; ++cc) {
                const int64_t ow0 = cc * V;
                const int nv = int(lmin(V, s.OW - ow0));
                for (int64_t oc = 0; oc < ochunks; ++oc) {
                    vf acc[FR][FO];
                    for (int r = 0; r < FR; ++r)
                        for (int u = 0; u < FO; ++u) acc[r][u] = vf{};
                    const float* wk = wp.p + oc * K * FO;
                    for (int64_t k = 0; k < K; ++k, wk += FO) {
                        vf xv[FR];
                        for (int r = 0; r < FR; ++r) xv[r] = vec::loadu(base[r] + taps[k] + ow0);
#pragma GCC unroll 8
                        for (int u = 0; u < FO; ++u) {
                            const vf wv = vec::splat(wk[u]);
                            for (int r = 0; r < FR; ++r) acc[r][u] = vec::madd(wv, xv[r], acc[r][u]);
                        }
                    }
                    // Lanes past the row hold sums over the next row's x: not stored. The
                    // loops have constant bounds (rows and channels past the end are skipped
                    // inside) so the accumulators go out from registers.
                    const int64_t o0 = oc * FO;
#pragma GCC unroll 8
                    for (int u = 0; u < FO; ++u) {
                        if (o0 + u >= s.O) break;
                        const float b = bias ? bias[o0 + u] : 0.0f;
                        for (int r = 0; r < FR; ++r) {
                            if (yrow[r] < 0) break;
                            const vf out = bias ? acc[r][u] + vec::splat(b) : acc[r][u];
                            float* dst = y + yrow[r] + (o0 + u) * P + ow0;
                            if (nv == V)
                                vec::storeu(dst, out);
                            else
                                vec::store_first(dst, out, nv);
                        }
                    }
                }
            }
        }
    }
}

// Weight gradient, row form: gw[o, k] = sum over rows q = (n, oh) and ow of gy[n, o, oh, ow] *
// xq(q, k, ow). Each thread reduces its own range of rows into partial sums that keep the
// vector lanes ([o][k][V], the rows' ow mod V), in blocks of WB rows whose gy and x stay in L1
// across the tap tiles; the partials are then reduced lane by lane and thread by thread in a
// fixed order (deterministic for a given thread count, like the panel form). Loads past a row
// are masked to zero on both operands, so no lane mixes in another row's values (an inf there
// would otherwise make a NaN).
void backward_weight_rows(const float* gy, const float* x, float* gw, float* gb,
                          const ConvShape& s, int threads) {
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW, rows = s.N * s.OH;
    const int64_t ochunks = cdiv(s.O, WO), kchunks = cdiv(K, WT), colchunks = cdiv(s.OW, V);
    const int64_t OP = ochunks * WO, KP = kchunks * WT, part_size = OP * KP * V;
    const ColumnPhases xq(x, s, threads);
    // At most 64 MB of partial sums: bigger layers run on fewer threads.
    const int team = int(lmax(1, lmin(threads, (int64_t(1) << 24) / part_size)));
    Floats parts(team * part_size);
    Bytes bparts_buf(gb ? int64_t(sizeof(double)) * team * s.O : 0);
    double* bparts = static_cast<double*>(bparts_buf.p);
    Bytes taps_buf(KP * 4);
    int32_t* taps = static_cast<int32_t*>(taps_buf.p);
    for (int64_t k = 0; k < KP; ++k) taps[k] = xq.tap(s, lmin(k, K - 1));
    typedef double vd __attribute__((vector_size(2 * MG_VEC_BYTES)));
#pragma omp parallel num_threads(team)
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        float* part = parts.p + tid * part_size;
        std::memset(part, 0, sizeof(float) * size_t(part_size));
        double* bsum = gb ? bparts + tid * s.O : nullptr;
        if (bsum)
            for (int64_t o = 0; o < s.O; ++o) bsum[o] = 0.0;
        const int64_t qa = rows * tid / nth, qb = rows * (tid + 1) / nth;
        int64_t gyrow[WB];
        const float* xrow[WB];
        for (int64_t q0 = qa; q0 < qb; q0 += WB) {
            const int64_t nr = lmin(WB, qb - q0);
            for (int64_t r = 0; r < nr; ++r) {
                const int64_t q = q0 + r;
                gyrow[r] = (q / s.OH) * s.O * P + (q % s.OH) * s.OW;
                xrow[r] = xq.buf.p + xq.row_base(s, q);
            }
            for (int64_t cc = 0; cc < colchunks; ++cc) {
                const int64_t ow0 = cc * V;
                const int nv = int(lmin(V, s.OW - ow0));
                for (int64_t oc = 0; oc < ochunks; ++oc) {
                    const float* gyo[WO];
                    for (int u = 0; u < WO; ++u)
                        gyo[u] = gy + lmin(oc * WO + u, s.O - 1) * P + ow0;  // padded o: unused
                    if (bsum) {  // the bias gradient from the same gy rows, in double
                        vd bacc[WO] = {};
                        for (int64_t r = 0; r < nr; ++r)
                            for (int u = 0; u < WO; ++u)
                                bacc[u] += __builtin_convertvector(
                                    vec::load_first(gyo[u] + gyrow[r], nv), vd);
                        for (int u = 0; u < WO && oc * WO + u < s.O; ++u) {
                            double sum = 0.0;
                            for (int v = 0; v < V; ++v) sum += bacc[u][v];
                            bsum[oc * WO + u] += sum;
                        }
                    }
                    for (int64_t kc = 0; kc < kchunks; ++kc) {
                        float* tile = part + (oc * WO * KP + kc * WT) * V;  // [u][t] at u*KP + t
                        vf acc[WO][WT];
                        for (int u = 0; u < WO; ++u)
                            for (int t = 0; t < WT; ++t) acc[u][t] = vec::load(tile + (u * KP + t) * V);
                        for (int64_t r = 0; r < nr; ++r) {
                            vf g[WO], xv[WT];
                            for (int u = 0; u < WO; ++u)
                                g[u] = vec::load_first(gyo[u] + gyrow[r], nv);
                            for (int t = 0; t < WT; ++t)
                                xv[t] = vec::load_first(xrow[r] + taps[kc * WT + t] + ow0, nv);
                            for (int u = 0; u < WO; ++u)
                                for (int t = 0; t < WT; ++t)
                                    acc[u][t] = vec::madd(g[u], xv[t], acc[u][t]);
                        }
                        for (int u = 0; u < WO; ++u)
                            for (int t = 0; t < WT; ++t) vec::store(tile + (u * KP + t) * V, acc[u][t]);
                    }
                }
            }
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t o = 0; o < s.O; ++o)
            for (int64_t k = 0; k < K; ++k) {
                float sum = 0.0f;
                for (int th = 0; th < nth; ++th) {
                    const float* lanes = parts.p + th * part_size + (o * KP + k) * V;
                    float lane_sum = 0.0f;
                    for (int v = 0; v < V; ++v) lane_sum += lanes[v];
                    sum += lane_sum;
                }
                gw[o * K + k] = sum;
            }
        if (gb) {
#pragma omp for schedule(static)
            for (int64_t o = 0; o < s.O; ++o) {
                double sum = 0.0;
                for (int th = 0; th < nth; ++th) sum += bparts[th * s.O + o];
                gb[o] = float(sum);
            }
        }
    }
}

// Input gradient, row form: the stride-phase split of backward_data (each phase a stride-1
// correlation of the padded gy with a sub-kernel), with a vector along a phase row -- kFloats
// pixels (h, w0 + b*sw) of one channel -- instead of along 32 channels. A tile is DA phase rows:
// per reduction step (o, tap) one broadcast of w and DA loads of gy. With sw > 1 a phase row's
// pixels are sw apart in dx and go out lane by lane (dx has C/O of gy's size: few stores).
void backward_data_rows(const float* gy, const float* w, float* dx, const ConvShape& s,
                        int threads) {
    // A vector's lanes at a row's ends read the zero padding for some taps: with an inf or NaN
    // weight that product would be NaN where the reference drops it. Such weights take the
    // panel form, which sums in-range taps only.
    if (!all_finite(w, s.O * s.C * s.kh * s.kw)) return backward_data(gy, w, dx, s, threads);
    const int64_t K = s.C * s.kh * s.kw, khw = s.kh * s.kw, HW = s.H * s.W;
    const GyPadding gpd(s, true);
    const int64_t PT = gpd.PT, PL = gpd.PL, Wg = gpd.Wg, plane = gpd.plane;
    Floats gp(s.N * s.O * plane + V);  // + V: a vector may run past the last row
    std::memset(gp.p + s.N * s.O * plane, 0, sizeof(float) * size_t(V));
    const StridePhases sp(s);
    const int64_t phases = sp.count, max_red = sp.max_red;
    const int64_t* ntaps = sp.ntaps;
    const StridePhases::Grid* grid = sp.grid;
    // Per phase and input channel, the reduction's weights [ph][c][(o, tap)] and gy offsets.
    Floats wr(phases * s.C * max_red);
    Bytes offs_buf(phases * max_red * 4);
    int32_t* offs = static_cast<int32_t*>(offs_buf.p);
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static) collapse(2)
        for (int64_t ph = 0; ph < phases; ++ph)
            for (int64_t o = 0; o < s.O; ++o)
                for (int64_t u = 0; u < ntaps[ph]; ++u) {
                    const StridePhases::Tap& t = sp.tap(ph, u);
                    const int64_t n = o * ntaps[ph] + u;
                    offs[ph * max_red + n] = int32_t(o * plane - t.ti * Wg - t.tj);
                    for (int64_t c = 0; c < s.C; ++c)
                        wr.p[(ph * s.C + c) * max_red + n] =
                            w[o * K + c * khw + t.i * s.kw + t.j];
                }
        gpd.copy(gy, s, gp.p);
        // One work item: one image's pixels of one phase (all channels); a static split gives
        // each thread whole images, every phase of an image on the same thread.
#pragma omp for schedule(static) collapse(2)
        for (int64_t n = 0; n < s.N; ++n)
            for (int64_t ph = 0; ph < phases; ++ph) {
                const StridePhases::Grid& g = grid[ph];
                const int64_t red = s.O * ntaps[ph];
                const int32_t* off = offs + ph * max_red;
                for (int64_t a0 = 0; a0 < g.nh; a0 += DA)
                    for (int64_t b0 = 0; b0 < g.nw; b0 += V) {
                        const int nv = int(lmin(V, g.nw - b0));
                        const float* base[DA];
                        int64_t h[DA];
                        for (int r = 0; r < DA; ++r) {
                            h[r] = g.h0 + lmin(a0 + r, g.nh - 1) * s.sh;
                            base[r] = gp.p + n * s.O * plane +
                                      ((h[r] + s.ph) / s.sh + PT) * Wg + (g.w0 + s.pw) / s.sw +
                                      PL + b0;
                        }
                        for (int64_t c = 0; c < s.C; ++c) {
                            const float* wc = wr.p + (ph * s.C + c) * max_red;
                            vf acc[DA];
                            for (int r = 0; r < DA; ++r) acc[r] = vf{};
                            for (int64_t t = 0; t < red; ++t) {
                                const vf wv = vec::splat(wc[t]);
                                const int32_t o = off[t];
#pragma GCC unroll 8
                                for (int r = 0; r < DA; ++r)
                                    acc[r] = vec::madd(wv, vec::loadu(base[r] + o), acc[r]);
                            }
                            for (int r = 0; r < DA && a0 + r < g.nh; ++r) {
                                float* dst = dx + (n * s.C + c) * HW + h[r] * s.W + g.w0 + b0 * s.sw;
                                if (s.sw == 1 && nv == V)
                                    vec::storeu(dst, acc[r]);
                                else if (s.sw == 1)
                                    vec::store_first(dst, acc[r], nv);
                                else
                                    for (int b = 0; b < nv; ++b) dst[b * s.sw] = acc[r][b];
                            }
                        }
                    }
            }
    }
}

}  // namespace

extern const ConvDirect conv_direct_table;
const ConvDirect conv_direct_table = {MG_ISA_NAME,     DV,           &forward,
                                       &backward_weight, &backward_data, &forward_rows,
                                       &backward_weight_rows, &backward_data_rows};

}  // namespace minigan::cpu::MG_ISA_NS
