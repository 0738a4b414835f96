// Bias + activation, OpenMP. See bias_act.h for the semantics. Compiled once per instruction set
// (isa.h: AVX-512, AVX2, baseline); the table at the bottom is the only exported name. The loops
// are written for the compiler's vectoriser; every variant rounds step by step (no contraction:
// CMakeLists.txt), so all give the same bits.
#include "bias_act.h"

#include <cmath>
#include <vector>

#include "parallel.h"

#ifndef MG_ISA_NS
#error "bias_act.cpp: compile with -DMG_ISA_NS=isa_<name> -DMG_ISA_NAME=\"<name>\""
#endif

namespace minigan::cpu::MG_ISA_NS {

namespace {

template <Act act, typename T>
inline T activate(T z, T alpha) {
    switch (act) {
        // z < 0 ? 0 : z, not z > 0 ? z : 0: NaN passes through, as in the reference's
        // maximum(z, 0) (the NaN guard must see it).
        case Act::relu: return z < T(0) ? T(0) : z;
        case Act::leaky_relu: return z > T(0) ? z : alpha * z;
        case Act::tanh: return std::tanh(z);
        // Stable on both sides: exp of a non-positive number never overflows.
        case Act::sigmoid: {
            if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
            const T e = std::exp(z);
            return e / (T(1) + e);
        }
        default: return z;
    }
}

template <Act act, typename T>
inline T slope(T y, T alpha) {
    switch (act) {
        case Act::relu: return y > T(0) ? T(1) : T(0);
        case Act::leaky_relu: return y > T(0) ? T(1) : alpha;
        case Act::tanh: return T(1) - y * y;
        case Act::sigmoid: return y * (T(1) - y);
        default: return T(1);
    }
}

// f(lo, hi) on each thread's contiguous, even share of [0, n): static, so a given thread count
// always splits the same way. On the calling thread alone unless `parallel`.
template <typename F>
void split_evenly(int64_t n, bool parallel, F f) {
#pragma omp parallel num_threads(num_threads()) if (parallel)
    {
        int tid = 0, nt = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        f(n * tid / nt, n * (tid + 1) / nt);
    }
}

}  // namespace

// The activation is a template parameter, so each inner loop is branch-free and the compiler
// vectorises relu/leaky_relu/none (a switch inside the loop measured ~4x slower, scalar).
template <Act act, typename T>
void forward_rows(const T* x, const T* b, T* y, int64_t C, int64_t inner, T alpha, int64_t lo,
                  int64_t hi) {
    // The channel is tracked incrementally: a % per row would cost more than a short row.
    for (int64_t r = lo, c = lo % C; r < hi; ++r, c = (c + 1 == C) ? 0 : c + 1) {
        const T bias = b ? b[c] : T(0);
        const T* src = x + r * inner;
        T* dst = y + r * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] = activate<act>(src[i] + bias, alpha);
    }
}

// Work is split over (o, c) rows of `inner` contiguous elements, one static chunk per thread.
// (N, C) rows with inner == 1 (Linear outputs, channels last): the bias runs along each
// contiguous row, so the loop over c vectorises; threads split the rows.
template <Act act, typename T>
void forward_channels_last(const T* x, const T* b, T* y, int64_t outer, int64_t C, T alpha) {
    const bool parallel = outer * C >= kParallelGrain && outer > 1;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (parallel)
    for (int64_t o = 0; o < outer; ++o) {
        const T* __restrict src = x + o * C;
        T* __restrict dst = y + o * C;
        if (b) {
            for (int64_t c = 0; c < C; ++c) dst[c] = activate<act>(src[c] + b[c], alpha);
        } else {
            for (int64_t c = 0; c < C; ++c) dst[c] = activate<act>(src[c], alpha);
        }
    }
}

