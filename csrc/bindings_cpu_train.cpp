// Bindings of the training kernels of minigan._C (spectral norm, fused GAN losses, batch norm,
// Adam/SGD), registered by bindings_cpu.cpp through bind_train_kernels(). Argument checks only:
// every array is validated (type, dtype, C-contiguity, alignment, shape, writeability) with an
// error naming the argument, then the kernel runs without the GIL.
//
// Signatures (the Python wrappers minigan/kernels/native_<family>.py give them the references'):
//   sn_power_iteration(w2d, u, n_iter, eps) -> (sigma, u, v)
//   sn_normalize(w2d, u, v) -> (w_bar, sigma)
//   sn_backward(g2d, w2d, u, v, sigma) -> dW
//   gan_loss(code, logits, out=None) -> (loss, dlogits)
//   batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps)
//       -> (y, mean, invstd)
//   batch_norm_backward(gy, x, weight, mean, invstd) -> (gx, gw, gb)
//   adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2,
//             eps, weight_decay) -> None
//   sgd_step(params, grads, momentum_buffers, fresh, lr, momentum, dampening, nesterov,
//            weight_decay) -> None
#include <algorithm>
#include <cstdint>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "cpu/adam.h"
#include "cpu/batch_norm.h"
#include "cpu/gan_loss.h"
#include "cpu/spectral_norm.h"
#include "pyargs.h"

namespace py = pybind11;
using namespace minigan::pyargs;

