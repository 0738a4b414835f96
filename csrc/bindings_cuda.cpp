// minigan._cuda: the CUDA C++ kernels. Only bindings and argument checks live here (and in
// bindings_cuda_train.cpp); kernels and launchers are in cuda/<family>.cu.
//
// The CUDA runtime is linked statically and loads the driver (libcuda) only on the first CUDA
// call, so this module imports on a machine with no GPU and no driver; device_count() and
// runtime_info() then report that as values instead of raising.
//
// Every kernel entry takes arrays exposing __cuda_array_interface__ (CuPy arrays), C-contiguous
// float32/float64 of one dtype, and outputs as keyword arguments: this module has no allocator
// (CuPy's memory pool owns device memory). stream is a cudaStream_t as an int (e.g.
// cupy.cuda.get_current_stream().ptr; 0 is the default stream). Arguments are checked in full
// before any CUDA call, and every error names the kernel and the argument. Launches are
// asynchronous: nothing synchronises.
//
//   device_count() -> int;  runtime_info() -> dict
//   im2col(x, kh, kw, stride, padding, dilation, *, out, stream=0) -> out
//   col2im(cols, x_shape, kh, kw, stride, padding, dilation, *, out, stream=0) -> out
//   conv2d_forward(x, w, stride, padding, dilation, groups, *, out, tf32=False, stream=0)
//   conv2d_backward_data(gy, w, x_shape, stride, padding, dilation, groups, *, out,
//                        tf32=False, stream=0) -> out
//   conv2d_backward_weight(gy, x, w_shape, stride, padding, dilation, groups, *, out,
//                          workspace=None, splits=1, tf32=False, stream=0) -> out
//   conv_max_weight_splits(x_shape, w_shape, stride, padding, dilation) -> int
//   + the training kernels of bindings_cuda_train.cpp and bindings_cuda_optim.cpp
#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <string>

#include "cuda/conv.h"
#include "cuda/im2col.h"
#include "cuda/pyargs_cuda.h"

#ifndef MINIGAN_CUDA_ARCHS
#define MINIGAN_CUDA_ARCHS "unknown"
#endif

namespace py = pybind11;
using namespace minigan::pyargs;
using minigan::ConvGeometry;
using minigan::cuda::ConvShape;

void bind_cuda_train(py::module_& m);  // bindings_cuda_train.cpp
void bind_cuda_optim(py::module_& m);  // bindings_cuda_optim.cpp

namespace {

std::string version_string(int v) {  // 13000 -> "13.0"
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear it, so it cannot surface in a later, unrelated check
        return 0;
    }
    return n;
}

py::dict runtime_info() {
    py::dict info;
    int runtime = 0, driver = 0, count = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);  // sets 0, and still returns cudaSuccess, when no driver
    const cudaError_t err = cudaGetDeviceCount(&count);
    cudaGetLastError();
    if (err != cudaSuccess) count = 0;

    std::string status = "ok";
    if (driver == 0)
        status = "no driver";
    else if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0))
        status = "no device";
    else if (err != cudaSuccess)
        status = "error";

    py::list devices;
    for (int d = 0; d < count; ++d) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
            cudaGetLastError();
            continue;
        }
        py::dict dev;
        dev["index"] = d;
        dev["name"] = std::string(prop.name);
        dev["compute_capability"] = std::to_string(prop.major) + "." + std::to_string(prop.minor);
        dev["total_memory"] = static_cast<unsigned long long>(prop.totalGlobalMem);
        dev["multiprocessors"] = prop.multiProcessorCount;
        devices.append(dev);
    }
    info["status"] = status;
    info["driver"] = driver ? version_string(driver) : std::string("no driver");
    info["driver_version"] = driver;
    info["runtime_version"] = version_string(runtime);
    info["error"] = err == cudaSuccess ? py::object(py::none())
                                       : py::object(py::str(std::string(cudaGetErrorName(err)) +
                                                            ": " + cudaGetErrorString(err)));
    info["devices"] = devices;
    info["compiled_archs"] = std::string(MINIGAN_CUDA_ARCHS);
    return info;
}

