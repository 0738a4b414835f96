// Bias + activation on the CPU (OpenMP). Arrays are C-contiguous and seen as (outer, C, inner):
// the channel axis in the middle, everything before it folded into outer, after it into inner.
//
//   forward:  y[o, c, i] = act(x[o, c, i] + b[c])                      (b may be null: no bias)
//   backward: gx = gy * act'(y), gb[c] = sum_{o, i} gx[o, c, i]        (gb may be null;
//             with act none gx may be null: the channel sum of gy alone, gy read once)
//
// act'(y) is read from the output: relu 1[y > 0]; leaky_relu 1 if y > 0 else alpha (alpha >= 0,
// so y > 0 exactly where x + b > 0); tanh 1 - y^2; sigmoid y (1 - y); none 1.
//
// bias_act.cpp is compiled once per instruction set (isa.h); these call the variant in use.
#pragma once

#include <cstdint>
#include <type_traits>

namespace minigan::cpu {

enum class Act { none, relu, leaky_relu, tanh, sigmoid };

// One ISA variant's kernels (bias_act.cpp exports one table per variant).
struct BiasActKernels {
    const char* isa;
    void (*forward_f32)(const float* x, const float* b, float* y, int64_t outer, int64_t C,
                        int64_t inner, Act act, double alpha);
    void (*forward_f64)(const double* x, const double* b, double* y, int64_t outer, int64_t C,
                        int64_t inner, Act act, double alpha);
    void (*backward_f32)(const float* gy, const float* y, float* gx, float* gb, int64_t outer,
                         int64_t C, int64_t inner, Act act, double alpha);
    void (*backward_f64)(const double* gy, const double* y, double* gx, double* gb,
                         int64_t outer, int64_t C, int64_t inner, Act act, double alpha);
};

// The active variant's table (isa.cpp).
const BiasActKernels& bias_act_kernels();

// Not to be called from an ISA unit (it would instantiate these in that unit's instructions).
template <typename T>
void bias_act_forward(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner,
                      Act act, double alpha) {
    if constexpr (std::is_same_v<T, float>)
        bias_act_kernels().forward_f32(x, b, y, outer, C, inner, act, alpha);
    else
        bias_act_kernels().forward_f64(x, b, y, outer, C, inner, act, alpha);
}

template <typename T>
void bias_act_backward(const T* gy, const T* y, T* gx, T* gb, int64_t outer, int64_t C,
                       int64_t inner, Act act, double alpha) {
    if constexpr (std::is_same_v<T, float>)
        bias_act_kernels().backward_f32(gy, y, gx, gb, outer, C, inner, act, alpha);
    else
        bias_act_kernels().backward_f64(gy, y, gx, gb, outer, C, inner, act, alpha);
}

}  // namespace minigan::cpu
