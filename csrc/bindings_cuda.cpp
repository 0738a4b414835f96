// minigan._cuda: the CUDA C++ kernels. Only bindings and argument checks live here; kernels and
// launchers are in cuda/<family>.cu.
//
// The CUDA runtime is linked statically and loads the driver (libcuda) only on the first CUDA
// call, so this module imports on a machine with no GPU and no driver; device_count() and
// runtime_info() then report that as values instead of raising.
//
//   device_count() -> int
//   runtime_info() -> {"status", "driver", "driver_version", "runtime_version", "error",
//                      "devices", "compiled_archs"}
//   im2col(x, kh, kw, stride, padding, dilation, *, out, stream=0) -> out
// x and out expose __cuda_array_interface__ (e.g. CuPy arrays); out is required because this
// module has no allocator of its own (CuPy's memory pool should own device memory).
#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "cuda/im2col.h"
#include "pyargs.h"

#ifndef MINIGAN_CUDA_ARCHS
#define MINIGAN_CUDA_ARCHS "unknown"
#endif

namespace py = pybind11;
using namespace minigan::pyargs;
using minigan::ConvGeometry;

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

struct DeviceArray {
    void* ptr = nullptr;
    bool readonly = false;
    Float dtype = Float::f32;
    std::vector<int64_t> shape;
    int64_t nbytes = 0;
};

// Reads and checks __cuda_array_interface__ (v2/v3): float32/float64, C-contiguous, no mask.
DeviceArray cuda_array_arg(const py::handle& obj, const char* name, int ndim, const char* dims) {
    MG_CHECK_TYPE(py::hasattr(obj, "__cuda_array_interface__"), name,
                  "expected a CUDA array exposing __cuda_array_interface__ (e.g. a "
                  "cupy.ndarray), got ",
                  type_name(obj));
    py::object cai_obj = obj.attr("__cuda_array_interface__");
    MG_CHECK_TYPE(py::isinstance<py::dict>(cai_obj), name,
                  "__cuda_array_interface__ must be a dict, got ", type_name(cai_obj));
    auto cai = py::reinterpret_borrow<py::dict>(cai_obj);
    for (const char* key : {"shape", "typestr", "data"})
        MG_CHECK_ARG(cai.contains(key), name, "__cuda_array_interface__ has no '", key, "'");

    DeviceArray a;
    const auto typestr = py::str(cai["typestr"]).cast<std::string>();
    MG_CHECK_TYPE(typestr == "<f4" || typestr == "<f8", name,
                  "expected dtype float32 or float64 (typestr '<f4' or '<f8'), got '", typestr,
                  "'");
    a.dtype = typestr == "<f4" ? Float::f32 : Float::f64;
    const int64_t itemsize = a.dtype == Float::f32 ? 4 : 8;

    for (auto d : py::reinterpret_borrow<py::sequence>(py::object(cai["shape"])))
        a.shape.push_back(int_arg(d, name));
    MG_CHECK_ARG(static_cast<int>(a.shape.size()) == ndim, name, "expected a ", ndim,
                 "-d array ", dims, ", got shape ", shape_str(a.shape));

    int64_t numel = 1;
    for (auto s : a.shape) numel *= s;
    a.nbytes = numel * itemsize;
    if (cai.contains("strides") && !cai["strides"].is_none() && numel > 0) {
        auto strides = py::reinterpret_borrow<py::sequence>(py::object(cai["strides"]));
        int64_t expected = itemsize;
        for (int d = ndim - 1; d >= 0; --d) {
            const int64_t s = int_arg(strides[d], name);
            MG_CHECK_ARG(a.shape[d] == 1 || s == expected, name,
                         "expected a C-contiguous array; pass cupy.ascontiguousarray(", name,
                         ")");
            expected *= a.shape[d];
        }
    }
    MG_CHECK_ARG(!cai.contains("mask") || cai["mask"].is_none(), name,
                 "masked arrays are not supported");
    py::object data_obj = cai["data"];
    MG_CHECK_TYPE(py::isinstance<py::tuple>(data_obj), name,
                  "__cuda_array_interface__['data'] must be a tuple (ptr, readonly)");
    auto data = py::reinterpret_borrow<py::tuple>(data_obj);
    MG_CHECK_ARG(data.size() == 2, name,
                 "__cuda_array_interface__['data'] must be (ptr, readonly)");
    a.ptr = reinterpret_cast<void*>(data[0].cast<std::uintptr_t>());
    a.readonly = data[1].cast<bool>();
    return a;
}

