// Bindings of the float32 convolution kernels (cpu/conv_gemm.h: the packed GEMMs, AVX-512 only;
// the direct kernels, one per ISA variant, cpu/isa.h); registered on minigan._C by
// bindings_cpu.cpp. Only argument checks and the choice of form live here. Signatures follow the
// NumPy reference (minigan/kernels/conv) with groups = 1; float64 uses im2col + BLAS instead
// (minigan/kernels/conv/native.py decides), so these raise rather than fall back.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>

#include "cpu/adam.h"
#include "cpu/batch_norm.h"
#include "cpu/bias_act.h"
#include "cpu/conv_gemm.h"
#include "cpu/gan_loss.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/spectral_norm.h"
#include "pyargs.h"

namespace py = pybind11;
using namespace minigan::pyargs;
using minigan::cpu::ConvShape;
using minigan::cpu::Isa;

namespace {

// The kernels index with int32 (gathers, tap offsets): every array they touch must be smaller.
void check_int32(const char* name, int64_t elements) {
    MG_CHECK_ARG(elements < std::numeric_limits<int32_t>::max(), name,
                 "expected fewer than 2**31 elements for the float32 conv kernels, got ",
                 elements);
}

py::array f32_arg(const py::object& obj, const char* name, int ndim, const char* dims) {
    py::array a = numpy_arg(obj, name);
    MG_CHECK_TYPE(float_dtype(a, name) == Float::f32, name,
                  "expected dtype float32 (these conv kernels are float32 only), got ",
                  std::string(py::str(a.dtype())));
    check_numpy_layout(a, name, ndim, dims);
    return a;
}

// The packed GEMMs exist for AVX-512 only: with another variant active, every call takes the
// direct form (the caller, minigan/kernels/conv/native.py, sends only layers it fits).
bool gemm_available() { return minigan::cpu::isa_active() == Isa::avx512; }

// Geometry of x (N, C, H, W) and w (O, C, kh, kw), validated like the reference.
ConvShape conv_shape(const std::array<int64_t, 4>& x, const std::array<int64_t, 4>& w,
                     const py::handle& stride, const py::handle& padding,
                     const py::handle& dilation) {
    MG_CHECK_ARG(w[1] == x[1], "weight", "expected ", x[1], " input channels (groups = 1), got ",
                 w[1]);
    const auto st = pair_arg(stride, "stride"), pd = pair_arg(padding, "padding"),
               dl = pair_arg(dilation, "dilation");
    const auto g = minigan::make_conv_geometry(x[0], x[1], x[2], x[3], w[2], w[3], st[0], st[1],
                                               pd[0], pd[1], dl[0], dl[1]);
    ConvShape s{x[0], x[1], x[2], x[3], w[0], w[2], w[3], st[0], st[1], pd[0], pd[1], dl[0],
                dl[1], g.OH, g.OW};
    using minigan::checked_mul;
    MG_CHECK_ARG(s.O >= 0, "weight", "expected a non-negative number of filters, got ", s.O);
    check_int32("x", checked_mul(checked_mul(checked_mul(s.N, s.C, "x"), s.H, "x"), s.W, "x"));
    check_int32("grad_output",
                checked_mul(checked_mul(checked_mul(s.N, s.O, "weight"), s.OH, "x"), s.OW, "x"));
    check_int32("weight",
                checked_mul(checked_mul(checked_mul(s.O, s.C, "weight"), s.kh, "weight"), s.kw,
                            "weight"));
    return s;
}

std::array<int64_t, 4> shape4(const py::array& a) {
    return {a.shape(0), a.shape(1), a.shape(2), a.shape(3)};
}

// The direct kernels (no B packing) win when the 32-channel panels are well filled and the
// reduction is long enough to hide a tile's transposed store; else the packed GEMM. Measured on
// the DCGAN layers (2-core AMD EPYC, 1 thread): D.conv2 forward 3.63 vs 4.23 ms, weight gradient
// 3.81 vs 4.47 ms; D.conv1 (C = 1, 16 taps) forward 0.39 vs 0.23 ms, its weight gradient 0.36
// vs 0.74 ms (there the GEMM's 16 columns leave two thirds of each 48-wide panel empty); its
// input gradient (phase-split direct kernel vs GEMM + scatter-add) 4.09 vs 5.11 ms, 2 threads
// 2.23 vs 2.69 ms.
bool direct_fits(int64_t channels) {
    return !gemm_available() || channels % 32 == 0 || channels >= 128;
}

// Which form runs a call: "auto" (the rules here), or one forced by name for tests and
// benchmarks -- "rows", "panel" (the direct kernels with channel panels) or "gemm" (AVX-512
// only). The row forms are every variant's; "auto" picks them with AVX-512 only, where they were
// measured (see rows_fit_forward, rows_fit_weight).
enum class Form { autom, rows, panel, gemm };

Form form_arg(const std::string& name) {
    Form f;
    if (name == "auto")
        f = Form::autom;
    else if (name == "rows")
        f = Form::rows;
    else if (name == "panel")
        f = Form::panel;
    else if (name == "gemm")
        f = Form::gemm;
    else
        MG_CHECK_ARG(false, "form", "expected 'auto', 'rows', 'panel' or 'gemm', got '", name,
                     "'");
    MG_CHECK_ARG(f != Form::gemm || gemm_available(), "form",
                 "'gemm' needs the avx512 variant; the active one is ",
                 minigan::cpu::isa_name(minigan::cpu::isa_active()));
    return f;
}

// The row forms (vectors along output rows) against the panel/GEMM forms, with AVX-512 (2-core
// Xeon, 2 threads, ms): they win where a tile's channel panel would be mostly empty or its
// reduction short, and the rows fill most of a vector; stride-1 rows load x in order.
//   forward, fewer than 64 taps, rows of 14-16: 1->64 4x4/2 0.15 vs 0.18 (GEMM), 3->64 4x4/2
//     0.39 vs 0.46; stride 1, rows of 28-32: 3->64 3x3 0.97 vs 1.39 (GEMM), 16->32 3x3 1.73 vs
//     2.04 (panel), 64->32 3x3 8.1 vs 11.2; not 32->64 4x4/2 (512 taps, rows of 14): 3.4 vs 2.9.
//   weight gradient: 1->64 4x4/2 0.23 vs 0.39 (panel), 3->64 4x4/2 0.65 vs 0.75, 3->64 3x3/1
//     1.58 vs 4.6, 16->32 3x3/1 3.31 vs 3.36; not 64->32 3x3/1 (576 taps) 15.8 vs 11.5.
//   input gradient: slower than the GEMM for few channels (1->64 4x4/2 0.43 vs 0.21) and than
//     the panels for more (16->32 3x3/1 4.5 vs 3.3): not picked with AVX-512; "rows" reaches it.
bool rows_fit_forward(const ConvShape& s) {
    const int64_t K = s.C * s.kh * s.kw;
    return gemm_available() && ((K < 64 && s.OW >= 12) || (s.sw == 1 && s.OW >= 24));
}

bool rows_fit_weight(const ConvShape& s) {
    const int64_t K = s.C * s.kh * s.kw;
    return gemm_available() && ((K < 64 && s.OW >= 12) || (s.sw == 1 && s.OW >= 24 && K <= 256));
}

py::array forward(const py::object& x_obj, const py::object& w_obj, const py::object& stride,
                  const py::object& padding, const py::object& dilation,
                  const py::object& bias_obj, const std::string& form_name) {
    const Form form = form_arg(form_name);
    py::array x = f32_arg(x_obj, "x", 4, "(N, C, H, W)");
    py::array w = f32_arg(w_obj, "weight", 4, "(O, C, kh, kw)");
    const ConvShape s = conv_shape(shape4(x), shape4(w), stride, padding, dilation);
    const float* bp = nullptr;  // bias_obj keeps the array alive
    if (!bias_obj.is_none()) {
        py::array bias = f32_arg(bias_obj, "bias", 1, "(O,)");
        check_shape(bias, "bias", {s.O});
        bp = static_cast<const float*>(bias.data());
    }
    py::array_t<float> y({s.N, s.O, s.OH, s.OW});
    const float* xp = static_cast<const float*>(x.data());
    const float* wp = static_cast<const float*>(w.data());
    float* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    const auto& kern = minigan::cpu::conv_direct();
    const int threads = minigan::cpu::num_threads();
    const int64_t K = s.C * s.kh * s.kw;
    if (form == Form::rows || (form == Form::autom && rows_fit_forward(s)))
        kern.forward_rows(xp, wp, bp, yp, s, threads);
    else if (form == Form::panel ||
             (form == Form::autom && direct_fits(s.O) && (!gemm_available() || K >= 64)))
        kern.forward(xp, wp, bp, yp, s, threads);
    else
        minigan::cpu::conv2d_forward_avx512(xp, wp, bp, yp, s, threads);
    return y;
}

py::object backward_weight(const py::object& gy_obj, const py::object& x_obj,
                           const py::object& w_shape, const py::object& stride,
                           const py::object& padding, const py::object& dilation,
                           bool need_bias, const std::string& form_name) {
    const Form form = form_arg(form_name);
    py::array gy = f32_arg(gy_obj, "grad_output", 4, "(N, O, OH, OW)");
    py::array x = f32_arg(x_obj, "x", 4, "(N, C, H, W)");
    const auto ws = shape4_arg(w_shape, "w_shape");
    const ConvShape s = conv_shape(shape4(x), ws, stride, padding, dilation);
    check_shape(gy, "grad_output", {s.N, s.O, s.OH, s.OW});
    py::array_t<float> gw({ws[0], ws[1], ws[2], ws[3]});
    py::array_t<float> gb(need_bias ? s.O : 0);
    const float* gp = static_cast<const float*>(gy.data());
    const float* xp = static_cast<const float*>(x.data());
    float* out = gw.mutable_data();
    float* gbp = need_bias ? gb.mutable_data() : nullptr;
    {
        py::gil_scoped_release nogil;
        const auto& kern = minigan::cpu::conv_direct();
        const int threads = minigan::cpu::num_threads();
        if (form == Form::rows || (form == Form::autom && rows_fit_weight(s))) {
            kern.backward_weight_rows(gp, xp, out, gbp, s, threads);
        } else if (form == Form::panel || (form == Form::autom && direct_fits(s.O))) {
            kern.backward_weight(gp, xp, out, gbp, s, threads);
        } else {
            minigan::cpu::conv2d_backward_weight_avx512(gp, xp, out, s,
                                                        minigan::cpu::num_threads());
            if (gbp)  // a separate channel sum of gy (the GEMM form has no pass to ride on)
                minigan::cpu::bias_act_backward<float>(gp, gp, nullptr, gbp, s.N, s.O,
                                                       s.OH * s.OW, minigan::cpu::Act::none,
                                                       0.0);
        }
    }
    if (need_bias) return py::make_tuple(gw, gb);
    return gw;
}

py::array backward_data(const py::object& gy_obj, const py::object& w_obj,
                        const py::object& x_shape, const py::object& stride,
                        const py::object& padding, const py::object& dilation,
                        const std::string& form_name) {
    const Form form = form_arg(form_name);
    py::array gy = f32_arg(gy_obj, "grad_output", 4, "(N, O, OH, OW)");
    py::array w = f32_arg(w_obj, "weight", 4, "(O, C, kh, kw)");
    const auto xs = shape4_arg(x_shape, "x_shape");
    const ConvShape s = conv_shape(xs, shape4(w), stride, padding, dilation);
    check_shape(gy, "grad_output", {s.N, s.O, s.OH, s.OW});
    py::array_t<float> dx({xs[0], xs[1], xs[2], xs[3]});
    const float* gp = static_cast<const float*>(gy.data());
    const float* wp = static_cast<const float*>(w.data());
    float* out = dx.mutable_data();
    py::gil_scoped_release nogil;
    const auto& kern = minigan::cpu::conv_direct();
    const int threads = minigan::cpu::num_threads();
    if (form == Form::rows)
        kern.backward_data_rows(gp, wp, out, s, threads);
    else if (form == Form::panel || (form == Form::autom && direct_fits(s.C)))
        kern.backward_data(gp, wp, out, s, threads);
    else
        minigan::cpu::conv2d_backward_data_avx512(gp, wp, out, s, minigan::cpu::num_threads());
    return dx;
}

py::dict isa_info() {
    py::list compiled, supported;
    for (Isa isa : minigan::cpu::isa_compiled()) {
        compiled.append(minigan::cpu::isa_name(isa));
        if (minigan::cpu::isa_supported(isa)) supported.append(minigan::cpu::isa_name(isa));
    }
    const std::string active = minigan::cpu::isa_name(minigan::cpu::isa_active());
    py::dict families;
    families["conv"] = minigan::cpu::conv_direct().isa;
    families["gan_loss"] = minigan::cpu::gan_loss_kernels().isa;
    families["optim"] = minigan::cpu::optim_kernels().isa;
    families["bias_act"] = minigan::cpu::bias_act_kernels().isa;
    families["batch_norm"] = minigan::cpu::batch_norm_kernels().isa;
    families["spectral_norm"] = minigan::cpu::spectral_norm_kernels().isa;
    // Compiled once for the baseline ISA (SSE2 on x86-64, NEON on ARM64): im2col/col2im copy
    // memory, which a wider vector does not speed up.
    families["im2col"] = "baseline";
    py::dict out;
    out["compiled"] = compiled;
    out["supported"] = supported;
    out["active"] = active;
    out["families"] = families;
    return out;
}

void set_isa(const std::string& name) { minigan::cpu::isa_set(minigan::cpu::isa_parse(name)); }

}  // namespace