namespace {

// A C-contiguous, aligned float array of dtype dt (and shape, when given).
py::array array_arg(const py::handle& obj, const std::string& name, Float dt,
                    const std::vector<int64_t>* shape = nullptr, bool writeable = false) {
    const char* n = name.c_str();
    py::array a = numpy_arg(obj, n);
    MG_CHECK_TYPE(float_dtype(a, n) == dt, n, "expected dtype ", float_name(dt), ", got ",
                  std::string(py::str(a.dtype())));
    MG_CHECK_ARG(a.flags() & py::array::c_style, n,
                 "expected a C-contiguous array; pass numpy.ascontiguousarray(", n, ")");
    MG_CHECK_ARG(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_, n,
                 "expected an aligned array; pass a copy");
    if (shape != nullptr) check_shape(a, n, *shape);
    if (writeable) MG_CHECK_ARG(a.writeable(), n, "expected a writeable array (updated in place)");
    return a;
}

// An optional (C,)-shaped array: nullptr for None.
template <typename T>
T* optional_arg(const py::object& obj, const char* name, Float dt, int64_t c, bool writeable) {
    if (obj.is_none()) return nullptr;
    const std::vector<int64_t> shape{c};
    py::array a = array_arg(obj, name, dt, &shape, writeable);
    return static_cast<T*>(const_cast<void*>(a.data()));
}

double float_arg(const py::handle& obj, const char* name) {
    MG_CHECK_TYPE(!py::isinstance<py::bool_>(obj) &&
                      (py::isinstance<py::float_>(obj) || py::isinstance<py::int_>(obj) ||
                       py::hasattr(obj, "__float__")),
                  name, "expected a float, got ", type_name(obj));
    return py::float_(py::reinterpret_borrow<py::object>(obj)).cast<double>();
}

bool bool_arg(const py::handle& obj, const char* name) {
    MG_CHECK_TYPE(py::isinstance<py::bool_>(obj), name, "expected a bool, got ", type_name(obj));
    return obj.cast<bool>();
}

template <typename T>
T* ptr(const py::array& a) {
    return static_cast<T*>(const_cast<void*>(a.data()));
}

py::array empty_like(Float dt, const std::vector<int64_t>& shape) {
    if (dt == Float::f32) return py::array_t<float>(shape);
    return py::array_t<double>(shape);
}

// ---- spectral norm ---------------------------------------------------------------------------

struct Matrix {
    py::array a;
    Float dt;
    int64_t m, n;
};

Matrix matrix_arg(const py::object& obj, const char* name) {
    py::array a = numpy_arg(obj, name);
    const Float dt = float_dtype(a, name);
    check_numpy_layout(a, name, 2, "(d_out, rest)");
    return {a, dt, a.shape(0), a.shape(1)};
}

template <typename T>
py::tuple sn_power_t(const Matrix& w, const py::array& u0, int64_t n_iter, double eps) {
    py::array u = empty_like(w.dt, {w.m}), v = empty_like(w.dt, {w.n});
    T sigma;
    {
        py::gil_scoped_release nogil;
        sigma = minigan::cpu::sn_power_iteration<T>(ptr<T>(w.a), w.m, w.n, ptr<T>(u0), n_iter,
                                                    eps, ptr<T>(u), ptr<T>(v));
    }
    return py::make_tuple(static_cast<double>(sigma), u, v);
}

py::tuple sn_power_iteration(const py::object& w_obj, const py::object& u_obj,
                             const py::object& n_iter_obj, const py::object& eps_obj) {
    const Matrix w = matrix_arg(w_obj, "w2d");
    const std::vector<int64_t> su{w.m};
    py::array u = array_arg(u_obj, "u", w.dt, &su);
    const int64_t n_iter = int_arg(n_iter_obj, "n_iter");
    MG_CHECK_ARG(n_iter >= 1, "n_iter", "expected an int >= 1, got ", n_iter);
    const double eps = float_arg(eps_obj, "eps");
    if (w.dt == Float::f32) return sn_power_t<float>(w, u, n_iter, eps);
    return sn_power_t<double>(w, u, n_iter, eps);
}

template <typename T>
py::tuple sn_normalize_t(const Matrix& w, const py::array& u, const py::array& v) {
    py::array out = empty_like(w.dt, {w.m, w.n});
    T sigma;
    {
        py::gil_scoped_release nogil;
        sigma = minigan::cpu::sn_normalize<T>(ptr<T>(w.a), w.m, w.n, ptr<T>(u), ptr<T>(v),
                                              ptr<T>(out));
    }
    return py::make_tuple(out, static_cast<double>(sigma));
}

py::tuple sn_normalize(const py::object& w_obj, const py::object& u_obj,
                       const py::object& v_obj) {
    const Matrix w = matrix_arg(w_obj, "w2d");
    const std::vector<int64_t> su{w.m}, sv{w.n};
    py::array u = array_arg(u_obj, "u", w.dt, &su), v = array_arg(v_obj, "v", w.dt, &sv);
    if (w.dt == Float::f32) return sn_normalize_t<float>(w, u, v);
    return sn_normalize_t<double>(w, u, v);
}

template <typename T>
py::array sn_backward_t(const py::array& g, const Matrix& w, const py::array& u,
                        const py::array& v, double sigma) {
    py::array out = empty_like(w.dt, {w.m, w.n});
    py::gil_scoped_release nogil;
    minigan::cpu::sn_backward<T>(ptr<T>(g), ptr<T>(w.a), w.m, w.n, ptr<T>(u), ptr<T>(v),
                                 static_cast<T>(sigma), ptr<T>(out));
    return out;
}

py::array sn_backward(const py::object& g_obj, const py::object& w_obj, const py::object& u_obj,
                      const py::object& v_obj, const py::object& sigma_obj) {
    const Matrix w = matrix_arg(w_obj, "w2d");
    const std::vector<int64_t> sw{w.m, w.n}, su{w.m}, sv{w.n};
    py::array g = array_arg(g_obj, "g2d", w.dt, &sw);
    py::array u = array_arg(u_obj, "u", w.dt, &su), v = array_arg(v_obj, "v", w.dt, &sv);
    const double sigma = float_arg(sigma_obj, "sigma");
    if (w.dt == Float::f32) return sn_backward_t<float>(g, w, u, v, sigma);
    return sn_backward_t<double>(g, w, u, v, sigma);
}

// ---- fused GAN losses ------------------------------------------------------------------------

template <typename T>
double gan_loss_t(int code, const py::array& x, const py::array& out) {
    py::gil_scoped_release nogil;
    return minigan::cpu::gan_loss<T>(code, ptr<T>(x), x.size(), ptr<T>(out));
}

py::tuple gan_loss(const py::object& code_obj, const py::object& x_obj, const py::object& out) {
    const int64_t code = int_arg(code_obj, "code");
    MG_CHECK_ARG(code >= 0 && code < minigan::cpu::kGanLossCodes, "code",
                 "expected 3 * kind + side in [0, ", minigan::cpu::kGanLossCodes, "), got ",
                 code);
    py::array x = numpy_arg(x_obj, "logits");
    const Float dt = float_dtype(x, "logits");
    x = array_arg(x, "logits", dt);
    MG_CHECK_ARG(x.size() > 0, "logits", "expected at least one logit, got shape ",
                 shape_str(shape_of(x)));
    const auto shape = shape_of(x);
    py::array g;
    if (out.is_none()) {
        g = empty_like(dt, shape);
    } else {
        g = array_arg(out, "out", dt, &shape, true);
        // Each element is read before its gradient is written, so out may be the logits
        // themselves; a partial overlap would read already-written gradients.
        const auto* lo = static_cast<const char*>(x.data());
        const auto* olo = static_cast<const char*>(g.data());
        MG_CHECK_ARG(olo == lo || olo + g.nbytes() <= lo || lo + x.nbytes() <= olo, "out",
                     "must not partially overlap logits");
    }
    const double loss = dt == Float::f32 ? gan_loss_t<float>(static_cast<int>(code), x, g)
                                         : gan_loss_t<double>(static_cast<int>(code), x, g);
    return py::make_tuple(loss, g);
}

// ---- batch norm ------------------------------------------------------------------------------

struct NCL {
    py::array a;
    Float dt;
    int64_t N, C, L;
};

NCL ncl_arg(const py::object& obj, const char* name) {
    py::array a = numpy_arg(obj, name);
    const Float dt = float_dtype(a, name);
    a = array_arg(a, name, dt);
    MG_CHECK_ARG(a.ndim() >= 2, name, "expected at least 2 dims (N, C, ...), got shape ",
                 shape_str(shape_of(a)));
    int64_t L = 1;
    for (py::ssize_t d = 2; d < a.ndim(); ++d) L *= a.shape(d);
    return {a, dt, a.shape(0), a.shape(1), L};
}

template <typename T>
py::tuple bn_forward_t(const NCL& x, const py::object& w, const py::object& b,
                       const py::object& rm, const py::object& rv, bool training,
                       double momentum, double eps) {
    const T* wp = optional_arg<T>(w, "weight", x.dt, x.C, false);
    const T* bp = optional_arg<T>(b, "bias", x.dt, x.C, false);
    T* rmp = optional_arg<T>(rm, "running_mean", x.dt, x.C, true);
    T* rvp = optional_arg<T>(rv, "running_var", x.dt, x.C, true);
    MG_CHECK_ARG((rmp == nullptr) == (rvp == nullptr), "running_mean, running_var",
                 "pass both or neither");
    MG_CHECK_ARG(training || rmp != nullptr, "running_mean",
                 "evaluation mode needs the running statistics");
    MG_CHECK_ARG(!training || x.N * x.L > 1, "x",
                 "batch norm in training needs more than 1 value per channel, got shape ",
                 shape_str(shape_of(x.a)));
    py::array y = empty_like(x.dt, shape_of(x.a));
    py::array mean = empty_like(x.dt, {x.C}), invstd = empty_like(x.dt, {x.C});
    {
        py::gil_scoped_release nogil;
        minigan::cpu::bn_forward<T>(ptr<T>(x.a), x.N, x.C, x.L, wp, bp, rmp, rvp, training,
                                    momentum, eps, ptr<T>(y), ptr<T>(mean), ptr<T>(invstd));
    }
    return py::make_tuple(y, mean, invstd);
}

py::tuple batch_norm_forward(const py::object& x_obj, const py::object& w, const py::object& b,
                             const py::object& rm, const py::object& rv,
                             const py::object& training, const py::object& momentum,
                             const py::object& eps) {
    const NCL x = ncl_arg(x_obj, "x");
    const bool tr = bool_arg(training, "training");
    const double mo = float_arg(momentum, "momentum"), ep = float_arg(eps, "eps");
    if (x.dt == Float::f32) return bn_forward_t<float>(x, w, b, rm, rv, tr, mo, ep);
    return bn_forward_t<double>(x, w, b, rm, rv, tr, mo, ep);
}

template <typename T>
py::tuple bn_backward_t(const py::array& gy, const NCL& x, const py::object& w,
                        const py::object& mean, const py::object& invstd) {
    const T* wp = optional_arg<T>(w, "weight", x.dt, x.C, false);
    MG_CHECK_ARG(!mean.is_none(), "mean", "expected an array of shape (", x.C, ",), got None");
    MG_CHECK_ARG(!invstd.is_none(), "invstd", "expected an array of shape (", x.C,
                 ",), got None");
    const T* mp = optional_arg<T>(mean, "mean", x.dt, x.C, false);
    const T* ip = optional_arg<T>(invstd, "invstd", x.dt, x.C, false);
    py::array gx = empty_like(x.dt, shape_of(x.a));
    py::array gw = empty_like(x.dt, {x.C}), gb = empty_like(x.dt, {x.C});
    {
        py::gil_scoped_release nogil;
        minigan::cpu::bn_backward<T>(ptr<T>(gy), ptr<T>(x.a), x.N, x.C, x.L, wp, mp, ip,
                                     ptr<T>(gx), ptr<T>(gw), ptr<T>(gb));
    }
    return py::make_tuple(gx, gw, gb);
}

py::tuple batch_norm_backward(const py::object& gy_obj, const py::object& x_obj,
                              const py::object& w, const py::object& mean,
                              const py::object& invstd) {
    const NCL x = ncl_arg(x_obj, "x");
    const auto shape = shape_of(x.a);
    py::array gy = array_arg(gy_obj, "gy", x.dt, &shape);
    if (x.dt == Float::f32) return bn_backward_t<float>(gy, x, w, mean, invstd);
    return bn_backward_t<double>(gy, x, w, mean, invstd);
}

// ---- Adam / SGD ------------------------------------------------------------------------------

std::string item(const char* name, size_t i) {
    return std::string(name) + "[" + std::to_string(i) + "]";
}

py::sequence list_arg(const py::handle& obj, const char* name, size_t n) {
    MG_CHECK_TYPE(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj) &&
                      !py::isinstance<py::array>(obj),
                  name, "expected a list of arrays, got ", type_name(obj));
    auto seq = py::reinterpret_borrow<py::sequence>(obj);
    MG_CHECK_ARG(seq.size() == n, name, "expected ", n, " entries (one per parameter), got ",
                 seq.size());
    return seq;
}

