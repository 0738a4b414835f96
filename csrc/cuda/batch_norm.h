// Batch normalization on the GPU: launchers for the kernels in batch_norm.cu. Same semantics
// as minigan/kernels/batch_norm.py, on x folded to C-contiguous (N, C, inner). weight, bias,
// running_mean, running_var may be null (see the reference). Device pointers; asynchronous on
// `stream`; a launch error throws std::runtime_error naming the kernel.
#pragma once

#include <cuda_runtime_api.h>

#include "../common.h"

namespace minigan::cuda {

struct BatchNormShape {
    int64_t N, C, inner;
};

// One launch, one block per channel (or 32 channels per block when inner == 1): in training
// the batch mean, then the variance as the mean of (x - mean)^2 (two passes over the channel,
// the second from cache, so no cancellation), the running statistics update, then y; in
// evaluation only y, from the running statistics. Writes y, mean and invstd (C each).
template <typename T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, T* y, T* mean, T* invstd, const BatchNormShape& s,
                        bool training, double momentum, double eps, cudaStream_t stream);

// One launch: per channel gb = sum gy and gw = sum gy xhat, then
// gx = weight invstd (gy - gb / n - xhat gw / n).
template <typename T>
void batch_norm_backward(const T* gy, const T* x, const T* weight, const T* mean,
                         const T* invstd, T* gx, T* gweight, T* gbias, const BatchNormShape& s,
                         cudaStream_t stream);

}  // namespace minigan::cuda