void bind_conv_kernels(py::module_& m) {
    minigan::cpu::isa_init_from_env();  // an unusable MINIGAN_ISA fails the import, naming it
    m.def("isa_info", &isa_info, R"doc(The ISA variants of the vectorised kernels: 'compiled'
(in this build, best first), 'supported' (of those, what this CPU executes), 'active' (the one
in use: the best supported, or MINIGAN_ISA / set_isa's choice) and 'families' (kernel family ->
the variant it runs: the active one for the families dispatched at run time (conv, gan_loss,
optim, bias_act, batch_norm, spectral_norm), 'baseline' where a family is compiled once
(im2col).)doc");
    m.def("set_isa", &set_isa, py::arg("name"), R"doc(Use the ISA variant name ('avx512', 'avx2'
or 'generic') from now on, in every thread. RuntimeError when this CPU cannot execute it.)doc");
    m.def("isa", []() { return std::string(minigan::cpu::isa_name(minigan::cpu::isa_active())); },
          "The ISA variant in use: 'avx512', 'avx2' or 'generic' (see isa_info).");
    m.def("conv_direct_panel", []() { return minigan::cpu::conv_direct().panel; },
          "Channels per panel of the active variant's direct conv kernels.");
    m.def("has_avx512", &minigan::cpu::cpu_has_avx512,
          "True when this CPU runs the AVX-512 (F/BW/DQ/VL) convolution kernels.");
    m.def("conv2d_forward_f32", &forward, py::arg("x"), py::arg("weight"), py::arg("stride"),
          py::arg("padding"), py::arg("dilation"), py::arg("bias") = py::none(), py::arg("form") = "auto",
          R"doc(y = conv2d(x, weight) (+ bias[None, :, None, None]), groups 1, float32, AVX-512:
no im2col buffer; the bias add is part of the output store. Same result as the reference up to
rounding.)doc");
    m.def("conv2d_backward_weight_f32", &backward_weight, py::arg("grad_output"), py::arg("x"),
          py::arg("w_shape"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
          py::arg("need_bias") = false, py::arg("form") = "auto",
          R"doc(Weight gradient of conv2d (groups 1, float32, AVX-512); with need_bias, the tuple
(gw, gb) with gb = grad_output summed over (N, OH, OW), in double.)doc");
    m.def("conv2d_backward_data_f32", &backward_data, py::arg("grad_output"), py::arg("weight"),
          py::arg("x_shape"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
          py::arg("form") = "auto", "Input gradient of conv2d (groups 1, float32, AVX-512).");
}
