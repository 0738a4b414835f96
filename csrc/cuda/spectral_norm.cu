// Spectral normalization kernels, then their launchers (see spectral_norm.h for the math).
#include "device.cuh"
#include "launch.h"
#include "spectral_norm.h"

namespace minigan::cuda {
namespace {

constexpr int kBlock = 1024;

// NumPy's maximum: NaN when either side is (fmax would drop it; eps = NaN must give NaN).
template <typename T>
__device__ __forceinline__ T nan_max(T a, T b) {
    return (a != a || b != b) ? a + b : (a < b ? b : a);
}

// t = W x into out (rows), one warp per row (lanes stride over the row: coalesced); returns,
// after a block-wide sum, sum_i out_i * weight_i (weight = out itself when weight is null).
template <typename T>
__device__ acc_t rows_times(const T* __restrict__ W, const T* x, T* out, const T* weight,
                            int R, int C) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    acc_t dot[1] = {0};
    for (int i = warp; i < R; i += nwarps) {
        const T* row = W + static_cast<int64_t>(i) * C;
        acc_t s = 0;
        for (int j = lane; j < C; j += 32) s += static_cast<acc_t>(row[j]) * x[j];
        s = warp_sum(s);
        const T t = static_cast<T>(s);  // rounded to T as the reference's W @ v is
        if (lane == 0) {
            if (out) out[i] = t;
            dot[0] += static_cast<acc_t>(t) * (weight ? weight[i] : t);
        }
    }
    block_sum(dot);  // also makes out visible to the whole block
    return dot[0];
}

template <typename T>
__global__ void __launch_bounds__(kBlock)
    sn_power_kernel(const T* __restrict__ W, const T* __restrict__ u_in, T* u, T* v, T* sigma,
                    int R, int C, int n_iter, T eps) {
    const T* uc = u_in;
    acc_t tt = 0;
    T den = 1;
    for (int it = 0; it < n_iter; ++it) {
        // v = normalize(W^T u): one thread per column (threads read neighbouring columns).
        acc_t vv[1] = {0};
        for (int j = threadIdx.x; j < C; j += blockDim.x) {
            acc_t s = 0;
            for (int i = 0; i < R; ++i)
                s += static_cast<acc_t>(W[static_cast<int64_t>(i) * C + j]) * uc[i];
            const T vj = static_cast<T>(s);
            v[j] = vj;
            vv[0] += static_cast<acc_t>(vj) * vj;
        }
        block_sum(vv);
        const T vden = nan_max(static_cast<T>(sqrt(vv[0])), eps);
        for (int j = threadIdx.x; j < C; j += blockDim.x) v[j] = v[j] / vden;  // own columns
        __syncthreads();  // v complete before any warp reads it
        // t = W v into u, then u = t / max(||t||, eps); sigma = u.t = ||t||^2 / den.
        tt = rows_times<T>(W, v, u, nullptr, R, C);
        den = nan_max(static_cast<T>(sqrt(tt)), eps);
        for (int i = threadIdx.x; i < R; i += blockDim.x) u[i] = u[i] / den;
        __syncthreads();  // u complete before the next step reads it
        uc = u;
    }
    if (threadIdx.x == 0) *sigma = static_cast<T>(tt / static_cast<acc_t>(den));
}

template <typename T>
__global__ void __launch_bounds__(kBlock)
    sn_sigma_kernel(const T* __restrict__ W, const T* __restrict__ u, const T* __restrict__ v,
                    T* sigma, int R, int C) {
    const acc_t s = rows_times<T>(W, v, nullptr, u, R, C);
    if (threadIdx.x == 0) *sigma = static_cast<T>(s);
}

template <typename T>
__global__ void scale_kernel(const T* __restrict__ W, const T* __restrict__ sigma, T* out,
                             int64_t n) {
    const T s = *sigma;
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
         e += step)
        out[e] = W[e] / s;
}

