// CPU stand-in for the WMMA subset csrc/cuda/conv_tf32.cuh uses (m16n16k8 TF32, float
// accumulators). Every thread of a warp holds the whole tile, so loads and the multiply are
// computed redundantly per thread and only lane 0 stores; __float_to_tf32 rounds to nearest
// (ties away from zero) at a 10-bit mantissa, as cvt.rna.tf32.f32 does.
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda_runtime_api.h"

namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment;
template <int M, int N, int K, class L>
struct fragment<matrix_a, M, N, K, precision::tf32, L> {  // (m, k) at x[m * K + k]
    static constexpr int num_elements = M * K;
    float x[M * K];
};
template <int M, int N, int K, class L>
struct fragment<matrix_b, M, N, K, precision::tf32, L> {  // (k, n) at x[k * N + n]
    static constexpr int num_elements = K * N;
    float x[K * N];
};
template <int M, int N, int K>
struct fragment<accumulator, M, N, K, float, void> {  // (m, n) at x[m * N + n]
    static constexpr int num_elements = M * N;
    float x[M * N];
};

inline float __float_to_tf32(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    b = (b + 0x1000u) & 0xFFFFE000u;
    std::memcpy(&f, &b, 4);
    return f;
}
template <int M, int N, int K>
void fill_fragment(fragment<accumulator, M, N, K, float>& f, float v) {
    for (auto& e : f.x) e = v;
}
template <int M, int N, int K>
void load_matrix_sync(fragment<matrix_a, M, N, K, precision::tf32, col_major>& f,
                      const float* p, unsigned ldm) {
    for (int m = 0; m < M; ++m)
        for (int k = 0; k < K; ++k) f.x[m * K + k] = p[m + k * ldm];
}
template <int M, int N, int K>
void load_matrix_sync(fragment<matrix_b, M, N, K, precision::tf32, row_major>& f,
                      const float* p, unsigned ldm) {
    for (int k = 0; k < K; ++k)
        for (int n = 0; n < N; ++n) f.x[k * N + n] = p[k * ldm + n];
}
template <int M, int N, int K, class LA, class LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d,
              const fragment<matrix_a, M, N, K, precision::tf32, LA>& a,
              const fragment<matrix_b, M, N, K, precision::tf32, LB>& b,
              const fragment<accumulator, M, N, K, float>& c) {
    float out[M * N];
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            float s = c.x[m * N + n];
            for (int k = 0; k < K; ++k) s += a.x[m * K + k] * b.x[k * N + n];
            out[m * N + n] = s;
        }
    std::memcpy(d.x, out, sizeof out);
}
template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm,
                       layout_t) {
    if (threadIdx.x % 32 != 0) return;
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) p[m * ldm + n] = f.x[m * N + n];
}
}  // namespace nvcuda::wmma