// params[i] and a same-shaped, same-dtype array from each list, checked before any update.
struct Group {
    std::vector<py::array> arrays;  // keeps them alive while the GIL is released
    std::vector<std::string> names;  // arrays[k]'s argument name, e.g. "exp_avgs[2]"
    std::vector<char> written;       // whether the update writes arrays[k]
    std::vector<void*> param, grad, a, b, c;
    std::vector<int64_t> size;
    std::vector<Float> dtype;
};

void* member(Group& g, const py::handle& obj, const std::string& name, size_t i, bool writeable) {
    const auto shape = shape_of(g.arrays[i]);
    py::array a = array_arg(obj, name, g.dtype[i], &shape, writeable);
    g.arrays.push_back(a);
    g.names.push_back(name);
    g.written.push_back(writeable);
    return const_cast<void*>(a.data());
}

Group group_arg(const py::object& params_obj, const py::object& grads_obj) {
    MG_CHECK_TYPE(py::isinstance<py::sequence>(params_obj), "params",
                  "expected a list of arrays, got ", type_name(params_obj));
    auto params = py::reinterpret_borrow<py::sequence>(params_obj);
    const size_t n = params.size();
    Group g;
    for (size_t i = 0; i < n; ++i) {
        const std::string name = item("params", i);
        py::array p = numpy_arg(params[i], name.c_str());
        const Float dt = float_dtype(p, name.c_str());
        g.arrays.push_back(array_arg(p, name, dt, nullptr, true));
        g.names.push_back(name);
        g.written.push_back(true);
        g.dtype.push_back(dt);
        g.size.push_back(p.size());
        g.param.push_back(const_cast<void*>(p.data()));
    }
    auto grads = list_arg(grads_obj, "grads", n);
    for (size_t i = 0; i < n; ++i) g.grad.push_back(member(g, grads[i], item("grads", i), i, false));
    return g;
}

