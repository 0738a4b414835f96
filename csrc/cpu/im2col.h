// im2col / col2im on the CPU (OpenMP). Semantics (NCHW), shared with the NumPy reference in
// minigan/kernels/conv.py:
//
//   cols[(n*OH + oh)*OW + ow, (c*kh + i)*kw + j] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
//                                                  (0 where that index falls outside the image)
//   col2im is the adjoint: x[n, c, h, w] = sum of every cols entry that im2col copied from there.
//
// Both take C-contiguous views (the bindings check this) and overwrite their output.
#pragma once

#include "../common.h"

namespace minigan::cpu {

template <typename T>
void im2col(TensorView<const T, 4> x, TensorView<T, 2> cols, const ConvGeometry& g);

template <typename T>
void col2im(TensorView<const T, 2> cols, TensorView<T, 4> x, const ConvGeometry& g);

}  // namespace minigan::cpu
