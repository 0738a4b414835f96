// minigan._cuda, part 3: bindings of batch norm and the fused optimizers. Conventions as in
// bindings_cuda.cpp: __cuda_array_interface__ arrays, outputs passed in, everything checked
// before any CUDA call, errors naming the kernel and the argument, asynchronous launches.
//
//   batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps, *,
//                      out, mean, invstd, stream=0)                       x: (N, C, inner)
//   batch_norm_backward(grad_output, x, weight, mean, invstd, *, out, gweight, gbias, stream=0)
//   adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1,
//             beta2, eps, weight_decay, stream=0)                          in place
//   sgd_step(params, grads, momentum_buffers, fresh, *, lr, momentum, dampening, nesterov,
//            weight_decay, stream=0)                                       in place
// The optimizers take lists (one entry per parameter) and update every C-contiguous array of
// one dtype in as few launches as optim.h allows.
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/batch_norm.h"
#include "cuda/optim.h"
#include "cuda/pyargs_cuda.h"

namespace py = pybind11;
using namespace minigan::pyargs;
namespace mc = minigan::cuda;

namespace {

// ---- batch norm ------------------------------------------------------------------------------

void batch_norm_forward(const py::object& x_o, const py::object& w_o, const py::object& b_o,
                        const py::object& rm_o, const py::object& rv_o,
                        const py::object& training_o, const py::object& momentum_o,
                        const py::object& eps_o, const py::object& out_o,
                        const py::object& mean_o, const py::object& invstd_o,
                        const py::object& stream_o) {
    MG_BINDING_TRY
    const DeviceArray x = cuda_array_arg(x_o, "x", 3, "(N, C, inner)");
    const std::vector<int64_t> cshape{x.shape[1]};
    DeviceArray p[4];
    const char* names[4] = {"weight", "bias", "running_mean", "running_var"};
    const py::object* objs[4] = {&w_o, &b_o, &rm_o, &rv_o};
    for (int k = 0; k < 4; ++k) {
        p[k] = optional_cuda_array(*objs[k], names[k], 1, "(C,)");
        if (objs[k]->is_none()) continue;
        expect_dtype(p[k], names[k], x.dtype, "x");
        expect_shape(p[k], names[k], cshape);
    }
    MG_CHECK_ARG(rm_o.is_none() == rv_o.is_none(), "running_mean, running_var",
                 "pass both or neither");
    const bool training = bool_arg(training_o, "training");
    const double momentum = float_arg(momentum_o, "momentum"), eps = float_arg(eps_o, "eps");
    const int64_t n = x.shape[0] * x.shape[2];
    MG_CHECK_ARG(!training || n > 1, "x", "batch norm in training needs more than 1 value per "
                 "channel, got shape ", shape_str(x.shape));
    MG_CHECK_ARG(training || !rm_o.is_none(), "running_mean",
                 "evaluation mode needs the running statistics");
    const DeviceArray out = cuda_array_arg(out_o, "out", 3, "(N, C, inner)");
    const DeviceArray mean = cuda_array_arg(mean_o, "mean", 1, "(C,)");
    const DeviceArray inv = cuda_array_arg(invstd_o, "invstd", 1, "(C,)");
    expect_dtype(out, "out", x.dtype, "x");
    expect_shape(out, "out", x.shape);
    for (const auto& [a, name] : {std::pair{&mean, "mean"}, {&inv, "invstd"}}) {
        expect_dtype(*a, name, x.dtype, "x");
        expect_shape(*a, name, cshape);
    }
    for (int k = 2; k < 4 && !rm_o.is_none(); ++k)
        MG_CHECK_ARG(!p[k].readonly, names[k], "expected a writeable array (updated in place)");
    expect_output(out, "out", {{&x, "x"}, {&p[0], "weight"}, {&p[1], "bias"},
                               {&p[2], "running_mean"}, {&p[3], "running_var"}});
    expect_output(mean, "mean", {{&x, "x"}, {&p[0], "weight"}, {&p[1], "bias"},
                                 {&p[2], "running_mean"}, {&p[3], "running_var"}});
    expect_output(inv, "invstd", {{&x, "x"}, {&p[0], "weight"}, {&p[1], "bias"},
                                  {&p[2], "running_mean"}, {&p[3], "running_var"},
                                  {&mean, "mean"}});
    // The running statistics are updated in place while x, weight and bias are read.
    expect_output(p[2], "running_mean", {{&x, "x"}, {&p[0], "weight"}, {&p[1], "bias"},
                                         {&p[3], "running_var"}});
    expect_output(p[3], "running_var", {{&x, "x"}, {&p[0], "weight"}, {&p[1], "bias"}});
    check_int32_channels(x, "x");
    const cudaStream_t stream = stream_arg(stream_o);
    if (x.shape[1] == 0) return;
    check_devices("batch_norm_forward",
                  {{&x, "x"}, {&p[0], "weight"}, {&p[1], "bias"}, {&p[2], "running_mean"},
                   {&p[3], "running_var"}, {&out, "out"}, {&mean, "mean"}, {&inv, "invstd"}});
    dispatch(x.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::batch_norm_forward<T>(ptr<T>(x), ptr<T>(p[0]), ptr<T>(p[1]), ptr<T>(p[2]),
                                  ptr<T>(p[3]), ptr<T>(out), ptr<T>(mean), ptr<T>(inv),
                                  {x.shape[0], x.shape[1], x.shape[2]}, training, momentum, eps,
                                  stream);
    });
    MG_BINDING_CATCH("batch_norm_forward")
}

