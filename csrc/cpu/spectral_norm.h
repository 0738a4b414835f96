// Spectral normalization kernels on a row-major (m, n) matrix W. Semantics as in
// minigan/kernels/spectral_norm.py (the NumPy reference they are tested against).
#pragma once

#include <cstdint>

namespace minigan::cpu {

// n_iter steps of v = normalize(W^T u), t = W v, u = normalize(t), normalize(x) = x/max(|x|, eps),
// starting from u0; writes u (m,), v (n,); returns sigma = u . t. Needs n_iter >= 1.
template <typename T>
T sn_power_iteration(const T* w, int64_t m, int64_t n, const T* u0, int64_t n_iter, double eps,
                     T* u, T* v);

// sigma = u^T W v; out = W / sigma. Returns sigma.
template <typename T>
T sn_normalize(const T* w, int64_t m, int64_t n, const T* u, const T* v, T* out);

// out = G / sigma - (<G, W> / sigma^2) u v^T.
template <typename T>
void sn_backward(const T* g, const T* w, int64_t m, int64_t n, const T* u, const T* v, T sigma,
                 T* out);

}  // namespace minigan::cpu
