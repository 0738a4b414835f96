"""CPU stand-ins for CuPy's user-defined kernels, so that run_cupy_emulated.py can run the CUDA C++
written inside minigan's cupy_*.py modules without a GPU.

* ``ElementwiseKernel`` / ``ReductionKernel``: the operation strings are compiled with g++ inside
  a loop shaped like the one CuPy generates (inputs bound as ``const T &x``, outputs as
  ``T &y``, ``typedef``s for the type placeholders, ``REDUCE(a, b)`` / ``POST_MAP(a)`` macros),
  after CuPy's own argument rules: placeholders take their dtype from the output arrays, then
  the input arrays, in order (scalars never decide a type and are cast to it; a conflict is a
  TypeError), non-raw arrays broadcast together, given outputs must have the broadcast shape,
  raw arrays are indexed by their flat C-order index.
* ``RawModule``: the source is compiled with g++ against the emulated CUDA runtime of
  ../../include/cuda_runtime_api.h (a std::thread per CUDA thread, real barriers and shuffles),
  and ``get_function(name)(grid, block, args)`` launches the instantiation ``name`` with the
  arguments packed as CUDA packs them: one pointer per parameter, read as the parameter's own
  type, so an argument of the wrong width is refused here where a GPU would misread it.

Every kernel compiled is also rendered as the CUDA source CuPy would hand NVRTC (``CUDA``), so
the script can compile them all once with the real nvcc. The reduction's loop is sequential here
(CuPy's is a tree); both accumulate in ``reduce_type``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
INCLUDE = HERE.parents[1] / "include"
BUILD = Path(os.environ.get("FAKE_CUPY_BUILD", "/tmp/fake_cupy_build"))
CUDA: dict[str, str] = {}  # kernel name + types -> CUDA source, for the nvcc check

_CTYPE = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long",
          "bool": "bool", "uint8": "unsigned char"}
_CACHE: dict[str, ctypes.CDLL] = {}


def _compile(source: str, tag: str, options: tuple = ()) -> ctypes.CDLL:
    key = hashlib.sha1((source + repr(options)).encode()).hexdigest()[:16]
    if key not in _CACHE:
        BUILD.mkdir(parents=True, exist_ok=True)
        src, so = BUILD / f"{tag}_{key}.cpp", BUILD / f"{tag}_{key}.so"
        src.write_text(source)
        # -ffp-contract=off: no fused multiply-add, as nvcc/NVRTC with --fmad=false (and the
        # NumPy references) round; the kernels without that option are compared with tolerances.
        cmd = ["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-ffp-contract=off",
               f"-I{INCLUDE}", "-Wno-unused-variable", str(src), "-o", str(so)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"fake cupy: {tag} does not compile:\n{res.stderr[-4000:]}")
        _CACHE[key] = ctypes.CDLL(str(so))
    return _CACHE[key]


class _Param:
    def __init__(self, text: str, is_const: bool):
        words = text.split()
        if len(words) < 2:
            raise ValueError(f"fake cupy: syntax error in parameter {text!r}")
        self.type, self.name = words[-2:]
        self.raw = "raw" in words[:-2]
        self.is_const = is_const
        self.placeholder = len(self.type) == 1
        self.dtype = None if self.placeholder else np.dtype(self.type)


def _params(s: str, is_const: bool) -> list[_Param]:
    return [_Param(p, is_const) for p in s.split(",") if p.strip()]


def _is_array(a) -> bool:
    """A device array; a host NumPy array is refused, as CuPy refuses it ("Unsupported type")."""
    if type(a) is np.ndarray:
        raise TypeError(f"fake cupy: a kernel got a host numpy.ndarray {a.shape}; pass device "
                        f"arrays")
    return isinstance(a, np.ndarray)


def _decide_types(ins: list[_Param], outs: list[_Param], in_args: list, out_args: list) -> dict:
    """CuPy's _decide_params_type: placeholder -> dtype, outputs first, scalars skipped."""
    types: dict[str, np.dtype] = {}
    for p, a in [*zip(outs, out_args), *zip(ins, in_args)]:
        if not _is_array(a):
            continue
        if p.dtype is not None:
            if a.dtype != p.dtype:
                raise TypeError(f"Type is mismatched. {p.name} {a.dtype} {p.dtype}")
        elif p.type in types:
            if types[p.type] != a.dtype:
                raise TypeError(f"Type is mismatched. {p.name} {a.dtype} {types[p.type]} "
                                f"{p.type}")
        else:
            types[p.type] = a.dtype
    for p in [*ins, *outs]:
        if p.placeholder and p.type not in types:
            raise TypeError(f"fake cupy: type {p.type} of {p.name} is decided by no array")
    return types


