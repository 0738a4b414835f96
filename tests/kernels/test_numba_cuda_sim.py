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
    mod = importlib.import_module(f"minigan.kernels.numba_cuda_{family}")
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
    from minigan.kernels import numba_cuda_gan_loss

    with pytest.raises(TypeError, match="logits: the numba_cuda kernels take CuPy arrays"):
        numba_cuda_gan_loss.fused_gan_loss("ns", "g", np.zeros(3, dtype=np.float32))
