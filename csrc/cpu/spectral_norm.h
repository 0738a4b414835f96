// Spectral normalization kernels on a row-major (m, n) matrix W. Semantics as in
// minigan/kernels/spectral_norm.py (the NumPy reference they are tested against).
#pragma once

#include <cstdint>
#include <type_traits>

namespace minigan::cpu {

// One ISA variant's kernels (spectral_norm.cpp is compiled once per instruction set, isa.h, and
// exports one table per variant).
struct SpectralNormKernels {
    const char* isa;
    float (*power_iteration_f32)(const float* w, int64_t m, int64_t n, const float* u0,
                                 int64_t n_iter, double eps, float* u, float* v);
    double (*power_iteration_f64)(const double* w, int64_t m, int64_t n, const double* u0,
                                  int64_t n_iter, double eps, double* u, double* v);
    float (*normalize_f32)(const float* w, int64_t m, int64_t n, const float* u, const float* v,
                           float* out);
    double (*normalize_f64)(const double* w, int64_t m, int64_t n, const double* u,
                            const double* v, double* out);
    void (*backward_f32)(const float* g, const float* w, int64_t m, int64_t n, const float* u,
                         const float* v, float sigma, float* out);
    void (*backward_f64)(const double* g, const double* w, int64_t m, int64_t n, const double* u,
                         const double* v, double sigma, double* out);
};

// The active variant's table (isa.cpp).
const SpectralNormKernels& spectral_norm_kernels();

// The three below call the active variant; not to be called from an ISA unit.

// n_iter steps of v = normalize(W^T u), t = W v, u = normalize(t), normalize(x) = x/max(|x|, eps),
// starting from u0; writes u (m,), v (n,); returns sigma = u . t. Needs n_iter >= 1.
template <typename T>
T sn_power_iteration(const T* w, int64_t m, int64_t n, const T* u0, int64_t n_iter, double eps,
                     T* u, T* v) {
    if constexpr (std::is_same_v<T, float>)
        return spectral_norm_kernels().power_iteration_f32(w, m, n, u0, n_iter, eps, u, v);
    else
        return spectral_norm_kernels().power_iteration_f64(w, m, n, u0, n_iter, eps, u, v);
}

// sigma = u^T W v; out = W / sigma. Returns sigma.
template <typename T>
T sn_normalize(const T* w, int64_t m, int64_t n, const T* u, const T* v, T* out) {
    if constexpr (std::is_same_v<T, float>)
        return spectral_norm_kernels().normalize_f32(w, m, n, u, v, out);
    else
        return spectral_norm_kernels().normalize_f64(w, m, n, u, v, out);
}

// out = G / sigma - (<G, W> / sigma^2) u v^T.
template <typename T>
void sn_backward(const T* g, const T* w, int64_t m, int64_t n, const T* u, const T* v, T sigma,
                 T* out) {
    if constexpr (std::is_same_v<T, float>)
        spectral_norm_kernels().backward_f32(g, w, m, n, u, v, sigma, out);
    else
        spectral_norm_kernels().backward_f64(g, w, m, n, u, v, sigma, out);
}

}  // namespace minigan::cpu
