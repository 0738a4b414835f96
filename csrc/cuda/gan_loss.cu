// Fused GAN loss kernels, then their launcher (see gan_loss.h and
// minigan/kernels/gan_loss.py for the table of losses).
#include "device.cuh"
#include "gan_loss.h"
#include "launch.h"

namespace minigan::cuda {
namespace {

constexpr int kBlock = 256;

// softplus(x) = max(x, 0) + log1p(exp(-|x|)) and sigmoid(x) = exp(min(x, 0)) / (1 + exp(-|x|))
// only exponentiate non-positive numbers: no overflow, no NaN, for any |x| (1e4 included).
// max(h, 0) that keeps a NaN (fmax drops it), as the reference's maximum
template <typename T>
__device__ __forceinline__ T nan_max0(T h) {
    return h < T(0) ? T(0) : h;
}
template <typename T>
__device__ __forceinline__ T softplus(T x) {
    return max(x, T(0)) + log1p(exp(-fabs(x)));
}
template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
    return exp(min(x, T(0))) / (T(1) + exp(-fabs(x)));
}

// (l(x), l'(x)) of loss `code` = 3 * kind + side; kinds minimax, ns, lsgan, wgan, hinge and
// sides d_real, d_fake, g, in that order. The switch is uniform across a launch (no divergence).
template <typename T>
__device__ __forceinline__ void term(int code, T x, T& l, T& d) {
    switch (code) {
        case 1:  // minimax d_fake
        case 4:  // ns d_fake
            l = softplus(x), d = sigmoid(x);
            return;
        case 2:  // minimax g: log(1 - D(G(z)))
            l = -softplus(x), d = -sigmoid(x);
            return;
        case 0:  // minimax d_real
        case 3:  // ns d_real
        case 5:  // ns g
            l = softplus(-x), d = -sigmoid(-x);
            return;
        case 6:  // lsgan d_real
        case 8:  // lsgan g
        case 7: {  // lsgan d_fake
            const T r = code == 7 ? x : x - T(1);
            l = T(0.5) * r * r, d = r;
            return;
        }
        case 10:  // wgan d_fake
            l = x, d = T(1);
            return;
        case 12:  // hinge d_real
            l = nan_max0(T(1) - x), d = x < T(1) ? T(-1) : T(0);
            return;
        case 13:  // hinge d_fake
            l = nan_max0(T(1) + x), d = x > T(-1) ? T(1) : T(0);
            return;
        default:  // 9 wgan d_real, 11 wgan g, 14 hinge g
            l = -x, d = T(-1);
            return;
    }
}

// VEC logits per thread per step as one 16-byte access when the pointers are aligned (else
// VEC = 1); the n % VEC tail is done by the first threads of the grid.
template <typename T, int VEC>
__global__ void __launch_bounds__(kBlock)
    gan_loss_kernel(int code, const T* __restrict__ x, T* __restrict__ dx,
                    double* __restrict__ partials, int64_t n) {
    const T nn = static_cast<T>(n);  // l'(x) / n in T, as the reference divides by the int n
    acc_t s[1] = {0};
    const int64_t nvec = n / VEC;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    const auto* xv = reinterpret_cast<const Vec<T, VEC>*>(x);
    auto* dv = reinterpret_cast<Vec<T, VEC>*>(dx);
    for (int64_t e = tid; e < nvec; e += step) {
        const Vec<T, VEC> in = xv[e];
        Vec<T, VEC> out;
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
            T l, d;
            term(code, in.v[k], l, d);
            out.v[k] = d / nn;
            s[0] += l;
        }
        dv[e] = out;
    }
    for (int64_t e = nvec * VEC + tid; e < n; e += step) {
        T l, d;
        term(code, x[e], l, d);
        dx[e] = d / nn;
        s[0] += l;
    }
    block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s[0];
}

template <typename T>
__global__ void __launch_bounds__(kBlock)
    mean_kernel(const double* __restrict__ partials, T* loss, int64_t n) {
    acc_t s[1] = {0};
    for (int k = threadIdx.x; k < kReducePartials; k += blockDim.x) s[0] += partials[k];
    block_sum(s);
    if (threadIdx.x == 0) *loss = static_cast<T>(s[0] / static_cast<acc_t>(n));
}

}  // namespace

template <typename T>
void gan_loss(int code, const T* logits, T* dlogits, T* loss, double* partials, int64_t n,
              cudaStream_t stream) {
    MG_CHECK(code >= 0 && code < 15, "gan_loss_kernel: code must be in [0, 15), got ", code);
    MG_CHECK(n >= 1, "gan_loss_kernel: expected at least one logit, got ", n);
    // Exactly kReducePartials blocks, each writing its partial (possibly 0): the mean kernel
    // reads all of them, and a fixed grid keeps the summation order fixed.
    constexpr int V = vec_width<T>();
    if (aligned16(logits, dlogits))
        gan_loss_kernel<T, V><<<kReducePartials, kBlock, 0, stream>>>(code, logits, dlogits,
                                                                      partials, n);
    else
        gan_loss_kernel<T, 1><<<kReducePartials, kBlock, 0, stream>>>(code, logits, dlogits,
                                                                      partials, n);
    check_launch("gan_loss_kernel");
    mean_kernel<T><<<1, kBlock, 0, stream>>>(partials, loss, n);
    check_launch("gan_loss mean_kernel");
}

template void gan_loss<float>(int, const float*, float*, float*, double*, int64_t, cudaStream_t);
template void gan_loss<double>(int, const double*, double*, double*, double*, int64_t,
                               cudaStream_t);

}  // namespace minigan::cuda
