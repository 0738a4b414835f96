// minigan._cuda, part 2: bindings of the training kernels (spectral norm, fused GAN loss,
// bias + activation; batch norm and the optimizers are in bindings_cuda_optim.cpp).
// Conventions as in bindings_cuda.cpp:
// __cuda_array_interface__ arrays, outputs passed in, everything checked before any CUDA call,
// errors naming the kernel and the argument, asynchronous launches on `stream`.
//
//   sn_power_iteration(w, u, n_iter, eps, *, u_out, v_out, sigma, stream=0)
//   sn_normalize(w, u, v, *, out, sigma, stream=0)
//   sn_backward(g, w, u, v, sigma, *, out, partials, stream=0)
//   gan_loss(code, logits, *, out_grad, loss, partials, stream=0)
//   bias_act(x, bias, act, alpha, *, out, stream=0)                       x: (outer, C, inner)
//   bias_act_backward(grad_output, y, act, alpha, *, out, gbias=None, stream=0)
// sigma and loss are 0-d arrays; partials is float64 scratch of REDUCE_PARTIALS elements.
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "cuda/bias_act.h"
#include "cuda/gan_loss.h"
#include "cuda/pyargs_cuda.h"
#include "cuda/spectral_norm.h"

namespace py = pybind11;
using namespace minigan::pyargs;
namespace mc = minigan::cuda;

namespace {

int act_arg(const py::handle& obj) {
    MG_CHECK_TYPE(py::isinstance<py::str>(obj), "act", "expected a str, got ", type_name(obj));
    const auto s = obj.cast<std::string>();
    const char* names[] = {"none", "relu", "leaky_relu", "tanh", "sigmoid"};
    for (int i = 0; i < 5; ++i)
        if (s == names[i]) return i;
    MG_CHECK_ARG(false, "act", "expected one of none, relu, leaky_relu, tanh, sigmoid, got '", s,
                 "'");
    return 0;
}

// float64 scratch of REDUCE_PARTIALS elements for the two-pass reductions.
DeviceArray partials_arg(const py::object& obj) {
    DeviceArray p = cuda_array_arg(obj, "partials", 1, "(REDUCE_PARTIALS,)");
    MG_CHECK_TYPE(p.dtype == Float::f64, "partials", "expected dtype float64, got ",
                  float_name(p.dtype));
    expect_shape(p, "partials", {mc::kReducePartials});
    MG_CHECK_ARG(!p.readonly, "partials", "expected a writeable array");
    return p;
}

// ---- spectral norm ---------------------------------------------------------------------------

void sn_power_iteration(const py::object& w_o, const py::object& u_o, const py::object& n_iter_o,
                        const py::object& eps_o, const py::object& uo_o, const py::object& vo_o,
                        const py::object& sigma_o, const py::object& stream_o) {
    MG_BINDING_TRY
    const DeviceArray w = cuda_array_arg(w_o, "w2d", 2, "(d_out, rest)");
    const DeviceArray u = cuda_array_arg(u_o, "u", 1, "(d_out,)");
    expect_dtype(u, "u", w.dtype, "w2d");
    expect_shape(u, "u", {w.shape[0]});
    const int64_t n_iter = int_arg(n_iter_o, "n_iter");
    MG_CHECK_ARG(n_iter >= 1 && n_iter <= 1 << 20, "n_iter", "expected an int >= 1, got ",
                 n_iter);
    const double eps = float_arg(eps_o, "eps");
    // NaN passes: the reference computes with it (max(norm, NaN) = NaN), and so does the
    // kernel, so the NaN guard sees it as on the other backends.
    MG_CHECK_ARG(!(eps < 0), "eps", "expected >= 0, got ", eps);
    MG_CHECK_ARG(w.numel > 0, "w2d", "expected a non-empty matrix, got shape ",
                 shape_str(w.shape));
    const DeviceArray uo = cuda_array_arg(uo_o, "u_out", 1, "(d_out,)");
    const DeviceArray vo = cuda_array_arg(vo_o, "v_out", 1, "(rest,)");
    const DeviceArray sg = cuda_array_arg(sigma_o, "sigma", 0, "()");
    for (const auto& [a, name] : {std::pair{&uo, "u_out"}, {&vo, "v_out"}, {&sg, "sigma"}})
        expect_dtype(*a, name, w.dtype, "w2d");
    expect_shape(uo, "u_out", {w.shape[0]});
    expect_shape(vo, "v_out", {w.shape[1]});
    expect_output(uo, "u_out", {{&w, "w2d"}, {&u, "u"}, {&vo, "v_out"}, {&sg, "sigma"}});
    expect_output(vo, "v_out", {{&w, "w2d"}, {&u, "u"}, {&sg, "sigma"}});
    expect_output(sg, "sigma", {{&w, "w2d"}, {&u, "u"}});
    check_int32_elements(w, "w2d");
    const cudaStream_t stream = stream_arg(stream_o);
    check_devices("sn_power_iteration",
                  {{&w, "w2d"}, {&u, "u"}, {&uo, "u_out"}, {&vo, "v_out"}, {&sg, "sigma"}});
    dispatch(w.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::sn_power_iteration<T>(ptr<T>(w), ptr<T>(u), ptr<T>(uo), ptr<T>(vo), ptr<T>(sg),
                                  w.shape[0], w.shape[1], static_cast<int>(n_iter), eps, stream);
    });
    MG_BINDING_CATCH("sn_power_iteration")
}

