// The implicit-GEMM convolution on tensor cores in TF32 (float32 only), opt-in: conv.h's `tf32`
// flag. Same tiles, operand gathers and register prefetch as igemm_kernel in conv.cu; the
// 64x64x16 block tile is multiplied by 8 warps with WMMA m16n16k8 TF32 fragments (each warp a
// 32x16 slab: two fragments), accumulating in float32. Operands are rounded to TF32 (10-bit
// mantissa, round to nearest) first, so each product carries a relative error below 2^-10 and
//     |y - y_exact| <= 2^-9 * sum_k |a_k b_k|          (accumulation error included, K < 2^13)
// is the documented tolerance (tests/gpu/test_cuda_kernels_gpu.py checks exactly this bound).
// Included only from conv.cu, inside its anonymous namespace, after conv_problems.cuh.
#pragma once

template <class P>
__global__ void __launch_bounds__(kThreads)
    igemm_tf32_kernel(const P p, int splits, int kchunk) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
    __trap();  // TF32 WMMA needs sm_80; the launcher only uses it where the module has sm_80+
#else
    namespace wmma = nvcuda::wmma;
    // WMMA loads/stores need 32-byte aligned pointers and a leading dimension that is a
    // multiple of 4 floats: rows of 68 floats (272 bytes) keep both for every fragment below.
    __shared__ __align__(32) float As[BK][BM + 4];
    __shared__ __align__(32) float Bs[BK][BN + 4];
    __shared__ __align__(32) float Cs[BM][BN + 4];
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int grp = blockIdx.z / splits, split = blockIdx.z - grp * splits;
    const int kbeg = split * kchunk, kend = min(p.K, kbeg + kchunk);
    const int warp = threadIdx.x / 32, wm = (warp % 2) * 32, wn = (warp / 2) * 16;

    const auto sa = p.a_state(grp, m0);
    const auto sb = p.b_state(grp, n0);
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2];
    wmma::fill_fragment(acc[0], 0.0f);
    wmma::fill_fragment(acc[1], 0.0f);
    float ra[4], rb[4];
    float exact[4][4] = {};  // tiles with NaN/inf weights, summed in float32 (sync_tile)
    if (kbeg < kend) {
        load_a<float>(p, sa, m0, kbeg, ra);
        p.load_b(sb, n0, kbeg, rb);
    }
    for (int k0 = kbeg; k0 < kend; k0 += BK) {
        __syncthreads();
        to_shared<P::kAOuterFast>(As, ra);
        to_shared<P::kBOuterFast>(Bs, rb);
        const bool masked = sync_tile<P>(rb);
        if (k0 + BK < kend) {
            load_a<float>(p, sa, m0, k0 + BK, ra);
            p.load_b(sb, n0, k0 + BK, rb);
        }
        if constexpr (P::kMaskA) {
            if (masked) {  // a fragment cannot leave single products out: the scalar loop can
                masked_tile_fma(p, As, Bs, m0, k0, exact);
                continue;
            }
        }
#pragma unroll
        for (int kk = 0; kk < BK; kk += 8) {
            // B (k, n) = Bs[k][n]: row-major; A (m, k) = As[k][m]: column-major.
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b;
            wmma::load_matrix_sync(b, &Bs[kk][wn], BN + 4);
            for (int t = 0; t < b.num_elements; ++t) b.x[t] = wmma::__float_to_tf32(b.x[t]);
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major>
                    a;
                wmma::load_matrix_sync(a, &As[kk][wm + 16 * i], BM + 4);
                for (int t = 0; t < a.num_elements; ++t) a.x[t] = wmma::__float_to_tf32(a.x[t]);
                wmma::mma_sync(acc[i], a, b, acc[i]);
            }
        }
    }
    // Through shared memory to the same coalesced, bounds-checked stores as the FP32 kernel.
    wmma::store_matrix_sync(&Cs[wm][wn], acc[0], BN + 4, wmma::mem_row_major);
    wmma::store_matrix_sync(&Cs[wm + 16][wn], acc[1], BN + 4, wmma::mem_row_major);
    __syncthreads();
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int m = m0 + tx + 16 * i, n = n0 + ty + 16 * j;
            if (m < p.M && n < p.N)
                p.store(grp, split, m, n, Cs[tx + 16 * i][ty + 16 * j] + exact[i][j]);
        }
#endif
}
