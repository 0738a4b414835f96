// Batch normalization over (N, C, L) data (L = product of the trailing dims), per channel.
// Semantics in minigan/kernels/batch_norm.py (the NumPy reference they are tested against).
#pragma once

#include <cstdint>
#include <type_traits>

namespace minigan::cpu {

// One ISA variant's kernels (batch_norm.cpp is compiled once per instruction set, isa.h, and
// exports one table per variant).
struct BatchNormKernels {
    const char* isa;
    void (*forward_f32)(const float* x, int64_t N, int64_t C, int64_t L, const float* weight,
                        const float* bias, float* running_mean, float* running_var,
                        bool training, double momentum, double eps, float* y, float* mean,
                        float* invstd);
    void (*forward_f64)(const double* x, int64_t N, int64_t C, int64_t L, const double* weight,
                        const double* bias, double* running_mean, double* running_var,
                        bool training, double momentum, double eps, double* y, double* mean,
                        double* invstd);
    void (*backward_f32)(const float* gy, const float* x, int64_t N, int64_t C, int64_t L,
                         const float* weight, const float* mean, const float* invstd, float* gx,
                         float* gw, float* gb);
    void (*backward_f64)(const double* gy, const double* x, int64_t N, int64_t C, int64_t L,
                         const double* weight, const double* mean, const double* invstd,
                         double* gx, double* gw, double* gb);
};

// The active variant's table (isa.cpp).
const BatchNormKernels& batch_norm_kernels();

// weight, bias, running_mean, running_var may be null (1, 0, no update). Training: batch
// statistics, running stats updated in place with the unbiased variance; eval: running stats
// (must be given). Writes y (N, C, L), mean (C), invstd (C).
// (These two call the active variant; not to be called from an ISA unit.)
template <typename T>
void bn_forward(const T* x, int64_t N, int64_t C, int64_t L, const T* weight, const T* bias,
                T* running_mean, T* running_var, bool training, double momentum, double eps,
                T* y, T* mean, T* invstd) {
    if constexpr (std::is_same_v<T, float>)
        batch_norm_kernels().forward_f32(x, N, C, L, weight, bias, running_mean, running_var,
                                         training, momentum, eps, y, mean, invstd);
    else
        batch_norm_kernels().forward_f64(x, N, C, L, weight, bias, running_mean, running_var,
                                         training, momentum, eps, y, mean, invstd);
}

// Training-mode gradient: gb = sum gy, gw = sum gy xhat, gx = w invstd (gy - gb/n - xhat gw/n).
// weight may be null (1).
template <typename T>
void bn_backward(const T* gy, const T* x, int64_t N, int64_t C, int64_t L, const T* weight,
                 const T* mean, const T* invstd, T* gx, T* gw, T* gb) {
    if constexpr (std::is_same_v<T, float>)
        batch_norm_kernels().backward_f32(gy, x, N, C, L, weight, mean, invstd, gx, gw, gb);
    else
        batch_norm_kernels().backward_f64(gy, x, N, C, L, weight, mean, invstd, gx, gw, gb);
}

}  // namespace minigan::cpu