void sn_normalize(const py::object& w_o, const py::object& u_o, const py::object& v_o,
                  const py::object& out_o, const py::object& sigma_o,
                  const py::object& stream_o) {
    MG_BINDING_TRY
    const DeviceArray w = cuda_array_arg(w_o, "w2d", 2, "(d_out, rest)");
    const DeviceArray u = cuda_array_arg(u_o, "u", 1, "(d_out,)");
    const DeviceArray v = cuda_array_arg(v_o, "v", 1, "(rest,)");
    MG_CHECK_ARG(w.numel > 0, "w2d", "expected a non-empty matrix, got shape ",
                 shape_str(w.shape));
    expect_dtype(u, "u", w.dtype, "w2d");
    expect_dtype(v, "v", w.dtype, "w2d");
    expect_shape(u, "u", {w.shape[0]});
    expect_shape(v, "v", {w.shape[1]});
    const DeviceArray out = cuda_array_arg(out_o, "out", 2, "(d_out, rest)");
    const DeviceArray sg = cuda_array_arg(sigma_o, "sigma", 0, "()");
    expect_dtype(out, "out", w.dtype, "w2d");
    expect_dtype(sg, "sigma", w.dtype, "w2d");
    expect_shape(out, "out", w.shape);
    expect_output(out, "out", {{&w, "w2d"}, {&sg, "sigma"}});
    expect_output(sg, "sigma", {{&w, "w2d"}, {&u, "u"}, {&v, "v"}});
    check_int32_elements(w, "w2d");
    const cudaStream_t stream = stream_arg(stream_o);
    check_devices("sn_normalize",
                  {{&w, "w2d"}, {&u, "u"}, {&v, "v"}, {&out, "out"}, {&sg, "sigma"}});
    dispatch(w.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::sn_normalize<T>(ptr<T>(w), ptr<T>(u), ptr<T>(v), ptr<T>(out), ptr<T>(sg),
                            w.shape[0], w.shape[1], stream);
    });
    MG_BINDING_CATCH("sn_normalize")
}

void sn_backward(const py::object& g_o, const py::object& w_o, const py::object& u_o,
                 const py::object& v_o, const py::object& sigma_o, const py::object& out_o,
                 const py::object& part_o, const py::object& stream_o) {
    MG_BINDING_TRY
    const DeviceArray g = cuda_array_arg(g_o, "g2d", 2, "(d_out, rest)");
    const DeviceArray w = cuda_array_arg(w_o, "w2d", 2, "(d_out, rest)");
    const DeviceArray u = cuda_array_arg(u_o, "u", 1, "(d_out,)");
    const DeviceArray v = cuda_array_arg(v_o, "v", 1, "(rest,)");
    const DeviceArray sg = cuda_array_arg(sigma_o, "sigma", 0, "()");
    MG_CHECK_ARG(w.numel > 0, "w2d", "expected a non-empty matrix, got shape ",
                 shape_str(w.shape));
    for (const auto& [a, name] : {std::pair{&g, "g2d"}, {&u, "u"}, {&v, "v"}, {&sg, "sigma"}})
        expect_dtype(*a, name, w.dtype, "w2d");
    expect_shape(g, "g2d", w.shape);
    expect_shape(u, "u", {w.shape[0]});
    expect_shape(v, "v", {w.shape[1]});
    const DeviceArray out = cuda_array_arg(out_o, "out", 2, "(d_out, rest)");
    expect_dtype(out, "out", w.dtype, "w2d");
    expect_shape(out, "out", w.shape);
    const DeviceArray part = partials_arg(part_o);
    expect_output(out, "out", {{&g, "g2d"}, {&u, "u"}, {&v, "v"}, {&sg, "sigma"}, {&part,
                                                                                   "partials"}});
    expect_output(part, "partials", {{&g, "g2d"}, {&w, "w2d"}, {&sg, "sigma"}});
    check_int32_elements(w, "w2d");
    const cudaStream_t stream = stream_arg(stream_o);
    check_devices("sn_backward", {{&g, "g2d"}, {&w, "w2d"}, {&u, "u"}, {&v, "v"},
                                  {&sg, "sigma"}, {&out, "out"}, {&part, "partials"}});
    dispatch(w.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::sn_backward<T>(ptr<T>(g), ptr<T>(w), ptr<T>(u), ptr<T>(v), ptr<T>(sg), ptr<T>(out),
                           ptr<double>(part), w.shape[0], w.shape[1], stream);
    });
    MG_BINDING_CATCH("sn_backward")
}

