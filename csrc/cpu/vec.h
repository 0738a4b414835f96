// The vector type of one ISA variant (isa.h): GCC/Clang vector extensions, so the same source
// becomes AVX-512, AVX2+FMA, SSE2 or NEON code depending on the flags its compilation unit gets.
// MG_VEC_BYTES (set per unit by CMakeLists.txt) is the register width in bytes: 64, 32 or 16.
#pragma once

#include <cstdint>

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

}  // namespace minigan::cpu::vec
