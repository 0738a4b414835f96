// Batch normalization, OpenMP. Channels are independent: the statistics split channels across
// threads, the elementwise pass splits (n, c) rows. Each reduction is one pass over the data
// in double, shifted by the channel's first value so that an offset much larger than the spread
// costs no digits (var = E[(x-K)^2] - E[x-K]^2 is exact for any K; K near the mean keeps both
// terms small).
#include "batch_norm.h"

#include <cmath>

#include "parallel.h"

namespace minigan::cpu {

template <typename T>
void bn_forward(const T* x, int64_t N, int64_t C, int64_t L, const T* weight, const T* bias,
                T* running_mean, T* running_var, bool training, double momentum, double eps,
                T* y, T* mean, T* invstd) {
    const int64_t total = N * C * L, cnt = N * L;
    const bool parallel = total >= kParallelGrain;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel && C > 1)
    for (int64_t c = 0; c < C; ++c) {
        double mu, var;
        if (training) {
            const double shift = x[c * L];
            double s = 0.0, ss = 0.0;
            for (int64_t n = 0; n < N; ++n) {
                const T* row = x + (n * C + c) * L;
#pragma omp simd reduction(+ : s, ss)
                for (int64_t l = 0; l < L; ++l) {
                    const double d = static_cast<double>(row[l]) - shift;
                    s += d;
                    ss += d * d;
                }
            }
            const double dm = s / cnt;
            mu = shift + dm;
            var = ss / cnt - dm * dm;
            if (var < 0) var = 0;
            if (running_mean != nullptr) {
                const T m = static_cast<T>(mu), v = static_cast<T>(var);
                running_mean[c] = static_cast<T>(1 - momentum) * running_mean[c] +
                                  static_cast<T>(momentum) * m;
                running_var[c] = static_cast<T>(1 - momentum) * running_var[c] +
                                 static_cast<T>(momentum * (double(cnt) / double(cnt - 1))) * v;
            }
        } else {
            mu = running_mean[c];
            var = running_var[c];
        }
        mean[c] = static_cast<T>(mu);
        invstd[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(static_cast<T>(var)) + eps));
    }
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t r = 0; r < N * C; ++r) {
        const int64_t c = r % C;
        const T m = mean[c], is = invstd[c];
        const T w = weight ? weight[c] : T(1), b = bias ? bias[c] : T(0);
        const T* xr = x + r * L;
        T* yr = y + r * L;
        for (int64_t l = 0; l < L; ++l) yr[l] = (xr[l] - m) * is * w + b;
    }
}

template <typename T>
void bn_backward(const T* gy, const T* x, int64_t N, int64_t C, int64_t L, const T* weight,
                 const T* mean, const T* invstd, T* gx, T* gw, T* gb) {
    const int64_t total = N * C * L, cnt = N * L;
    const bool parallel = total >= kParallelGrain;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel && C > 1)
    for (int64_t c = 0; c < C; ++c) {
        const double m = mean[c];
        double s = 0.0, sx = 0.0;
        for (int64_t n = 0; n < N; ++n) {
            const int64_t off = (n * C + c) * L;
#pragma omp simd reduction(+ : s, sx)
            for (int64_t l = 0; l < L; ++l) {
                const double g = gy[off + l];
                s += g;
                sx += g * (static_cast<double>(x[off + l]) - m);
            }
        }
        gb[c] = static_cast<T>(s);
        gw[c] = static_cast<T>(sx * static_cast<double>(invstd[c]));
    }
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t r = 0; r < N * C; ++r) {
        const int64_t c = r % C;
        const T m = mean[c], is = invstd[c];
        const T scale = (weight ? weight[c] : T(1)) * is;
        const T a = gb[c] / static_cast<T>(cnt), b = gw[c] / static_cast<T>(cnt);
        const int64_t off = r * L;
        for (int64_t l = 0; l < L; ++l) {
            const T xhat = (x[off + l] - m) * is;
            gx[off + l] = scale * (gy[off + l] - a - xhat * b);
        }
    }
}

#define MG_INSTANTIATE(T)                                                                     \
    template void bn_forward<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, T*, \
                                T*, bool, double, double, T*, T*, T*);                       \
    template void bn_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, const T*,     \
                                 const T*, const T*, T*, T*, T*);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cpu