// The pointer must be device (or managed) memory on the current device: the kernel would fault
// on host memory, and on another device it would read through peer access or crash.
void check_device_pointer(const DeviceArray& a, const char* name) {
    if (a.nbytes == 0) return;
    cudaPointerAttributes attr{};
    const cudaError_t err = cudaPointerGetAttributes(&attr, a.ptr);
    cudaGetLastError();
    MG_CHECK_ARG(err == cudaSuccess &&
                     (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged),
                 name, "data pointer is not CUDA device memory");
    int current = 0;
    cudaGetDevice(&current);
    MG_CHECK_ARG(attr.device == current, name, "lives on device ", attr.device,
                 " but the current device is ", current);
}

py::object im2col(const py::object& x_obj, const py::object& kh, const py::object& kw,
                  const py::object& stride, const py::object& padding,
                  const py::object& dilation, const py::object& out_obj,
                  const py::object& stream_obj) {
    const DeviceArray x = cuda_array_arg(x_obj, "x", 4, "(N, C, H, W)");
    const auto st = pair_arg(stride, "stride"), pd = pair_arg(padding, "padding"),
               dl = pair_arg(dilation, "dilation");
    const ConvGeometry g = minigan::make_conv_geometry(
        x.shape[0], x.shape[1], x.shape[2], x.shape[3], int_arg(kh, "kh"), int_arg(kw, "kw"),
        st[0], st[1], pd[0], pd[1], dl[0], dl[1]);
    const DeviceArray out = cuda_array_arg(out_obj, "out", 2, "(N*OH*OW, C*kh*kw)");
    MG_CHECK_TYPE(out.dtype == x.dtype, "out", "expected dtype ", float_name(x.dtype),
                  " to match x, got ", float_name(out.dtype));
    const std::vector<int64_t> want{g.rows(), g.cols()};
    MG_CHECK_ARG(out.shape == want, "out", "expected shape ", shape_str(want), ", got ",
                 shape_str(out.shape));
    MG_CHECK_ARG(!out.readonly, "out", "expected a writeable array");
    const auto xp = reinterpret_cast<std::uintptr_t>(x.ptr);
    const auto op = reinterpret_cast<std::uintptr_t>(out.ptr);
    MG_CHECK_ARG(x.nbytes == 0 || out.nbytes == 0 || op + out.nbytes <= xp ||
                     xp + x.nbytes <= op,
                 "out", "must not share memory with x");
    const auto stream = reinterpret_cast<cudaStream_t>(
        static_cast<std::uintptr_t>(int_arg(stream_obj, "stream")));

    if (g.rows() * g.cols() == 0) return out_obj;
    const int n = device_count();
    MG_CHECK(n > 0, "im2col: no CUDA device available (",
             py::str(runtime_info()["status"]).cast<std::string>(), ")");
    check_device_pointer(x, "x");
    check_device_pointer(out, "out");

    cudaError_t err;
    {
        py::gil_scoped_release nogil;
        if (x.dtype == Float::f32)
            err = minigan::cuda::im2col<float>(static_cast<const float*>(x.ptr),
                                               static_cast<float*>(out.ptr), g, stream);
        else
            err = minigan::cuda::im2col<double>(static_cast<const double*>(x.ptr),
                                                static_cast<double*>(out.ptr), g, stream);
    }
    MG_CHECK(err == cudaSuccess, "im2col_kernel launch failed: ", cudaGetErrorName(err), ": ",
             cudaGetErrorString(err));
    return out_obj;
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
          R"doc(im2col on the GPU; same semantics as minigan._C.im2col.

x: CUDA array (N, C, H, W), out: CUDA array (N*OH*OW, C*kh*kw) of x's dtype, both
C-contiguous float32/float64 on the current device. stream: a cudaStream_t as an int
(e.g. cupy.cuda.get_current_stream().ptr); 0 is the default stream. Enqueues the kernel
without synchronising and returns out.)doc");
}