ConvGeometry geometry(const std::array<int64_t, 4>& x, int64_t kh, int64_t kw,
                      const py::object& stride, const py::object& padding,
                      const py::object& dilation) {
    const auto st = pair_arg(stride, "stride"), pd = pair_arg(padding, "padding"),
               dl = pair_arg(dilation, "dilation");
    return minigan::make_conv_geometry(x[0], x[1], x[2], x[3], kh, kw, st[0], st[1], pd[0],
                                       pd[1], dl[0], dl[1]);
}

// The opt-in TF32 tensor-core path (conv.h): float32 only.
bool tf32_arg(const py::handle& obj, Float dtype) {
    const bool on = bool_arg(obj, "tf32");
    MG_CHECK_ARG(!on || dtype == Float::f32, "tf32", "the TF32 path exists for float32 only, "
                 "got float64 arrays");
    return on;
}

std::array<int64_t, 4> shape4(const DeviceArray& a) {
    return {a.shape[0], a.shape[1], a.shape[2], a.shape[3]};
}

// Checks the weight shape (Co, C/G, kh, kw) against x's C channels and groups.
ConvShape conv_shape(const std::array<int64_t, 4>& x, const std::array<int64_t, 4>& w,
                     const py::object& stride, const py::object& padding,
                     const py::object& dilation, const py::object& groups_obj) {
    const int64_t groups = int_arg(groups_obj, "groups");
    MG_CHECK_ARG(groups >= 1, "groups", "expected a positive int, got ", groups);
    MG_CHECK_ARG(w[0] >= 0 && w[1] >= 0, "weight", "negative dimension in shape");
    MG_CHECK_ARG(x[1] == minigan::checked_mul(w[1], groups, "groups"), "weight", "input has ",
                 x[1], " channels but weight (",
                 w[0], ", ", w[1], ", ", w[2], ", ", w[3], ") with groups=", groups, " expects ",
                 w[1] * groups, " (= weight.shape[1] * groups)");
    MG_CHECK_ARG(w[0] % groups == 0, "weight", w[0], " output channels are not divisible by "
                 "groups=", groups);
    return ConvShape{geometry(x, w[2], w[3], stride, padding, dilation), w[0], groups};
}

py::object im2col(const py::object& x_obj, const py::object& kh, const py::object& kw,
                  const py::object& stride, const py::object& padding,
                  const py::object& dilation, const py::object& out_obj,
                  const py::object& stream_obj) {
    MG_BINDING_TRY
    const DeviceArray x = cuda_array_arg(x_obj, "x", 4, "(N, C, H, W)");
    const ConvGeometry g =
        geometry(shape4(x), int_arg(kh, "kh"), int_arg(kw, "kw"), stride, padding, dilation);
    const DeviceArray out = cuda_array_arg(out_obj, "out", 2, "(N*OH*OW, C*kh*kw)");
    expect_dtype(out, "out", x.dtype, "x");
    expect_shape(out, "out", {g.rows(), g.cols()});
    expect_output(out, "out", {{&x, "x"}});
    const cudaStream_t stream = stream_arg(stream_obj);
    if (out.numel == 0) return out_obj;
    check_devices("im2col", {{&x, "x"}, {&out, "out"}});
    cudaError_t err = cudaSuccess;
    dispatch(x.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        err = minigan::cuda::im2col<T>(static_cast<const T*>(x.ptr), static_cast<T*>(out.ptr), g,
                                       stream);
    });
    MG_CHECK(err == cudaSuccess, "im2col_kernel launch failed: ", cudaGetErrorName(err), ": ",
             cudaGetErrorString(err));
    return out_obj;
    MG_BINDING_CATCH("im2col")
}

