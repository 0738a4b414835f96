"""minigan.backends: discovery, choosing a backend, the xp idiom, thread control, and that none
of it imports numba or CuPy behind the user's back. Anything that depends on the environment
at first use runs in a fresh interpreter."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from minigan import backends


def run_python(code: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter, outside the repo (so the source tree cannot shadow the
    installed package), with extra environment variables."""
    full_env = {**os.environ, **env}
    for key in ("MINIGAN_BACKEND", "MINIGAN_NUM_THREADS", "OMP_NUM_THREADS"):
        if key not in env:
            full_env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=full_env, capture_output=True, text=True
    )


@pytest.fixture
def restore_state():
    """Backends keep process-wide state; put it back after a test changes it."""
    current, threads = backends._current, backends._threads
    native = backends.native()
    omp = native.num_threads() if native is not None else None
    yield
    backends._current, backends._threads = current, threads
    if native is not None:
        native.set_num_threads(omp)


def test_numpy_and_native_are_available():
    names = backends.available()
    assert names[0] == "numpy"
    assert "native" in names  # _C is always built
    assert backends.native() is importlib.import_module("minigan._C")
    assert set(names) <= set(backends.ALL_BACKENDS)


def test_numba_listed_exactly_when_installed():
    assert ("numba" in backends.available()) == (importlib.util.find_spec("numba") is not None)


def test_cuda_backends_need_cupy_and_a_gpu():
    if backends._gpu_reason() is not None:
        assert not set(backends.CUDA_BACKENDS) & set(backends.available())
        assert "CuPy" in backends.unavailable_reason("cupy")


def test_use_as_call_and_as_context_manager(restore_state):
    backends.use("numpy")
    assert backends.current() == "numpy"
    with backends.use("native") as name:
        assert name == "native"
        assert backends.current() == "native"
    assert backends.current() == "numpy"
    backends.use("Native")  # names are case-insensitive
    assert backends.current() == "native"


def test_context_manager_restores_after_an_error(restore_state):
    backends.use("numpy")
    with pytest.raises(RuntimeError), backends.use("native"):
        raise RuntimeError
    assert backends.current() == "numpy"


def test_unknown_backend_lists_the_available_ones(restore_state):
    expected = f"unknown backend 'tpu'; available: {', '.join(backends.available())}"
    with pytest.raises(ValueError, match=f"^{expected}$"):
        backends.use("tpu")


def test_known_but_missing_backend_says_why(restore_state):
    missing = [n for n in backends.ALL_BACKENDS if n not in backends.available()]
    if not missing:
        pytest.skip("every backend is available here")
    with pytest.raises(ValueError, match=rf"^backend '{missing[0]}' is not available: .+; "
                                         r"available: numpy"):
        backends.use(missing[0])


def test_use_rejects_non_strings():
    with pytest.raises(TypeError, match="backend name: expected a str"):
        backends.use(3)


def test_get_array_module_numpy():
    assert backends.get_array_module(np.zeros(3)) is np
    assert backends.get_array_module(1.0, [1, 2]) is np


def test_get_array_module_cupy_by_type_module(monkeypatch):
    fake_cupy = types.ModuleType("cupy")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    FakeArray = type("ndarray", (), {"__module__": "cupy._core.core"})
    assert backends.get_array_module(np.zeros(2), FakeArray()) is fake_cupy


def test_set_num_threads_sets_the_native_pool(restore_state):
    backends.set_num_threads(1)
    assert backends.num_threads() == 1
    assert backends.native().num_threads() == 1


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                        (True, TypeError), (4097, ValueError),
                                        (2**40, ValueError)])
def test_set_num_threads_rejects_bad_counts(bad, error):
    with pytest.raises(error, match="^n: expected"):
        backends.set_num_threads(bad)


def test_importing_does_not_import_optional_packages(tmp_path):
    code = (
        "import sys, minigan, minigan.backends as b\n"
        "before = sorted(m for m in ('numba', 'cupy', 'minigan._cuda') if m in sys.modules)\n"
        "b.available()\n"
        "after = 'numba' in sys.modules\n"
        "print(before, after)"
    )
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] False"