// Refuses a call where an array the update writes shares memory with any other array of the
// call (param is grad, m is v, two params on one buffer, ...): the elementwise update would read
// values it has already overwritten, and the result would depend on the loop order. Sorting by
// start address finds every overlap among k arrays in O(k log k).
void check_no_aliasing(const Group& g) {
    struct Span {
        uintptr_t begin, end;
        size_t k;
    };
    std::vector<Span> spans;
    for (size_t k = 0; k < g.arrays.size(); ++k) {
        const auto begin = reinterpret_cast<uintptr_t>(g.arrays[k].data());
        const auto bytes = static_cast<uintptr_t>(g.arrays[k].nbytes());
        if (bytes > 0) spans.push_back({begin, begin + bytes, k});
    }
    std::sort(spans.begin(), spans.end(),
              [](const Span& a, const Span& b) { return a.begin < b.begin; });
    // b overlaps an earlier span iff the furthest-reaching one ends after b begins; tracked
    // twice, over all earlier spans and over the written ones.
    const Span* far_any = nullptr;
    const Span* far_written = nullptr;
    for (const Span& b : spans) {
        const Span* hit = g.written[b.k] ? far_any : far_written;
        if (hit != nullptr && b.begin < hit->end)
            MG_CHECK_ARG(false, g.names[b.k], "shares memory with ", g.names[hit->k],
                         "; the optimizer update needs separate buffers (pass copies)");
        if (far_any == nullptr || b.end > far_any->end) far_any = &b;
        if (g.written[b.k] && (far_written == nullptr || b.end > far_written->end))
            far_written = &b;
    }
}

