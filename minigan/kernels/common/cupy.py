"""What the CuPy kernel modules share: CuPy itself (imported on first use), argument checks,
launch geometry, and the device math helpers their CUDA source strings include.

Kernel objects (``cupy.ElementwiseKernel``, ``ReductionKernel``, ``RawModule``) are built by
functions decorated with :func:`functools.cache`, so importing a ``cupy_*`` module imports no CuPy
and compiles nothing; CuPy compiles each kernel for a dtype on its first launch and caches the
binary (in memory and under ``~/.cupy/kernel_cache``).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np

from ...backends import require_cupy

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
BLOCK = 256  # threads per block of the RawKernels: 8 warps, a multiple of 32 as they assume
# The reductions accumulate in double. ReductionKernel pastes reduce_type into the kernel source
# as it is, so it must be a C type ("double"), not a NumPy name ("float64" does not compile).
ACC = "double"

# Overloads with one spelling for float and double, so a template kernel calls e.g. ``m_exp(x)``
# and gets expf for float (a plain ``exp(x)`` on a float could silently run in double).
MATH = r"""
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double m_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float m_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double m_abs(double x) { return fabs(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
// NumPy's maximum/minimum: NaN in either argument gives NaN (fmax would drop it).
template <typename T> __device__ __forceinline__ T m_max(T a, T b) {
    return (a > b || a != a) ? a : b;
}
template <typename T> __device__ __forceinline__ T m_min(T a, T b) {
    return (a < b || a != a) ? a : b;
}
"""


def cupy() -> ModuleType:
    """CuPy, or the one RuntimeError of :func:`minigan.backends.require_cupy` naming what is
    missing (CuPy, the driver or a GPU)."""
    return require_cupy()


def cached(builder: Any) -> Any:
    """Build a kernel object once per distinct argument tuple (lazily, on first call)."""
    return functools.cache(builder)


def is_cupy(a: Any) -> bool:
    return type(a).__module__.startswith("cupy")


def float_dtype(**arrays: Any) -> np.dtype | None:
    """The dtype shared by ``arrays`` (None entries skipped) when every one is a CuPy array of
    float32 or float64; None when the NumPy reference should take the call instead (another
    dtype, or mixed dtypes: the reference, run on the CuPy arrays, raises its own error).

    A host array is refused with a TypeError naming it: the ``cupy`` kernels run on the device.
    """
    dtypes = set()
    for name, a in arrays.items():
        if a is None:
            continue
        if not is_cupy(a):
            raise TypeError(f"{name}: expected a cupy.ndarray (the cupy backend runs on the "
                            f"GPU), got {type(a).__module__}.{type(a).__name__}")
        dtypes.add(np.dtype(a.dtype))
    if len(dtypes) == 1 and (dtype := dtypes.pop()) in FLOATS:
        return dtype
    return None


def ctype(dtype: np.dtype) -> str:
    """The C++ name of a float dtype, for template name expressions."""
    return "float" if np.dtype(dtype) == np.float32 else "double"


@functools.cache
def _sm_count(device_id: int) -> int:
    cp = cupy()
    return int(cp.cuda.Device(device_id).attributes["MultiProcessorCount"])


def grid_for(n: int, per_block: int = BLOCK, waves: int = 8) -> int:
    """Blocks for a grid-stride loop over ``n`` items: enough to cover them, at most ``waves``
    blocks per SM (more would only add block scheduling, each thread loops anyway)."""
    cp = cupy()
    cap = waves * _sm_count(cp.cuda.Device().id)
    return max(1, min(-(-n // per_block), cap))
