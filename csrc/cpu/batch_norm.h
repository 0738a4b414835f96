// Batch normalization over (N, C, L) data (L = product of the trailing dims), per channel.
// Semantics in minigan/kernels/batch_norm.py (the NumPy reference they are tested against).
#pragma once

#include <cstdint>

namespace minigan::cpu {

// weight, bias, running_mean, running_var may be null (1, 0, no update). Training: batch
// statistics, running stats updated in place with the unbiased variance; eval: running stats
// (must be given). Writes y (N, C, L), mean (C), invstd (C).
template <typename T>
void bn_forward(const T* x, int64_t N, int64_t C, int64_t L, const T* weight, const T* bias,
                T* running_mean, T* running_var, bool training, double momentum, double eps,
                T* y, T* mean, T* invstd);

// Training-mode gradient: gb = sum gy, gw = sum gy xhat, gx = w invstd (gy - gb/n - xhat gw/n).
// weight may be null (1).
template <typename T>
void bn_backward(const T* gy, const T* x, int64_t N, int64_t C, int64_t L, const T* weight,
                 const T* mean, const T* invstd, T* gx, T* gw, T* gb);

}  // namespace minigan::cpu
