// Bias + activation kernels, then their launchers (see bias_act.h).
#include "bias_act.h"
#include "channel.cuh"
#include "launch.h"

namespace minigan::cuda {
namespace {

constexpr int kBlock = 256;

template <typename T>
__device__ __forceinline__ T activate(int act, T z, T alpha) {
    switch (act) {
        case 1:  // max(z, 0) that keeps a NaN, as the reference's maximum
            return z < T(0) ? T(0) : z;
        case 2:
            return z > T(0) ? z : z * alpha;
        case 3:
            return tanh(z);
        case 4: {  // e = exp(-|z|) <= 1 never overflows; each branch keeps full precision
            const T e = exp(-fabs(z));
            return z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
        }
        default:
            return z;
    }
}

// act'(z) written in terms of y = act(z) (alpha >= 0 makes y > 0 exactly where z > 0).
template <typename T>
__device__ __forceinline__ T grad_from_output(int act, T gy, T y, T alpha) {
    switch (act) {
        case 1:  // gy * [y > 0]: a NaN gradient stays NaN, as in the reference
            return gy * (y > T(0) ? T(1) : T(0));
        case 2:
            return gy * (y > T(0) ? T(1) : alpha);
        case 3:
            return gy * (T(1) - y * y);
        case 4:
            return gy * (y * (T(1) - y));
        default:
            return gy;
    }
}

// VEC consecutive elements per access; the launcher uses VEC > 1 only when inner % VEC == 0 (so
// they share one channel) and the pointers are 16-byte aligned.
template <typename T, int VEC>
__global__ void __launch_bounds__(kBlock)
    bias_act_kernel(const T* __restrict__ x, const T* __restrict__ bias, T* __restrict__ y,
                    int64_t nvec, int64_t C, int64_t inner, int act, T alpha) {
    const auto* xv = reinterpret_cast<const Vec<T, VEC>*>(x);
    auto* yv = reinterpret_cast<Vec<T, VEC>*>(y);
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < nvec;
         e += step) {
        const T b = bias ? bias[(e * VEC / inner) % C] : T(0);
        Vec<T, VEC> v = xv[e];
#pragma unroll
        for (int k = 0; k < VEC; ++k) v.v[k] = activate(act, v.v[k] + b, alpha);
        yv[e] = v;
    }
}

template <typename T, int VEC>
__global__ void __launch_bounds__(kBlock)
    bias_act_grad_kernel(const T* __restrict__ gy, const T* __restrict__ y, T* __restrict__ gx,
                         int64_t nvec, int act, T alpha) {
    const auto* gv = reinterpret_cast<const Vec<T, VEC>*>(gy);
    const auto* yv = reinterpret_cast<const Vec<T, VEC>*>(y);
    auto* ov = reinterpret_cast<Vec<T, VEC>*>(gx);
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < nvec;
         e += step) {
        const Vec<T, VEC> g = gv[e], yy = yv[e];
        Vec<T, VEC> o;
#pragma unroll
        for (int k = 0; k < VEC; ++k) o.v[k] = grad_from_output(act, g.v[k], yy.v[k], alpha);
        ov[e] = o;
    }
}

// gx as above plus gbias[c], one channel per block (or 32 per block, see channel.cuh).
template <typename T, bool kColumns>
__global__ void __launch_bounds__(kChannelBlockMax)
    bias_act_grad_bias_kernel(const T* __restrict__ gy, const T* __restrict__ y,
                              T* __restrict__ gx, T* __restrict__ gbias, int outer, int C,
                              int inner, int act, T alpha) {
    const Channel<kColumns> ch(C, outer, inner);
    acc_t s[1] = {0};
    for (int idx = ch.first; idx < ch.n; idx += ch.step) {
        const int64_t o = ch.offset(idx);
        const T g = grad_from_output(act, gy[o], y[o], alpha);
        gx[o] = g;
        s[0] += g;
    }
    ch.sum(s);
    if (ch.leader()) gbias[ch.c] = static_cast<T>(s[0]);
}

void check_shape(const BiasActShape& s, const char* kernel) {
    MG_CHECK(s.outer >= 0 && s.C >= 0 && s.inner >= 0, kernel, ": negative shape");
    MG_CHECK(s.outer * s.inner <= kInt32Max && s.C <= kInt32Max, kernel,
             ": a channel's outer*inner elements and C must fit in int32");
}

}  // namespace

template <typename T>
void bias_act(const T* x, const T* bias, T* y, const BiasActShape& s, int act, double alpha,
              cudaStream_t stream) {
    check_shape(s, "bias_act_kernel");
    MG_CHECK(act >= 0 && act <= 4, "bias_act_kernel: act must be in [0, 4], got ", act);
    const int64_t n = s.outer * s.C * s.inner;
    if (n == 0) return;
    constexpr int V = vec_width<T>();
    if (s.inner % V == 0 && aligned16(x, y)) {
        bias_act_kernel<T, V><<<grid_for(n / V, kBlock), kBlock, 0, stream>>>(
            x, bias, y, n / V, s.C, s.inner, act, static_cast<T>(alpha));
    } else {
        bias_act_kernel<T, 1><<<grid_for(n, kBlock), kBlock, 0, stream>>>(
            x, bias, y, n, s.C, s.inner, act, static_cast<T>(alpha));
    }
    check_launch("bias_act_kernel");
}

template <typename T>
void bias_act_backward(const T* gy, const T* y, T* gx, T* gbias, const BiasActShape& s, int act,
                       double alpha, cudaStream_t stream) {
    check_shape(s, "bias_act_backward_kernel");
    MG_CHECK(act >= 0 && act <= 4, "bias_act_backward_kernel: act must be in [0, 4], got ", act);
    const int64_t n = s.outer * s.C * s.inner;
    const T a = static_cast<T>(alpha);
    if (gbias != nullptr) {
        if (s.C == 0) return;
        // Every channel is visited (an empty one writes gbias = 0).
        const bool columns = s.inner == 1;
        const unsigned blocks = channel_blocks(columns, s.C);
    const unsigned threads = channel_threads(columns, s.C);
        const int o = static_cast<int>(s.outer), c = static_cast<int>(s.C),
                  in = static_cast<int>(s.inner);
        if (columns)
            bias_act_grad_bias_kernel<T, true>
                <<<blocks, threads, 0, stream>>>(gy, y, gx, gbias, o, c, in, act, a);
        else
            bias_act_grad_bias_kernel<T, false>
                <<<blocks, threads, 0, stream>>>(gy, y, gx, gbias, o, c, in, act, a);
        check_launch("bias_act_grad_bias_kernel");
        return;
    }
    if (n == 0) return;
    constexpr int V = vec_width<T>();
    if (n % V == 0 && aligned16(gy, y, gx))
        bias_act_grad_kernel<T, V>
            <<<grid_for(n / V, kBlock), kBlock, 0, stream>>>(gy, y, gx, n / V, act, a);
    else
        bias_act_grad_kernel<T, 1>
            <<<grid_for(n, kBlock), kBlock, 0, stream>>>(gy, y, gx, n, act, a);
    check_launch("bias_act_grad_kernel");
}

#define MG_INSTANTIATE(T)                                                                      \
    template void bias_act<T>(const T*, const T*, T*, const BiasActShape&, int, double,        \
                              cudaStream_t);                                                   \
    template void bias_act_backward<T>(const T*, const T*, T*, T*, const BiasActShape&, int,   \
                                       double, cudaStream_t);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cuda
