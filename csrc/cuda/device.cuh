// Device-side helpers shared by the CUDA kernel files: vector loads, block reductions.
// Included only from .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace minigan::cuda {

// Accumulation type of reductions: double for both dtypes. The reductions here are
// memory-bound, so the extra precision for float32 costs nothing measurable, and a per-thread
// running sum over thousands of float32 values would otherwise lose digits.
using acc_t = double;

// VEC elements loaded/stored as one 16-byte transaction (float4 / double2 worth).
template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Vec {
    T v[VEC];
};

template <typename T>
__host__ __device__ constexpr int vec_width() {
    return 16 / static_cast<int>(sizeof(T));
}

// True when pointers p... are 16-byte aligned, so Vec<T, vec_width<T>()> accesses are legal.
template <typename... P>
inline bool aligned16(const P*... p) {
    return ((reinterpret_cast<std::uintptr_t>(p) % 16 == 0) && ...);
}

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// Sums NV values over the whole block; every thread gets the totals. blockDim.x must be a
// multiple of 32 and at most 1024. Contains __syncthreads: call from all threads of the block.
template <int NV, typename A>
__device__ void block_sum(A (&v)[NV]) {
    __shared__ A partial[NV][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int k = 0; k < NV; ++k) v[k] = warp_sum(v[k]);
    __syncthreads();  // partial may still be read by a previous call
    if (lane == 0)
#pragma unroll
        for (int k = 0; k < NV; ++k) partial[k][warp] = v[k];
    __syncthreads();
#pragma unroll
    for (int k = 0; k < NV; ++k) {
        A s = lane < nwarps ? partial[k][lane] : A(0);
        v[k] = warp_sum(s);
    }
}

}  // namespace minigan::cuda
