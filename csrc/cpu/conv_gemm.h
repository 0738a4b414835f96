// float32 convolutions as GEMMs whose operands are packed straight from the images: no im2col
// buffer is ever written to memory (AVX-512; conv_gemm.cpp).
//
// Why: with im2col + BLAS, the D's second DCGAN layer (64x64x14x14 -> 128, 4x4/2) spends a third
// of its time writing and re-reading a 12.8 MB column matrix, and the BLAS this project ships
// (OpenBLAS running its AVX2 kernels here) reaches ~235 GFLOP/s on 2 cores. Packing the GEMM's
// panels directly from x with masked AVX-512 gathers keeps every operand in L1/L2, and an
// AVX-512 8x48 micro-kernel does the arithmetic.
//
// Three forms: the packed GEMM above (conv_gemm.cpp), and in conv_direct.cpp "direct" kernels
// that broadcast x values straight from a zero-padded copy of x against packed rows of 32
// channels (no B packing at all; the panel forms), and row forms whose vectors run along output
// rows instead (layers with few channels and wide rows); bindings_cpu_conv.cpp picks one per
// call.
//
// Semantics are the NumPy reference's (minigan/kernels/conv.py), groups = 1, any stride,
// padding and dilation:
//   forward:         y[n, o, oh, ow]  = b[o] + sum_k w[o, k] * col[k, (n, oh, ow)]
//   backward_weight: gw[o, k]         = sum_(n,oh,ow) gy[n, o, oh, ow] * col[k, (n, oh, ow)]
//                    gb[o]            = sum_(n,oh,ow) gy[n, o, oh, ow]   (direct form only)
//   backward_data:   dx = col2im(w^T gy), the adjoint of forward in x
// where col[(c, i, j), (n, oh, ow)] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 outside).
//
// The caller (bindings_cpu.cpp) checks shapes, dtypes and contiguity, that every flat index fits
// in int32 (the gathers use 32-bit indices), and that the CPU has AVX-512 (cpu_has_avx512) before
// calling; these functions check nothing. All outputs are overwritten. A null bias is zero; a
// null gb is not computed. (The bias add rides on the output store and the bias gradient on the
// pass that repacks gy: the separate passes over y and gy they replace cost ~0.1-0.25 ms each
// on the DCGAN layers.)
#pragma once

#include <cstdint>

namespace minigan::cpu {

struct ConvShape {
    int64_t N, C, H, W;   // input
    int64_t O;            // output channels
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t OH, OW;
};

// True when this CPU runs AVX-512 F/BW/DQ/VL code (defined in a file compiled without AVX-512).
bool cpu_has_avx512();

void conv2d_forward_avx512(const float* x, const float* w, const float* bias, float* y,
                           const ConvShape& s, int threads);
void conv2d_backward_weight_avx512(const float* gy, const float* x, float* gw,
                                   const ConvShape& s, int threads);
void conv2d_backward_data_avx512(const float* gy, const float* w, float* dx, const ConvShape& s,
                                 int threads);

// The direct forms (conv_direct.cpp) are compiled per instruction set: see isa.h.

}  // namespace minigan::cpu
