// Fused GAN losses, OpenMP across chunks and SIMD within one. Compiled once per instruction set
// (isa.h: AVX-512, AVX2, baseline), the table at the bottom is the only exported name. One read of x and one write of grad per element; softplus and sigmoid share one
// exp(-|x|), which never overflows, so |x| = 1e4 is safe in float32. exp and log1p are the
// vectorizable ones of simd.h (about 1 ulp), not libm's scalar calls.
#include "gan_loss.h"

#include <cmath>

#include "simd.h"

#ifndef MG_ISA_NS
#error "gan_loss.cpp: compile with -DMG_ISA_NS=isa_<name> -DMG_ISA_NAME=\"<name>\""
#endif

namespace minigan::cpu::MG_ISA_NS {

namespace {

// softplus(s) = max(s, 0) + log1p(exp(-|s|)) and sigmoid(s) = exp(min(s, 0)) / (1 + exp(-|s|)).
template <typename T>
MG_INLINE void softplus_sigmoid(T s, T& sp, T& sg) {
    const T e = simd::exp_nonpos(-std::fabs(s));
    const T pos = s > T(0) ? s : T(0);
    sp = pos + simd::log1p_unit(e);
    const T num = s >= T(0) ? T(1) : e;
    sg = num / (T(1) + e);
}

// Runs f(x) -> (l, l') over [b, e): returns the sum of l in double, writes l' / n (a division,
// as the reference does, rather than a product with a rounded 1/n).
template <typename T, typename F>
MG_INLINE double chunk(const T* __restrict x, T* __restrict grad, int64_t b, int64_t e, T n,
                       F f) {
    double total = 0.0;
#pragma omp simd reduction(+ : total)
    for (int64_t i = b; i < e; ++i) {
        T l, d;
        f(x[i], l, d);
        total += static_cast<double>(l);
        grad[i] = d / n;
    }
    return total;
}

template <typename T>
MG_INLINE double chunk_code(int code, const T* x, T* grad, int64_t b, int64_t e, T n) {
    const int kind = code / 3, side = code % 3;
    enum { D_REAL, D_FAKE, G };
    if (kind <= 1) {  // minimax, ns
        if (side == D_FAKE)
            return chunk(x, grad, b, e, n, [](T v, T& l, T& d) { softplus_sigmoid(v, l, d); });
        if (side == G && kind == 0)
            return chunk(x, grad, b, e, n, [](T v, T& l, T& d) {
                softplus_sigmoid(v, l, d);
                l = -l;
                d = -d;
            });
        return chunk(x, grad, b, e, n, [](T v, T& l, T& d) {  // d_real, ns g: softplus(-x)
            softplus_sigmoid(-v, l, d);
            d = -d;
        });
    }
    if (kind == 2) {  // lsgan
        const T target = side == D_FAKE ? T(0) : T(1);
        return chunk(x, grad, b, e, n, [target](T v, T& l, T& d) {
            d = v - target;
            l = T(0.5) * d * d;
        });
    }
    if (kind == 4 && side == D_REAL)
        return chunk(x, grad, b, e, n, [](T v, T& l, T& d) {
            const T h = T(1) - v;
            l = h < T(0) ? T(0) : h;  // max(h, 0) that keeps a NaN, as the reference's
            d = -T(v < T(1));
        });
    if (kind == 4 && side == D_FAKE)
        return chunk(x, grad, b, e, n, [](T v, T& l, T& d) {
            const T h = T(1) + v;
            l = h < T(0) ? T(0) : h;
            d = T(v > T(-1));
        });
    const T sign = (kind == 3 && side == D_FAKE) ? T(1) : T(-1);  // wgan, hinge's g
    return chunk(x, grad, b, e, n, [sign](T v, T& l, T& d) {
        l = sign * v;
        d = sign;
    });
}

template <typename T>
double gan_loss_impl(int code, const T* x, int64_t n, T* grad) {
    const T tn = static_cast<T>(n);
    const double total = simd::parallel_chunks(
        n, [&](int64_t b, int64_t e) { return chunk_code<T>(code, x, grad, b, e, tn); });
    return total / static_cast<double>(n);
}

}  // namespace

extern const GanLossKernels gan_loss_table;
const GanLossKernels gan_loss_table = {MG_ISA_NAME, &gan_loss_impl<float>,
                                       &gan_loss_impl<double>};

}  // namespace minigan::cpu::MG_ISA_NS
