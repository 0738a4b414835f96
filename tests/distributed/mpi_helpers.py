"""Running minigan under ``mpiexec`` from the tests: where mpiexec is, a skip reason when MPI is
not installed, and reading a run's metrics and final state back."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest


def mpiexec() -> str | None:
    """The mpiexec beside this Python (the mpich wheel's), else the one on PATH."""
    here = pathlib.Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def _skip_reason() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install '.[mpi]')"
    if mpiexec() is None:
        return "no mpiexec (pip install '.[mpi]' brings MPICH's)"
    return None


needs_mpi = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))

# One BLAS/OpenMP thread per process: the ranks share the machine's cores.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1", "MINIGAN_NUM_THREADS": "1"}
MINIGAN = [sys.executable, "-m", "minigan"]


def run(args: list[str], n: int = 1, timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess:
    """``minigan args`` in one process (n = 1, no launcher) or under ``mpiexec -n n``."""
    cmd = MINIGAN + args if n == 1 else [mpiexec(), "-n", str(n), *MINIGAN, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def metrics(run_dir: pathlib.Path) -> list[dict]:
    return [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]


def final_state(run_dir: pathlib.Path, name: str = "final.npz") -> dict:
    from minigan.gan import checkpoint

    return checkpoint.load(run_dir / "checkpoints" / name)


def assert_same_run(a: pathlib.Path, b: pathlib.Path, rtol: float = 1e-12) -> None:
    """Two runs' logged losses and final training state (models, EMA, optimizer moments,
    generators) agree to ``rtol`` (float64 runs: only summation order differs)."""
    ma, mb = metrics(a), metrics(b)
    assert [r["step"] for r in ma] == [r["step"] for r in mb]
    for ra, rb in zip(ma, mb):
        for k in ("d_loss", "g_loss", "penalty", "d_real", "d_fake", "d_real_std",
                  "d_fake_std"):
            np.testing.assert_allclose(rb[k], ra[k], rtol=rtol, atol=rtol,
                                       err_msg=f"step {ra['step']} {k}")
    sa, sb = final_state(a), final_state(b)
    assert sa["step"] == sb["step"]
    _assert_tree(sa, sb, rtol, "state")


def _assert_tree(x: object, y: object, rtol: float, where: str) -> None:
    if isinstance(x, dict):
        skip = {"config", "model_config"}
        assert set(x) == set(y), where
        for k in x:
            if k not in skip:
                _assert_tree(x[k], y[k], rtol, f"{where}.{k}")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y)):
            _assert_tree(u, v, rtol, f"{where}[{i}]")
    elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
        # Scale by the tensor's magnitude: Adam's second moments are ~1e-9 where weights are ~1.
        scale = max(float(np.abs(x).max()), 1e-300)
        np.testing.assert_allclose(y, x, rtol=rtol, atol=rtol * scale, err_msg=where)
    elif isinstance(x, np.ndarray):
        np.testing.assert_array_equal(y, x, err_msg=where)
    else:
        assert x == y, where
