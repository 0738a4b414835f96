// Small helpers shared by the convolution files (conv_gemm.cpp, conv_direct.cpp).
// Those are compiled with wider-ISA flags than the baseline: everything here has internal linkage
// (an anonymous namespace), so no AVX-512/AVX2 copy of it can reach code built for older CPUs.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>

namespace minigan::cpu {
namespace {

inline int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t lmax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

float* alloc_floats(int64_t n) {
    const size_t bytes = size_t(cdiv(lmax(n, 16) * int64_t(sizeof(float)), 64) * 64);
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<float*>(p);
}

struct Bytes {  // an owned, 64-byte aligned buffer of n bytes (index tables, small structs)
    void* p;
    explicit Bytes(int64_t n) : p(std::aligned_alloc(64, size_t(cdiv(lmax(n, 64), 64) * 64))) {
        if (p == nullptr) throw std::bad_alloc();
    }
    ~Bytes() { std::free(p); }
    Bytes(const Bytes&) = delete;
    Bytes& operator=(const Bytes&) = delete;
};

struct Floats {  // an owned, 64-byte aligned float buffer
    float* p;
    explicit Floats(int64_t n) : p(alloc_floats(n)) {}
    ~Floats() { std::free(p); }
    Floats(const Floats&) = delete;
    Floats& operator=(const Floats&) = delete;
};

}  // namespace
}  // namespace minigan::cpu
