// A CPU stand-in for the CUDA runtime, used only by tests/kernels/test_cuda_module.py to run
// csrc/cuda/*.cu and the cupy backend's CUDA sources on a machine without a GPU: one
// std::thread per CUDA thread (so races and missing barriers can show), blocks one after
// another (so a kernel's __shared__ arrays become function statics shared by the block's
// threads), __syncthreads as a std::barrier, warp shuffles through a per-warp buffer and
// barrier, host memory as device memory, one device. run_emulated.py rewrites each
// `kernel<<<grid, block, smem, stream>>>(args)` to `emu_launch(grid, block, kernel, args)`.
// Not a simulator of timing, memory spaces or warp-synchronous tricks the kernels do not use.
#pragma once
#include <math.h>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __trap() __builtin_trap()

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
typedef void* cudaStream_t;
typedef int cudaError_t;
enum { cudaSuccess = 0 };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "emu"; }
inline const char* cudaGetErrorString(cudaError_t) { return "emu"; }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
    std::memset(p, v, n);
    return cudaSuccess;
}

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<>* emu_block_barrier = nullptr;
inline std::vector<std::unique_ptr<std::barrier<>>> emu_warp_barriers;
inline double emu_shfl_buf[1024];

inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }

// Nonzero iff pred is nonzero in any thread of the block; a barrier like __syncthreads. The
// first wait keeps the reset away from threads still reading the previous call's result.
inline std::atomic<int> emu_sync_or{0};
inline int __syncthreads_or(int pred) {
    emu_block_barrier->arrive_and_wait();
    if (threadIdx.x == 0) emu_sync_or.store(0);
    emu_block_barrier->arrive_and_wait();
    if (pred) emu_sync_or.store(1);
    emu_block_barrier->arrive_and_wait();
    return emu_sync_or.load();
}

template <typename T>
T __shfl_xor_sync(unsigned, T v, int off) {
    const int t = threadIdx.x, w = t / 32;
    emu_shfl_buf[t] = static_cast<double>(v);
    emu_warp_barriers[w]->arrive_and_wait();
    const T r = static_cast<T>(emu_shfl_buf[w * 32 + ((t % 32) ^ off)]);
    emu_warp_barriers[w]->arrive_and_wait();
    return r;
}

// Lanes whose source lane lies past the warp keep their own value, as on the GPU.
template <typename T>
T __shfl_down_sync(unsigned, T v, unsigned off) {
    const int t = threadIdx.x, w = t / 32, lane = t % 32;
    emu_shfl_buf[t] = static_cast<double>(v);
    emu_warp_barriers[w]->arrive_and_wait();
    const T r = lane + off < 32 ? static_cast<T>(emu_shfl_buf[t + off]) : v;
    emu_warp_barriers[w]->arrive_and_wait();
    return r;
}

inline double __longlong_as_double(long long x) {
    double d;
    std::memcpy(&d, &x, sizeof d);
    return d;
}

template <class T> T max(T a, T b) { return a > b ? a : b; }
template <class T> T min(T a, T b) { return a < b ? a : b; }
inline int64_t min(int64_t a, int b) { return a < b ? a : b; }

template <class K, class... A>
void emu_launch(dim3 grid, dim3 block, K kernel, A... args) {
    gridDim = grid;
    blockDim = block;
    const unsigned nt = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                std::barrier<> bar(nt);
                emu_block_barrier = &bar;
                emu_warp_barriers.clear();
                for (unsigned w = 0; w < (nt + 31) / 32; ++w)
                    emu_warp_barriers.push_back(std::make_unique<std::barrier<>>(32));
                std::vector<std::thread> ts;
                for (unsigned t = 0; t < nt; ++t)
                    ts.emplace_back([=] {
                        threadIdx = dim3(t, 0, 0);
                        blockIdx = dim3(bx, by, bz);
                        kernel(args...);
                    });
                for (auto& th : ts) th.join();
            }
}

// ---- the runtime calls the bindings make: one device, every pointer device memory ----
enum { cudaErrorNoDevice = 100 };
enum cudaMemoryType { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1,
                      cudaMemoryTypeDevice = 2, cudaMemoryTypeManaged = 3 };
struct cudaPointerAttributes { cudaMemoryType type; int device; };
struct cudaDeviceProp { char name[256]; int major, minor; size_t totalGlobalMem; int multiProcessorCount; };
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void*) {
    a->type = cudaMemoryTypeDevice; a->device = 0; return cudaSuccess; }
inline cudaError_t cudaRuntimeGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { *v = 13000; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
    std::strcpy(p->name, "emulated"); p->major = 9; p->minor = 0; p->totalGlobalMem = 0;
    p->multiProcessorCount = 4; return cudaSuccess; }
enum cudaDeviceAttr { cudaDevAttrComputeCapabilityMajor = 75 };
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 9; return cudaSuccess; }
