// Per-channel work on an (outer, C, inner) array (NCHW: outer = N, inner = H*W; a Linear's
// (N, F): outer = N, inner = 1): which threads own channel c, which elements they visit, and a
// sum over those threads. Included only from .cu files (bias_act.cu, batch_norm.cu).
#pragma once

#include "device.cuh"

namespace minigan::cuda {

constexpr int kChannelBlock = 256;       // threads of a columns block (32 channels x 8)
constexpr int kChannelBlockMax = 512;    // the most threads of a rows block

// Two layouts, chosen by the launcher, so a warp always reads neighbouring addresses:
//   rows    (kColumns = false): one block per channel (blockIdx.x = c), each thread visiting
//           idx = tid, tid + blockDim.x, ... of the channel's outer*inner elements. Few channels
//           get 512-thread blocks (channel_threads), so that C blocks still fill the GPU.
//   columns (kColumns = true, for inner == 1): 32 channels per block, one per lane, and the
//           8 warps striding over the outer index, so a warp reads 32 neighbouring channels.
template <bool kColumns>
struct Channel {
    int c, first, step, n, C, inner;
    bool active;  // false for the lanes of a columns block past the last channel

    __device__ Channel(int C_, int outer, int inner_) : C(C_), inner(inner_) {
        if (kColumns) {
            c = blockIdx.x * 32 + threadIdx.x % 32;
            first = threadIdx.x / 32, step = kChannelBlock / 32, n = outer;
        } else {
            c = blockIdx.x;
            first = threadIdx.x, step = blockDim.x, n = outer * inner;
        }
        active = c < C;
        if (!active) n = 0;
    }
    // Offset in the array of the channel's element idx (0 <= idx < n).
    __device__ int64_t offset(int idx) const {
        if (kColumns) return static_cast<int64_t>(idx) * C + c;
        const int o = idx / inner, k = idx - o * inner;
        return (static_cast<int64_t>(o) * C + c) * inner + k;
    }
    // Does this thread write the channel's per-channel outputs?
    __device__ bool leader() const { return active && first == 0; }

    // Sums v over the threads of the channel; all of them get the totals. Call from every
    // thread of the block (it synchronises).
    template <int NV>
    __device__ void sum(acc_t (&v)[NV]) const {
        if (!kColumns) {
            block_sum(v);
            return;
        }
        __shared__ acc_t part[NV][kChannelBlock / 32][33];
        const int lane = threadIdx.x % 32, row = threadIdx.x / 32;
        __syncthreads();  // part may still be read by a previous call
#pragma unroll
        for (int k = 0; k < NV; ++k) part[k][row][lane] = v[k];
        __syncthreads();
#pragma unroll
        for (int k = 0; k < NV; ++k) {
            acc_t s = 0;
            for (int r = 0; r < kChannelBlock / 32; ++r) s += part[k][r][lane];
            v[k] = s;
        }
    }
};

// Blocks and threads per block of a channel kernel. A rows kernel has one block per channel,
// so with few channels (a DCGAN layer has 64-512) each block gets 512 threads: C blocks of 256
// would leave most of a GPU's ~100+ multiprocessors idle or a few warps deep.
inline unsigned channel_blocks(bool columns, int64_t C) {
    return static_cast<unsigned>(columns ? (C + 31) / 32 : C);
}
inline unsigned channel_threads(bool columns, int64_t C) {
    return columns ? kChannelBlock : (C <= 512 ? kChannelBlockMax : kChannelBlock);
}

}  // namespace minigan::cuda