// partials[b] = this block's share of sum_e G[e] W[e] (grid of exactly kReducePartials blocks).
template <typename T>
__global__ void dot_partials_kernel(const T* __restrict__ G, const T* __restrict__ W,
                                    double* partials, int64_t n) {
    acc_t s[1] = {0};
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
         e += step)
        s[0] += static_cast<acc_t>(G[e]) * W[e];
    block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s[0];
}

template <typename T>
__global__ void sn_backward_kernel(const T* __restrict__ G, const T* __restrict__ u,
                                   const T* __restrict__ v, const T* __restrict__ sigma,
                                   const double* __restrict__ partials, T* dw, int C,
                                   int64_t n) {
    // Every block totals the partials itself (kReducePartials numbers, the same order in every
    // block): cheaper than a third launch.
    acc_t s[1] = {0};
    for (int k = threadIdx.x; k < kReducePartials; k += blockDim.x) s[0] += partials[k];
    block_sum(s);
    const T sg = *sigma;
    const T coef = static_cast<T>(s[0]) / (sg * sg);
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
         e += step) {
        const int64_t i = e / C, j = e - i * C;
        dw[e] = G[e] / sg - coef * (u[i] * v[j]);
    }
}

void check_matrix(int64_t rows, int64_t cols, const char* kernel) {
    MG_CHECK(rows >= 1 && cols >= 1 && rows * cols <= kInt32Max, kernel,
             ": expected a (rows, cols) matrix with 1 <= rows*cols < 2^31, got (", rows, ", ",
             cols, ")");
}

}  // namespace

template <typename T>
void sn_power_iteration(const T* w, const T* u_in, T* u_out, T* v_out, T* sigma, int64_t rows,
                        int64_t cols, int n_iter, double eps, cudaStream_t stream) {
    check_matrix(rows, cols, "sn_power_kernel");
    MG_CHECK(n_iter >= 1, "sn_power_kernel: n_iter must be >= 1, got ", n_iter);
    sn_power_kernel<T><<<1, kBlock, 0, stream>>>(w, u_in, u_out, v_out, sigma,
                                                 static_cast<int>(rows), static_cast<int>(cols),
                                                 n_iter, static_cast<T>(eps));
    check_launch("sn_power_kernel");
}

template <typename T>
void sn_normalize(const T* w, const T* u, const T* v, T* w_bar, T* sigma, int64_t rows,
                  int64_t cols, cudaStream_t stream) {
    check_matrix(rows, cols, "sn_sigma_kernel");
    sn_sigma_kernel<T><<<1, kBlock, 0, stream>>>(w, u, v, sigma, static_cast<int>(rows),
                                                 static_cast<int>(cols));
    check_launch("sn_sigma_kernel");
    const int64_t n = rows * cols;
    scale_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(w, sigma, w_bar, n);
    check_launch("sn_normalize scale_kernel");
}

template <typename T>
void sn_backward(const T* g, const T* w, const T* u, const T* v, const T* sigma, T* dw,
                 double* partials, int64_t rows, int64_t cols, cudaStream_t stream) {
    check_matrix(rows, cols, "sn_backward_kernel");
    const int64_t n = rows * cols;
    dot_partials_kernel<T><<<kReducePartials, 256, 0, stream>>>(g, w, partials, n);
    check_launch("sn_backward dot_partials_kernel");
    // At most 256 blocks: each one re-reads the kReducePartials partials first.
    sn_backward_kernel<T><<<grid_for(n, 256, 256), 256, 0, stream>>>(g, u, v, sigma, partials, dw,
                                                                static_cast<int>(cols), n);
    check_launch("sn_backward_kernel");
}

#define MG_INSTANTIATE(T)                                                                     \
    template void sn_power_iteration<T>(const T*, const T*, T*, T*, T*, int64_t, int64_t, int, \
                                        double, cudaStream_t);                                \
    template void sn_normalize<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,      \
                                  cudaStream_t);                                              \
    template void sn_backward<T>(const T*, const T*, const T*, const T*, const T*, T*,         \
                                 double*, int64_t, int64_t, cudaStream_t);
MG_INSTANTIATE(float)
MG_INSTANTIATE(double)
#undef MG_INSTANTIATE

}  // namespace minigan::cuda