// ---- GAN loss --------------------------------------------------------------------------------

void gan_loss(const py::object& code_o, const py::object& x_o, const py::object& gx_o,
              const py::object& loss_o, const py::object& part_o, const py::object& stream_o) {
    MG_BINDING_TRY
    const int64_t code = int_arg(code_o, "code");
    MG_CHECK_ARG(code >= 0 && code < 15, "code", "expected 3 * kind + side in [0, 15), got ",
                 code);
    const DeviceArray x = cuda_array_arg(x_o, "logits", -1, "");
    MG_CHECK_ARG(x.numel >= 1, "logits", "expected at least one logit, got shape ",
                 shape_str(x.shape));
    const DeviceArray gx = cuda_array_arg(gx_o, "out_grad", -1, "");
    expect_dtype(gx, "out_grad", x.dtype, "logits");
    expect_shape(gx, "out_grad", x.shape);
    const DeviceArray loss = cuda_array_arg(loss_o, "loss", 0, "()");
    expect_dtype(loss, "loss", x.dtype, "logits");
    const DeviceArray part = partials_arg(part_o);
    expect_output(gx, "out_grad", {{&x, "logits"}, {&loss, "loss"}, {&part, "partials"}});
    expect_output(loss, "loss", {{&x, "logits"}, {&part, "partials"}});
    expect_output(part, "partials", {{&x, "logits"}});
    const cudaStream_t stream = stream_arg(stream_o);
    check_devices("gan_loss",
                  {{&x, "logits"}, {&gx, "out_grad"}, {&loss, "loss"}, {&part, "partials"}});
    dispatch(x.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::gan_loss<T>(static_cast<int>(code), ptr<T>(x), ptr<T>(gx), ptr<T>(loss),
                        ptr<double>(part), x.numel, stream);
    });
    MG_BINDING_CATCH("gan_loss")
}

// ---- bias + activation -----------------------------------------------------------------------

mc::BiasActShape folded(const DeviceArray& a) {
    return {a.shape[0], a.shape[1], a.shape[2]};
}

double alpha_arg(const py::handle& obj, int act) {
    const double alpha = float_arg(obj, "alpha");
    MG_CHECK_ARG(act != 2 || alpha >= 0, "alpha", "expected >= 0 for leaky_relu (the backward "
                 "reads the sign of the output), got ", alpha);
    return alpha;
}

void bias_act(const py::object& x_o, const py::object& b_o, const py::object& act_o,
              const py::object& alpha_o, const py::object& out_o, const py::object& stream_o) {
    MG_BINDING_TRY
    const DeviceArray x = cuda_array_arg(x_o, "x", 3, "(outer, C, inner)");
    const DeviceArray b = optional_cuda_array(b_o, "bias", 1, "(C,)");
    if (b.ptr || !b_o.is_none()) {
        expect_dtype(b, "bias", x.dtype, "x");
        expect_shape(b, "bias", {x.shape[1]});
    }
    const int act = act_arg(act_o);
    const double alpha = alpha_arg(alpha_o, act);
    const DeviceArray out = cuda_array_arg(out_o, "out", 3, "(outer, C, inner)");
    expect_dtype(out, "out", x.dtype, "x");
    expect_shape(out, "out", x.shape);
    expect_output(out, "out", {{&b, "bias"}});
    // out may be x itself (elementwise, in place), but not a shifted view of it: each element
    // would then read a value another thread has already overwritten.
    if (out.ptr != x.ptr) expect_output(out, "out", {{&x, "x"}});
    check_int32_channels(x, "x");
    const cudaStream_t stream = stream_arg(stream_o);
    if (x.numel == 0) return;
    check_devices("bias_act", {{&x, "x"}, {&b, "bias"}, {&out, "out"}});
    dispatch(x.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::bias_act<T>(ptr<T>(x), ptr<T>(b), ptr<T>(out), folded(x), act, alpha, stream);
    });
    MG_BINDING_CATCH("bias_act")
}