def _dtype_of(p: _Param, types: dict) -> np.dtype:
    return types[p.type] if p.placeholder else p.dtype


def _typedefs(types: dict) -> str:
    return "".join(f"typedef {_CTYPE[str(d)]} {t};\n" for t, d in sorted(types.items()))


def _c_scalar(value, dtype: np.dtype):
    c = {"float32": ctypes.c_float, "float64": ctypes.c_double, "int32": ctypes.c_int32,
         "int64": ctypes.c_int64, "bool": ctypes.c_bool, "uint8": ctypes.c_uint8}[str(dtype)]
    return c(dtype.type(value).item())


class _Launch:
    """Arguments packed as one void* per parameter: a scalar's address; an array's data pointer
    itself (the generated loops), or with ``by_ref`` the address of a copy of it (a raw kernel's
    parameters, as cuLaunchKernel takes them)."""

    def __init__(self, by_ref: bool = False):
        self.keep, self.ptrs, self.by_ref = [], [], by_ref

    def array(self, a: np.ndarray) -> None:
        ptr = ctypes.c_void_p(a.__array_interface__["data"][0])
        self.keep += [a, ptr]
        self.ptrs.append(ctypes.cast(ctypes.pointer(ptr), ctypes.c_void_p) if self.by_ref
                         else ptr)

    def scalar(self, value, dtype: np.dtype) -> None:
        c = _c_scalar(value, dtype)
        self.keep.append(c)
        self.ptrs.append(ctypes.cast(ctypes.pointer(c), ctypes.c_void_p))

    def pack(self):
        return (ctypes.c_void_p * max(1, len(self.ptrs)))(*self.ptrs)


def _unpack(params: list[_Param], arrays: set) -> str:
    """C++ that binds each parameter from the packed pointer table ``_a``."""
    lines = []
    for k, p in enumerate(params):
        t = p.type if p.placeholder else _CTYPE[str(p.dtype)]
        const = "const " if p.is_const else ""
        if p.name in arrays:
            var = p.name if p.raw else f"_raw_{p.name}"
            lines.append(f"  {const}{t}* const {var} = ({const}{t}*)_a[{k}];")
        else:
            lines.append(f"  const {t} {p.name} = *(const {t}*)_a[{k}];")
    return "\n".join(lines)


def _cuda_params(params: list[_Param], arrays: set) -> str:
    out = []
    for p in params:
        t = p.type if p.placeholder else _CTYPE[str(p.dtype)]
        const = "const " if p.is_const else ""
        if p.name in arrays:
            out.append(f"{const}{t}* {p.name if p.raw else '_raw_' + p.name}")
        else:
            out.append(f"const {t} {p.name}")
    return ", ".join(out)


def _bind(params: list[_Param], arrays: set, index: str) -> str:
    """CuPy's per-element bindings of the non-raw array parameters."""
    lines = []
    for p in params:
        if p.name in arrays and not p.raw:
            const = "const " if p.is_const else ""
            lines.append(f"    {const}{p.type if p.placeholder else _CTYPE[str(p.dtype)]} "
                         f"&{p.name} = _raw_{p.name}[{index}];")
    return "\n".join(lines)


def _prepare(params: list[_Param], args: list, shape: tuple, types: dict) -> tuple:
    """Host-side arguments: non-raw arrays broadcast to ``shape`` and made contiguous (outputs
    are written back afterwards), raw arrays contiguous; returns (arrays, write_backs)."""
    prepared, back = [], []
    for p, a in zip(params, args):
        if not _is_array(a):
            prepared.append(a)
            continue
        if a.dtype != _dtype_of(p, types):
            raise TypeError(f"fake cupy: {p.name} has dtype {a.dtype}, the kernel reads "
                            f"{_dtype_of(p, types)}")
        if p.raw:
            c = np.ascontiguousarray(a)
        elif p.is_const:
            c = np.ascontiguousarray(np.broadcast_to(a, shape))
        else:
            c = np.array(a, order="C", copy=True)
        if not p.is_const and c is not a:
            back.append((a, c))
        prepared.append(c)
    return prepared, back