void batch_norm_backward(const py::object& gy_o, const py::object& x_o, const py::object& w_o,
                         const py::object& mean_o, const py::object& inv_o,
                         const py::object& out_o, const py::object& gw_o, const py::object& gb_o,
                         const py::object& stream_o) {
    MG_BINDING_TRY
    const DeviceArray gy = cuda_array_arg(gy_o, "grad_output", 3, "(N, C, inner)");
    const DeviceArray x = cuda_array_arg(x_o, "x", 3, "(N, C, inner)");
    expect_dtype(x, "x", gy.dtype, "grad_output");
    expect_shape(x, "x", gy.shape);
    const std::vector<int64_t> cshape{x.shape[1]};
    const DeviceArray w = optional_cuda_array(w_o, "weight", 1, "(C,)");
    const DeviceArray mean = cuda_array_arg(mean_o, "mean", 1, "(C,)");
    const DeviceArray inv = cuda_array_arg(inv_o, "invstd", 1, "(C,)");
    const DeviceArray out = cuda_array_arg(out_o, "out", 3, "(N, C, inner)");
    const DeviceArray gw = cuda_array_arg(gw_o, "gweight", 1, "(C,)");
    const DeviceArray gb = cuda_array_arg(gb_o, "gbias", 1, "(C,)");
    for (const auto& [a, name] : {std::pair{&w, "weight"}, {&mean, "mean"}, {&inv, "invstd"},
                                  {&gw, "gweight"}, {&gb, "gbias"}}) {
        if (a == &w && w_o.is_none()) continue;
        expect_dtype(*a, name, x.dtype, "x");
        expect_shape(*a, name, cshape);
    }
    expect_dtype(out, "out", x.dtype, "x");
    expect_shape(out, "out", x.shape);
    for (const auto& [a, name] : {std::pair{&out, "out"}, {&gw, "gweight"}, {&gb, "gbias"}})
        expect_output(*a, name, {{&gy, "grad_output"}, {&x, "x"}, {&w, "weight"}, {&mean, "mean"},
                                 {&inv, "invstd"}});
    expect_output(gw, "gweight", {{&out, "out"}, {&gb, "gbias"}});
    expect_output(gb, "gbias", {{&out, "out"}});
    check_int32_channels(x, "x");
    const cudaStream_t stream = stream_arg(stream_o);
    if (x.shape[1] == 0) return;
    check_devices("batch_norm_backward",
                  {{&gy, "grad_output"}, {&x, "x"}, {&w, "weight"}, {&mean, "mean"},
                   {&inv, "invstd"}, {&out, "out"}, {&gw, "gweight"}, {&gb, "gbias"}});
    dispatch(x.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::batch_norm_backward<T>(ptr<T>(gy), ptr<T>(x), ptr<T>(w), ptr<T>(mean), ptr<T>(inv),
                                   ptr<T>(out), ptr<T>(gw), ptr<T>(gb),
                                   {x.shape[0], x.shape[1], x.shape[2]}, stream);
    });
    MG_BINDING_CATCH("batch_norm_backward")
}

}  // namespace

namespace {

// A list argument of `n` entries (n < 0: any length); None only where allowed.
py::sequence list_arg(const py::handle& obj, const char* name, int64_t n) {
    // A list or tuple: other sequences (str, bytes, arrays) would read as lists of
    // characters, byte values or rows.
    MG_CHECK_TYPE(py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj), name,
                  "expected a list, got ", type_name(obj));
    auto seq = py::reinterpret_borrow<py::sequence>(obj);
    MG_CHECK_ARG(n < 0 || static_cast<int64_t>(seq.size()) == n, name, "expected ", n,
                 " entries (one per parameter), got ", seq.size());
    return seq;
}