// No bias: y = act(x) element by element, so any split gives the same bits. The flat array is
// split evenly over the threads -- an activation called as one (1, 1, size) row would otherwise
// run on one thread (the D's leaky ReLUs of DCGAN: 800k elements on one core).
template <Act act, typename T>
void forward_flat(const T* x, T* y, int64_t total, T alpha) {
    split_evenly(total, total >= kParallelGrain, [&](int64_t lo, int64_t hi) {
        const T* __restrict src = x;
        T* __restrict dst = y;
        for (int64_t i = lo; i < hi; ++i) dst[i] = activate<act>(src[i], alpha);
    });
}

template <Act act, typename T>
void forward_impl(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner,
                  T alpha) {
    if (!b) return forward_flat<act>(x, y, outer * C * inner, alpha);
    if (inner == 1 && C > 1) return forward_channels_last<act>(x, b, y, outer, C, alpha);
    const int64_t rows = outer * C;
    split_evenly(rows, rows * inner >= kParallelGrain && rows > 1, [&](int64_t lo, int64_t hi) {
        forward_rows<act>(x, b, y, C, inner, alpha, lo, hi);
    });
}

template <typename T>
void forward_any(const T* x, const T* b, T* y, int64_t outer, int64_t C, int64_t inner, Act act,
                 double alpha_d) {
    const T alpha = static_cast<T>(alpha_d);
    switch (act) {
        case Act::relu: return forward_impl<Act::relu>(x, b, y, outer, C, inner, alpha);
        case Act::leaky_relu:
            return forward_impl<Act::leaky_relu>(x, b, y, outer, C, inner, alpha);
        case Act::tanh: return forward_impl<Act::tanh>(x, b, y, outer, C, inner, alpha);
        case Act::sigmoid: return forward_impl<Act::sigmoid>(x, b, y, outer, C, inner, alpha);
        default: return forward_impl<Act::none>(x, b, y, outer, C, inner, alpha);
    }
}

// gx in parallel over outer; the bias gradient is summed in double, per thread, then combined
// in thread order (deterministic for a fixed thread count), so float32 keeps full precision
// over the N*H*W terms of a channel.
// inner == 1: per thread, a row of C double sums over its rows (the same order of additions
// per channel as the general loop below: rows in order, combined in thread order), written so
// the loop over c vectorises.
template <Act act, typename T>
void backward_channels_last(const T* gy, const T* y, T* gx, T* gb, int64_t outer, int64_t C,
                            T alpha) {
    const bool parallel = outer * C >= kParallelGrain && outer > 1;
    const int nt = parallel ? num_threads() : 1;
    std::vector<double> partial(gb ? static_cast<size_t>(nt) * C : 0, 0.0);
#pragma omp parallel num_threads(nt) if (parallel)
    {
        int tid = 0, used = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        used = omp_get_num_threads();
#endif
        double* __restrict acc = gb ? partial.data() + static_cast<size_t>(tid) * C : nullptr;
        for (int64_t o = outer * tid / used; o < outer * (tid + 1) / used; ++o) {
            const T* __restrict g = gy + o * C;
            const T* __restrict yr = y + o * C;
            T* __restrict d = gx ? gx + o * C : nullptr;
            // One pass per case, each a plain loop the compiler vectorises (gx and its channel
            // sum together: one read of the row; the sum is of the rounded gx, as below).
            if (d && acc) {
                for (int64_t c = 0; c < C; ++c) {
                    const T v = g[c] * slope<act>(yr[c], alpha);
                    d[c] = v;
                    acc[c] += static_cast<double>(v);
                }
            } else if (d) {
                for (int64_t c = 0; c < C; ++c) d[c] = g[c] * slope<act>(yr[c], alpha);
            } else if (acc) {
                for (int64_t c = 0; c < C; ++c) acc[c] += static_cast<double>(g[c]);
            }
        }
    }
    if (gb) {
        for (int64_t c = 0; c < C; ++c) {
            double s = 0.0;
            for (int t = 0; t < nt; ++t) s += partial[static_cast<size_t>(t) * C + c];
            gb[c] = static_cast<T>(s);
        }
    }
}