void adam_step(const py::object& params, const py::object& grads, const py::object& m_obj,
               const py::object& v_obj, const py::object& vmax_obj, const py::object& steps_obj,
               const py::object& lr, const py::object& beta1, const py::object& beta2,
               const py::object& eps, const py::object& wd) {
    Group g = group_arg(params, grads);
    const size_t n = g.param.size();
    auto m = list_arg(m_obj, "exp_avgs", n), v = list_arg(v_obj, "exp_avg_sqs", n);
    auto steps = list_arg(steps_obj, "steps", n);
    std::vector<int64_t> step(n);
    for (size_t i = 0; i < n; ++i) {
        g.a.push_back(member(g, m[i], item("exp_avgs", i), i, true));
        g.b.push_back(member(g, v[i], item("exp_avg_sqs", i), i, true));
        step[i] = int_arg(steps[i], item("steps", i).c_str());
        MG_CHECK_ARG(step[i] >= 1, item("steps", i), "expected a step >= 1, got ", step[i]);
    }
    if (!vmax_obj.is_none()) {
        auto vmax = list_arg(vmax_obj, "max_exp_avg_sqs", n);
        for (size_t i = 0; i < n; ++i)
            g.c.push_back(member(g, vmax[i], item("max_exp_avg_sqs", i), i, true));
    }
    check_no_aliasing(g);
    const minigan::cpu::AdamHyper h{float_arg(lr, "lr"), float_arg(beta1, "beta1"),
                                    float_arg(beta2, "beta2"), float_arg(eps, "eps"),
                                    float_arg(wd, "weight_decay")};
    py::gil_scoped_release nogil;
    for (size_t i = 0; i < n; ++i) {
        void* c = g.c.empty() ? nullptr : g.c[i];
        if (g.dtype[i] == Float::f32)
            minigan::cpu::adam_update<float>(
                static_cast<float*>(g.param[i]), static_cast<const float*>(g.grad[i]),
                static_cast<float*>(g.a[i]), static_cast<float*>(g.b[i]),
                static_cast<float*>(c), g.size[i], step[i], h);
        else
            minigan::cpu::adam_update<double>(
                static_cast<double*>(g.param[i]), static_cast<const double*>(g.grad[i]),
                static_cast<double*>(g.a[i]), static_cast<double*>(g.b[i]),
                static_cast<double*>(c), g.size[i], step[i], h);
    }
}

