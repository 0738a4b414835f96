// Fused optimizer updates on the GPU: launchers for the kernels in optim.cu. Same rules as
// minigan/kernels/optim_kernels.py (adam_update, sgd_update), in place, over every parameter of
// a group in as few launches as possible: one launch per kOptimBatch tensors, each block
// finding its tensor in a table passed as the kernel's argument (no device-side table to
// allocate or copy). All arrays are C-contiguous device arrays of one dtype T; launches are
// asynchronous on `stream`; a launch error throws std::runtime_error naming the kernel.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "../common.h"

namespace minigan::cuda {

constexpr int kOptimBatch = 32;  // tensors per launch: keeps the argument table under 4 KiB

struct AdamTensor {
    void* param;
    const void* grad;
    void* exp_avg;
    void* exp_avg_sq;
    void* max_exp_avg_sq;  // null unless amsgrad
    int64_t n;
    double step_size;  // lr / (1 - beta1^t)
    double bias2;      // sqrt(1 - beta2^t)
};

struct AdamHyper {
    double beta1, beta2, eps, weight_decay;
    bool amsgrad;
};

template <typename T>
void adam_step(const std::vector<AdamTensor>& tensors, const AdamHyper& h, cudaStream_t stream);

struct SgdTensor {
    void* param;
    const void* grad;
    void* buf;   // null when momentum == 0
    bool fresh;  // the buffer starts as the gradient itself (first step)
    int64_t n;
};

struct SgdHyper {
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
};

template <typename T>
void sgd_step(const std::vector<SgdTensor>& tensors, const SgdHyper& h, cudaStream_t stream);

}  // namespace minigan::cuda
