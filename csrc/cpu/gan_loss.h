// Fused GAN losses: mean loss and d(loss)/d(logits) in one pass. Semantics and the (kind, side)
// table in minigan/kernels/gan_loss.py; code = 3 * kind + side with kinds (minimax, ns, lsgan,
// wgan, hinge) and sides (d_real, d_fake, g).
//
// gan_loss.cpp is compiled once per instruction set (isa.h); gan_loss<T> calls the variant in use.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace minigan::cpu {

constexpr int kGanLossCodes = 15;

// One ISA variant's kernels (gan_loss.cpp exports one table per variant).
struct GanLossKernels {
    const char* isa;
    double (*f32)(int code, const float* x, int64_t n, float* grad);
    double (*f64)(int code, const double* x, int64_t n, double* grad);
};

// The active variant's table (isa.cpp).
const GanLossKernels& gan_loss_kernels();

// Writes grad[i] = l'(x[i]) / n and returns mean_i l(x[i]) (accumulated in double).
// Not to be called from an ISA unit (it would instantiate this in that unit's instructions).
template <typename T>
double gan_loss(int code, const T* x, int64_t n, T* grad) {
    if (code < 0 || code >= kGanLossCodes)
        throw std::runtime_error("gan_loss: bad code " + std::to_string(code));
    if constexpr (std::is_same_v<T, float>) return gan_loss_kernels().f32(code, x, n, grad);
    else return gan_loss_kernels().f64(code, x, n, grad);
}

}  // namespace minigan::cpu
