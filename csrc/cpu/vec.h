// The vector type of one ISA variant (isa.h): GCC/Clang vector extensions, so the same source
// becomes AVX-512, AVX2+FMA, SSE2 or NEON code depending on the flags its compilation unit gets.
// MG_VEC_BYTES (set per unit by CMakeLists.txt) is the register width in bytes: 64, 32 or 16.
#pragma once

#include <cstdint>
#include <cstring>

#if (MG_VEC_BYTES == 64 && defined(__AVX512F__)) || (MG_VEC_BYTES == 32 && defined(__AVX2__))
#include <immintrin.h>
#endif

#ifndef MG_VEC_BYTES
#error "vec.h: compile with -DMG_VEC_BYTES=64|32|16 (CMakeLists.txt sets it per ISA variant)"
#endif

namespace minigan::cpu::vec {

constexpr int kBytes = MG_VEC_BYTES;
constexpr int kFloats = kBytes / 4;  // float lanes of one vector
typedef float vf __attribute__((vector_size(MG_VEC_BYTES)));

// Aligned load / store (the buffers they touch are 64-byte aligned, rows a multiple of kBytes).
inline vf load(const float* p) { return *reinterpret_cast<const vf*>(p); }
inline void store(float* p, vf v) { *reinterpret_cast<vf*>(p) = v; }
// Every lane = s (one vbroadcastss / dup). s - 0 rather than 0 + s: the compiler may drop a
// subtraction of +0 (exact for every s, -0 included), not an addition (0 + -0 is +0).
inline vf splat(float s) { return s - vf{}; }
// acc + a * b: one fused multiply-add where the ISA has it (the conv units are compiled with
// -ffp-contract=fast), a multiply and an add otherwise.
inline vf madd(vf a, vf b, vf acc) { return acc + a * b; }

// Unaligned load / store (memcpy of one vector: a single vmovups / ldr).
inline vf loadu(const float* p) {
    vf v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void storeu(float* p, vf v) { std::memcpy(p, &v, sizeof v); }

// The first n lanes (0 <= n <= kFloats) of p; the other lanes are 0 and their memory is not
// read. With AVX-512 / AVX2 one masked load; elsewhere lane by lane.
inline vf load_first(const float* p, int n) {
#if MG_VEC_BYTES == 64 && defined(__AVX512F__)
    return reinterpret_cast<vf>(_mm512_maskz_loadu_ps(__mmask16((1u << n) - 1u), p));
#elif MG_VEC_BYTES == 32 && defined(__AVX2__)
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return reinterpret_cast<vf>(
        _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane)));
#else
    vf v = {};
    for (int i = 0; i < n; ++i) v[i] = p[i];
    return v;
#endif
}

// Writes the first n lanes (0 <= n <= kFloats) of v to p; the memory after them is untouched.
inline void store_first(float* p, vf v, int n) {
#if MG_VEC_BYTES == 64 && defined(__AVX512F__)
    _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1u), reinterpret_cast<__m512>(v));
#elif MG_VEC_BYTES == 32 && defined(__AVX2__)
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane),
                        reinterpret_cast<__m256>(v));
#else
    for (int i = 0; i < n; ++i) p[i] = v[i];
#endif
}

}  // namespace minigan::cpu::vec
