// Bias + activation on the CPU (OpenMP). Arrays are C-contiguous and seen as (outer, C, inner):
// the channel axis in the middle, everything before it folded into outer, after it into inner.
//
//   forward:  y[o, c, i] = act(x[o, c, i] + b[c])                      (b may be null: no bias)
//   backward: gx = gy * act'(y), gb[c] = sum_{o, i} gx[o, c, i]        (gb may be null;
//             with act none gx may be null: the channel sum of gy alone, gy read once)
//
// act'(y) is read from the output: relu 1[y > 0]; leaky_relu 1 if y > 0 else alpha (alpha >= 0,
// so y > 0 exactly where x + b > 0); tanh 1 - y^2; sigmoid y (1 - y); none 1.
#pragma once

#include <cstdint>

namespace minigan::cpu {

enum class Act { none, relu, leaky_relu, tanh, sigmoid };

template <typename T>
void bias_act_forward(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner,
                      Act act, double alpha);

template <typename T>
void bias_act_backward(const T* gy, const T* y, T* gx, T* gb, int64_t outer, int64_t C,
                       int64_t inner, Act act, double alpha);

}  // namespace minigan::cpu