def test_env_picks_initial_backend_and_threads(tmp_path):
    code = (
        "import json, minigan.backends as b\n"
        "print(json.dumps([b.current(), b.num_threads(), b.native().num_threads()]))"
    )
    result = run_python(code, tmp_path, MINIGAN_BACKEND="native", MINIGAN_NUM_THREADS="1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["native", 1, 1]


def test_omp_num_threads_is_the_fallback(tmp_path):
    code = "import minigan.backends as b; print(b.num_threads(), b.native().num_threads())"
    result = run_python(code, tmp_path, OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"]


def test_bad_env_values_fail_at_first_use_not_at_import(tmp_path):
    code = (
        "import minigan.backends as b\n"
        "for f in (b.current, b.num_threads):\n"
        "    try:\n"
        "        f()\n"
        "    except ValueError as e:\n"
        "        print(e)\n"
    )
    result = run_python(code, tmp_path, MINIGAN_BACKEND="tpu", MINIGAN_NUM_THREADS="many")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # native stays available despite the bad thread count (with a warning), so it is listed
    assert lines[0].startswith("MINIGAN_BACKEND='tpu': unknown backend 'tpu'; available: numpy, ")
    assert "native" in lines[0].split("available: ")[1]  # numba is listed too when installed
    assert lines[1] == ("MINIGAN_NUM_THREADS='many': expected a positive integer number of "
                        "threads (1 to 4096)")
    assert "UserWarning: MINIGAN_NUM_THREADS='many'" in result.stderr


@pytest.mark.parametrize("var, value, expected", [
    ("MINIGAN_NUM_THREADS", "abc", "expected a positive integer number of threads (1 to 4096)"),
    ("MINIGAN_NUM_THREADS", "0", "expected a positive integer number of threads"),
    ("MINIGAN_NUM_THREADS", "-1", "expected a positive integer number of threads"),
    ("MINIGAN_NUM_THREADS", "99999999999", "expected a positive integer number of threads"),
    ("MINIGAN_NUM_THREADS", "1.5", "expected a positive integer number of threads"),
    ("OMP_NUM_THREADS", "x", "expected a positive integer number of threads"),
    ("MINIGAN_BACKEND", "bogus", "unknown backend 'bogus'; available: numpy"),
    ("MINIGAN_CUDA_TF32", "maybe", "expected 1 or 0 (true/false, yes/no, on/off)"),
    ("MINIGAN_DATA_DIR", "FILE", "expected a directory, but it is a file"),
    ("MINIGAN_CACHE_DIR", "FILE", "expected a directory, but it is a file"),
    ("MINIGAN_DATA_CHECKSUMS", "MISSING", "expected a JSON file of data set checksums"),
])
def test_check_environment_names_the_variable_and_what_it_expects(monkeypatch, tmp_path, var,
                                                                 value, expected):
    (tmp_path / "FILE").write_text("x")
    value = {"FILE": str(tmp_path / "FILE"), "MISSING": str(tmp_path / "none.json")}.get(value,
                                                                                     value)
    for key in ("MINIGAN_BACKEND", "MINIGAN_NUM_THREADS", "OMP_NUM_THREADS", "MINIGAN_ISA",
                "MINIGAN_CUDA_TF32", "MINIGAN_DATA_DIR", "MINIGAN_CACHE_DIR",
                "MINIGAN_DATA_CHECKSUMS"):
        monkeypatch.delenv(key, raising=False)
    backends.check_environment()  # a clean environment passes
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError) as info:
        backends.check_environment()
    assert str(info.value).startswith(f"{var}={value!r}: ") and expected in str(info.value)
    monkeypatch.setattr(backends, "_current", None)  # the first use checks it as well
    with pytest.raises(ValueError, match=f"^{var}="):
        backends.current()


@pytest.mark.parametrize("isa", ["bogus", "avx512"])
def test_an_unusable_minigan_isa_is_an_error_not_a_silent_numpy_fallback(tmp_path, isa):
    """MINIGAN_ISA that minigan._C refuses used to leave the native backend unavailable, so
    training ran on the NumPy reference without a word; now the first use names it (avx512:
    on a CPU that runs it, it is accepted)."""
    supported = backends.native().isa_info()["supported"]
    code = ("import minigan.backends as b\n"
            "try:\n    print(b.current())\nexcept ValueError as e:\n    print('error', e)")
    full_env = {**os.environ, "MINIGAN_ISA": isa}
    full_env.pop("MINIGAN_BACKEND", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=full_env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if isa in supported:
        assert result.stdout.strip() == "native"
    else:
        assert result.stdout.startswith(f"error MINIGAN_ISA={isa}: "), result.stdout
        assert "available here" in result.stdout or "expected" in result.stdout