// Entry i of a list of arrays, of params[i]'s shape and dtype; `inplace`: updated in place.
DeviceArray entry(const py::sequence& seq, const char* list, size_t i, const DeviceArray* like,
                  bool inplace) {
    const std::string name = std::string(list) + "[" + std::to_string(i) + "]";
    DeviceArray a = cuda_array_arg(seq[i], name.c_str(), -1, "");
    if (like != nullptr) {
        const std::string pname = "params[" + std::to_string(i) + "]";
        expect_dtype(a, name.c_str(), like->dtype, pname.c_str());
        expect_shape(a, name.c_str(), like->shape);
    }
    if (inplace) MG_CHECK_ARG(!a.readonly, name.c_str(), "expected a writeable array");
    return a;
}

void adam_step(const py::object& params_o, const py::object& grads_o, const py::object& m_o,
               const py::object& v_o, const py::object& vmax_o, const py::object& steps_o,
               const py::object& lr_o, const py::object& b1_o, const py::object& b2_o,
               const py::object& eps_o, const py::object& wd_o, const py::object& stream_o) {
    MG_BINDING_TRY
    const auto params = list_arg(params_o, "params", -1);
    const auto n = static_cast<int64_t>(params.size());
    const auto grads = list_arg(grads_o, "grads", n), ms = list_arg(m_o, "exp_avgs", n),
               vs = list_arg(v_o, "exp_avg_sqs", n), steps = list_arg(steps_o, "steps", n);
    const bool amsgrad = !vmax_o.is_none();
    const py::sequence vmaxs =
        amsgrad ? list_arg(vmax_o, "max_exp_avg_sqs", n) : py::sequence(py::list());
    const mc::AdamHyper h{float_arg(b1_o, "beta1"), float_arg(b2_o, "beta2"),
                          float_arg(eps_o, "eps"), float_arg(wd_o, "weight_decay"), amsgrad};
    const double lr = float_arg(lr_o, "lr");
    std::vector<std::pair<DeviceArray, std::string>> arrays;
    std::vector<mc::AdamTensor> tensors;
    for (size_t i = 0; i < params.size(); ++i) {
        const DeviceArray p = entry(params, "params", i, nullptr, true);
        if (i > 0) expect_dtype(p, ("params[" + std::to_string(i) + "]").c_str(),
                                arrays[0].first.dtype, "params[0] (one dtype per call)");
        const DeviceArray g = entry(grads, "grads", i, &p, false), m = entry(ms, "exp_avgs", i, &p,
                                                                             true),
                          v = entry(vs, "exp_avg_sqs", i, &p, true),
                          vm = amsgrad ? entry(vmaxs, "max_exp_avg_sqs", i, &p, true)
                                       : DeviceArray{};
        const std::string sname = "steps[" + std::to_string(i) + "]";
        const int64_t t = int_arg(steps[i], sname.c_str());
        MG_CHECK_ARG(t >= 1, sname.c_str(), "expected an int >= 1, got ", t);
        tensors.push_back({p.ptr, g.ptr, m.ptr, v.ptr, vm.ptr, p.numel,
                           lr / (1 - std::pow(h.beta1, static_cast<double>(t))),
                           std::sqrt(1 - std::pow(h.beta2, static_cast<double>(t)))});
        const std::string k = "[" + std::to_string(i) + "]";
        arrays.insert(arrays.end(), {{p, "params" + k}, {g, "grads" + k}, {m, "exp_avgs" + k},
                                     {v, "exp_avg_sqs" + k}, {vm, "max_exp_avg_sqs" + k}});
    }
    std::vector<Span> spans;  // every array but the gradients is updated in place
    for (const auto& [a, name] : arrays) spans.push_back({&a, &name, name.rfind("grads", 0) != 0});
    expect_disjoint_writes(std::move(spans));
    const cudaStream_t stream = stream_arg(stream_o);
    if (tensors.empty()) return;
    const int current = check_device_present("adam_step");
    for (const auto& [a, name] : arrays) check_pointer(a, name.c_str(), current, "adam_step");
    dispatch(arrays[0].first.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::adam_step<T>(tensors, h, stream);
    });
    MG_BINDING_CATCH("adam_step")
}

