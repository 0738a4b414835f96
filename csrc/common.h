// Shared by the CPU (g++) and CUDA (nvcc) kernels: argument checks, ceil_div, a tensor view,
// and the im2col/col2im geometry. No pybind11 here, so .cu files can include it cheaply;
// the bindings translate the exceptions below into Python ones.
#pragma once

#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define MG_HOST_DEVICE __host__ __device__
#else
#define MG_HOST_DEVICE
#endif

namespace minigan {

// A wrong Python type or dtype. Derives from invalid_argument so code that does not know about
// it still sees a ValueError; the bindings register a translator that raises TypeError instead.
struct type_error : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
    std::ostringstream s;
    (s << ... << args);
    return s.str();
}
}  // namespace detail

}  // namespace minigan

// MG_CHECK_ARG(cond, "x", "expected ..., got ", v): a bad argument -> ValueError "x: expected ...".
// The message always starts with the argument's name, so the user knows which one to fix.
#define MG_CHECK_ARG(cond, arg, ...)                                                       \
    do {                                                                                   \
        if (!(cond))                                                                       \
            throw std::invalid_argument(::minigan::detail::concat(arg, ": ", __VA_ARGS__)); \
    } while (0)

// MG_CHECK_TYPE(cond, "x", ...): like MG_CHECK_ARG, but a wrong type/dtype -> TypeError.
#define MG_CHECK_TYPE(cond, arg, ...)                                                        \
    do {                                                                                     \
        if (!(cond))                                                                         \
            throw ::minigan::type_error(::minigan::detail::concat(arg, ": ", __VA_ARGS__)); \
    } while (0)

// MG_CHECK(cond, ...): a broken internal assumption or a failed runtime call -> RuntimeError.
#define MG_CHECK(cond, ...)                                                          \
    do {                                                                             \
        if (!(cond))                                                                 \
            throw std::runtime_error(::minigan::detail::concat(__VA_ARGS__)); \
    } while (0)

namespace minigan {

// ceil(a / b) for a >= 0, b > 0: the number of blocks of size b that cover a items.
MG_HOST_DEVICE constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A non-owning view of an N-d array: data pointer plus shape and strides counted in elements
// (not bytes, unlike NumPy), so kernels index with plain arithmetic.
template <typename T, int NDIM>
struct TensorView {
    T* data = nullptr;
    int64_t shape[NDIM] = {};
    int64_t strides[NDIM] = {};

    MG_HOST_DEVICE int64_t numel() const {
        int64_t n = 1;
        for (int d = 0; d < NDIM; ++d) n *= shape[d];
        return n;
    }

    MG_HOST_DEVICE bool is_contiguous() const {
        if (numel() == 0) return true;  // nothing is read or written
        int64_t expected = 1;
        for (int d = NDIM - 1; d >= 0; --d) {
            if (shape[d] != 1 && strides[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }
};

// Everything im2col/col2im need to know about one convolution, NCHW layout:
//   OH = (H + 2*ph - dh*(kh-1) - 1) / sh + 1   (OW likewise)
//   cols has rows() = N*OH*OW rows and cols() = C*kh*kw columns.
struct ConvGeometry {
    int64_t N, C, H, W;
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t OH, OW;

    MG_HOST_DEVICE int64_t rows() const { return N * OH * OW; }
    MG_HOST_DEVICE int64_t cols() const { return C * kh * kw; }
};

// a * b and a + b for non-negative int64 operands, throwing invalid_argument naming `what` where
// the exact result does not fit (a shape or geometry from Python can hold any int64: wrapped
// arithmetic would size buffers wrongly and index out of bounds).
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
    MG_CHECK_ARG(b == 0 || a <= std::numeric_limits<int64_t>::max() / b, what,
                 "sizes too large: ", a, " * ", b, " overflows int64");
    return a * b;
}
inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
    MG_CHECK_ARG(a <= std::numeric_limits<int64_t>::max() - b, what, "sizes too large: ", a,
                 " + ", b, " overflows int64");
    return a + b;
}

// Validates the parameters and computes OH/OW. Throws invalid_argument naming the offending
// argument: the formula above silently gives nonsense (C++ division truncates toward zero)
// when the dilated kernel does not fit in the padded image.
inline ConvGeometry make_conv_geometry(int64_t N, int64_t C, int64_t H, int64_t W, int64_t kh,
                                       int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                       int64_t dh, int64_t dw) {
    MG_CHECK_ARG(N >= 0 && C >= 0 && H >= 0 && W >= 0, "x_shape",
                 "expected non-negative (N, C, H, W), got (", N, ", ", C, ", ", H, ", ", W, ")");
    MG_CHECK_ARG(kh >= 1 && kw >= 1, "kernel", "expected kh, kw >= 1, got (", kh, ", ", kw, ")");
    MG_CHECK_ARG(sh >= 1 && sw >= 1, "stride", "expected (h, w) >= 1, got (", sh, ", ", sw, ")");
    MG_CHECK_ARG(ph >= 0 && pw >= 0, "padding", "expected (h, w) >= 0, got (", ph, ", ", pw, ")");
    MG_CHECK_ARG(dh >= 1 && dw >= 1, "dilation", "expected (h, w) >= 1, got (", dh, ", ", dw,
                 ")");
    const int64_t span_h = checked_add(checked_mul(dh, kh - 1, "dilation"), 1, "kernel");
    const int64_t span_w = checked_add(checked_mul(dw, kw - 1, "dilation"), 1, "kernel");
    const int64_t Hp = checked_add(H, checked_mul(2, ph, "padding"), "padding");
    const int64_t Wp = checked_add(W, checked_mul(2, pw, "padding"), "padding");
    MG_CHECK_ARG(span_h <= Hp && span_w <= Wp, "kernel", "dilated kernel (", span_h, ", ",
                 span_w, ") is larger than the padded input (", Hp, ", ", Wp, ")");
    ConvGeometry g{N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, 0, 0};
    g.OH = (Hp - span_h) / sh + 1;
    g.OW = (Wp - span_w) / sw + 1;
    // rows() * cols() elements (the im2col matrix), each up to 8 bytes, must be addressable.
    const int64_t rows = checked_mul(checked_mul(N, g.OH, "x_shape"), g.OW, "x_shape");
    const int64_t cols = checked_mul(checked_mul(C, kh, "kernel"), kw, "kernel");
    checked_mul(checked_mul(rows, cols, "kernel"), 8, "kernel");
    return g;
}

}  // namespace minigan