py::object col2im(const py::object& cols_obj, const py::object& x_shape, const py::object& kh,
                  const py::object& kw, const py::object& stride, const py::object& padding,
                  const py::object& dilation, const py::object& out_obj,
                  const py::object& stream_obj) {
    MG_BINDING_TRY
    const DeviceArray cols = cuda_array_arg(cols_obj, "cols", 2, "(N*OH*OW, C*kh*kw)");
    const auto xs = shape4_arg(x_shape, "x_shape");
    const ConvGeometry g =
        geometry(xs, int_arg(kh, "kh"), int_arg(kw, "kw"), stride, padding, dilation);
    expect_shape(cols, "cols", {g.rows(), g.cols()});
    const DeviceArray out = cuda_array_arg(out_obj, "out", 4, "(N, C, H, W)");
    expect_dtype(out, "out", cols.dtype, "cols");
    expect_shape(out, "out", {xs[0], xs[1], xs[2], xs[3]});
    expect_output(out, "out", {{&cols, "cols"}});
    const cudaStream_t stream = stream_arg(stream_obj);
    if (out.numel == 0) return out_obj;
    check_devices("col2im", {{&cols, "cols"}, {&out, "out"}});
    cudaError_t err = cudaSuccess;
    dispatch(cols.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        err = minigan::cuda::col2im<T>(static_cast<const T*>(cols.ptr), static_cast<T*>(out.ptr),
                                       g, stream);
    });
    MG_CHECK(err == cudaSuccess, "col2im_kernel launch failed: ", cudaGetErrorName(err), ": ",
             cudaGetErrorString(err));
    return out_obj;
    MG_BINDING_CATCH("col2im")
}

py::object conv2d_forward(const py::object& x_obj, const py::object& w_obj,
                          const py::object& stride, const py::object& padding,
                          const py::object& dilation, const py::object& groups,
                          const py::object& out_obj, const py::object& tf32_obj,
                          const py::object& stream_obj) {
    MG_BINDING_TRY
    const DeviceArray x = cuda_array_arg(x_obj, "x", 4, "(N, C, H, W)");
    const DeviceArray w = cuda_array_arg(w_obj, "weight", 4, "(Co, C/groups, kh, kw)");
    expect_dtype(w, "weight", x.dtype, "x");
    const ConvShape s = conv_shape(shape4(x), shape4(w), stride, padding, dilation, groups);
    const DeviceArray out = cuda_array_arg(out_obj, "out", 4, "(N, Co, OH, OW)");
    expect_dtype(out, "out", x.dtype, "x");
    expect_shape(out, "out", {s.g.N, s.Co, s.g.OH, s.g.OW});
    expect_output(out, "out", {{&x, "x"}, {&w, "weight"}});
    minigan::cuda::check_conv_limits(s, minigan::cuda::ConvPass::forward, 1);
    const bool tf32 = tf32_arg(tf32_obj, x.dtype);
    const cudaStream_t stream = stream_arg(stream_obj);
    if (out.numel == 0) return out_obj;
    check_devices("conv2d_forward", {{&x, "x"}, {&w, "weight"}, {&out, "out"}});
    dispatch(x.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        minigan::cuda::conv2d_forward<T>(static_cast<const T*>(x.ptr),
                                         static_cast<const T*>(w.ptr), static_cast<T*>(out.ptr),
                                         s, tf32, stream);
    });
    return out_obj;
    MG_BINDING_CATCH("conv2d_forward")
}

