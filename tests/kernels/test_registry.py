import pytest

from minigan import backends
from minigan.kernels import conv, registry


def test_reference_is_the_cpu_default_and_cuda_fallback():
    assert registry.get("conv2d_forward", "cpu", backend="numpy") is conv.conv2d_forward
    # A kernel with no CUDA entry at all falls back to its xp-generic reference on cuda.
    registry.define("test_family", "test_cuda_fallback", lambda x: ("ref", x))
    assert registry.get("test_cuda_fallback", "cuda", backend="cupy")(2) == ("ref", 2)
    assert registry.get("test_cuda_fallback", "cuda", backend="cuda")(3) == ("ref", 3)
    assert "conv2d_forward" in registry.kernels()["conv"]


def test_backend_without_the_kernel_falls_back():
    registry.define("test_family", "test_kernel", lambda x: ("ref", x))
    registry.provide("test_kernel", "numba", "math:sqrt")  # lazily imported on first use
    assert registry.get("test_kernel", "cpu", backend="native")(1) == ("ref", 1)
    import math

    assert registry.get("test_kernel", "cpu", backend="numba") is math.sqrt
    assert registry.providers("test_kernel") == ["numpy", "numba"]


def test_bad_names_are_clear():
    with pytest.raises(KeyError, match="unknown kernel 'nope'"):
        registry.get("nope")
    with pytest.raises(ValueError, match="define its reference"):
        registry.provide("nope", "native", "x:y")
    with pytest.raises(ValueError, match="backend"):
        registry.provide("conv2d_forward", "fortran", "x:y")
    assert backends.current() in backends.DEFAULT_CPU_ORDER  # nothing above switched backend


def test_default_cpu_backend_is_the_measured_fastest_available(tmp_path):
    """Without use() or MINIGAN_BACKEND the first available of DEFAULT_CPU_ORDER is in use."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MINIGAN_BACKEND"}
    code = "import minigan.backends as b; print(b.current(), b.available())"
    # cwd outside the checkout: `python -c` puts the cwd first on sys.path, and the source tree
    # (without the compiled _C) would shadow the installed package.
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    current = out.stdout.split()[0]
    want = next(b for b in backends.DEFAULT_CPU_ORDER if b in backends.available())
    assert current == want
    assert backends.DEFAULT_CPU_ORDER[-1] == "numpy"  # always available: a default always exists
