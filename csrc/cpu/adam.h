// Fused optimizer updates, in place, one parameter (a flat array of n values) per call. The
// rules and their operation order follow minigan/kernels/optim/__init__.py (PyTorch's), with
// every hyperparameter rounded to T first, as NumPy does with a Python float and a float32 array.
//
// adam.cpp is compiled once per instruction set (isa.h); adam_update<T> / sgd_update<T> call the
// variant in use.
#pragma once

#include <cstdint>
#include <type_traits>

namespace minigan::cpu {

struct AdamHyper {
    double lr, beta1, beta2, eps, weight_decay;
};

struct SgdHyper {
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
};

// One ISA variant's kernels (adam.cpp exports one table per variant).
struct OptimKernels {
    const char* isa;
    void (*adam_f32)(float*, const float*, float*, float*, float*, int64_t, int64_t,
                     const AdamHyper&);
    void (*adam_f64)(double*, const double*, double*, double*, double*, int64_t, int64_t,
                     const AdamHyper&);
    void (*sgd_f32)(float*, const float*, float*, bool, int64_t, const SgdHyper&);
    void (*sgd_f64)(double*, const double*, double*, bool, int64_t, const SgdHyper&);
};

// The active variant's table (isa.cpp).
const OptimKernels& optim_kernels();

// Not to be called from an ISA unit (it would instantiate these in that unit's instructions).
template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
                 int64_t n, int64_t step, const AdamHyper& h) {
    if constexpr (std::is_same_v<T, float>)
        optim_kernels().adam_f32(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, step, h);
    else
        optim_kernels().adam_f64(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, step, h);
}

template <typename T>
void sgd_update(T* param, const T* grad, T* buf, bool fresh, int64_t n, const SgdHyper& h) {
    if constexpr (std::is_same_v<T, float>) optim_kernels().sgd_f32(param, grad, buf, fresh, n, h);
    else optim_kernels().sgd_f64(param, grad, buf, fresh, n, h);
}

}  // namespace minigan::cpu
