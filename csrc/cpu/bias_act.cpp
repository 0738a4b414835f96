// Bias + activation, OpenMP. See bias_act.h for the semantics.
#include "bias_act.h"

#include <cmath>
#include <vector>

#include "parallel.h"

namespace minigan::cpu {

namespace {

template <typename T>
inline T activate(T z, Act act, T alpha) {
    switch (act) {
        case Act::relu: return z > T(0) ? z : T(0);
        case Act::leaky_relu: return z > T(0) ? z : alpha * z;
        case Act::tanh: return std::tanh(z);
        // Stable on both sides: exp of a non-positive number never overflows.
        case Act::sigmoid: {
            if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
            const T e = std::exp(z);
            return e / (T(1) + e);
        }
        default: return z;
    }
}

template <typename T>
inline T slope(T y, Act act, T alpha) {
    switch (act) {
        case Act::relu: return y > T(0) ? T(1) : T(0);
        case Act::leaky_relu: return y > T(0) ? T(1) : alpha;
        case Act::tanh: return T(1) - y * y;
        case Act::sigmoid: return y * (T(1) - y);
        default: return T(1);
    }
}

}  // namespace

// Parallel over (o, c) rows of `inner` contiguous elements; one switch per row, not per element
// (the compiler hoists `act` out of the inner loop and vectorises relu/leaky_relu/none).
template <typename T>
void bias_act_forward(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner,
                      Act act, double alpha_d) {
    const T alpha = static_cast<T>(alpha_d);
    const int64_t rows = outer * C;
    const bool parallel = rows * inner >= kParallelGrain;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t r = 0; r < rows; ++r) {
        const T bias = b ? b[r % C] : T(0);
        const T* src = x + r * inner;
        T* dst = y + r * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] = activate<T>(src[i] + bias, act, alpha);
    }
}

// gx in parallel over outer; the bias gradient is summed in double, per thread, then combined
// in thread order (deterministic for a fixed thread count), so float32 keeps full precision
// over the N*H*W terms of a channel.
template <typename T>
void bias_act_backward(const T* gy, const T* y, T* gx, T* gb, int64_t outer, int64_t C,
                       int64_t inner, Act act, double alpha_d) {
    const T alpha = static_cast<T>(alpha_d);
    const bool parallel = outer * C * inner >= kParallelGrain && outer > 1;
    const int nt = parallel ? num_threads() : 1;
    std::vector<double> partial(gb ? static_cast<size_t>(nt) * C : 0, 0.0);
#pragma omp parallel num_threads(nt) if (parallel)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double* acc = gb ? partial.data() + static_cast<size_t>(tid) * C : nullptr;
#pragma omp for schedule(static)
        for (int64_t o = 0; o < outer; ++o) {
            for (int64_t c = 0; c < C; ++c) {
                const int64_t base = (o * C + c) * inner;
                double s = 0.0;
                for (int64_t i = 0; i < inner; ++i) {
                    const T g = gy[base + i] * slope<T>(y[base + i], act, alpha);
                    gx[base + i] = g;
                    s += static_cast<double>(g);
                }
                if (acc) acc[c] += s;
            }
        }
    }
    if (gb) {
        for (int64_t c = 0; c < C; ++c) {
            double s = 0.0;
            for (int t = 0; t < nt; ++t) s += partial[static_cast<size_t>(t) * C + c];
            gb[c] = static_cast<T>(s);
        }
    }
}

#define MG_INSTANTIATE(T)                                                                    \
    template void bias_act_forward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, Act, \
                                      double);                                               \
    template void bias_act_backward<T>(const T*, const T*, T*, T*, int64_t, int64_t, int64_t, \
                                       Act, double);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cpu
