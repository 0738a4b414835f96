// Shared by the CPU (g++) and CUDA (nvcc) kernels: argument checks, ceil_div, a tensor view,
// and the im2col/col2im geometry. No pybind11 here, so .cu files can include it cheaply;
// the bindings translate the exceptions below into Python ones.
#pragma once

#include <cstdint>
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
    const int64_t span_h = dh * (kh - 1) + 1, span_w = dw * (kw - 1) + 1;
    MG_CHECK_ARG(span_h <= H + 2 * ph && span_w <= W + 2 * pw, "kernel",
                 "dilated kernel (", span_h, ", ", span_w, ") is larger than the padded input (",
                 H + 2 * ph, ", ", W + 2 * pw, ")");
    ConvGeometry g{N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, 0, 0};
    g.OH = (H + 2 * ph - span_h) / sh + 1;
    g.OW = (W + 2 * pw - span_w) / sw + 1;
    return g;
}

}  // namespace minigan
