// im2col CUDA kernel, then its launcher. See csrc/cpu/im2col.h for the semantics.
#include <algorithm>

#include "im2col.h"

namespace minigan::cuda {

// One thread per element of cols, in cols' memory order: neighbouring threads write neighbouring
// addresses (coalesced stores). Reads of x are gathers, which is inherent to im2col; a
// grid-stride loop lets a bounded grid cover any size.
template <typename T>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ cols, ConvGeometry g,
                              int64_t total) {
    const int64_t K = g.cols();
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += step) {
        const int64_t row = idx / K, col = idx - (idx / K) * K;
        const int64_t j = col % g.kw, i = (col / g.kw) % g.kh, c = col / (g.kw * g.kh);
        const int64_t ow = row % g.OW, oh = (row / g.OW) % g.OH, n = row / (g.OW * g.OH);
        const int64_t h = oh * g.sh - g.ph + i * g.dh;
        const int64_t w = ow * g.sw - g.pw + j * g.dw;
        const bool inside = h >= 0 && h < g.H && w >= 0 && w < g.W;
        cols[idx] = inside ? x[((n * g.C + c) * g.H + h) * g.W + w] : T(0);
    }
}

template <typename T>
cudaError_t im2col(const T* x, T* cols, const ConvGeometry& g, cudaStream_t stream) {
    const int64_t total = g.rows() * g.cols();
    if (total == 0) return cudaSuccess;  // a zero-size grid is a launch error
    constexpr int kBlock = 256;
    // Enough blocks to fill any current GPU several times over; the grid-stride loop does the
    // rest, and the cap keeps gridDim.x far below its 2^31-1 limit.
    const int64_t blocks = std::min<int64_t>(ceil_div(total, kBlock), int64_t{1} << 16);
    im2col_kernel<T><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(x, cols, g, total);
    return cudaGetLastError();
}

// One thread per x element: the taps (i, j) that read pixel (h, w) are those with
// h + ph - i*dh = oh*sh for an output row oh in range (and likewise for w); sum their entries.
template <typename T>
__global__ void col2im_kernel(const T* __restrict__ cols, T* __restrict__ x, ConvGeometry g,
                              int64_t total) {
    const int64_t K = g.cols();
    const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
    for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += step) {
        const int64_t w = idx % g.W, h = (idx / g.W) % g.H, c = (idx / (g.W * g.H)) % g.C,
                      n = idx / (g.W * g.H * g.C);
        T s = T(0);
        for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t th = h + g.ph - i * g.dh;
            if (th < 0 || th % g.sh != 0 || th / g.sh >= g.OH) continue;
            const int64_t oh = th / g.sh;
            for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t tw = w + g.pw - j * g.dw;
                if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.OW) continue;
                const int64_t row = (n * g.OH + oh) * g.OW + tw / g.sw;
                s += cols[row * K + (c * g.kh + i) * g.kw + j];
            }
        }
        x[idx] = s;
    }
}

template <typename T>
cudaError_t col2im(const T* cols, T* x, const ConvGeometry& g, cudaStream_t stream) {
    const int64_t total = g.N * g.C * g.H * g.W;
    if (total == 0) return cudaSuccess;
    constexpr int kBlock = 256;
    const int64_t blocks = std::min<int64_t>(ceil_div(total, kBlock), int64_t{1} << 16);
    col2im_kernel<T><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(cols, x, g, total);
    return cudaGetLastError();
}

template cudaError_t col2im<float>(const float*, float*, const ConvGeometry&, cudaStream_t);
template cudaError_t col2im<double>(const double*, double*, const ConvGeometry&, cudaStream_t);
template cudaError_t im2col<float>(const float*, float*, const ConvGeometry&, cudaStream_t);
template cudaError_t im2col<double>(const double*, double*, const ConvGeometry&, cudaStream_t);

}  // namespace minigan::cuda
