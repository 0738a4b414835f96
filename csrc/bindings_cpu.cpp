// minigan._C: the C++ CPU kernels. Only bindings live here: argument checks come from
// pyargs.h, the kernels from cpu/<family>.cpp.
//
// Signatures mirror the NumPy reference in minigan/kernels/conv.py, so either can be called:
//   im2col(x, kh, kw, stride, padding, dilation, out=None) -> cols
//   col2im(cols, x_shape, kh, kw, stride, padding, dilation, out=None) -> x
// stride/padding/dilation are (h, w) pairs or one int for both.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "cpu/bias_act.h"
#include "cpu/im2col.h"
#include "cpu/parallel.h"
#include "pyargs.h"

namespace py = pybind11;
using namespace minigan::pyargs;
using minigan::ConvGeometry;

// Spectral norm, fused GAN losses, batch norm, Adam/SGD: bindings_cpu_train.cpp.
void bind_train_kernels(py::module_& m);
// float32 AVX-512 convolution GEMMs: bindings_cpu_conv.cpp.
void bind_conv_kernels(py::module_& m);

namespace {

ConvGeometry geometry(const std::array<int64_t, 4>& s, const py::handle& kh, const py::handle& kw,
                      const py::handle& stride, const py::handle& padding,
                      const py::handle& dilation) {
    const auto st = pair_arg(stride, "stride"), pd = pair_arg(padding, "padding"),
               dl = pair_arg(dilation, "dilation");
    return minigan::make_conv_geometry(s[0], s[1], s[2], s[3], int_arg(kh, "kh"),
                                       int_arg(kw, "kw"), st[0], st[1], pd[0], pd[1], dl[0],
                                       dl[1]);
}

template <typename T>
void run_im2col(const py::array& x, const py::array& cols, const ConvGeometry& g) {
    auto xv = view_of<const T, 4>(x);
    auto cv = view_of<T, 2>(cols);
    py::gil_scoped_release nogil;
    minigan::cpu::im2col<T>(xv, cv, g);
}

template <typename T>
void run_col2im(const py::array& cols, const py::array& x, const ConvGeometry& g) {
    auto cv = view_of<const T, 2>(cols);
    auto xv = view_of<T, 4>(x);
    py::gil_scoped_release nogil;
    minigan::cpu::col2im<T>(cv, xv, g);
}

py::array im2col(const py::object& x_obj, const py::object& kh, const py::object& kw,
                 const py::object& stride, const py::object& padding,
                 const py::object& dilation, const py::object& out) {
    py::array x = numpy_arg(x_obj, "x");
    const Float dt = float_dtype(x, "x");
    check_numpy_layout(x, "x", 4, "(N, C, H, W)");
    const auto s = shape_of(x);
    const ConvGeometry g = geometry({s[0], s[1], s[2], s[3]}, kh, kw, stride, padding, dilation);
    py::array cols = output_arg(out, "out", dt, {g.rows(), g.cols()}, "(N*OH*OW, C*kh*kw)", x,
                                "x");
    if (dt == Float::f32)
        run_im2col<float>(x, cols, g);
    else
        run_im2col<double>(x, cols, g);
    return cols;
}

py::array col2im(const py::object& cols_obj, const py::object& x_shape, const py::object& kh,
                 const py::object& kw, const py::object& stride, const py::object& padding,
                 const py::object& dilation, const py::object& out) {
    py::array cols = numpy_arg(cols_obj, "cols");
    const Float dt = float_dtype(cols, "cols");
    check_numpy_layout(cols, "cols", 2, "(N*OH*OW, C*kh*kw)");
    const auto s = shape4_arg(x_shape, "x_shape");
    const ConvGeometry g = geometry(s, kh, kw, stride, padding, dilation);
    check_shape(cols, "cols", {g.rows(), g.cols()});
    py::array x = output_arg(out, "out", dt, {s[0], s[1], s[2], s[3]}, "(N, C, H, W)", cols,
                             "cols");
    if (dt == Float::f32)
        run_col2im<float>(cols, x, g);
    else
        run_col2im<double>(cols, x, g);
    return x;
}

// ---- bias + activation: (outer, C, inner) views; the Python wrapper folds the axes ----------

minigan::cpu::Act act_arg(const py::handle& obj) {
    using minigan::cpu::Act;
    MG_CHECK_TYPE(py::isinstance<py::str>(obj), "act", "expected a str, got ", type_name(obj));
    const auto s = obj.cast<std::string>();
    if (s == "none") return Act::none;
    if (s == "relu") return Act::relu;
    if (s == "leaky_relu") return Act::leaky_relu;
    if (s == "tanh") return Act::tanh;
    if (s == "sigmoid") return Act::sigmoid;
    MG_CHECK_ARG(false, "act", "expected one of none, relu, leaky_relu, tanh, sigmoid, got '", s,
                 "'");
    return Act::none;
}

template <typename T>
T* data_or_null(const py::object& a) {
    return a.is_none() ? nullptr : static_cast<T*>(py::reinterpret_borrow<py::array>(a).mutable_data());
}

py::array bias_act(const py::object& x_obj, const py::object& bias_obj, const py::object& act_obj,
                   double alpha) {
    py::array x = numpy_arg(x_obj, "x");
    const Float dt = float_dtype(x, "x");
    check_numpy_layout(x, "x", 3, "(outer, C, inner)");
    const auto s = shape_of(x);
    const auto act = act_arg(act_obj);
    if (!bias_obj.is_none()) {
        py::array b = numpy_arg(bias_obj, "bias");
        MG_CHECK_TYPE(float_dtype(b, "bias") == dt, "bias", "expected dtype ", float_name(dt),
                      " to match x");
        check_numpy_layout(b, "bias", 1, "(C,)");
        check_shape(b, "bias", {s[1]});
    }
    py::array y = output_arg(py::none(), "out", dt, s, "", x, "x");
    auto run = [&](auto tag) {
        using T = decltype(tag);
        const T* xp = static_cast<const T*>(x.data());
        const T* bp = data_or_null<T>(bias_obj);
        T* yp = static_cast<T*>(y.mutable_data());
        py::gil_scoped_release nogil;
        minigan::cpu::bias_act_forward<T>(xp, bp, yp, s[0], s[1], s[2], act, alpha);
    };
    if (dt == Float::f32) run(float{}); else run(double{});
    return y;
}

py::tuple bias_act_backward(const py::object& gy_obj, const py::object& y_obj,
                            const py::object& act_obj, double alpha, bool need_bias) {
    py::array gy = numpy_arg(gy_obj, "grad_output");
    const Float dt = float_dtype(gy, "grad_output");
    check_numpy_layout(gy, "grad_output", 3, "(outer, C, inner)");
    py::array y = numpy_arg(y_obj, "y");
    MG_CHECK_TYPE(float_dtype(y, "y") == dt, "y", "expected dtype ", float_name(dt),
                  " to match grad_output");
    check_numpy_layout(y, "y", 3, "(outer, C, inner)");
    const auto s = shape_of(gy);
    check_shape(y, "y", s);
    const auto act = act_arg(act_obj);
    py::array gx = output_arg(py::none(), "out", dt, s, "", gy, "grad_output");
    py::object gb = need_bias ? py::object(output_arg(py::none(), "out", dt, {s[1]}, "", gy,
                                                      "grad_output"))
                              : py::object(py::none());
    auto run = [&](auto tag) {
        using T = decltype(tag);
        const T* gyp = static_cast<const T*>(gy.data());
        const T* yp = static_cast<const T*>(y.data());
        T* gxp = static_cast<T*>(gx.mutable_data());
        T* gbp = data_or_null<T>(gb);
        py::gil_scoped_release nogil;
        minigan::cpu::bias_act_backward<T>(gyp, yp, gxp, gbp, s[0], s[1], s[2], act, alpha);
    };
    if (dt == Float::f32) run(float{}); else run(double{});
    return py::make_tuple(gx, gb);
}

py::dict build_info() {
    py::dict d;
#ifdef _OPENMP
    d["openmp"] = _OPENMP;  // yyyymm of the OpenMP spec the compiler implements
#else
    d["openmp"] = 0;
#endif
#if defined(__clang__)
    d["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
    d["compiler"] = "gcc " __VERSION__;
#else
    d["compiler"] = "unknown";
#endif
    d["cxx_standard"] = static_cast<long>(__cplusplus);
    return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
    register_exceptions();
    m.doc() = "minigan C++ CPU kernels (OpenMP). Arrays must be C-contiguous float32/float64.";

    bind_conv_kernels(m);
    m.def("im2col", &im2col, py::arg("x"), py::arg("kh"), py::arg("kw"), py::arg("stride"),
          py::arg("padding"), py::arg("dilation"), py::kw_only(), py::arg("out") = py::none(),
          R"doc(Unfold image patches into rows: x (N, C, H, W) -> cols (N*OH*OW, C*kh*kw).

cols[(n*OH + oh)*OW + ow, (c*kh + i)*kw + j] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw],
0 where that index is outside the image; OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1.
stride, padding, dilation: (h, w) pairs or one int. out: optional C-contiguous buffer of
the result's shape and dtype, overwritten and returned.)doc");

    m.def("col2im", &col2im, py::arg("cols"), py::arg("x_shape"), py::arg("kh"), py::arg("kw"),
          py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::kw_only(),
          py::arg("out") = py::none(),
          R"doc(Adjoint of im2col: fold cols (N*OH*OW, C*kh*kw) back into x_shape (N, C, H, W),
summing the entries of overlapping windows. out: optional buffer, overwritten (not
accumulated into) and returned.)doc");

    m.def("bias_act", &bias_act, py::arg("x"), py::arg("bias"), py::arg("act"),
          py::arg("alpha"),
          R"doc(y[o, c, i] = act(x[o, c, i] + bias[c]) on C-contiguous (outer, C, inner) arrays;
bias (C,) or None; act: none, relu, leaky_relu, tanh, sigmoid (alpha: leaky_relu's slope).)doc");
    m.def("bias_act_backward", &bias_act_backward, py::arg("grad_output"), py::arg("y"),
          py::arg("act"), py::arg("alpha"), py::arg("need_bias") = true,
          R"doc(-> (gx, gbias): gx = grad_output * act'(y) (act' read from the output y),
gbias[c] = sum of gx over outer and inner (None unless need_bias).)doc");

    m.def("num_threads", &minigan::cpu::num_threads,
          "Number of threads the OpenMP kernels use.");
    m.def(
        "set_num_threads",
        [](int n) {
            // Far above any core count; an OpenMP team of 2**30 threads would not start.
            MG_CHECK_ARG(n >= 1 && n <= 4096, "n", "expected a thread count in [1, 4096], got ",
                         n);
            minigan::cpu::set_num_threads(n);
        },
        py::arg("n"), "Set the number of threads the OpenMP kernels use (process-wide).");
    bind_train_kernels(m);
    m.def("build_info", &build_info, "How this module was compiled: OpenMP version, compiler.");
}
