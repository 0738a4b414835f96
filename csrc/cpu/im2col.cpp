// im2col / col2im, OpenMP. See im2col.h for the exact semantics.
#include "im2col.h"

#include <algorithm>

#include "conv_gemm.h"
#include "parallel.h"

namespace minigan::cpu {

// Here, in a file compiled for the baseline ISA, so that asking is safe on any x86-64 CPU.
bool cpu_has_avx512() {
#if defined(__GNUC__) && defined(__x86_64__) && MINIGAN_HAVE_AVX512_CONV
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

// One output row per (n, oh, ow); rows are independent, so (n, oh) is split across threads and
// each thread writes whole contiguous rows of cols (no sharing, no false sharing to speak of).
// The innermost loop walks j, i.e. along a row of x, so reads are mostly sequential too.
template <typename T>
void im2col(TensorView<const T, 4> x, TensorView<T, 2> cols, const ConvGeometry& g) {
    MG_CHECK(x.is_contiguous() && cols.is_contiguous(), "im2col: views must be C-contiguous");
    const T* xp = x.data;
    T* cp = cols.data;
    const int64_t K = g.cols();
    const bool parallel = g.rows() * K >= kParallelGrain;

#pragma omp parallel for collapse(2) schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t n = 0; n < g.N; ++n) {
        for (int64_t oh = 0; oh < g.OH; ++oh) {
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                T* row = cp + ((n * g.OH + oh) * g.OW + ow) * K;
                const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
                for (int64_t c = 0; c < g.C; ++c) {
                    const T* plane = xp + (n * g.C + c) * g.H * g.W;
                    for (int64_t i = 0; i < g.kh; ++i) {
                        T* dst = row + (c * g.kh + i) * g.kw;
                        const int64_t h = h0 + i * g.dh;
                        if (h < 0 || h >= g.H) {
                            std::fill(dst, dst + g.kw, T(0));
                            continue;
                        }
                        const T* src = plane + h * g.W;
                        for (int64_t j = 0; j < g.kw; ++j) {
                            const int64_t w = w0 + j * g.dw;
                            dst[j] = (w >= 0 && w < g.W) ? src[w] : T(0);
                        }
                    }
                }
            }
        }
    }
}

// The adjoint scatters-and-adds. Parallelising over rows of cols would race on x (windows
// overlap), so we split over (n, c) instead: each image plane is summed by exactly one thread.
template <typename T>
void col2im(TensorView<const T, 2> cols, TensorView<T, 4> x, const ConvGeometry& g) {
    MG_CHECK(x.is_contiguous() && cols.is_contiguous(), "col2im: views must be C-contiguous");
    const T* cp = cols.data;
    T* xp = x.data;
    const int64_t K = g.cols();
    const bool parallel = g.rows() * K >= kParallelGrain;

#pragma omp parallel for collapse(2) schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t n = 0; n < g.N; ++n) {
        for (int64_t c = 0; c < g.C; ++c) {
            T* plane = xp + (n * g.C + c) * g.H * g.W;
            std::fill(plane, plane + g.H * g.W, T(0));
            for (int64_t oh = 0; oh < g.OH; ++oh) {
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    const T* src = cp + ((n * g.OH + oh) * g.OW + ow) * K + c * g.kh * g.kw;
                    const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
                    for (int64_t i = 0; i < g.kh; ++i) {
                        const int64_t h = h0 + i * g.dh;
                        if (h < 0 || h >= g.H) continue;
                        T* dst = plane + h * g.W;
                        for (int64_t j = 0; j < g.kw; ++j) {
                            const int64_t w = w0 + j * g.dw;
                            if (w >= 0 && w < g.W) dst[w] += src[i * g.kw + j];
                        }
                    }
                }
            }
        }
    }
}

template void im2col<float>(TensorView<const float, 4>, TensorView<float, 2>, const ConvGeometry&);
template void im2col<double>(TensorView<const double, 4>, TensorView<double, 2>,
                             const ConvGeometry&);
template void col2im<float>(TensorView<const float, 2>, TensorView<float, 4>, const ConvGeometry&);
template void col2im<double>(TensorView<const double, 2>, TensorView<double, 4>,
                             const ConvGeometry&);

}  // namespace minigan::cpu
