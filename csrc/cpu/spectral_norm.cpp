// Spectral normalization, OpenMP. Compiled once per instruction set (isa.h: AVX-512, AVX2,
// baseline); the table at the bottom is the only exported name. Products accumulate in double
// (W may have 10^5 columns).
#include "spectral_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.h"

#ifndef MG_ISA_NS
#error "spectral_norm.cpp: compile with -DMG_ISA_NS=isa_<name> -DMG_ISA_NAME=\"<name>\""
#endif

namespace minigan::cpu::MG_ISA_NS {

namespace {

// out[j] = sum_i W[i, j] u[i]. Threads own disjoint column blocks and walk all rows, so each
// reads contiguous pieces of rows and no two threads write the same output.
template <typename T>
void wt_u(const T* w, int64_t m, int64_t n, const T* u, double* out) {
    constexpr int64_t kBlock = 512;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    const bool parallel = m * n >= kParallelGrain && blocks > 1;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t j0 = b * kBlock, j1 = std::min(n, j0 + kBlock);
        double* acc = out + j0;
        std::fill(acc, acc + (j1 - j0), 0.0);
        for (int64_t i = 0; i < m; ++i) {
            const T* row = w + i * n;
            const double ui = u[i];
            for (int64_t j = j0; j < j1; ++j) acc[j - j0] += ui * row[j];
        }
    }
}

// out[i] = sum_j W[i, j] v[j].
template <typename T>
void w_v(const T* w, int64_t m, int64_t n, const T* v, double* out) {
    const bool parallel = m * n >= kParallelGrain && m > 1;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t i = 0; i < m; ++i) {
        const T* row = w + i * n;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < n; ++j) s += static_cast<double>(row[j]) * v[j];
        out[i] = s;
    }
}

// dst = src / max(||src||, eps), in T.
template <typename T>
void normalize_into(const double* src, int64_t k, double eps, T* dst) {
    double ss = 0.0;
    for (int64_t i = 0; i < k; ++i) ss += src[i] * src[i];
    // NumPy's maximum: a NaN on either side (eps = NaN included) gives NaN, as the reference.
    const double norm = std::sqrt(ss);
    const T denom = static_cast<T>(std::isnan(norm) || std::isnan(eps) ? norm + eps
                                                                        : std::max(norm, eps));
    for (int64_t i = 0; i < k; ++i) dst[i] = static_cast<T>(src[i]) / denom;
}

}  // namespace

template <typename T>
T power_iteration_impl(const T* w, int64_t m, int64_t n, const T* u0, int64_t n_iter,
                       double eps, T* u, T* v) {
    std::vector<double> tn(n), tm(m);
    std::copy(u0, u0 + m, u);
    for (int64_t it = 0; it < n_iter; ++it) {
        wt_u(w, m, n, u, tn.data());
        normalize_into(tn.data(), n, eps, v);
        w_v(w, m, n, v, tm.data());
        normalize_into(tm.data(), m, eps, u);
    }
    double sigma = 0.0;
    for (int64_t i = 0; i < m; ++i) sigma += static_cast<double>(u[i]) * tm[i];
    return static_cast<T>(sigma);
}

template <typename T>
T normalize_impl(const T* w, int64_t m, int64_t n, const T* u, const T* v, T* out) {
    std::vector<double> tm(m);
    w_v(w, m, n, v, tm.data());
    double s = 0.0;
    for (int64_t i = 0; i < m; ++i) s += static_cast<double>(u[i]) * tm[i];
    const T sigma = static_cast<T>(s);
    const int64_t total = m * n;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (total >= kParallelGrain)
    for (int64_t k = 0; k < total; ++k) out[k] = w[k] / sigma;
    return sigma;
}

template <typename T>
void backward_impl(const T* g, const T* w, int64_t m, int64_t n, const T* u, const T* v,
                   T sigma, T* out) {
    const int64_t total = m * n;
    const bool parallel = total >= kParallelGrain;
    double gw = 0.0;
#pragma omp parallel for simd reduction(+ : gw) schedule(static) num_threads(num_threads()) \
    if (parallel)
    for (int64_t k = 0; k < total; ++k) gw += static_cast<double>(g[k]) * w[k];
    const T c = static_cast<T>(gw) / (sigma * sigma);
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel && m > 1)
    for (int64_t i = 0; i < m; ++i) {
        const T cu = c * u[i];
        const T* gi = g + i * n;
        T* oi = out + i * n;
        for (int64_t j = 0; j < n; ++j) oi[j] = gi[j] / sigma - cu * v[j];
    }
}

extern const SpectralNormKernels spectral_norm_table;
const SpectralNormKernels spectral_norm_table = {
    MG_ISA_NAME,          &power_iteration_impl<float>, &power_iteration_impl<double>,
    &normalize_impl<float>, &normalize_impl<double>,    &backward_impl<float>,
    &backward_impl<double>};

}  // namespace minigan::cpu::MG_ISA_NS
