// Argument checks for the minigan._cuda bindings (host code, pybind11): reads
// __cuda_array_interface__ (CuPy arrays, Numba device arrays, PyTorch CUDA tensors...) into a
// DeviceArray and checks it with errors that name the argument. Everything here except
// check_devices() is pure Python-object inspection: no CUDA call, so bad arguments are reported
// the same way on a machine with no GPU, before anything is launched.
#pragma once

#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../pyargs.h"
#include "launch.h"

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
    for (auto s : a.shape) a.numel = checked_mul(a.numel, s, name);
    a.nbytes = checked_mul(a.numel, itemsize, name);
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
    MG_CHECK_TYPE(py::isinstance<py::int_>(data[0]) && !py::isinstance<py::bool_>(data[0]),
                  name, "__cuda_array_interface__['data'][0] must be an int pointer");
    MG_CHECK_TYPE(py::isinstance<py::bool_>(data[1]), name,
                  "__cuda_array_interface__['data'][1] (readonly) must be a bool");
    // The pointer as an address: in [0, 2^64), aligned to the element size (a misaligned
    // access is a sticky CUDA error that ends the context), and the array's bytes must not
    // wrap around the address space (the overlap checks compare [ptr, ptr + nbytes)).
    const unsigned long long addr = PyLong_AsUnsignedLongLong(data[0].ptr());
    if (addr == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        MG_CHECK_ARG(false, name, "__cuda_array_interface__['data'][0] is not an address in "
                     "[0, 2^64)");
    }
    a.readonly = data[1].cast<bool>();
    MG_CHECK_ARG(addr != 0 || a.numel == 0, name, "null data pointer");
    MG_CHECK_ARG(addr % itemsize == 0, name, "data pointer ", addr, " is not aligned to the ",
                 itemsize, "-byte elements");
    MG_CHECK_ARG(addr <= std::numeric_limits<std::uintptr_t>::max() -
                             static_cast<std::uint64_t>(a.nbytes),
                 name, "data pointer + ", a.nbytes, " bytes wraps around the address space");
    a.ptr = reinterpret_cast<void*>(static_cast<std::uintptr_t>(addr));
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

// The kernels that index with int32 (launch.h): an array's elements, or for the per-channel
// kernels (bias_act, batch_norm) on an (outer, C, inner) array, a channel's outer*inner elements
// and the channel count, must stay below 2^31 -- checked here, before any CUDA call, so a too
// large array is a ValueError naming it (the launchers assert the same).
inline void check_int32_elements(const DeviceArray& a, const char* name) {
    MG_CHECK_ARG(a.numel <= minigan::cuda::kInt32Max, name, a.numel, " elements: the CUDA "
                 "kernel indexes with int32, so at most 2^31 - 1");
}

inline void check_int32_channels(const DeviceArray& a, const char* name) {
    const int64_t per_channel = checked_mul(a.shape[0], a.shape[2], name);
    MG_CHECK_ARG(per_channel <= minigan::cuda::kInt32Max && a.shape[1] <= minigan::cuda::kInt32Max,
                 name, "shape ", shape_str(a.shape), ": a channel's outer*inner elements and the "
                 "channel count must each be at most 2^31 - 1 (the CUDA kernels index with int32)");
}

// In-place updates over many arrays (the optimizers): no array that is written may share memory
// with any other array of the call, written or read; arrays only read may overlap each other
// (one gradient read by two parameters). A sweep over the arrays sorted by address: O(n log n).
struct Span {
    const DeviceArray* a;
    const std::string* name;
    bool written;
};

inline void expect_disjoint_writes(std::vector<Span> spans) {
    auto lo = [](const Span& s) { return reinterpret_cast<std::uintptr_t>(s.a->ptr); };
    auto hi = [&](const Span& s) { return lo(s) + static_cast<std::uintptr_t>(s.a->nbytes); };
    spans.erase(std::remove_if(spans.begin(), spans.end(),
                               [](const Span& s) { return s.a->nbytes == 0; }),
                spans.end());
    std::stable_sort(spans.begin(), spans.end(),
                     [&](const Span& x, const Span& y) { return lo(x) < lo(y); });
    const Span* reach = nullptr;          // the span reaching furthest so far
    const Span* reach_written = nullptr;  // the written span reaching furthest so far
    for (const Span& s : spans) {
        const Span* other = nullptr;
        if (reach_written && lo(s) < hi(*reach_written))
            other = reach_written;
        else if (s.written && reach && lo(s) < hi(*reach))
            other = reach;
        MG_CHECK_ARG(other == nullptr, s.name->c_str(), "shares memory with ", *other->name,
                     "; an array updated in place must not overlap any other array of the call");
        if (!reach || hi(s) > hi(*reach)) reach = &s;
        if (s.written && (!reach_written || hi(s) > hi(*reach_written))) reach_written = &s;
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

// A cudaStream_t handle as an int (0: the default stream). Only its range can be checked here:
// like any pointer, a handle that is not a live stream is the caller's to avoid.
inline cudaStream_t stream_arg(const py::handle& obj) {
    const int64_t s = int_arg(obj, "stream");
    MG_CHECK_ARG(s >= 0, "stream", "expected a cudaStream_t handle (an int >= 0, e.g. "
                 "cupy.cuda.get_current_stream().ptr), got ", s);
    return reinterpret_cast<cudaStream_t>(static_cast<std::uintptr_t>(s));
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