py::object conv2d_backward_data(const py::object& gy_obj, const py::object& w_obj,
                                const py::object& x_shape, const py::object& stride,
                                const py::object& padding, const py::object& dilation,
                                const py::object& groups, const py::object& out_obj,
                                const py::object& tf32_obj, const py::object& stream_obj) {
    MG_BINDING_TRY
    const DeviceArray gy = cuda_array_arg(gy_obj, "grad_output", 4, "(N, Co, OH, OW)");
    const DeviceArray w = cuda_array_arg(w_obj, "weight", 4, "(Co, C/groups, kh, kw)");
    expect_dtype(w, "weight", gy.dtype, "grad_output");
    const auto xs = shape4_arg(x_shape, "x_shape");
    const ConvShape s = conv_shape(xs, shape4(w), stride, padding, dilation, groups);
    expect_shape(gy, "grad_output", {s.g.N, s.Co, s.g.OH, s.g.OW});
    const DeviceArray out = cuda_array_arg(out_obj, "out", 4, "(N, C, H, W)");
    expect_dtype(out, "out", gy.dtype, "grad_output");
    expect_shape(out, "out", {xs[0], xs[1], xs[2], xs[3]});
    expect_output(out, "out", {{&gy, "grad_output"}, {&w, "weight"}});
    minigan::cuda::check_conv_limits(s, minigan::cuda::ConvPass::backward_data, 1);
    const bool tf32 = tf32_arg(tf32_obj, gy.dtype);
    const cudaStream_t stream = stream_arg(stream_obj);
    if (out.numel == 0) return out_obj;
    check_devices("conv2d_backward_data", {{&gy, "grad_output"}, {&w, "weight"}, {&out, "out"}});
    dispatch(gy.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        minigan::cuda::conv2d_backward_data<T>(static_cast<const T*>(gy.ptr),
                                               static_cast<const T*>(w.ptr),
                                               static_cast<T*>(out.ptr), s, tf32, stream);
    });
    return out_obj;
    MG_BINDING_CATCH("conv2d_backward_data")
}

py::object conv2d_backward_weight(const py::object& gy_obj, const py::object& x_obj,
                                  const py::object& w_shape, const py::object& stride,
                                  const py::object& padding, const py::object& dilation,
                                  const py::object& groups, const py::object& out_obj,
                                  const py::object& ws_obj, const py::object& splits_obj,
                                  const py::object& tf32_obj, const py::object& stream_obj) {
    MG_BINDING_TRY
    const DeviceArray gy = cuda_array_arg(gy_obj, "grad_output", 4, "(N, Co, OH, OW)");
    const DeviceArray x = cuda_array_arg(x_obj, "x", 4, "(N, C, H, W)");
    expect_dtype(x, "x", gy.dtype, "grad_output");
    const auto ws = shape4_arg(w_shape, "w_shape");
    const ConvShape s = conv_shape(shape4(x), ws, stride, padding, dilation, groups);
    expect_shape(gy, "grad_output", {s.g.N, s.Co, s.g.OH, s.g.OW});
    const DeviceArray out = cuda_array_arg(out_obj, "out", 4, "(Co, C/groups, kh, kw)");
    expect_dtype(out, "out", gy.dtype, "grad_output");
    expect_shape(out, "out", {ws[0], ws[1], ws[2], ws[3]});
    expect_output(out, "out", {{&gy, "grad_output"}, {&x, "x"}});
    const int64_t splits = int_arg(splits_obj, "splits");
    const int64_t max_splits = minigan::cuda::conv_max_weight_splits(s);
    MG_CHECK_ARG(splits >= 1 && splits <= max_splits, "splits", "expected an int in [1, ",
                 max_splits, "] (one split per 64 of the N*OH*OW products), got ", splits);
    DeviceArray work;
    if (splits > 1) {
        MG_CHECK_ARG(!ws_obj.is_none(), "workspace", "splits=", splits,
                     " needs a workspace of shape (splits, *w_shape)");
        work = cuda_array_arg(ws_obj, "workspace", 5, "(splits, Co, C/groups, kh, kw)");
        expect_dtype(work, "workspace", gy.dtype, "grad_output");
        expect_shape(work, "workspace", {splits, ws[0], ws[1], ws[2], ws[3]});
        expect_output(work, "workspace", {{&gy, "grad_output"}, {&x, "x"}, {&out, "out"}});
    }
    minigan::cuda::check_conv_limits(s, minigan::cuda::ConvPass::backward_weight, splits);
    const bool tf32 = tf32_arg(tf32_obj, gy.dtype);
    const cudaStream_t stream = stream_arg(stream_obj);
    if (out.numel == 0) return out_obj;
    check_devices("conv2d_backward_weight",
                  {{&gy, "grad_output"}, {&x, "x"}, {&out, "out"}, {&work, "workspace"}});
    dispatch(gy.dtype, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        minigan::cuda::conv2d_backward_weight<T>(
            static_cast<const T*>(gy.ptr), static_cast<const T*>(x.ptr), static_cast<T*>(out.ptr),
            static_cast<T*>(work.ptr), static_cast<int>(splits), s, tf32, stream);
    });
    return out_obj;
    MG_BINDING_CATCH("conv2d_backward_weight")
}

