// Fused optimizer updates, in place, one parameter (a flat array of n values) per call. The
// rules and their operation order follow minigan/kernels/optim_kernels.py (PyTorch's), with every
// hyperparameter rounded to T first, as NumPy does with a Python float and a float32 array.
#pragma once

#include <cstdint>

namespace minigan::cpu {

struct AdamHyper {
    double lr, beta1, beta2, eps, weight_decay;
};

// max_exp_avg_sq null: no amsgrad. step >= 1.
template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
                 int64_t n, int64_t step, const AdamHyper& h);

struct SgdHyper {
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
};

// buf null: momentum == 0. fresh: buf holds no history yet and is set to the gradient.
template <typename T>
void sgd_update(T* param, const T* grad, T* buf, bool fresh, int64_t n, const SgdHyper& h);

}  // namespace minigan::cpu
