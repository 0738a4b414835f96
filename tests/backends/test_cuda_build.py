"""minigan._cuda: it must be built where CI asks for it (MINIGAN_CUDA=ON, or CI set), import on a
machine with no GPU or driver, report that as values, and check its arguments before touching
the device. The kernel itself runs only in the `gpu`-marked test."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

REQUIRED = os.environ.get("MINIGAN_CUDA", "").upper() == "ON" or bool(os.environ.get("CI"))


@pytest.fixture(scope="module")
def cuda():
    try:
        return importlib.import_module("minigan._cuda")
    except ImportError as exc:
        if REQUIRED:
            pytest.fail(f"minigan._cuda must be built when MINIGAN_CUDA=ON or CI is set: {exc}")
        pytest.skip(f"minigan._cuda not built (build with nvcc and MINIGAN_CUDA=ON): {exc}")


def test_device_count_is_an_int_and_never_raises(cuda):
    n = cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert cuda.device_count() == n


def test_runtime_info_reports_status_as_values(cuda):
    info = cuda.runtime_info()
    assert set(info) >= {"status", "driver", "driver_version", "runtime_version", "devices"}
    assert re.fullmatch(r"\d+\.\d+", info["runtime_version"])
    assert info["status"] in {"ok", "no driver", "no device", "error"}
    assert (info["driver"] == "no driver") == (info["driver_version"] == 0)
    n = cuda.device_count()
    if n == 0:
        assert info["status"] in {"no driver", "no device", "error"}
        assert info["devices"] == []
    else:
        assert info["status"] == "ok"
        assert len(info["devices"]) == n
        assert all(re.fullmatch(r"\d+\.\d+", d["compute_capability"]) for d in info["devices"])


def test_no_driver_here_is_reported_not_raised(cuda):
    """On a machine without the NVIDIA driver (like CI), the module still works and says so."""
    if os.path.exists("/dev/nvidiactl") or _has_libcuda():
        pytest.skip("this machine has an NVIDIA driver")
    assert cuda.device_count() == 0
    info = cuda.runtime_info()
    assert info["status"] == "no driver" and info["driver"] == "no driver"


def _has_libcuda() -> bool:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "libcuda.so" in out


def test_cudart_is_linked_statically(cuda):
    """A shared libcudart would have to be found at import; the static one never is."""
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("ldd not available to list shared-library dependencies")
    needed = subprocess.run([ldd, cuda.__file__], capture_output=True, text=True).stdout
    assert "libcudart" not in needed
    assert "libcuda.so" not in needed  # the driver is dlopen-ed on first use, never linked


class FakeCudaArray:
    """Only an interface dict: enough to test argument checks without any GPU."""

    def __init__(self, shape, typestr="<f4", strides=None, ptr=0x1000, readonly=False, **extra):
        self.__cuda_array_interface__ = {
            "shape": tuple(shape), "typestr": typestr, "strides": strides,
            "data": (ptr, readonly), "version": 3, **extra,
        }


GOOD = (3, 3, (1, 1), (1, 1), (1, 1))


@pytest.mark.parametrize(
    "x, out, error, message",
    [
        pytest.param(np.zeros((1, 2, 5, 5), np.float32), FakeCudaArray((25, 18)), TypeError,
                     r"^im2col: x: expected a CUDA array exposing __cuda_array_interface__",
                     id="numpy-x"),
        pytest.param(FakeCudaArray((1, 2, 5, 5), "<i4"), FakeCudaArray((25, 18)), TypeError,
                     r"^im2col: x: expected dtype float32 or float64", id="int32"),
        pytest.param(FakeCudaArray((2, 5, 5)), FakeCudaArray((25, 18)), ValueError,
                     r"^im2col: x: expected a 4-d array", id="3-d"),
        pytest.param(FakeCudaArray((1, 2, 5, 5), strides=(200, 100, 20, 8)),
                     FakeCudaArray((25, 18)), ValueError, r"^im2col: x: expected a C-contiguous",
                     id="strided"),
        pytest.param(FakeCudaArray((1, 2, 5, 5), mask=object()), FakeCudaArray((25, 18)),
                     ValueError, r"^im2col: x: masked arrays are not supported", id="masked"),
        pytest.param(FakeCudaArray((1, 2, 5, 5)), FakeCudaArray((25, 18), "<f8", ptr=0x9000),
                     TypeError, r"^im2col: out: expected dtype float32 to match x", id="out-dtype"),
        pytest.param(FakeCudaArray((1, 2, 5, 5)), FakeCudaArray((25, 17), ptr=0x9000),
                     ValueError, r"^im2col: out: expected shape \(25, 18\), got \(25, 17\)",
                     id="out-shape"),
        pytest.param(FakeCudaArray((1, 2, 5, 5)), FakeCudaArray((25, 18), readonly=True,
                                                                 ptr=0x9000),
                     ValueError, r"^im2col: out: expected a writeable array", id="out-readonly"),
        pytest.param(FakeCudaArray((1, 2, 5, 5)), FakeCudaArray((25, 18), ptr=0x1000),
                     ValueError, r"^im2col: out: must not share memory with x", id="aliasing"),
    ],
)
def test_bad_arguments_are_rejected_before_touching_the_device(cuda, x, out, error, message):
    with pytest.raises(error, match=message):
        cuda.im2col(x, *GOOD, out=out)


def test_kernel_without_a_device_raises_runtime_error(cuda):
    if cuda.device_count() > 0:
        pytest.skip("this machine has a GPU")
    x, out = FakeCudaArray((1, 2, 5, 5)), FakeCudaArray((25, 18), ptr=0x9000)
    message = r"^im2col: no CUDA device available \((no driver|no device|error|cuda\w+)\)"
    with pytest.raises(RuntimeError, match=message):
        cuda.im2col(x, *GOOD, out=out)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_im2col_on_gpu_matches_loop_reference(cuda, conv_case, dtype, loop_reference):
    import cupy

    shape, kh, kw, stride, padding, dilation = conv_case
    im2col_loop, _ = loop_reference
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    expected = im2col_loop(x, kh, kw, stride, padding, dilation)
    x_gpu = cupy.asarray(x)
    out = cupy.full(expected.shape, cupy.nan, dtype=dtype)
    stream = cupy.cuda.get_current_stream()
    assert cuda.im2col(x_gpu, kh, kw, stride, padding, dilation, out=out, stream=stream.ptr) is out
    stream.synchronize()
    np.testing.assert_array_equal(cupy.asnumpy(out), expected)