void sgd_step(const py::object& params, const py::object& grads, const py::object& bufs_obj,
              const py::object& fresh_obj, const py::object& lr, const py::object& momentum,
              const py::object& dampening, const py::object& nesterov, const py::object& wd) {
    Group g = group_arg(params, grads);
    const size_t n = g.param.size();
    auto bufs = list_arg(bufs_obj, "momentum_buffers", n);
    auto fresh_seq = list_arg(fresh_obj, "fresh", n);
    std::vector<char> fresh(n);
    for (size_t i = 0; i < n; ++i) {
        g.a.push_back(bufs[i].is_none()
                          ? nullptr
                          : member(g, bufs[i], item("momentum_buffers", i), i, true));
        fresh[i] = bool_arg(fresh_seq[i], item("fresh", i).c_str());
    }
    check_no_aliasing(g);
    const minigan::cpu::SgdHyper h{float_arg(lr, "lr"), float_arg(momentum, "momentum"),
                                   float_arg(dampening, "dampening"),
                                   float_arg(wd, "weight_decay"), bool_arg(nesterov, "nesterov")};
    for (size_t i = 0; i < n; ++i)
        MG_CHECK_ARG((g.a[i] == nullptr) == (h.momentum == 0), item("momentum_buffers", i),
                     h.momentum == 0 ? "expected None with momentum 0"
                                     : "expected an array with momentum != 0");
    py::gil_scoped_release nogil;
    for (size_t i = 0; i < n; ++i) {
        if (g.dtype[i] == Float::f32)
            minigan::cpu::sgd_update<float>(static_cast<float*>(g.param[i]),
                                            static_cast<const float*>(g.grad[i]),
                                            static_cast<float*>(g.a[i]), fresh[i], g.size[i], h);
        else
            minigan::cpu::sgd_update<double>(static_cast<double*>(g.param[i]),
                                             static_cast<const double*>(g.grad[i]),
                                             static_cast<double*>(g.a[i]), fresh[i], g.size[i],
                                             h);
    }
}

}  // namespace

void bind_train_kernels(py::module_& m) {
    m.def("sn_power_iteration", &sn_power_iteration, py::arg("w2d"), py::arg("u"),
          py::arg("n_iter"), py::arg("eps"),
          "n_iter power-iteration steps on W (d_out, rest) from u: (sigma, u, v).");
    m.def("sn_normalize", &sn_normalize, py::arg("w2d"), py::arg("u"), py::arg("v"),
          "(W / sigma, sigma) with sigma = u^T W v.");
    m.def("sn_backward", &sn_backward, py::arg("g2d"), py::arg("w2d"), py::arg("u"),
          py::arg("v"), py::arg("sigma"),
          "G / sigma - (<G, W> / sigma^2) u v^T: the gradient of W / sigma, u and v constant.");
    m.def("gan_loss", &gan_loss, py::arg("code"), py::arg("logits"), py::kw_only(),
          py::arg("out") = py::none(),
          "(mean loss, dlogits) of GAN loss term code = 3 * kind + side, one pass.");
    m.def("batch_norm_forward", &batch_norm_forward, py::arg("x"), py::arg("weight"),
          py::arg("bias"), py::arg("running_mean"), py::arg("running_var"), py::arg("training"),
          py::arg("momentum"), py::arg("eps"),
          "Batch norm over (N, C, ...): (y, mean, invstd); training updates the running stats.");
    m.def("batch_norm_backward", &batch_norm_backward, py::arg("gy"), py::arg("x"),
          py::arg("weight"), py::arg("mean"), py::arg("invstd"),
          "Training-mode batch norm gradient: (gx, gw, gb).");
    m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
          py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
          "One Adam step in place on every parameter of a group.");
    m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"),
          py::arg("momentum_buffers"), py::arg("fresh"), py::arg("lr"), py::arg("momentum"),
          py::arg("dampening"), py::arg("nesterov"), py::arg("weight_decay"),
          "One SGD step in place on every parameter of a group.");
}
