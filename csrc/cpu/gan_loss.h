// Fused GAN losses: mean loss and d(loss)/d(logits) in one pass. Semantics and the (kind, side)
// table in minigan/kernels/gan_loss.py; code = 3 * kind + side with kinds (minimax, ns, lsgan,
// wgan, hinge) and sides (d_real, d_fake, g).
#pragma once

#include <cstdint>

namespace minigan::cpu {

constexpr int kGanLossCodes = 15;

// Writes grad[i] = l'(x[i]) / n and returns mean_i l(x[i]) (accumulated in double).
template <typename T>
double gan_loss(int code, const T* x, int64_t n, T* grad);

}  // namespace minigan::cpu
