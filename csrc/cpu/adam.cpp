// Adam and SGD updates, OpenMP over the elements of large parameters. Each element is read and
// written once; the arithmetic is the reference's, in T, step by step (no FMA contraction under
// -std=c++17), so float32 results match NumPy's to the last bit on the usual x86-64 builds.
#include "adam.h"

#include <cmath>

#include "parallel.h"

namespace minigan::cpu {

template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
                 int64_t n, int64_t step, const AdamHyper& h) {
    const T wd = static_cast<T>(h.weight_decay), b1 = static_cast<T>(h.beta1),
            b2 = static_cast<T>(h.beta2), c1 = static_cast<T>(1 - h.beta1),
            c2 = static_cast<T>(1 - h.beta2), eps = static_cast<T>(h.eps);
    const T step_size = static_cast<T>(h.lr / (1 - std::pow(h.beta1, double(step))));
    const T bc2 = static_cast<T>(std::sqrt(1 - std::pow(h.beta2, double(step))));
    const bool decay = h.weight_decay != 0;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        T g = grad[i];
        if (decay) g = g + wd * param[i];
        const T m = exp_avg[i] * b1 + c1 * g;
        T v = exp_avg_sq[i] * b2 + c2 * (g * g);
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        if (max_exp_avg_sq != nullptr) {
            if (max_exp_avg_sq[i] > v) v = max_exp_avg_sq[i];
            max_exp_avg_sq[i] = v;
        }
        const T denom = std::sqrt(v) / bc2 + eps;
        param[i] = param[i] - step_size * (m / denom);
    }
}

template <typename T>
void sgd_update(T* param, const T* grad, T* buf, bool fresh, int64_t n, const SgdHyper& h) {
    const T wd = static_cast<T>(h.weight_decay), lr = static_cast<T>(h.lr),
            mom = static_cast<T>(h.momentum), damp = static_cast<T>(1 - h.dampening);
    const bool decay = h.weight_decay != 0;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        T g = grad[i];
        if (decay) g = g + wd * param[i];
        if (buf != nullptr) {
            const T b = fresh ? g : buf[i] * mom + damp * g;
            buf[i] = b;
            g = h.nesterov ? g + mom * b : b;
        }
        param[i] = param[i] - lr * g;
    }
}

#define MG_INSTANTIATE(T)                                                                 \
    template void adam_update<T>(T*, const T*, T*, T*, T*, int64_t, int64_t,              \
                                 const AdamHyper&);                                       \
    template void sgd_update<T>(T*, const T*, T*, bool, int64_t, const SgdHyper&);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cpu
