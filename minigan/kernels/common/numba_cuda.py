"""What every ``numba_cuda`` kernel module shares: argument checks, the launch context of one
call (array module, stream), launch sizes, and the shared-memory tree reduction.

Arrays. On a GPU the kernels take CuPy arrays: each is handed to Numba through
``__cuda_array_interface__`` with ``sync=False`` (Numba would otherwise synchronize the stream
CuPy exports with every array, a hidden host stall per launch), and every launch goes on CuPy's
current stream, so the kernels order with the CuPy work around them. (Numba launches on its
current device, device 0 unless ``numba.cuda.select_device`` chose another: it must be the one
holding the arrays.) Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, used by CI,
which has no GPU) they take NumPy arrays. Outputs are allocated with the array module of the
inputs in both cases.

Compilation. Each family builds its kernels in a function cached per dtype
(``functools.cache``): the first call compiles, later calls reuse. Importing these modules
imports Numba (the registry imports them only when a numba_cuda kernel is first asked for) but
needs no GPU and compiles nothing. Kernels and device functions name ``cuda`` as a module
global, never a closure variable: the simulator runs them by swapping that global for its fake
``cuda`` module.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

from ... import backends


def simulated() -> bool:
    """True under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` before Numba's import)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


# Threads of the 1-D kernels; a power of two (the tree reduction halves it). The simulator runs
# one Python thread per CUDA thread and polls them at every barrier, so 256-thread blocks cost it
# ~0.1 s each; it runs the same kernels with 16. Kernels are built per block size, and the
# wrappers read this at call time, so a test can run the GPU's value under the simulator too.
BLOCK = 16 if simulated() else 256
# Blocks of a grid-stride launch: a few waves on any current GPU (this also bounds the number of
# per-block partials a reduction leaves). The simulator gets 4, which also makes every
# grid-stride loop take several turns on the small test shapes.
MAX_BLOCKS = 4 if simulated() else 1024
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(name: str, a: Any) -> np.dtype:
    """``a``'s dtype, which must be float32 or float64 (TypeError naming ``name`` otherwise)."""
    dtype = np.dtype(a.dtype)
    if dtype not in FLOATS:
        raise TypeError(f"{name}: expected a float32 or float64 array, got {dtype}")
    return dtype


def numba_type(dtype: np.dtype) -> Any:
    """The Numba scalar type of a float dtype (for shared/local arrays and casts in kernels)."""
    import numba

    return numba.float32 if np.dtype(dtype) == np.float32 else numba.float64


def blocks_for(n: int, block: int) -> int:
    """Blocks of a grid-stride launch over n items: one item per thread up to MAX_BLOCKS."""
    return max(1, min(math.ceil(n / block), MAX_BLOCKS))


def splits_for(count: int, channels: int, block: int) -> int:
    """How many blocks share one channel in a per-channel reduction: enough blocks in all to
    fill a large GPU (~1,024), but at least ~4 items per thread in each."""
    return max(1, min(math.ceil(count / (4 * block)), math.ceil(1024 / max(channels, 1))))


_STREAMS: dict[int, Any] = {}  # CuPy stream handle -> the Numba stream wrapping it


def _cupy_stream() -> Any:
    """CuPy's current stream as a Numba stream (wrapping the same handle, cached per handle)."""
    import cupy

    ptr = int(cupy.cuda.get_current_stream().ptr)
    cache = _STREAMS
    if ptr not in cache:
        # Handle 0 is the legacy default stream, which Numba names itself.
        cache[ptr] = cuda.legacy_default_stream() if ptr == 0 else cuda.external_stream(ptr)
    return cache[ptr]


class Launch:
    """One call's context: the array module of its arrays (all must share it), device views
    for Numba, and launches on the current stream.

    ``Launch(x=x, weight=w)`` checks that every named array (None skipped) is a CuPy array, or
    a NumPy array under the simulator, and names the offending argument otherwise."""

    def __init__(self, **arrays: Any) -> None:
        named = {k: a for k, a in arrays.items() if a is not None}
        self.xp = backends.get_array_module(*named.values())
        on_gpu = self.xp is not np
        for name, a in named.items():
            is_cupy = type(a).__module__.startswith("cupy")
            if is_cupy != on_gpu:
                raise TypeError(f"{name}: expected a {'CuPy' if on_gpu else 'NumPy'} array like "
                                f"the other arguments, got {type(a).__module__}."
                                f"{type(a).__name__}")
        if not on_gpu and not simulated():
            name = next(iter(named), "arrays")
            raise TypeError(f"{name}: the numba_cuda kernels take CuPy arrays (device 'cuda'); "
                            f"NumPy arrays only under Numba's CUDA simulator "
                            f"(NUMBA_ENABLE_CUDASIM=1)")
        self.stream = _cupy_stream() if on_gpu else None

    def dev(self, a: Any) -> Any:
        """``a`` as Numba takes it: a zero-copy device view of a CuPy array (no stream sync),
        the NumPy array itself under the simulator."""
        if self.stream is None:
            return a
        return cuda.as_cuda_array(a, sync=False)

    def __call__(self, kernel: Any, grid: Any, block: Any, *args: Any) -> None:
        """Launch ``kernel[grid, block]`` on the current stream with ``args`` (arrays among them
        converted with :meth:`dev`)."""
        if self.stream is not None:
            args = tuple(self.dev(a) if hasattr(a, "__cuda_array_interface__") else a
                         for a in args)
            kernel[grid, block, self.stream](*args)
            return
        # The simulator copies each NumPy argument to its fake device and back, and cannot copy
        # a strided view; a GPU reads strided CuPy arrays in place. Hand it contiguous copies
        # and write them back (that is a no-op for the arrays the kernel only reads).
        strided = [(i, a) for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.ndim
                   and not (a.flags.c_contiguous or a.flags.f_contiguous)]
        args = list(args)
        for i, a in strided:
            args[i] = np.ascontiguousarray(a)
        kernel[grid, block](*args)
        for i, a in strided:
            a[...] = args[i]


@functools.cache
def tree_sum(block: int) -> Any:
    """A device function ``tree_sum(sh, tid)``: the sum of ``sh[0:block]`` (a shared array each
    thread of a ``block``-thread block has written its partial into), returned to every thread.

    Halving steps with a barrier between each; the caller's writes are fenced first, and a last
    barrier lets the caller reuse ``sh`` afterwards."""
    if block < 1 or block & (block - 1):
        raise ValueError(f"block: expected a power of two, got {block}")

    @cuda.jit(device=True)
    def _tree_sum(sh, tid):
        cuda.syncthreads()
        half = block // 2
        while half > 0:
            if tid < half:
                sh[tid] += sh[tid + half]
            cuda.syncthreads()
            half //= 2
        total = sh[0]
        cuda.syncthreads()
        return total

    return _tree_sum
