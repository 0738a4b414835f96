// Fused GAN loss on the GPU: launcher for the kernels in gan_loss.cu. Same semantics as
// minigan/kernels/gan_loss.py; `code` is 3 * kind + side there (gan_loss.code()).
#pragma once

#include <cuda_runtime_api.h>

#include "../common.h"
#include "spectral_norm.h"  // kReducePartials

namespace minigan::cuda {

// dlogits[e] = l'(x[e]) / n and loss = mean_e l(x[e]), for n >= 1 logits, in two launches: a
// vectorised grid-stride pass writing dlogits and kReducePartials float64 partial sums of l
// (into `partials`), then one block totalling them into `loss` (one element).
template <typename T>
void gan_loss(int code, const T* logits, T* dlogits, T* loss, double* partials, int64_t n,
              cudaStream_t stream);

}  // namespace minigan::cuda
