// Fused GAN losses, OpenMP. One read of x and one write of grad per element; softplus and
// sigmoid share one exp(-|x|), which never overflows, so |x| = 1e4 is safe in float32.
#include "gan_loss.h"

#include <cmath>

#include "common.h"
#include "parallel.h"

namespace minigan::cpu {

namespace {

// Runs f(x) -> (l, l') over the data: the loss sum in double, the gradient as l' / n in T
// (a division, as the reference does, rather than a product with a rounded 1/n).
template <typename T, typename F>
double run(const T* x, int64_t n, T* grad, F f) {
    const T tn = static_cast<T>(n);
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) num_threads(num_threads()) \
    if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
        T l, d;
        f(x[i], l, d);
        total += l;
        grad[i] = d / tn;
    }
    return total / static_cast<double>(n);
}

// softplus(s) = max(s, 0) + log1p(exp(-|s|)) and sigmoid(s) = exp(min(s, 0)) / (1 + exp(-|s|)).
template <typename T>
inline void softplus_sigmoid(T s, T& sp, T& sg) {
    const T e = std::exp(-std::abs(s));
    sp = (s > T(0) ? s : T(0)) + std::log1p(e);
    sg = (s >= T(0) ? T(1) : e) / (T(1) + e);
}

}  // namespace

template <typename T>
double gan_loss(int code, const T* x, int64_t n, T* grad) {
    const int kind = code / 3, side = code % 3;
    MG_CHECK(code >= 0 && code < kGanLossCodes, "gan_loss: bad code ", code);
    enum { D_REAL, D_FAKE, G };
    if (kind <= 1) {  // minimax, ns
        if (side == D_FAKE)
            return run(x, n, grad, [](T v, T& l, T& d) { softplus_sigmoid(v, l, d); });
        if (side == G && kind == 0)
            return run(x, n, grad, [](T v, T& l, T& d) {
                softplus_sigmoid(v, l, d);
                l = -l;
                d = -d;
            });
        return run(x, n, grad, [](T v, T& l, T& d) {  // d_real, ns g: softplus(-x)
            softplus_sigmoid(-v, l, d);
            d = -d;
        });
    }
    if (kind == 2) {  // lsgan
        const T target = side == D_FAKE ? T(0) : T(1);
        return run(x, n, grad, [target](T v, T& l, T& d) {
            d = v - target;
            l = T(0.5) * d * d;
        });
    }
    if (kind == 4 && side == D_REAL)
        return run(x, n, grad, [](T v, T& l, T& d) {
            const T h = T(1) - v;
            l = h > T(0) ? h : T(0);
            d = v < T(1) ? T(-1) : T(0);
        });
    if (kind == 4 && side == D_FAKE)
        return run(x, n, grad, [](T v, T& l, T& d) {
            const T h = T(1) + v;
            l = h > T(0) ? h : T(0);
            d = v > T(-1) ? T(1) : T(0);
        });
    const T sign = (kind == 3 && side == D_FAKE) ? T(1) : T(-1);  // wgan, hinge's g
    return run(x, n, grad, [sign](T v, T& l, T& d) {
        l = sign * v;
        d = sign;
    });
}

template double gan_loss<float>(int, const float*, int64_t, float*);
template double gan_loss<double>(int, const double*, int64_t, double*);

}  // namespace minigan::cpu