class ElementwiseKernel:
    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel",
                 reduce_dims: bool = True, preamble: str = "", no_return: bool = False,
                 return_tuple: bool = False, **kwargs):
        self.ins, self.outs = _params(in_params, True), _params(out_params, False)
        if "i" in [p.name for p in self.ins + self.outs]:
            raise ValueError("Can not use 'i' as a parameter name")
        self.operation, self.name, self.preamble = operation, name, preamble
        self.options = tuple(kwargs.pop("options", ()))
        if kwargs:
            raise TypeError(f"fake cupy: unknown ElementwiseKernel options {sorted(kwargs)}")
        self.return_tuple, self.no_return = return_tuple, no_return

    def __call__(self, *args, size: int = -1, block_size: int = 128, stream=None):
        nin, nout = len(self.ins), len(self.outs)
        if len(args) not in (nin, nin + nout):
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either "
                            f"{nin} or {nin + nout} (with outputs), but given {len(args)}.")
        in_args, out_args = list(args[:nin]), list(args[nin:])
        params = self.ins + self.outs
        arrays = [a for p, a in zip(params, args) if _is_array(a) and not p.raw]
        if size == -1 and not arrays:
            raise ValueError("Loop size is undecided.")
        shape = (int(size),) if size != -1 else np.broadcast_shapes(*(a.shape for a in arrays))
        types = _decide_types(self.ins, self.outs, in_args, out_args)
        if not out_args:
            out_args = [np.empty(shape, _dtype_of(p, types)).view(type(arrays[0]))
                        for p in self.outs]
        for p, a in zip(self.outs, out_args):
            if not _is_array(a):
                raise TypeError("Output arguments type must be cupy.ndarray")
            if not p.raw and tuple(a.shape) != tuple(shape):
                raise ValueError("Out shape is mismatched")
        ret = None if self.no_return else (
            out_args[0] if nout == 1 and not self.return_tuple else tuple(out_args))
        n = int(np.prod(shape))
        if n == 0:
            return ret
        lib = self._library(types, {p.name for p, a in zip(params, in_args + out_args)
                                    if _is_array(a)})
        prepared, back = _prepare(params, in_args + out_args, shape, types)
        launch = _Launch()
        for p, a in zip(params, prepared):
            if isinstance(a, np.ndarray):  # (host copies by now)
                launch.array(a)
            else:
                launch.scalar(a, _dtype_of(p, types))
        lib.run(ctypes.c_longlong(n), launch.pack())
        for orig, c in back:
            orig[...] = c
        return ret

    def _library(self, types: dict, arrays: set) -> ctypes.CDLL:
        params = self.ins + self.outs
        head = f"#include <cuda_runtime_api.h>\n{_typedefs(types)}{self.preamble}\n"
        body = f"{_bind(params, arrays, 'i')}\n    {self.operation};"
        source = (f"{head}extern \"C\" void run(long long _n, void** _a) {{\n"
                  f"{_unpack(params, arrays)}\n"
                  f"  for (long long i = 0; i < _n; ++i) {{\n{body}\n  }}\n}}\n")
        CUDA.setdefault(f"{self.name} {sorted(types.items())} {sorted(arrays)}", (
            f"namespace k{len(CUDA)} {{\n{_typedefs(types)}{self.preamble}\n"
            f"extern \"C\" __global__ void {self.name}_{len(CUDA)}("
            f"{_cuda_params(params, arrays)}, long long _n) {{\n"
            f"  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _n;"
            f" i += (long long)gridDim.x * blockDim.x) {{\n{body}\n  }}\n}}\n}}\n"))
        lib = _compile(source, self.name, self.options)
        lib.run.argtypes = [ctypes.c_longlong, ctypes.c_void_p]
        return lib


