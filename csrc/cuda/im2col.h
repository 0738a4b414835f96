// im2col on the GPU: launchers for the kernels in im2col.cu. Same semantics as csrc/cpu/im2col.h.
// Plain C++ (no CUDA syntax), so the pybind11 bindings compile with the host compiler.
#pragma once

#include <cuda_runtime_api.h>

#include "../common.h"

namespace minigan::cuda {

// Enqueues im2col on `stream` for device pointers x (C-contiguous N, C, H, W) and cols
// (C-contiguous N*OH*OW, C*kh*kw). Returns the launch's cudaGetLastError(); does not sync.
template <typename T>
cudaError_t im2col(const T* x, T* cols, const ConvGeometry& g, cudaStream_t stream);

// Enqueues col2im, the adjoint of im2col: x (C-contiguous N, C, H, W) receives the sum of the
// cols entries im2col would have copied from each pixel. Every x element is written (a gather,
// no atomics, so no zero-fill is needed and the result is deterministic).
template <typename T>
cudaError_t col2im(const T* cols, T* x, const ConvGeometry& g, cudaStream_t stream);

}  // namespace minigan::cuda
