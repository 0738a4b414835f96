"""The parity table (minigan.kernels.table) on every CUDA backend present (cupy, numba_cuda,
cuda) x (float32, float64), against the NumPy reference run in float64 on host copies of the
same inputs -- the GPU twin of tests/kernels/test_parity.py, with its upcast and tolerance logic.

Arguments go to the device with ``cupy.asarray``; every array a GPU kernel returns (or updates
in place) must be a CuPy array of the input dtype -- a silent host fallback fails here -- and
comes back with ``.get()``. Needs a GPU: skipped elsewhere with the reason
``minigan.backends.unavailable_reason`` gives.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backends
from minigan.diagnostics.gradcheck import assert_outputs_close
from minigan.kernels import registry, table

pytestmark = pytest.mark.gpu

DTYPES = [np.float32, np.float64]
ROWS = table.rows()


def _skip_unless(backend: str) -> None:
    reason = backends.unavailable_reason(backend)
    if reason is not None:
        pytest.skip(f"backend {backend!r} unavailable: {reason}")


def _upcast(obj, dtype):
    """float64 copies of the row's arrays of ``dtype`` (other values unchanged)."""
    if isinstance(obj, np.ndarray) and obj.dtype == dtype:
        return obj.astype(np.float64)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_upcast(o, dtype) for o in obj)
    if isinstance(obj, dict):
        return {k: _upcast(v, dtype) for k, v in obj.items()}
    return obj


def _to_device(obj):
    import cupy

    if isinstance(obj, np.ndarray):
        return cupy.asarray(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_device(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v) for k, v in obj.items()}
    return obj


def _to_host(a, k: int, case_name: str):
    """An output of a GPU kernel: None, or a CuPy array brought back to the host."""
    if a is None:
        return None
    assert type(a).__module__.startswith("cupy"), (
        f"{case_name} output {k}: a {type(a).__module__}.{type(a).__name__} came back, "
        "expected a CuPy array (the kernel must stay on the device)")
    return a.get()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", backends.CUDA_BACKENDS)
@pytest.mark.parametrize("case", ROWS, ids=lambda c: c.name)
def test_kernel_matches_reference_on_gpu(case, backend, dtype):
    _skip_unless(backend)
    impl = registry.get(case.kernel, "cuda", backend=backend)
    args, kwargs = case.arguments(dtype)
    got = case.run(impl, _to_device(args), _to_device(kwargs))
    want = case.run(registry.reference(case.kernel), _upcast(args, np.dtype(dtype)),
                    _upcast(kwargs, np.dtype(dtype)))
    got = tuple(a if a is None else _to_host(a, k, case.name) for k, a in enumerate(got))
    rtol, atol = case.tol.get(np.dtype(dtype), (None, None))
    assert_outputs_close(got, want, dtype, rtol, atol, what=case.name)


@pytest.mark.parametrize("backend", backends.CUDA_BACKENDS)
def test_every_kernel_is_provided_on_gpu(backend):
    """Each CUDA backend registers every kernel and its module really defines it (no silent
    fallback to the reference on the device)."""
    _skip_unless(backend)
    for name in registry._REFERENCE:
        assert backend in registry.providers(name), name
        assert registry.get(name, "cuda", backend=backend) is not registry.reference(name), name