void bias_act_backward(const py::object& gy_o, const py::object& y_o, const py::object& act_o,
                       const py::object& alpha_o, const py::object& out_o,
                       const py::object& gb_o, const py::object& stream_o) {
    MG_BINDING_TRY
    const DeviceArray gy = cuda_array_arg(gy_o, "grad_output", 3, "(outer, C, inner)");
    const DeviceArray y = cuda_array_arg(y_o, "y", 3, "(outer, C, inner)");
    expect_dtype(y, "y", gy.dtype, "grad_output");
    expect_shape(y, "y", gy.shape);
    const int act = act_arg(act_o);
    const double alpha = alpha_arg(alpha_o, act);
    const DeviceArray out = cuda_array_arg(out_o, "out", 3, "(outer, C, inner)");
    expect_dtype(out, "out", gy.dtype, "grad_output");
    expect_shape(out, "out", gy.shape);
    const DeviceArray gb = optional_cuda_array(gb_o, "gbias", 1, "(C,)");
    if (!gb_o.is_none()) {
        expect_dtype(gb, "gbias", gy.dtype, "grad_output");
        expect_shape(gb, "gbias", {gy.shape[1]});
        expect_output(gb, "gbias", {{&gy, "grad_output"}, {&y, "y"}, {&out, "out"}});
    }
    expect_output(out, "out", {{&gy, "grad_output"}, {&y, "y"}});
    check_int32_channels(gy, "grad_output");
    const cudaStream_t stream = stream_arg(stream_o);
    if (gy.numel == 0 && gb.numel == 0) return;
    check_devices("bias_act_backward",
                  {{&gy, "grad_output"}, {&y, "y"}, {&out, "out"}, {&gb, "gbias"}});
    dispatch(gy.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::bias_act_backward<T>(ptr<T>(gy), ptr<T>(y), ptr<T>(out), ptr<T>(gb), folded(gy), act,
                                 alpha, stream);
    });
    MG_BINDING_CATCH("bias_act_backward")
}

}  // namespace

void bind_cuda_train(py::module_& m) {
    m.attr("REDUCE_PARTIALS") = mc::kReducePartials;
    m.def("sn_power_iteration", &sn_power_iteration, py::arg("w2d"), py::arg("u"),
          py::arg("n_iter"), py::arg("eps"), py::kw_only(), py::arg("u_out"), py::arg("v_out"),
          py::arg("sigma"), py::arg("stream") = 0,
          "n_iter power-iteration steps in one launch: writes u_out, v_out and sigma (0-d).");
    m.def("sn_normalize", &sn_normalize, py::arg("w2d"), py::arg("u"), py::arg("v"),
          py::kw_only(), py::arg("out"), py::arg("sigma"), py::arg("stream") = 0,
          "sigma = u^T W v and out = W / sigma.");
    m.def("sn_backward", &sn_backward, py::arg("g2d"), py::arg("w2d"), py::arg("u"),
          py::arg("v"), py::arg("sigma"), py::kw_only(), py::arg("out"), py::arg("partials"),
          py::arg("stream") = 0, "out = G / sigma - (<G, W> / sigma^2) u v^T.");
    m.def("gan_loss", &gan_loss, py::arg("code"), py::arg("logits"), py::kw_only(),
          py::arg("out_grad"), py::arg("loss"), py::arg("partials"), py::arg("stream") = 0,
          "Fused GAN loss (code = 3 * kind + side): dlogits into out_grad, the mean into loss.");
    m.def("bias_act", &bias_act, py::arg("x"), py::arg("bias"), py::arg("act"),
          py::arg("alpha"), py::kw_only(), py::arg("out"), py::arg("stream") = 0,
          "out = act(x + bias[c]) on x folded to (outer, C, inner); out may be x.");
    m.def("bias_act_backward", &bias_act_backward, py::arg("grad_output"), py::arg("y"),
          py::arg("act"), py::arg("alpha"), py::kw_only(), py::arg("out"),
          py::arg("gbias") = py::none(), py::arg("stream") = 0,
          "out = grad_output * act'(y); gbias (if given) = its sum over outer and inner.");
}