// gx alone (no bias gradient): element by element, split flat over the threads as the forward.
template <Act act, typename T>
void backward_flat(const T* gy, const T* y, T* gx, int64_t total, T alpha) {
    split_evenly(total, total >= kParallelGrain, [&](int64_t lo, int64_t hi) {
        const T* __restrict g = gy;
        const T* __restrict yr = y;
        T* __restrict d = gx;
        for (int64_t i = lo; i < hi; ++i) d[i] = g[i] * slope<act>(yr[i], alpha);
    });
}

template <Act act, typename T>
void backward_impl(const T* gy, const T* y, T* gx, T* gb, int64_t outer, int64_t C,
                   int64_t inner, T alpha) {
    if (!gb) {
        if (gx) backward_flat<act>(gy, y, gx, outer * C * inner, alpha);
        return;
    }
    if (inner == 1 && C > 1) return backward_channels_last<act>(gy, y, gx, gb, outer, C, alpha);
    const bool parallel = outer * C * inner >= kParallelGrain && outer > 1;
    const int nt = parallel ? num_threads() : 1;
    std::vector<double> partial(gb ? static_cast<size_t>(nt) * C : 0, 0.0);
#pragma omp parallel num_threads(nt) if (parallel)
    {
        int tid = 0, used = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        used = omp_get_num_threads();
#endif
        double* acc = gb ? partial.data() + static_cast<size_t>(tid) * C : nullptr;
        for (int64_t o = outer * tid / used; o < outer * (tid + 1) / used; ++o) {
            for (int64_t c = 0; c < C; ++c) {
                const int64_t base = (o * C + c) * inner;
                const T* g = gy;  // what the bias gradient sums: gx, or gy itself (act none)
                if (gx != nullptr) {
                    for (int64_t i = 0; i < inner; ++i)
                        gx[base + i] = gy[base + i] * slope<act>(y[base + i], alpha);
                    g = gx;
                }
                if (acc) {
                    // Four independent partial sums: one chain of dependent double adds is
                    // latency-bound (strict FP semantics forbid the compiler to reorder it).
                    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
                    int64_t i = 0;
                    for (; i + 4 <= inner; i += 4) {
                        s0 += static_cast<double>(g[base + i]);
                        s1 += static_cast<double>(g[base + i + 1]);
                        s2 += static_cast<double>(g[base + i + 2]);
                        s3 += static_cast<double>(g[base + i + 3]);
                    }
                    for (; i < inner; ++i) s0 += static_cast<double>(g[base + i]);
                    acc[c] += (s0 + s1) + (s2 + s3);
                }
            }
        }
    }
    if (gb) {
        for (int64_t c = 0; c < C; ++c) {
            double s = 0.0;
            for (int t = 0; t < nt; ++t) s += partial[static_cast<size_t>(t) * C + c];
            gb[c] = static_cast<T>(s);
        }
    }
}

template <typename T>
void backward_any(const T* gy, const T* y, T* gx, T* gb, int64_t outer, int64_t C, int64_t inner,
                  Act act, double alpha_d) {
    const T alpha = static_cast<T>(alpha_d);
    switch (act) {
        case Act::relu: return backward_impl<Act::relu>(gy, y, gx, gb, outer, C, inner, alpha);
        case Act::leaky_relu:
            return backward_impl<Act::leaky_relu>(gy, y, gx, gb, outer, C, inner, alpha);
        case Act::tanh: return backward_impl<Act::tanh>(gy, y, gx, gb, outer, C, inner, alpha);
        case Act::sigmoid:
            return backward_impl<Act::sigmoid>(gy, y, gx, gb, outer, C, inner, alpha);
        default: return backward_impl<Act::none>(gy, y, gx, gb, outer, C, inner, alpha);
    }
}

extern const BiasActKernels bias_act_table;
const BiasActKernels bias_act_table = {MG_ISA_NAME, &forward_any<float>, &forward_any<double>,
                                       &backward_any<float>, &backward_any<double>};

}  // namespace minigan::cpu::MG_ISA_NS
