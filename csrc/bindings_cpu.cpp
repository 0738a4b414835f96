// minigan._C: the C++ CPU kernels. Only bindings live here: argument checks come from
// pyargs.h, the kernels from cpu/<family>.cpp.
//
// Signatures mirror the NumPy reference in minigan/kernels/conv.py, so either can be called:
//   im2col(x, kh, kw, stride, padding, dilation, out=None) -> cols
//   col2im(cols, x_shape, kh, kw, stride, padding, dilation, out=None) -> x
// stride/padding/dilation are (h, w) pairs or one int for both.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "cpu/im2col.h"
#include "cpu/parallel.h"
#include "pyargs.h"

namespace py = pybind11;
using namespace minigan::pyargs;
using minigan::ConvGeometry;

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

    m.def("num_threads", &minigan::cpu::num_threads,
          "Number of threads the OpenMP kernels use.");
    m.def(
        "set_num_threads",
        [](int n) {
            MG_CHECK_ARG(n >= 1, "n", "expected a thread count >= 1, got ", n);
            minigan::cpu::set_num_threads(n);
        },
        py::arg("n"), "Set the number of threads the OpenMP kernels use (process-wide).");
    m.def("build_info", &build_info, "How this module was compiled: OpenMP version, compiler.");
}
