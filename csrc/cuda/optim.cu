// Fused Adam and SGD kernels, then their launchers (see optim.h).
#include <algorithm>

#include "device.cuh"
#include "launch.h"
#include "optim.h"

namespace minigan::cuda {
namespace {

constexpr int kBlock = 256;
constexpr int64_t kPerThread = 4;           // elements per thread before another block is used
constexpr int64_t kMaxBlocksPerTensor = 1024;

template <typename T>
struct AdamEntry {
    T* p;
    const T* g;
    T* m;
    T* v;
    T* vmax;
    int64_t n;
    T step_size, bias2;
    int first_block, blocks;
    bool vec;  // every pointer 16-byte aligned: 16-byte loads and stores
};

template <typename T>
struct AdamTable {
    AdamEntry<T> t[kOptimBatch];
    int count;
    T beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
    bool decay, amsgrad;
};

// The table entry owning block b (entries are in block order; at most kOptimBatch of them).
template <class Entry>
__device__ __forceinline__ const Entry& find_entry(const Entry* t, int count, int b) {
    int i = 0;
    while (i + 1 < count && t[i + 1].first_block <= b) ++i;
    return t[i];
}

// One element of the reference's adam_update, in T (vmax is touched only with amsgrad).
template <typename T>
__device__ __forceinline__ void adam_element(const AdamTable<T>& tab, const AdamEntry<T>& e,
                                             T& p, T g, T& m, T& v, T& vmax) {
    if (tab.decay) g = g + tab.weight_decay * p;  // L2 penalty, as the reference
    m = tab.beta1 * m + tab.one_minus_beta1 * g;
    v = tab.beta2 * v + tab.one_minus_beta2 * (g * g);
    T second = v;
    if (tab.amsgrad) {
        vmax = max(vmax, v);
        second = vmax;
    }
    // eps after the bias correction of v, as PyTorch does.
    p = p - e.step_size * (m / (sqrt(second) / e.bias2 + tab.eps));
}

// Each tensor's blocks stride over it; aligned tensors 16 bytes at a time, then the tail (and
// unaligned tensors) one element at a time.
template <typename T>
__global__ void __launch_bounds__(kBlock) adam_kernel(const AdamTable<T> tab) {
    const AdamEntry<T>& e = find_entry(tab.t, tab.count, static_cast<int>(blockIdx.x));
    const int64_t step = static_cast<int64_t>(e.blocks) * kBlock;
    const int64_t first = static_cast<int64_t>(blockIdx.x - e.first_block) * kBlock + threadIdx.x;
    int64_t done = 0;
    if (e.vec) {
        constexpr int V = vec_width<T>();
        using VT = Vec<T, V>;
        const int64_t nv = e.n / V;
        for (int64_t i = first; i < nv; i += step) {
            VT p = reinterpret_cast<VT*>(e.p)[i], m = reinterpret_cast<VT*>(e.m)[i],
               v = reinterpret_cast<VT*>(e.v)[i], vm{};
            const VT g = reinterpret_cast<const VT*>(e.g)[i];
            if (tab.amsgrad) vm = reinterpret_cast<VT*>(e.vmax)[i];
#pragma unroll
            for (int k = 0; k < V; ++k) adam_element(tab, e, p.v[k], g.v[k], m.v[k], v.v[k],
                                                     vm.v[k]);
            reinterpret_cast<VT*>(e.p)[i] = p;
            reinterpret_cast<VT*>(e.m)[i] = m;
            reinterpret_cast<VT*>(e.v)[i] = v;
            if (tab.amsgrad) reinterpret_cast<VT*>(e.vmax)[i] = vm;
        }
        done = nv * V;
    }
    for (int64_t i = done + first; i < e.n; i += step) {
        T p = e.p[i], m = e.m[i], v = e.v[i], vm = tab.amsgrad ? e.vmax[i] : T(0);
        adam_element(tab, e, p, e.g[i], m, v, vm);
        e.p[i] = p;
        e.m[i] = m;
        e.v[i] = v;
        if (tab.amsgrad) e.vmax[i] = vm;
    }
}

template <typename T>
struct SgdEntry {
    T* p;
    const T* g;
    T* buf;
    int64_t n;
    int first_block, blocks;
    bool fresh;
};

template <typename T>
struct SgdTable {
    SgdEntry<T> t[kOptimBatch];
    int count;
    T lr, momentum, one_minus_dampening, weight_decay;
    bool decay, nesterov;
};

template <typename T>
__global__ void __launch_bounds__(kBlock) sgd_kernel(const SgdTable<T> tab) {
    const SgdEntry<T>& e = find_entry(tab.t, tab.count, static_cast<int>(blockIdx.x));
    const int64_t step = static_cast<int64_t>(e.blocks) * kBlock;
    for (int64_t i = static_cast<int64_t>(blockIdx.x - e.first_block) * kBlock + threadIdx.x;
         i < e.n; i += step) {
        const T p = e.p[i];
        T g = e.g[i];
        if (tab.decay) g = g + tab.weight_decay * p;
        if (e.buf != nullptr) {
            const T b = e.fresh ? g : tab.momentum * e.buf[i] + tab.one_minus_dampening * g;
            e.buf[i] = b;
            g = tab.nesterov ? g + tab.momentum * b : b;
        }
        e.p[i] = p - tab.lr * g;
    }
}

int blocks_for(int64_t n) {
    return static_cast<int>(std::clamp<int64_t>(ceil_div(n, kBlock * kPerThread), 1,
                                                kMaxBlocksPerTensor));
}

// Launches `launch(table, blocks)` for each run of up to kOptimBatch non-empty tensors.
template <class Table, class Fill, class Launch>
void batched(size_t count, const int64_t* sizes, Fill fill, Launch launch) {
    Table tab{};
    int blocks = 0;
    tab.count = 0;
    for (size_t k = 0; k <= count; ++k) {
        if (tab.count == kOptimBatch || (k == count && tab.count > 0)) {
            launch(tab, blocks);
            tab.count = 0;
            blocks = 0;
        }
        if (k == count || sizes[k] == 0) continue;
        auto& e = tab.t[tab.count++];
        fill(e, k);
        e.first_block = blocks;
        e.blocks = blocks_for(e.n);
        blocks += e.blocks;
    }
}

}  // namespace

template <typename T>
void adam_step(const std::vector<AdamTensor>& tensors, const AdamHyper& h, cudaStream_t stream) {
    std::vector<int64_t> sizes;
    for (const auto& t : tensors) {
        MG_CHECK(t.n >= 0, "adam_kernel: negative size");
        MG_CHECK(!h.amsgrad || t.n == 0 || t.max_exp_avg_sq, "adam_kernel: amsgrad needs "
                 "max_exp_avg_sq for every tensor");
        sizes.push_back(t.n);
    }
    auto fill = [&](AdamEntry<T>& e, size_t k) {
        const AdamTensor& t = tensors[k];
        e = AdamEntry<T>{static_cast<T*>(t.param), static_cast<const T*>(t.grad),
                         static_cast<T*>(t.exp_avg), static_cast<T*>(t.exp_avg_sq),
                         static_cast<T*>(t.max_exp_avg_sq), t.n, static_cast<T>(t.step_size),
                         static_cast<T>(t.bias2), 0, 0,
                         aligned16(static_cast<const T*>(t.param), static_cast<const T*>(t.grad),
                                   static_cast<const T*>(t.exp_avg),
                                   static_cast<const T*>(t.exp_avg_sq)) &&
                             (!h.amsgrad || aligned16(static_cast<const T*>(t.max_exp_avg_sq)))};
    };
    auto launch = [&](AdamTable<T>& tab, int blocks) {
        tab.beta1 = static_cast<T>(h.beta1);
        tab.beta2 = static_cast<T>(h.beta2);
        tab.one_minus_beta1 = static_cast<T>(1 - h.beta1);
        tab.one_minus_beta2 = static_cast<T>(1 - h.beta2);
        tab.eps = static_cast<T>(h.eps);
        tab.weight_decay = static_cast<T>(h.weight_decay);
        tab.decay = h.weight_decay != 0;
        tab.amsgrad = h.amsgrad;
        adam_kernel<T><<<blocks, kBlock, 0, stream>>>(tab);
        check_launch("adam_kernel");
    };
    batched<AdamTable<T>>(tensors.size(), sizes.data(), fill, launch);
}

template <typename T>
void sgd_step(const std::vector<SgdTensor>& tensors, const SgdHyper& h, cudaStream_t stream) {
    std::vector<int64_t> sizes;
    for (const auto& t : tensors) {
        MG_CHECK(t.n >= 0, "sgd_kernel: negative size");
        MG_CHECK((h.momentum != 0) == (t.n == 0 || t.buf != nullptr),
                 "sgd_kernel: a momentum buffer is needed iff momentum != 0");
        sizes.push_back(t.n);
    }
    auto fill = [&](SgdEntry<T>& e, size_t k) {
        const SgdTensor& t = tensors[k];
        e = SgdEntry<T>{static_cast<T*>(t.param), static_cast<const T*>(t.grad),
                        static_cast<T*>(t.buf), t.n, 0, 0, t.fresh};
    };
    auto launch = [&](SgdTable<T>& tab, int blocks) {
        tab.lr = static_cast<T>(h.lr);
        tab.momentum = static_cast<T>(h.momentum);
        tab.one_minus_dampening = static_cast<T>(1 - h.dampening);
        tab.weight_decay = static_cast<T>(h.weight_decay);
        tab.decay = h.weight_decay != 0;
        tab.nesterov = h.nesterov;
        sgd_kernel<T><<<blocks, kBlock, 0, stream>>>(tab);
        check_launch("sgd_kernel");
    };
    batched<SgdTable<T>>(tensors.size(), sizes.data(), fill, launch);
}

template void adam_step<float>(const std::vector<AdamTensor>&, const AdamHyper&, cudaStream_t);
template void adam_step<double>(const std::vector<AdamTensor>&, const AdamHyper&, cudaStream_t);
template void sgd_step<float>(const std::vector<SgdTensor>&, const SgdHyper&, cudaStream_t);
template void sgd_step<double>(const std::vector<SgdTensor>&, const SgdHyper&, cudaStream_t);

}  // namespace minigan::cuda
