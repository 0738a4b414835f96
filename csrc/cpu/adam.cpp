// Adam and SGD updates: OpenMP across chunks, SIMD within one. Compiled once per instruction set
// (isa.h), always with -ffp-contract=off (CMakeLists.txt): the AVX2 and AVX-512 units enable FMA,
// and a contracted a * b + c rounds once where NumPy rounds twice. Each element is read and
// written once; the arithmetic is the reference's, in T, step by step and lane by lane (IEEE +,
// *, /, sqrt, no FMA), so results match NumPy's to the last bit in every variant (checked on
// x86-64 with GCC 12). The table at the bottom is the only exported name.
#include "adam.h"

#include <cmath>

#include "simd.h"

#ifndef MG_ISA_NS
#error "adam.cpp: compile with -DMG_ISA_NS=isa_<name> -DMG_ISA_NAME=\"<name>\""
#endif

namespace minigan::cpu::MG_ISA_NS {

namespace {

template <typename T>
struct AdamCoef {
    T wd, b1, b2, c1, c2, eps, step_size, bc2;
};

template <typename T, bool AMSGRAD, bool DECAY>
MG_INLINE void adam_chunk(T* __restrict p, const T* __restrict g, T* __restrict m,
                          T* __restrict v, T* __restrict vmax, int64_t b, int64_t e,
                          const AdamCoef<T>& c) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
        T gi = g[i];
        if (DECAY) gi = gi + c.wd * p[i];
        const T mi = m[i] * c.b1 + c.c1 * gi;
        T vi = v[i] * c.b2 + c.c2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        if (AMSGRAD) {
            vi = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vi;
        }
        p[i] = p[i] - c.step_size * (mi / (std::sqrt(vi) / c.bc2 + c.eps));
    }
}

template <typename T>
MG_INLINE void adam_dispatch(T* p, const T* g, T* m, T* v, T* vmax, bool decay, int64_t b,
                             int64_t e, const AdamCoef<T>& c) {
    if (vmax != nullptr) {
        if (decay) adam_chunk<T, true, true>(p, g, m, v, vmax, b, e, c);
        else adam_chunk<T, true, false>(p, g, m, v, vmax, b, e, c);
    } else {
        if (decay) adam_chunk<T, false, true>(p, g, m, v, vmax, b, e, c);
        else adam_chunk<T, false, false>(p, g, m, v, vmax, b, e, c);
    }
}

template <typename T>
struct SgdCoef {
    T wd, lr, mom, damp;
    bool fresh, nesterov, decay;
};

template <typename T, bool HAS_BUF>
MG_INLINE void sgd_chunk(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t b,
                         int64_t e, const SgdCoef<T>& c) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
        T gi = g[i];
        if (c.decay) gi = gi + c.wd * p[i];
        if (HAS_BUF) {
            const T bi = c.fresh ? gi : buf[i] * c.mom + c.damp * gi;
            buf[i] = bi;
            gi = c.nesterov ? gi + c.mom * bi : bi;
        }
        p[i] = p[i] - c.lr * gi;
    }
}

template <typename T>
void adam_update_impl(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
                      int64_t n, int64_t step, const AdamHyper& h) {
    // Every hyperparameter rounded to T, as NumPy does with a Python float and a T array.
    const AdamCoef<T> c{static_cast<T>(h.weight_decay), static_cast<T>(h.beta1),
                        static_cast<T>(h.beta2), static_cast<T>(1 - h.beta1),
                        static_cast<T>(1 - h.beta2), static_cast<T>(h.eps),
                        static_cast<T>(h.lr / (1 - std::pow(h.beta1, double(step)))),
                        static_cast<T>(std::sqrt(1 - std::pow(h.beta2, double(step))))};
    const bool decay = h.weight_decay != 0;
    simd::parallel_chunks(n, [&](int64_t b, int64_t e) {
        adam_dispatch(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, decay, b, e, c);
        return 0.0;
    });
}

template <typename T>
void sgd_update_impl(T* param, const T* grad, T* buf, bool fresh, int64_t n, const SgdHyper& h) {
    const SgdCoef<T> c{static_cast<T>(h.weight_decay), static_cast<T>(h.lr),
                       static_cast<T>(h.momentum), static_cast<T>(1 - h.dampening),
                       fresh, h.nesterov, h.weight_decay != 0};
    simd::parallel_chunks(n, [&](int64_t b, int64_t e) {
        if (buf) sgd_chunk<T, true>(param, grad, buf, b, e, c);
        else sgd_chunk<T, false>(param, grad, buf, b, e, c);
        return 0.0;
    });
}

}  // namespace

extern const OptimKernels optim_table;
const OptimKernels optim_table = {MG_ISA_NAME, &adam_update_impl<float>,
                                  &adam_update_impl<double>, &sgd_update_impl<float>,
                                  &sgd_update_impl<double>};

}  // namespace minigan::cpu::MG_ISA_NS
