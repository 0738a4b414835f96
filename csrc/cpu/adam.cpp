// Adam and SGD updates: OpenMP across chunks, SIMD within one (an AVX2 clone where the CPU has
// it; no AVX-512 clone, whose FMA GCC would contract into: see simd.h). Each element is read and
// written once; the arithmetic is the reference's, in T, step by step and lane by lane (IEEE +,
// *, /, sqrt, no FMA), so results match NumPy's to the last bit (checked on x86-64 with GCC 12).
#include "adam.h"

#include <cmath>

#include "simd.h"

namespace minigan::cpu {

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

MG_TARGET_CLONES_NO_FMA void adam_f32(float* p, const float* g, float* m, float* v, float* vmax,
                               bool decay, int64_t b, int64_t e, const AdamCoef<float>& c) {
    adam_dispatch(p, g, m, v, vmax, decay, b, e, c);
}
MG_TARGET_CLONES_NO_FMA void adam_f64(double* p, const double* g, double* m, double* v, double* vmax,
                               bool decay, int64_t b, int64_t e, const AdamCoef<double>& c) {
    adam_dispatch(p, g, m, v, vmax, decay, b, e, c);
}
void adam_t(float* p, const float* g, float* m, float* v, float* vmax, bool decay, int64_t b,
            int64_t e, const AdamCoef<float>& c) {
    adam_f32(p, g, m, v, vmax, decay, b, e, c);
}
void adam_t(double* p, const double* g, double* m, double* v, double* vmax, bool decay,
            int64_t b, int64_t e, const AdamCoef<double>& c) {
    adam_f64(p, g, m, v, vmax, decay, b, e, c);
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

MG_TARGET_CLONES_NO_FMA void sgd_f32(float* p, const float* g, float* buf, int64_t b, int64_t e,
                              const SgdCoef<float>& c) {
    if (buf) sgd_chunk<float, true>(p, g, buf, b, e, c);
    else sgd_chunk<float, false>(p, g, buf, b, e, c);
}
MG_TARGET_CLONES_NO_FMA void sgd_f64(double* p, const double* g, double* buf, int64_t b, int64_t e,
                              const SgdCoef<double>& c) {
    if (buf) sgd_chunk<double, true>(p, g, buf, b, e, c);
    else sgd_chunk<double, false>(p, g, buf, b, e, c);
}
void sgd_t(float* p, const float* g, float* buf, int64_t b, int64_t e, const SgdCoef<float>& c) {
    sgd_f32(p, g, buf, b, e, c);
}
void sgd_t(double* p, const double* g, double* buf, int64_t b, int64_t e,
           const SgdCoef<double>& c) {
    sgd_f64(p, g, buf, b, e, c);
}

}  // namespace

template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
                 int64_t n, int64_t step, const AdamHyper& h) {
    // Every hyperparameter rounded to T, as NumPy does with a Python float and a T array.
    const AdamCoef<T> c{static_cast<T>(h.weight_decay), static_cast<T>(h.beta1),
                        static_cast<T>(h.beta2), static_cast<T>(1 - h.beta1),
                        static_cast<T>(1 - h.beta2), static_cast<T>(h.eps),
                        static_cast<T>(h.lr / (1 - std::pow(h.beta1, double(step)))),
                        static_cast<T>(std::sqrt(1 - std::pow(h.beta2, double(step))))};
    const bool decay = h.weight_decay != 0;
    simd::parallel_chunks(n, [&](int64_t b, int64_t e) {
        adam_t(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, decay, b, e, c);
        return 0.0;
    });
}

template <typename T>
void sgd_update(T* param, const T* grad, T* buf, bool fresh, int64_t n, const SgdHyper& h) {
    const SgdCoef<T> c{static_cast<T>(h.weight_decay), static_cast<T>(h.lr),
                       static_cast<T>(h.momentum), static_cast<T>(1 - h.dampening),
                       fresh, h.nesterov, h.weight_decay != 0};
    simd::parallel_chunks(n, [&](int64_t b, int64_t e) {
        sgd_t(param, grad, buf, b, e, c);
        return 0.0;
    });
}

#define MG_INSTANTIATE(T)                                                                 \
    template void adam_update<T>(T*, const T*, T*, T*, T*, int64_t, int64_t,              \
                                 const AdamHyper&);                                       \
    template void sgd_update<T>(T*, const T*, T*, bool, int64_t, const SgdHyper&);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cpu
