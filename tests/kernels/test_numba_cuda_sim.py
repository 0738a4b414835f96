"""The numba_cuda backend in CI, where there is no GPU.

Its kernels run under Numba's CUDA simulator, which must be switched on before Numba is first
imported -- too late in this process (other tests import Numba). So the simulator tests live in
tests/cudasim/check_numba_cuda.py (not collected here) and run in a pytest process of their own
with ``NUMBA_ENABLE_CUDASIM=1``; this test fails with that run's output when it fails.

The rest runs here, without the simulator: the modules import (and compile nothing) on a
machine without a GPU, and NumPy arrays are refused with an error naming the argument.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

INNER = Path(__file__).resolve().parents[1] / "cudasim" / "check_numba_cuda.py"
MODULES = ["conv", "spectral_norm", "gan_loss", "bias_act", "batch_norm", "optim"]


def test_numba_cuda_kernels_match_the_reference_under_the_simulator(tmp_path):
    pytest.importorskip("numba")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "MINIGAN_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    # cwd outside the checkout: `python -m` puts the cwd first on sys.path, and the source tree
    # (without the compiled _C) would shadow the installed package. The rootdir, and with it
    # the project's pytest options (--import-mode=importlib), still come from pyproject.toml
    # above the test file.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(INNER)]
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    output = f"$ NUMBA_ENABLE_CUDASIM=1 {' '.join(cmd)}\n{run.stdout}\n{run.stderr}"
    assert run.returncode == 0, f"the simulator run failed (exit {run.returncode}):\n{output}"
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) > 50, f"too few simulator tests ran:\n{output}"
    assert not re.search(r"\d+ (skipped|xfailed|deselected)", run.stdout), \
        f"the simulator run skipped tests:\n{output}"


@pytest.mark.parametrize("family", MODULES)
def test_modules_import_without_a_gpu_and_compile_lazily(family):
    pytest.importorskip("numba")
    mod = importlib.import_module(f"minigan.kernels.{family}.numba_cuda")
    from minigan.kernels import registry

    for name, impl in vars(mod).items():
        if callable(impl) and getattr(impl, "__module__", None) == mod.__name__ \
                and name in registry._REFERENCE:
            assert registry.get(name, "cuda", backend="numba_cuda") is impl
    assert mod._kernels.cache_info().currsize == 0, "kernels were built at import"


def test_numpy_arrays_are_refused_outside_the_simulator():
    numba = pytest.importorskip("numba")
    if numba.config.ENABLE_CUDASIM:
        pytest.skip("this process runs under the simulator, where NumPy arrays are the input")
    from minigan.kernels.gan_loss import numba_cuda as numba_cuda_gan_loss

    with pytest.raises(TypeError, match="logits: the numba_cuda kernels take CuPy arrays"):
        numba_cuda_gan_loss.fused_gan_loss("ns", "g", np.zeros(3, dtype=np.float32))


class _CompileOnly:
    """Stands in for numba_cuda_common.Launch: each launch compiles its kernel to PTX for the
    argument types instead of running it (NumPy arrays type like contiguous CuPy ones)."""

    compiled: dict = {}

    def __init__(self, **arrays):
        self.xp, self.stream = np, None

    def dev(self, a):
        return a

    def __call__(self, kernel, grid, block, *args):
        import numba
        from numba import cuda

        sig = tuple(numba.typeof(a) for a in args)
        key = (kernel.py_func.__qualname__, id(kernel), sig)
        if key not in self.compiled:
            self.compiled[key] = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))[0]


def test_every_kernel_compiles_to_ptx(monkeypatch):
    """Numba's real CUDA compiler (typing, lowering, NVVM), which the simulator skips, on every
    kernel the small parity rows launch, float32 and float64. Needs libNVVM, not a GPU."""
    numba = pytest.importorskip("numba")
    if numba.config.ENABLE_CUDASIM:
        pytest.skip("this process runs under the simulator")
    from numba.cuda.cudadrv import nvvm

    if not nvvm.is_available():
        pytest.skip("libNVVM not found: Numba cannot compile CUDA kernels here")
    from numba.cuda import dispatcher

    from minigan.kernels import registry, table
    from minigan.kernels.common import numba_cuda as numba_cuda_common

    if not hasattr(dispatcher, "get_current_device"):
        pytest.skip("this Numba compiles device functions differently (no get_current_device)")

    class _Device:  # compute capability asked for when device functions compile; no GPU here
        compute_capability = (9, 0)

    monkeypatch.setattr(dispatcher, "get_current_device", lambda: _Device())
    monkeypatch.setattr(numba_cuda_common, "Launch", _CompileOnly)
    modules = [importlib.import_module(f"minigan.kernels.{f}.numba_cuda") for f in MODULES]
    try:
        for case in table.rows():
            impl = registry.get(case.kernel, "cuda", backend="numba_cuda")
            for dtype in (np.float32, np.float64):
                case.run(impl, *case.arguments(dtype))
    finally:
        for mod in modules:  # kernels built in this test were never meant to launch
            mod._kernels.cache_clear()
    names = {key[0].split(".")[-1] for key in _CompileOnly.compiled}
    assert {"kernel", "im2col_k", "col2im_k", "terms", "stats", "grad_sums", "wt_u", "w_v",
            "adam", "sgd"} <= names
    assert all(".entry" in ptx for ptx in _CompileOnly.compiled.values())
