// Argument parsing shared by bindings_cpu.cpp and bindings_cuda.cpp: turns Python objects into
// checked C++ values, with errors that name the argument and say what was expected. We accept
// py::object rather than py::array_t<T> on purpose: array_t would silently convert or copy a
// list, an int32 or a strided array, and the caller would never learn their data was copied.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common.h"

namespace minigan::pyargs {

namespace py = pybind11;

// minigan::type_error -> TypeError (std::invalid_argument -> ValueError is pybind11's default).
inline void register_exceptions() {
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const minigan::type_error& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        }
    });
}

inline std::string type_name(const py::handle& obj) {
    return py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>();
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t d = 0; d < shape.size(); ++d) {
        s += std::to_string(shape[d]);
        if (d + 1 < shape.size() || shape.size() == 1) s += ", ";
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + ")";
}

inline int64_t int_arg(const py::handle& obj, const char* name) {
    MG_CHECK_TYPE(py::isinstance<py::int_>(obj) && !py::isinstance<py::bool_>(obj), name,
                  "expected an int, got ", type_name(obj));
    // A Python int has no bound: one outside int64 is the caller's error, named as such
    // (pybind11's cast would raise an unnamed RuntimeError).
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
    MG_CHECK_ARG(overflow == 0, name, "expected an int in [-2^63, 2^63), got one ",
                 overflow > 0 ? "above" : "below", " that range");
    return static_cast<int64_t>(v);
}

// Either one int (used for both h and w) or a pair (h, w).
inline std::array<int64_t, 2> pair_arg(const py::handle& obj, const char* name) {
    if (py::isinstance<py::int_>(obj) && !py::isinstance<py::bool_>(obj)) {
        const int64_t v = int_arg(obj, name);
        return {v, v};
    }
    MG_CHECK_TYPE(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj), name,
                  "expected an int or a pair of ints (h, w), got ", type_name(obj));
    auto seq = py::reinterpret_borrow<py::sequence>(obj);
    MG_CHECK_ARG(seq.size() == 2, name, "expected a pair of ints (h, w), got ", seq.size(),
                 " values");
    return {int_arg(seq[0], name), int_arg(seq[1], name)};
}

inline std::array<int64_t, 4> shape4_arg(const py::handle& obj, const char* name) {
    MG_CHECK_TYPE(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj), name,
                  "expected a shape (N, C, H, W), got ", type_name(obj));
    auto seq = py::reinterpret_borrow<py::sequence>(obj);
    MG_CHECK_ARG(seq.size() == 4, name, "expected a shape (N, C, H, W) of 4 ints, got ",
                 seq.size(), " values");
    return {int_arg(seq[0], name), int_arg(seq[1], name), int_arg(seq[2], name),
            int_arg(seq[3], name)};
}

// ---- NumPy arrays ----------------------------------------------------------------------------

enum class Float { f32, f64 };

inline const char* float_name(Float f) { return f == Float::f32 ? "float32" : "float64"; }

inline py::array numpy_arg(const py::handle& obj, const char* name) {
    MG_CHECK_TYPE(py::isinstance<py::array>(obj), name, "expected a numpy.ndarray, got ",
                  type_name(obj));
    return py::reinterpret_borrow<py::array>(obj);
}

// float32 or float64 in native byte order (array_t's check is NumPy's PyArray_EquivTypes).
inline Float float_dtype(const py::array& a, const char* name) {
    if (py::isinstance<py::array_t<float>>(a)) return Float::f32;
    if (py::isinstance<py::array_t<double>>(a)) return Float::f64;
    MG_CHECK_TYPE(false, name, "expected dtype float32 or float64, got ",
                  std::string(py::str(a.dtype())));
    return Float::f32;  // unreachable
}

inline std::vector<int64_t> shape_of(const py::array& a) {
    return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

// Checks what a kernel that indexes raw memory relies on: ndim, C-contiguity, alignment.
inline void check_numpy_layout(const py::array& a, const char* name, int ndim,
                               const char* dims) {
    MG_CHECK_ARG(a.ndim() == ndim, name, "expected a ", ndim, "-d array ", dims, ", got shape ",
                 shape_str(shape_of(a)));
    MG_CHECK_ARG(a.flags() & py::array::c_style, name,
                 "expected a C-contiguous array; pass numpy.ascontiguousarray(", name, ")");
    MG_CHECK_ARG(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_, name,
                 "expected an aligned array; pass a copy");
}

inline void check_shape(const py::array& a, const char* name, const std::vector<int64_t>& want) {
    MG_CHECK_ARG(shape_of(a) == want, name, "expected shape ", shape_str(want), ", got ",
                 shape_str(shape_of(a)));
}

// Validates a caller-supplied output buffer, or allocates one.
inline py::array output_arg(const py::object& out, const char* name, Float dtype,
                            const std::vector<int64_t>& shape, const char* dims,
                            const py::array& input, const char* input_name) {
    if (out.is_none()) {
        if (dtype == Float::f32) return py::array_t<float>(shape);
        return py::array_t<double>(shape);
    }
    py::array a = numpy_arg(out, name);
    MG_CHECK_TYPE(float_dtype(a, name) == dtype, name, "expected dtype ", float_name(dtype),
                  " to match ", input_name, ", got ", std::string(py::str(a.dtype())));
    check_numpy_layout(a, name, static_cast<int>(shape.size()), dims);
    check_shape(a, name, shape);
    MG_CHECK_ARG(a.writeable(), name, "expected a writeable array");
    // The kernels read the input while writing the output; overlapping memory would corrupt it.
    const auto* lo = static_cast<const char*>(input.data());
    const auto* hi = lo + input.nbytes();
    const auto* olo = static_cast<const char*>(a.data());
    const auto* ohi = olo + a.nbytes();
    MG_CHECK_ARG(a.nbytes() == 0 || input.nbytes() == 0 || ohi <= lo || hi <= olo, name,
                 "must not share memory with ", input_name);
    return a;
}

template <typename T, int NDIM>
TensorView<T, NDIM> view_of(const py::array& a) {
    TensorView<T, NDIM> v;
    v.data = static_cast<T*>(const_cast<void*>(a.data()));
    for (int d = 0; d < NDIM; ++d) {
        v.shape[d] = a.shape(d);
        v.strides[d] = a.strides(d) / static_cast<int64_t>(sizeof(T));
    }
    return v;
}

}  // namespace minigan::pyargs
