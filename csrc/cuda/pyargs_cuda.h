// Argument checks for the minigan._cuda bindings (host code, pybind11): reads
// __cuda_array_interface__ (CuPy arrays, Numba device arrays, PyTorch CUDA tensors...) into a
// DeviceArray and checks it with errors that name the argument. Everything here except
// check_devices() is pure Python-object inspection: no CUDA call, so bad arguments are reported
// the same way on a machine with no GPU, before anything is launched.
#pragma once

#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "../pyargs.h"

namespace minigan::pyargs {

struct DeviceArray {
    void* ptr = nullptr;
    bool readonly = false;
    Float dtype = Float::f32;
    std::vector<int64_t> shape;
    int64_t numel = 0, nbytes = 0;
};

// Reads and checks __cuda_array_interface__ (v2/v3): float32/float64, C-contiguous, no mask,
// `ndim` dimensions (any number when ndim < 0).
inline DeviceArray cuda_array_arg(const py::handle& obj, const char* name, int ndim,
                                  const char* dims) {
    MG_CHECK_TYPE(!obj.is_none() && py::hasattr(obj, "__cuda_array_interface__"), name,
                  "expected a CUDA array exposing __cuda_array_interface__ (e.g. a "
                  "cupy.ndarray), got ",
                  type_name(obj),
                  py::isinstance<py::array>(obj) ? " (a host array: move it to the GPU first, "
                                                   "e.g. cupy.asarray)"
                                                 : "");
    py::object cai_obj = obj.attr("__cuda_array_interface__");
    MG_CHECK_TYPE(py::isinstance<py::dict>(cai_obj), name,
                  "__cuda_array_interface__ must be a dict, got ", type_name(cai_obj));
    auto cai = py::reinterpret_borrow<py::dict>(cai_obj);
    for (const char* key : {"shape", "typestr", "data"})
        MG_CHECK_ARG(cai.contains(key), name, "__cuda_array_interface__ has no '", key, "'");

    DeviceArray a;
    MG_CHECK_TYPE(py::isinstance<py::str>(cai["typestr"]), name,
                  "__cuda_array_interface__['typestr'] must be a str");
    const auto typestr = py::str(cai["typestr"]).cast<std::string>();
    MG_CHECK_TYPE(typestr == "<f4" || typestr == "<f8", name,
                  "expected dtype float32 or float64 (typestr '<f4' or '<f8'), got '", typestr,
                  "'");
    a.dtype = typestr == "<f4" ? Float::f32 : Float::f64;
    const int64_t itemsize = a.dtype == Float::f32 ? 4 : 8;

    py::object shape_obj = cai["shape"];
    MG_CHECK_TYPE(py::isinstance<py::tuple>(shape_obj), name,
                  "__cuda_array_interface__['shape'] must be a tuple");
    for (auto d : py::reinterpret_borrow<py::tuple>(shape_obj)) {
        a.shape.push_back(int_arg(d, name));
        MG_CHECK_ARG(a.shape.back() >= 0, name, "negative dimension in shape");
    }
    if (ndim >= 0)
        MG_CHECK_ARG(static_cast<int>(a.shape.size()) == ndim, name, "expected a ", ndim,
                     "-d array ", dims, ", got shape ", shape_str(a.shape));

    a.numel = 1;
    for (auto s : a.shape) a.numel *= s;
    a.nbytes = a.numel * itemsize;
    if (cai.contains("strides") && !cai["strides"].is_none() && a.numel > 0) {
        MG_CHECK_TYPE(py::isinstance<py::tuple>(cai["strides"]), name,
                      "__cuda_array_interface__['strides'] must be a tuple or None");
        auto strides = py::reinterpret_borrow<py::tuple>(cai["strides"]);
        MG_CHECK_ARG(strides.size() == a.shape.size(), name,
                     "__cuda_array_interface__['strides'] has ", strides.size(),
                     " entries for a ", a.shape.size(), "-d shape");
        int64_t expected = itemsize;
        for (int d = static_cast<int>(a.shape.size()) - 1; d >= 0; --d) {
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
    MG_CHECK_TYPE(py::isinstance<py::int_>(data[0]), name,
                  "__cuda_array_interface__['data'][0] must be an int pointer");
    a.ptr = reinterpret_cast<void*>(data[0].cast<std::uintptr_t>());
    a.readonly = data[1].cast<bool>();
    MG_CHECK_ARG(a.ptr != nullptr || a.numel == 0, name, "null data pointer");
    return a;
}

// The same, or a null DeviceArray for None (optional arguments).
inline DeviceArray optional_cuda_array(const py::handle& obj, const char* name, int ndim,
                                       const char* dims) {
    if (obj.is_none()) return DeviceArray{};
    return cuda_array_arg(obj, name, ndim, dims);
}

inline void expect_dtype(const DeviceArray& a, const char* name, Float want,
                         const char* like) {
    MG_CHECK_TYPE(a.dtype == want, name, "expected dtype ", float_name(want), " to match ", like,
                  ", got ", float_name(a.dtype));
}

inline void expect_shape(const DeviceArray& a, const char* name,
                         const std::vector<int64_t>& want) {
    MG_CHECK_ARG(a.shape == want, name, "expected shape ", shape_str(want), ", got ",
                 shape_str(a.shape));
}

// An output: writeable, and not overlapping any of the inputs it is computed from (the
// kernels read inputs while writing outputs).
inline void expect_output(const DeviceArray& out, const char* name,
                          std::initializer_list<std::pair<const DeviceArray*, const char*>> ins) {
    MG_CHECK_ARG(!out.readonly, name, "expected a writeable array");
    const auto lo = reinterpret_cast<std::uintptr_t>(out.ptr), hi = lo + out.nbytes;
    for (const auto& [in, in_name] : ins) {
        const auto ilo = reinterpret_cast<std::uintptr_t>(in->ptr), ihi = ilo + in->nbytes;
        MG_CHECK_ARG(out.nbytes == 0 || in->nbytes == 0 || hi <= ilo || ihi <= lo, name,
                     "must not share memory with ", in_name);
    }
}

// The only CUDA calls before a launch: is there a device, and is every pointer device (or
// managed) memory of the current device? The kernel would fault on host memory, and on another
// device it would read through peer access or crash.
inline int check_device_present(const char* kernel) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        const cudaError_t err = cudaGetLastError();  // clear it for later checks
        MG_CHECK(false, kernel, ": no CUDA device available (", cudaGetErrorName(err), ")");
    }
    MG_CHECK(count > 0, kernel, ": no CUDA device available");
    int current = 0;
    MG_CHECK(cudaGetDevice(&current) == cudaSuccess, kernel, ": cudaGetDevice failed");
    return current;
}

inline void check_pointer(const DeviceArray& a, const char* name, int current,
                          const char* kernel) {
    if (a.nbytes == 0 || a.ptr == nullptr) return;
    cudaPointerAttributes attr{};
    const cudaError_t err = cudaPointerGetAttributes(&attr, a.ptr);
    cudaGetLastError();
    MG_CHECK_ARG(err == cudaSuccess && (attr.type == cudaMemoryTypeDevice ||
                                        attr.type == cudaMemoryTypeManaged),
                 name, "data pointer is not CUDA device memory (", kernel, ")");
    MG_CHECK_ARG(attr.device == current, name, "lives on device ", attr.device,
                 " but the current device is ", current, " (", kernel, ")");
}

inline void check_devices(const char* kernel,
                          std::initializer_list<std::pair<const DeviceArray*, const char*>> as) {
    const int current = check_device_present(kernel);
    for (const auto& [a, name] : as) check_pointer(*a, name, current, kernel);
}

inline double float_arg(const py::handle& obj, const char* name) {
    MG_CHECK_TYPE((py::isinstance<py::float_>(obj) || py::isinstance<py::int_>(obj)) &&
                      !py::isinstance<py::bool_>(obj),
                  name, "expected a float, got ", type_name(obj));
    return obj.cast<double>();
}

inline bool bool_arg(const py::handle& obj, const char* name) {
    MG_CHECK_TYPE(py::isinstance<py::bool_>(obj), name, "expected a bool, got ", type_name(obj));
    return obj.cast<bool>();
}

template <typename T>
T* ptr(const DeviceArray& a) {
    return static_cast<T*>(a.ptr);
}

inline cudaStream_t stream_arg(const py::handle& obj) {
    return reinterpret_cast<cudaStream_t>(static_cast<std::uintptr_t>(int_arg(obj, "stream")));
}

// In a binding's catch (...): rethrows the exception in flight with "kernel: " in front of its
// message, keeping its Python type (TypeError, ValueError, RuntimeError), so every error says
// which kernel and which argument. Python errors raised by pybind11 itself pass unchanged.
[[noreturn]] inline void rethrow_named(const char* kernel) {
    const std::string k = std::string(kernel) + ": ";
    try {
        throw;
    } catch (const py::builtin_exception&) {
        throw;
    } catch (const py::error_already_set&) {
        throw;
    } catch (const minigan::type_error& e) {
        throw minigan::type_error(k + e.what());
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(k + e.what());
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        throw std::runtime_error(what.rfind(kernel, 0) == 0 ? what : k + what);
    }
}

#define MG_BINDING_TRY try {
#define MG_BINDING_CATCH(kernel)                  \
    }                                             \
    catch (...) {                                 \
        ::minigan::pyargs::rethrow_named(kernel); \
    }

// Calls f(T{}) with T = float or double per the dtype.
template <class F>
void dispatch(Float dtype, F&& f) {
    if (dtype == Float::f32)
        f(float{});
    else
        f(double{});
}

}  // namespace minigan::pyargs