class ReductionKernel:
    def __init__(self, in_params: str, out_params: str, map_expr: str, reduce_expr: str,
                 post_map_expr: str, identity: str | None, name: str = "reduce_kernel",
                 reduce_type: str | None = None, reduce_dims: bool = True, preamble: str = "",
                 options: tuple = ()):
        self.ins, self.outs = _params(in_params, True), _params(out_params, False)
        self.map_expr, self.reduce_expr, self.post_map_expr = map_expr, reduce_expr, post_map_expr
        self.identity = "" if identity is None else identity
        self.name, self.preamble, self.options = name, preamble, tuple(options)
        self.reduce_type = reduce_type

    def __call__(self, *args, out=None, axis=None, keepdims: bool = False, stream=None):
        if len(args) != len(self.ins):
            raise TypeError(f"Wrong number of arguments for {self.name!r}: expected "
                            f"{len(self.ins)}, given {len(args)}")
        if len(self.outs) != 1:
            raise NotImplementedError("fake cupy: one output per reduction")
        in_args = list(args)
        arrays = [a for a in in_args if _is_array(a)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        ndim = len(shape)
        axes = tuple(range(ndim)) if axis is None else tuple(
            ax % ndim for ax in ((axis,) if np.isscalar(axis) else axis))
        kept = tuple(ax for ax in range(ndim) if ax not in axes)
        out_shape = tuple(1 if ax in axes else shape[ax] for ax in range(ndim)) if keepdims \
            else tuple(shape[ax] for ax in kept)
        types = _decide_types(self.ins, self.outs, in_args, [] if out is None else [out])
        if out is None:
            out = np.empty(out_shape, _dtype_of(self.outs[0], types)).view(type(arrays[0]))
        elif tuple(out.shape) != out_shape:
            raise ValueError("Out shape is mismatched")
        m = int(np.prod([shape[ax] for ax in kept]))
        r = int(np.prod([shape[ax] for ax in axes]))
        if m == 0:
            return out
        # inputs as (kept..., reduced...) rows, so element (row, j) is at row * r + j
        order = kept + axes
        moved = [np.ascontiguousarray(np.broadcast_to(a, shape).transpose(order))
                 if _is_array(a) else a for a in in_args]
        names = {p.name for p, a in zip(self.ins, in_args) if _is_array(a)} | {self.outs[0].name}
        lib = self._library(types, names)
        result = np.empty(out_shape, out.dtype)
        launch = _Launch()
        for p, a in zip(self.ins + self.outs, [*moved, result]):
            if isinstance(a, np.ndarray):  # (host copies by now)
                launch.array(a)
            else:
                launch.scalar(a, _dtype_of(p, types))
        lib.run(ctypes.c_longlong(m), ctypes.c_longlong(r), launch.pack())
        out[...] = result
        return out

    def _library(self, types: dict, arrays: set) -> ctypes.CDLL:
        params = self.ins + self.outs
        # CuPy pastes reduce_type into the source as it is (a C type: "double", not "float64");
        # unset, it is the output parameter's type.
        out = self.outs[0]
        rtype = self.reduce_type or (out.type if out.placeholder else _CTYPE[str(out.dtype)])
        head = (f"#include <cuda_runtime_api.h>\n{_typedefs(types)}{self.preamble}\n"
                f"#define REDUCE(a, b) ({self.reduce_expr})\n"
                f"#define POST_MAP(a) ({self.post_map_expr})\n"
                f"typedef {rtype} _type_reduce;\n")
        body = (f"    _type_reduce _s = _type_reduce({self.identity});\n"
                f"    for (long long _j = 0; _j < _r; ++_j) {{\n"
                f"{_bind(self.ins, arrays, '_m * _r + _j')}\n"
                f"      _type_reduce _x = ({self.map_expr});\n"
                f"      _s = REDUCE(_s, _x);\n    }}\n"
                f"{_bind(self.outs, arrays, '_m')}\n    POST_MAP(_s);\n")
        source = (f"{head}extern \"C\" void run(long long _nm, long long _r, void** _a) {{\n"
                  f"{_unpack(params, arrays)}\n"
                  f"  for (long long _m = 0; _m < _nm; ++_m) {{\n{body}  }}\n}}\n")
        CUDA.setdefault(f"{self.name} {sorted(types.items())} {sorted(arrays)}", (
            f"namespace k{len(CUDA)} {{\n{head}"
            f"extern \"C\" __global__ void {self.name}_{len(CUDA)}("
            f"{_cuda_params(params, arrays)}, long long _nm, long long _r) {{\n"
            f"  for (long long _m = blockIdx.x * (long long)blockDim.x + threadIdx.x; _m < _nm;"
            f" _m += (long long)gridDim.x * blockDim.x) {{\n{body}  }}\n}}\n"
            f"#undef REDUCE\n#undef POST_MAP\n}}\n"))
        lib = _compile(source, self.name, self.options)
        lib.run.argtypes = [ctypes.c_longlong, ctypes.c_longlong, ctypes.c_void_p]
        return lib


_LAUNCHER = r"""
#include <cstddef>
#include <type_traits>
#include <utility>
template <class... P, std::size_t... I>
void emu_unpack(dim3 g, dim3 b, void (*k)(P...), void** a, std::index_sequence<I...>) {
    emu_launch(g, b, k, *static_cast<std::remove_cv_t<P>*>(a[I])...);
}
template <class... P>
int emu_packed(dim3 g, dim3 b, void (*k)(P...), void** a, std::size_t* sizes, int n) {
    const std::size_t want[] = {sizeof(P)..., 0};
    if (n != (int)sizeof...(P)) return (int)sizeof...(P) + 1000;
    for (int i = 0; i < n; ++i) if (sizes[i] != want[i]) return i + 1;
    emu_unpack(g, b, k, a, std::index_sequence_for<P...>{});
    return 0;
}
"""


class _RawFunction:
    def __init__(self, lib: ctypes.CDLL, index: int, name: str):
        self.fn = getattr(lib, f"emu_run_{index}")
        self.fn.argtypes = [ctypes.c_uint * 6, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        self.fn.restype = ctypes.c_int
        self.name = name

    def __call__(self, grid: tuple, block: tuple, args: tuple, shared_mem: int = 0,
                 stream=None) -> None:
        dims = [*grid, *[1] * (3 - len(grid)), *block, *[1] * (3 - len(block))]
        launch, sizes = _Launch(by_ref=True), []
        for k, a in enumerate(args):
            if _is_array(a):
                launch.array(a)
                sizes.append(8)
            elif isinstance(a, np.generic):
                launch.scalar(a, a.dtype)
                sizes.append(a.dtype.itemsize)
            else:  # CuPy would guess a width for a Python scalar; minigan passes NumPy ones
                raise TypeError(f"fake cupy: {self.name} argument {k}: pass a NumPy scalar or "
                                f"an array, got {type(a).__name__}")
        table = (ctypes.c_size_t * max(1, len(sizes)))(*sizes)
        rc = self.fn((ctypes.c_uint * 6)(*dims), ctypes.cast(launch.pack(), ctypes.c_void_p),
                     ctypes.cast(table, ctypes.c_void_p), len(sizes))
        if rc >= 1000:
            raise TypeError(f"fake cupy: {self.name} takes {rc - 1000} arguments, "
                            f"given {len(args)}")
        if rc:
            raise TypeError(f"fake cupy: {self.name} argument {rc - 1} has the wrong width "
                            f"({sizes[rc - 1]} bytes) for its parameter")


class RawModule:
    def __init__(self, code: str, options: tuple = (), name_expressions: tuple = (),
                 **kwargs):
        self.code, self.options, self.names = code, tuple(options), tuple(name_expressions)
        self._lib = None
        CUDA.setdefault(f"RawModule {self.names}", (
            f"namespace k{len(CUDA)} {{\n{code}\n"
            + "".join(f"void* const _instance{k} = (void*)&{n};\n"
                      for k, n in enumerate(self.names)) + "}\n"))

    def get_function(self, name: str) -> _RawFunction:
        if name not in self.names:
            raise KeyError(f"fake cupy: {name!r} is not one of the name expressions "
                           f"{self.names}")
        if self._lib is None:
            runs = "".join(
                f"extern \"C\" int emu_run_{k}(unsigned* d, void** a, std::size_t* s, int n) "
                f"{{ return emu_packed(dim3(d[0], d[1], d[2]), dim3(d[3], d[4], d[5]), &{n}, a,"
                f" s, n); }}\n" for k, n in enumerate(self.names))
            source = f"#include <cuda_runtime_api.h>\n{_LAUNCHER}\n{self.code}\n{runs}"
            self._lib = _compile(source, "raw_module", self.options)
        return _RawFunction(self._lib, self.names.index(name), name)