int64_t conv_max_weight_splits(const py::object& x_shape, const py::object& w_shape,
                               const py::object& stride, const py::object& padding,
                               const py::object& dilation, const py::object& groups) {
    MG_BINDING_TRY
    const ConvShape s = conv_shape(shape4_arg(x_shape, "x_shape"), shape4_arg(w_shape, "w_shape"),
                                   stride, padding, dilation, groups);
    return minigan::cuda::conv_max_weight_splits(s);
    MG_BINDING_CATCH("conv_max_weight_splits")
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
    register_exceptions();
    m.doc() = "minigan CUDA C++ kernels. Imports without a GPU or driver; see runtime_info().";
    m.def("device_count", &device_count,
          "Number of CUDA devices; 0 when there is no driver or no device (never raises).");
    m.def("runtime_info", &runtime_info,
          "CUDA runtime/driver versions, devices and a status ('ok', 'no driver', 'no device', "
          "'error'), reported as values, never raised.");
    m.def("im2col", &im2col, py::arg("x"), py::arg("kh"), py::arg("kw"), py::arg("stride"),
          py::arg("padding"), py::arg("dilation"), py::kw_only(), py::arg("out"),
          py::arg("stream") = 0,
          "im2col on the GPU (semantics of minigan.kernels.conv.im2col) into out "
          "(N*OH*OW, C*kh*kw); returns out.");
    m.def("col2im", &col2im, py::arg("cols"), py::arg("x_shape"), py::arg("kh"), py::arg("kw"),
          py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::kw_only(),
          py::arg("out"), py::arg("stream") = 0,
          "col2im on the GPU (the adjoint of im2col; a gather, no atomics) into out "
          "(N, C, H, W); returns out.");
    m.def("conv2d_forward", &conv2d_forward, py::arg("x"), py::arg("weight"), py::arg("stride"),
          py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::kw_only(),
          py::arg("out"), py::arg("tf32") = false, py::arg("stream") = 0,
          "y = conv2d(x, weight) by implicit GEMM (no im2col buffer) into out "
          "(N, Co, OH, OW); tf32=True: on tensor cores in TF32 (float32 only). Returns out.");
    m.def("conv2d_backward_data", &conv2d_backward_data, py::arg("grad_output"),
          py::arg("weight"), py::arg("x_shape"), py::arg("stride"), py::arg("padding"),
          py::arg("dilation"), py::arg("groups"), py::kw_only(), py::arg("out"),
          py::arg("tf32") = false, py::arg("stream") = 0,
          "gx = the data gradient of conv2d (also the transposed convolution of grad_output) "
          "into out (N, C, H, W); returns out.");
    m.def("conv2d_backward_weight", &conv2d_backward_weight, py::arg("grad_output"), py::arg("x"),
          py::arg("w_shape"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
          py::arg("groups"), py::kw_only(), py::arg("out"), py::arg("workspace") = py::none(),
          py::arg("splits") = 1, py::arg("tf32") = false, py::arg("stream") = 0,
          "gw = the weight gradient of conv2d into out (Co, C/G, kh, kw); the N*OH*OW "
          "reduction split `splits` ways through workspace (splits, *w_shape), summed in a "
          "fixed order. Returns out.");
    m.def("conv_max_weight_splits", &conv_max_weight_splits, py::arg("x_shape"),
          py::arg("w_shape"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
          py::arg("groups") = 1,
          "The largest `splits` conv2d_backward_weight accepts for this geometry.");
    bind_cuda_train(m);
    bind_cuda_optim(m);
}
