// Helpers for loops that must vectorize: exp / log1p written as plain arithmetic so the compiler
// can vectorize them (the libm calls are scalar without -ffast-math), and the chunked parallel
// loop. Included by the kernel families compiled once per instruction set (isa.h): there the
// helpers live in that variant's namespace (minigan::cpu::isa_<name>::simd), so the linker can
// never hand a wide-ISA copy of one to code that runs on an older CPU.
#pragma once

#include <cstdint>
#include <cstring>

#include "parallel.h"

#define MG_INLINE inline __attribute__((always_inline))

#ifdef MG_ISA_NS
namespace minigan::cpu::MG_ISA_NS::simd {
#else
namespace minigan::cpu::simd {
#endif

template <typename T>
struct Bits;
template <>
struct Bits<float> {
    using Int = int32_t;
    static constexpr int kMantissa = 23, kBias = 127;
    static constexpr float kMinArg = -87.0f;  // exp(x) below this is treated as 0 (< 1.7e-38)
    static constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
    static constexpr int kExpTerms = 7, kLogTerms = 5;
};
template <>
struct Bits<double> {
    using Int = int64_t;
    static constexpr int kMantissa = 52, kBias = 1023;
    static constexpr double kMinArg = -708.0;  // exp(x) below this is treated as 0 (< 3.3e-308)
    static constexpr double kLn2Hi = 6.93145751953125e-1, kLn2Lo = 1.42860682030941723212e-6;
    static constexpr int kExpTerms = 13, kLogTerms = 11;
};

// 2^n for an integer n in the normal exponent range, by building the float's bits.
template <typename T>
MG_INLINE T pow2(typename Bits<T>::Int n) {
    using I = typename Bits<T>::Int;
    const I bits = (n + Bits<T>::kBias) << Bits<T>::kMantissa;
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}

// Selects are written `c ? a : b` or as a product with T(c); for GCC to turn them into vector
// blends rather than branches, the files using this header are compiled with
// -fno-trapping-math (CMakeLists.txt), which changes no result, only what may be assumed about
// floating-point exception flags.

// exp(x) for x <= 0, to about 1 ulp: x = n ln2 + r with |r| <= ln2/2 (ln2 split in a high part
// exact in T and a low part, Cody-Waite), exp(r) by its Taylor series in Horner form (enough
// terms for T's precision on that interval), times 2^n. 0 below kMinArg.
template <typename T>
MG_INLINE T exp_nonpos(T x) {
    using B = Bits<T>;
    const T xc = x < B::kMinArg ? T(B::kMinArg) : x;
    // Round to nearest for t <= 0: truncation of t - 1/2 (converts to an integer lane-wise).
    // (int32 for both types: n >= -1022, and double -> int64 has no SSE2/AVX2 instruction.)
    const auto n = static_cast<int32_t>(xc * T(1.4426950408889634) - T(0.5));
    const T r = (xc - T(n) * B::kLn2Hi) - T(n) * B::kLn2Lo;
    T p = T(1);
#pragma GCC unroll 16
    for (int k = B::kExpTerms; k >= 1; --k) p = T(1) + p * r * (T(1) / T(k));
    return p * pow2<T>(static_cast<typename B::Int>(n)) * T(x >= B::kMinArg);
}

// log1p(e) for 0 <= e <= 1: u = 1 + e rounded, log(u) = k ln2 + 2 atanh(s), s = (m-1)/(m+1)
// with m = u or u/2 in [sqrt(1/2), sqrt(2)] so |s| <= 0.172, atanh by its odd series; then the
// rounding of 1 + e is corrected to first order: log1p(e) = log(u) + (e - (u - 1)) / u.
template <typename T>
MG_INLINE T log1p_unit(T e) {
    const T u = T(1) + e;
    const T big = T(u > T(1.4142135623730951));    // 1 or 0
    const T m = u * (T(1) - T(0.5) * big);         // exact: u or u / 2
    const T s = (m - T(1)) / (m + T(1));
    const T s2 = s * s;
    T q = T(0);
#pragma GCC unroll 16
    for (int k = Bits<T>::kLogTerms; k >= 1; --k) q = (q + T(1) / T(2 * k + 1)) * s2;
    const T log_u = big * T(0.6931471805599453) + T(2) * s * (T(1) + q);
    return log_u + (e - (u - T(1))) / u;
}

// Splits [0, n) into one contiguous chunk per thread (static, so deterministic for a given thread
// count), runs f(begin, end) -> double on each and returns the sum. Serial below kParallelGrain.
template <typename F>
double parallel_chunks(int64_t n, F f) {
    double total = 0.0;
#pragma omp parallel num_threads(num_threads()) reduction(+ : total) if (n >= kParallelGrain)
    {
#ifdef _OPENMP
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int64_t t = 0, nt = 1;
#endif
        const int64_t b = n * t / nt, e = n * (t + 1) / nt;
        if (b < e) total += f(b, e);
    }
    return total;
}

}  // namespace minigan::cpu::(isa_<name>::)simd
