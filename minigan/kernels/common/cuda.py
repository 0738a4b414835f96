"""What the ``cuda`` backend's wrappers (``minigan/kernels/cuda_*.py``) share: the compiled
module ``minigan._cuda``, CuPy's current stream, contiguous inputs and freshly allocated outputs.

The module has no allocator: every output and scratch buffer is a CuPy array allocated here (so
CuPy's memory pool owns all device memory), and every launch goes on CuPy's current stream, so
the kernels order correctly with the CuPy work around them and nothing synchronises.
"""

from __future__ import annotations

from typing import Any

import cupy

from ... import backends

_cuda = backends.cuda_module()
if _cuda is None:  # the registry imports this module only for an available backend
    raise ImportError(f"minigan._cuda is not built ({backends.import_error('minigan._cuda')})")

cuda = _cuda  # the compiled module, for the wrappers


def stream() -> int:
    """CuPy's current stream as the int the kernels take (0 is the legacy default stream)."""
    return cupy.cuda.get_current_stream().ptr


def as_device(name: str, a: Any) -> Any:
    """``a`` as a C-contiguous CuPy array (a copy only when it is strided); a clear TypeError for
    a host array, which would otherwise be copied to the GPU silently."""
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"{name}: expected a cupy.ndarray on the GPU (the cuda backend), got "
                        f"{type(a).__module__}.{type(a).__name__}")
    out = cupy.ascontiguousarray(a)
    # NumPy's ascontiguousarray turns a 0-d array into a 1-d one; keep the caller's shape.
    return out if out.shape == a.shape else out.reshape(a.shape)


def partials() -> Any:
    """float64 scratch for the kernels' two-pass reductions (REDUCE_PARTIALS entries)."""
    return cupy.empty(_cuda.REDUCE_PARTIALS, dtype=cupy.float64)


def overlaps(a: Any, b: Any) -> bool:
    """Whether the memory spans of two CuPy arrays intersect (conservative for strided views)."""
    if a.size == 0 or b.size == 0:
        return False
    a_lo, b_lo = _span(a), _span(b)
    return a_lo[0] < b_lo[1] and b_lo[0] < a_lo[1]


def _span(a: Any) -> tuple[int, int]:
    lo = hi = a.data.ptr
    for n, s in zip(a.shape, a.strides):
        if s >= 0:
            hi += (n - 1) * s
        else:
            lo += (n - 1) * s
    return lo, hi + a.itemsize


_SM_COUNT: dict[int, int] = {}


def sm_count() -> int:
    """Multiprocessors of the current device (cached per device)."""
    dev = cupy.cuda.Device()
    if dev.id not in _SM_COUNT:
        _SM_COUNT[dev.id] = int(dev.attributes["MultiProcessorCount"])
    return _SM_COUNT[dev.id]
