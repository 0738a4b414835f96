// Bias + activation on the GPU: launchers for the kernels in bias_act.cu. Same semantics as
// minigan/kernels/bias_act.py on an array folded to C-contiguous (outer, C, inner), the channel
// axis in the middle. act: 0 none, 1 relu, 2 leaky_relu, 3 tanh, 4 sigmoid (bias_act.ACTS
// order). Device pointers; asynchronous on `stream`; a launch error throws naming the kernel.
#pragma once

#include <cuda_runtime_api.h>

#include "../common.h"

namespace minigan::cuda {

struct BiasActShape {
    int64_t outer, C, inner;
};

// y = act(x + bias[c]); bias may be null. One vectorised grid-stride pass.
template <typename T>
void bias_act(const T* x, const T* bias, T* y, const BiasActShape& s, int act, double alpha,
              cudaStream_t stream);

// gx = gy * act'(y) (act' read from the output y), and gbias[c] = sum of gx over outer and
// inner when gbias is not null -- in the same pass (one launch either way).
template <typename T>
void bias_act_backward(const T* gy, const T* y, T* gx, T* gbias, const BiasActShape& s, int act,
                       double alpha, cudaStream_t stream);

}  // namespace minigan::cuda
