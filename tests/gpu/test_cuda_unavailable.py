"""Without CuPy, a driver or a GPU, asking for ``device="cuda"`` gives ONE clear error naming
what is missing -- from tensors, modules and ``minigan train`` alike -- and importing the CuPy
kernel modules needs no CuPy. These run on any machine: the missing piece is simulated by
setting the cached probe result of ``minigan.backends``."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import numpy as np
import pytest

import minigan as mg
from minigan import backends
from minigan.cli import main
from minigan.kernels import registry

MISSING = "CuPy is not installed (pip install 'minigan[cuda]')"
MESSAGE = f"device 'cuda' is not available: {MISSING}"


@pytest.fixture
def no_cupy(monkeypatch):
    """As on a machine without CuPy, whatever this one has."""
    monkeypatch.setattr(backends, "_gpu_reason_cache", [MISSING])


@pytest.mark.parametrize("make", [
    lambda: mg.tensor([1.0, 2.0], device="cuda"),
    lambda: mg.zeros(2, 3, device="cuda"),
    lambda: mg.ones(2, device="cuda"),
    lambda: mg.randn(4, device="cuda"),
    lambda: mg.tensor([1.0]).to("cuda"),
    lambda: mg.nn.Linear(3, 2).to("cuda"),
    lambda: mg.nn.Linear(3, 2, device="cuda"),
], ids=["tensor", "zeros", "ones", "randn", "Tensor.to", "Module.to", "Linear(device)"])
def test_cuda_without_cupy_is_one_clear_error(no_cupy, make):
    with pytest.raises(RuntimeError) as err:
        make()
    assert str(err.value) == MESSAGE


def test_the_error_names_what_this_machine_lacks():
    """Unpatched: on a machine without a usable GPU the message is the backends' own reason."""
    reason = backends.unavailable_reason("cupy")
    if reason is None:
        pytest.skip("this machine has a usable GPU")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available") as err:
        mg.tensor([1.0], device="cuda")
    assert str(err.value).endswith(reason)
    assert any(word in reason for word in ("CuPy", "GPU", "driver"))


@pytest.mark.parametrize("extra", [["--device", "cuda"], ["--backend", "cupy"]],
                         ids=["--device cuda", "--backend cupy"])
def test_train_on_cuda_without_cupy_fails_with_one_line(no_cupy, tmp_path, capsys, extra):
    out = tmp_path / "run"
    code = main(["train", "--preset", "grid25", "--steps", "1", "--out", str(out), "--quiet",
                 *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"minigan train: error: {MESSAGE}"
    assert not out.exists(), "nothing may be written before the device is known to work"


def test_train_refuses_a_backend_of_the_other_device(tmp_path, capsys):
    code = main(["train", "--preset", "grid25", "--steps", "1", "--out", str(tmp_path / "r"),
                 "--quiet", "--device", "cpu", "--backend", "cupy"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--backend cupy runs on 'cuda', not on --device cpu" in err
    assert "Traceback" not in err


def test_cupy_kernel_modules_import_without_cupy_and_match_the_references():
    """Every name the registry points at exists with the reference's exact signature, and
    importing the modules imports no CuPy (nothing compiles before a GPU is used)."""
    paths = {}
    for name in registry._REFERENCE:
        impl = registry._PROVIDED[name].get("cupy")
        assert isinstance(impl, str) or callable(impl), f"no cupy entry for {name}"
        if isinstance(impl, str):
            module, _, attr = impl.partition(":")
            fn = getattr(importlib.import_module(module), attr)
            paths[name] = module
        else:
            fn = impl
        assert inspect.signature(fn) == inspect.signature(registry.reference(name)), name
    code = ("import sys\n" + "".join(f"import {m}\n" for m in sorted(set(paths.values())))
            + "print('cupy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_cupy_kernels_refuse_host_arrays():
    """A NumPy array handed to a cupy-backend kernel is a TypeError naming the argument."""
    from minigan.kernels.bias_act import cupy as cupy_bias_act

    with pytest.raises(TypeError, match=r"x: expected a cupy.ndarray"):
        cupy_bias_act.bias_act(np.zeros((2, 3), np.float32), None, "relu")


def test_host_values_reads_numbers_and_host_arrays():
    from minigan.tensor import host_values

    got = host_values(1, 2.5, np.float32(0.25), np.array(3.0), np.array([4], dtype=np.int64))
    assert got == [1.0, 2.5, 0.25, 3.0, 4.0]
    assert all(type(v) is float for v in got)
