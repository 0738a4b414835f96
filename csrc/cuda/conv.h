// Convolution on the GPU as implicit GEMM: launchers for the kernels in conv.cu. Same semantics
// as minigan/kernels/conv.py (NCHW, weight (O, C/G, kh, kw), stride/padding/dilation/groups).
// Plain C++ (no CUDA syntax), so the pybind11 bindings compile with the host compiler.
//
// All pointers are device pointers to C-contiguous arrays; every array must have fewer than
// 2^31 elements (asserted: the kernels index with int32). Launches are asynchronous on
// `stream`; a launch error throws std::runtime_error naming the kernel.
//
// `tf32` (float32 only, sm_80+): multiply on tensor cores with operands rounded to TF32 (10-bit
// mantissa), accumulating in float32 -- several times the FP32 throughput, at a documented
// error bound of |y - y_exact| <= 2^-9 * sum_k |a_k b_k| (conv_tf32.cuh). Off by default.
#pragma once

#include <cuda_runtime_api.h>

#include "../common.h"

namespace minigan::cuda {

// Output channels and groups beside the input geometry (g.C is all input channels).
struct ConvShape {
    ConvGeometry g;
    int64_t Co, groups;
};

// y (N, Co, OH, OW) = conv(x (N, C, H, W), w (Co, C/G, kh, kw)).
template <typename T>
void conv2d_forward(const T* x, const T* w, T* y, const ConvShape& s, bool tf32,
                    cudaStream_t stream);

// gx (N, C, H, W) = the adjoint of the forward in x applied to gy (N, Co, OH, OW).
template <typename T>
void conv2d_backward_data(const T* gy, const T* w, T* gx, const ConvShape& s, bool tf32,
                          cudaStream_t stream);

// gw (Co, C/G, kh, kw) = the adjoint of the forward in w applied to gy. The reduction over
// N*OH*OW is split `splits` ways for parallelism (the weight gradient is a small output with a
// long reduction); with splits > 1, `workspace` holds splits * gw.size elements and the partial
// products are summed in a fixed order by a second kernel (deterministic, no atomics).
template <typename T>
void conv2d_backward_weight(const T* gy, const T* x, T* gw, T* workspace, int splits,
                            const ConvShape& s, bool tf32, cudaStream_t stream);

// The largest useful `splits` for conv2d_backward_weight: one chunk per 4 k-tiles at least.
int64_t conv_max_weight_splits(const ConvShape& s);

// What the kernels above assume of a convolution, as argument errors (std::invalid_argument
// naming the argument): every array and the geometry in int32 (the kernels index with int32),
// the grid within gridDim.y/z <= 65535. The bindings call it before any CUDA call, so a
// convolution too large for these kernels is a ValueError, never a launch; the launchers assert
// the same. pass: 0 forward, 1 backward data, 2 backward weight (split `splits` ways).
enum class ConvPass { forward, backward_data, backward_weight };
void check_conv_limits(const ConvShape& s, ConvPass pass, int64_t splits);

}  // namespace minigan::cuda