void sgd_step(const py::object& params_o, const py::object& grads_o, const py::object& bufs_o,
              const py::object& fresh_o, const py::object& lr_o, const py::object& mom_o,
              const py::object& damp_o, const py::object& nesterov_o, const py::object& wd_o,
              const py::object& stream_o) {
    MG_BINDING_TRY
    const auto params = list_arg(params_o, "params", -1);
    const auto n = static_cast<int64_t>(params.size());
    const auto grads = list_arg(grads_o, "grads", n);
    const mc::SgdHyper h{float_arg(lr_o, "lr"), float_arg(mom_o, "momentum"),
                         float_arg(damp_o, "dampening"), float_arg(wd_o, "weight_decay"),
                         bool_arg(nesterov_o, "nesterov")};
    const bool has_buf = h.momentum != 0;
    MG_CHECK_ARG(has_buf != bufs_o.is_none(), "momentum_buffers",
                 "expected a list of arrays when momentum != 0 and None when momentum == 0");
    const py::sequence bufs =
        has_buf ? list_arg(bufs_o, "momentum_buffers", n) : py::sequence(py::list());
    const py::sequence fresh = has_buf ? list_arg(fresh_o, "fresh", n) : py::sequence(py::list());
    std::vector<std::pair<DeviceArray, std::string>> arrays;
    std::vector<mc::SgdTensor> tensors;
    for (size_t i = 0; i < params.size(); ++i) {
        const DeviceArray p = entry(params, "params", i, nullptr, true);
        if (i > 0) expect_dtype(p, ("params[" + std::to_string(i) + "]").c_str(),
                                arrays[0].first.dtype, "params[0] (one dtype per call)");
        const DeviceArray g = entry(grads, "grads", i, &p, false),
                          b = has_buf ? entry(bufs, "momentum_buffers", i, &p, true)
                                      : DeviceArray{};
        const bool f = has_buf && bool_arg(fresh[i], ("fresh[" + std::to_string(i) + "]").c_str());
        tensors.push_back({p.ptr, g.ptr, b.ptr, f, p.numel});
        const std::string k = "[" + std::to_string(i) + "]";
        arrays.insert(arrays.end(),
                      {{p, "params" + k}, {g, "grads" + k}, {b, "momentum_buffers" + k}});
    }
    std::vector<Span> spans;  // params and momentum buffers are updated in place
    for (const auto& [a, name] : arrays) spans.push_back({&a, &name, name.rfind("grads", 0) != 0});
    expect_disjoint_writes(std::move(spans));
    const cudaStream_t stream = stream_arg(stream_o);
    if (tensors.empty()) return;
    const int current = check_device_present("sgd_step");
    for (const auto& [a, name] : arrays) check_pointer(a, name.c_str(), current, "sgd_step");
    dispatch(arrays[0].first.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        mc::sgd_step<T>(tensors, h, stream);
    });
    MG_BINDING_CATCH("sgd_step")
}

}  // namespace

void bind_cuda_optim(py::module_& m) {
    m.def("batch_norm_forward", &batch_norm_forward, py::arg("x"), py::arg("weight"),
          py::arg("bias"), py::arg("running_mean"), py::arg("running_var"), py::arg("training"),
          py::arg("momentum"), py::arg("eps"), py::kw_only(), py::arg("out"), py::arg("mean"),
          py::arg("invstd"), py::arg("stream") = 0,
          "Batch norm forward on x folded to (N, C, inner), one launch; updates the running "
          "statistics in place in training.");
    m.def("batch_norm_backward", &batch_norm_backward, py::arg("grad_output"), py::arg("x"),
          py::arg("weight"), py::arg("mean"), py::arg("invstd"), py::kw_only(), py::arg("out"),
          py::arg("gweight"), py::arg("gbias"), py::arg("stream") = 0,
          "(gx, gw, gb) of the training-mode batch norm, one launch.");
    m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"), py::kw_only(),
          py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
          py::arg("weight_decay"), py::arg("stream") = 0,
          "Adam (amsgrad iff max_exp_avg_sqs is a list) in place over a group of parameters.");
    m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"),
          py::arg("momentum_buffers"), py::arg("fresh"), py::kw_only(), py::arg("lr"),
          py::arg("momentum"), py::arg("dampening"), py::arg("nesterov"),
          py::arg("weight_decay"), py::arg("stream") = 0,
          "SGD with momentum/dampening/nesterov/weight decay in place over a group; "
          "momentum_buffers[i] starts as the gradient where fresh[i].");
}
