// Host-side helpers shared by the CUDA launchers (csrc/cuda/*.cu) and the bindings. Plain C++
// (no CUDA syntax), so bindings_cuda*.cpp compile with the host compiler.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <limits>

#include "../common.h"

namespace minigan::cuda {

// Every kernel indexes with int32 where the sizes allow it (half the registers and faster
// integer division than int64); launchers assert the sizes fit before launching.
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// llm.c-style: after every launch, turn a launch error into an exception naming the kernel.
// Asynchronous faults surface at the next synchronising call (CuPy's), as with any CUDA code.
inline void check_launch(const char* kernel) {
    const cudaError_t err = cudaGetLastError();
    MG_CHECK(err == cudaSuccess, kernel, " launch failed: ", cudaGetErrorName(err), ": ",
             cudaGetErrorString(err));
}

// Blocks for a grid-stride loop over n work items: enough to fill any current GPU several
// times over, capped so gridDim.x stays far below its 2^31-1 limit.
inline unsigned grid_for(int64_t n, int block, int64_t cap = int64_t{1} << 16) {
    const int64_t b = ceil_div(n, block);
    return static_cast<unsigned>(b < 1 ? 1 : (b > cap ? cap : b));
}

}  // namespace minigan::cuda
