// Spectral normalization on the GPU: launchers for the kernels in spectral_norm.cu. Same
// semantics as minigan/kernels/spectral_norm.py; W is a C-contiguous (rows, cols) matrix with
// fewer than 2^31 elements, all pointers are device pointers, launches are asynchronous on
// `stream`, and a launch error throws std::runtime_error naming the kernel.
#pragma once

#include <cuda_runtime_api.h>

#include "../common.h"

namespace minigan::cuda {

// Blocks of the first pass of a two-pass reduction; the caller provides this many float64
// partial sums of scratch. The fixed count (not the SM count) keeps the summation order, and so
// the result, identical from run to run and GPU to GPU.
constexpr int kReducePartials = 1024;

// n_iter power-iteration steps from u_in in ONE launch (one block: the matrices of spectral
// norm are small, and a multi-block pass would need a launch per half-step):
// v <- normalize(W^T u), t <- W v, u <- normalize(t); sigma <- u.t. Writes u_out (rows),
// v_out (cols) and sigma (one element); u_in is only read.
template <typename T>
void sn_power_iteration(const T* w, const T* u_in, T* u_out, T* v_out, T* sigma, int64_t rows,
                        int64_t cols, int n_iter, double eps, cudaStream_t stream);

// sigma = u^T W v (one block), then w_bar = W / sigma (grid-stride): two launches.
template <typename T>
void sn_normalize(const T* w, const T* u, const T* v, T* w_bar, T* sigma, int64_t rows,
                  int64_t cols, cudaStream_t stream);

// dW = G / sigma - (<G, W> / sigma^2) u v^T: <G, W> in kReducePartials block partial sums
// (partials: float64 scratch), then one elementwise pass that first totals them. Two launches.
template <typename T>
void sn_backward(const T* g, const T* w, const T* u, const T* v, const T* sigma, T* dw,
                 double* partials, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace minigan::cuda
