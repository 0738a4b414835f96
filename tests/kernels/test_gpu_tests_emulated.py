"""The ``gpu``-marked tests of the device path, run without a GPU: in a pytest process of its own
with the NumPy-backed cupy of cuda_emulator/fake_cupy/ first on the path (the cupy backend's
kernels compiled for the CPU, host arrays refused beside device ones, device-to-host copies
caught by its ``cupyx.allow_synchronize``). So the GPU parity tests of the cupy backend,
``Tensor.to("cuda")``, modules, optimizers, gradient penalties, DCGAN steps against the CPU,
``minigan train --device cuda``, the loader's device batches and the GPU benchmarks' code have
all run before a GPU session. The ``cuda`` backend's kernels are emulated by
test_cuda_module.py instead (a DCGAN step with a thread per CUDA thread would take too long),
and numba_cuda runs under its simulator (test_numba_cuda_sim.py); both skip here. Real GPUs
still decide: results and speed here say nothing about them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TESTS = HERE.parent
FILES = ["gpu/test_end_to_end_gpu.py", "gpu/test_parity_gpu.py", "gpu/test_bench_gpu.py",
         "gpu/test_cuda_kernels_gpu.py", "nn/test_nn_gpu.py", "data/test_loader.py"]


@pytest.mark.slow
def test_gpu_marked_device_path_tests_pass_on_the_emulated_cupy(tmp_path):
    emu = HERE / "cuda_emulator"
    env = {**os.environ, "MINIGAN_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "FAKE_CUPY_SMS": "1", "FAKE_CUPY_BUILD": str(tmp_path / "kernels"),
           "PYTHONPATH": os.pathsep.join([str(emu / "fake_cupy"), str(emu)])}
    env.pop("MINIGAN_BACKEND", None)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-rs",
                          "-p", "no:cacheprovider", "-p", "emulated_gpu",
                          *(str(TESTS / f) for f in FILES)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-8000:]
    passed = int(re.search(r"(\d+) passed", out).group(1))
    assert passed >= 400, out[-4000:]  # 393 cupy parity rows x dtypes, 13 device-path tests
    # Only the two backends emulated elsewhere may skip.
    for line in re.findall(r"^SKIPPED .*$", out, re.M):
        assert "backend 'numba_cuda'" in line or "backend 'cuda'" in line, line
