// Batch normalization kernels, then their launchers (see batch_norm.h).
#include "batch_norm.h"
#include "channel.cuh"
#include "launch.h"

namespace minigan::cuda {
namespace {

template <typename T, bool kColumns>
__global__ void __launch_bounds__(kChannelBlockMax)
    bn_forward_kernel(const T* __restrict__ x, const T* __restrict__ weight,
                      const T* __restrict__ bias, T* running_mean, T* running_var,
                      T* __restrict__ y, T* __restrict__ mean_out, T* __restrict__ invstd_out,
                      int N, int C, int inner, bool training, T keep, T momentum, T unbias,
                      T eps) {
    const Channel<kColumns> ch(C, N, inner);
    const int c = ch.active ? ch.c : 0;
    T mean, var;
    if (training) {
        acc_t s[1] = {0};
        for (int idx = ch.first; idx < ch.n; idx += ch.step) s[0] += x[ch.offset(idx)];
        ch.sum(s);
        mean = static_cast<T>(s[0] / ch.n);
        acc_t q[1] = {0};
        for (int idx = ch.first; idx < ch.n; idx += ch.step) {
            const acc_t d = static_cast<acc_t>(x[ch.offset(idx)] - mean);
            q[0] += d * d;
        }
        ch.sum(q);
        var = static_cast<T>(q[0] / ch.n);
        if (ch.leader() && running_mean != nullptr) {
            // As the reference: r <- (1 - momentum) r + momentum * stat, var made unbiased
            // (keep = 1 - momentum and unbias = momentum n / (n - 1), rounded to T once).
            running_mean[c] = keep * running_mean[c] + momentum * mean;
            running_var[c] = keep * running_var[c] + unbias * var;
        }
    } else {
        mean = ch.active ? running_mean[c] : T(0);
        var = ch.active ? running_var[c] : T(1);
    }
    const T istd = T(1) / sqrt(var + eps);
    const T w = weight && ch.active ? weight[c] : T(1), b = bias && ch.active ? bias[c] : T(0);
    for (int idx = ch.first; idx < ch.n; idx += ch.step) {
        const int64_t o = ch.offset(idx);
        T v = (x[o] - mean) * istd;
        if (weight) v *= w;
        if (bias) v += b;
        y[o] = v;
    }
    if (ch.leader()) {
        mean_out[c] = mean;
        invstd_out[c] = istd;
    }
}

template <typename T, bool kColumns>
__global__ void __launch_bounds__(kChannelBlockMax)
    bn_backward_kernel(const T* __restrict__ gy, const T* __restrict__ x,
                       const T* __restrict__ weight, const T* __restrict__ mean_in,
                       const T* __restrict__ invstd_in, T* __restrict__ gx, T* __restrict__ gw,
                       T* __restrict__ gb, int N, int C, int inner) {
    const Channel<kColumns> ch(C, N, inner);
    const int c = ch.active ? ch.c : 0;
    const T mean = ch.active ? mean_in[c] : T(0), istd = ch.active ? invstd_in[c] : T(0);
    acc_t s[2] = {0, 0};
    for (int idx = ch.first; idx < ch.n; idx += ch.step) {
        const int64_t o = ch.offset(idx);
        const T g = gy[o], xhat = (x[o] - mean) * istd;
        s[0] += g;
        s[1] += static_cast<acc_t>(g) * xhat;
    }
    ch.sum(s);
    const T sum_g = static_cast<T>(s[0]), sum_gx = static_cast<T>(s[1]);
    const T nT = static_cast<T>(ch.n);
    const T a = sum_g / nT, b = sum_gx / nT;
    const T scale = weight && ch.active ? weight[c] * istd : istd;
    for (int idx = ch.first; idx < ch.n; idx += ch.step) {
        const int64_t o = ch.offset(idx);
        const T xhat = (x[o] - mean) * istd;
        gx[o] = scale * (gy[o] - a - xhat * b);
    }
    if (ch.leader()) {
        gw[c] = sum_gx;
        gb[c] = sum_g;
    }
}

void check_shape(const BatchNormShape& s, const char* kernel) {
    MG_CHECK(s.N >= 0 && s.C >= 0 && s.inner >= 0, kernel, ": negative shape");
    MG_CHECK(s.N * s.inner <= kInt32Max && s.C <= kInt32Max, kernel,
             ": a channel's N*inner elements and C must fit in int32");
}

}  // namespace

template <typename T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, T* y, T* mean, T* invstd, const BatchNormShape& s,
                        bool training, double momentum, double eps, cudaStream_t stream) {
    check_shape(s, "bn_forward_kernel");
    const int64_t n = s.N * s.inner;
    MG_CHECK(!training || n > 1, "bn_forward_kernel: training needs more than 1 value per "
             "channel, got ", n);
    MG_CHECK(training || (running_mean && running_var),
             "bn_forward_kernel: evaluation needs the running statistics");
    MG_CHECK((running_mean == nullptr) == (running_var == nullptr),
             "bn_forward_kernel: pass both running statistics or neither");
    if (s.C == 0) return;
    const bool columns = s.inner == 1;
    const unsigned blocks = channel_blocks(columns, s.C);
    const unsigned threads = channel_threads(columns, s.C);
    const T keep = static_cast<T>(1 - momentum), mom = static_cast<T>(momentum),
            unbias = static_cast<T>(momentum * (static_cast<double>(n) / (n > 1 ? n - 1 : 1)));
    const int N = static_cast<int>(s.N), C = static_cast<int>(s.C),
              in = static_cast<int>(s.inner);
    if (columns)
        bn_forward_kernel<T, true><<<blocks, threads, 0, stream>>>(
            x, weight, bias, running_mean, running_var, y, mean, invstd, N, C, in, training, keep,
            mom, unbias, static_cast<T>(eps));
    else
        bn_forward_kernel<T, false><<<blocks, threads, 0, stream>>>(
            x, weight, bias, running_mean, running_var, y, mean, invstd, N, C, in, training, keep,
            mom, unbias, static_cast<T>(eps));
    check_launch("bn_forward_kernel");
}

template <typename T>
void batch_norm_backward(const T* gy, const T* x, const T* weight, const T* mean,
                         const T* invstd, T* gx, T* gweight, T* gbias, const BatchNormShape& s,
                         cudaStream_t stream) {
    check_shape(s, "bn_backward_kernel");
    if (s.C == 0) return;
    const bool columns = s.inner == 1;
    const unsigned blocks = channel_blocks(columns, s.C);
    const unsigned threads = channel_threads(columns, s.C);
    const int N = static_cast<int>(s.N), C = static_cast<int>(s.C),
              in = static_cast<int>(s.inner);
    if (columns)
        bn_backward_kernel<T, true><<<blocks, threads, 0, stream>>>(
            gy, x, weight, mean, invstd, gx, gweight, gbias, N, C, in);
    else
        bn_backward_kernel<T, false><<<blocks, threads, 0, stream>>>(
            gy, x, weight, mean, invstd, gx, gweight, gbias, N, C, in);
    check_launch("bn_backward_kernel");
}

#define MG_INSTANTIATE(T)                                                                     \
    template void batch_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*,     \
                                        const BatchNormShape&, bool, double, double,          \
                                        cudaStream_t);                                        \
    template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, \
                                         T*, T*, const BatchNormShape&, cudaStream_t);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cuda
