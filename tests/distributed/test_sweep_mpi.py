"""``minigan study sweep --executor mpi`` gives the table of the local executor, and reports a
run that fails as a row while the others go on."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from .mpi_helpers import ENV, mpiexec, needs_mpi

TINY = ["--preset", "grid25", "--set", "g_hidden=16", "--set", "d_hidden=16", "--set",
        "eval_samples=200", "--set", "log_every=5", "--set", "sample_every=0", "--set",
        "checkpoint_every=0", "--steps", "30"]


def _sweep(args: list[str], n: int = 1) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "minigan", "study", "sweep", *args]
    if n > 1:
        cmd = [mpiexec(), "-n", str(n), *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=ENV)
    assert p.returncode == 0, p.stderr
    return p


def _rows(out) -> list[dict]:
    with open(out / "runs.csv", newline="") as f:
        # Wall time and the directory (it names --out) differ between any two sweeps.
        return [{k: v for k, v in r.items() if k not in ("seconds", "dir")}
                for r in csv.DictReader(f)]


@needs_mpi
def test_mpi_executor_gives_the_local_table(tmp_path):
    axes = ["--set", "loss=ns,hinge,wgan"]
    _sweep([*TINY, *axes, "--jobs", "1", "--out", str(tmp_path / "local")])
    _sweep([*TINY, *axes, "--executor", "mpi", "--out", str(tmp_path / "mpi")], n=3)
    local, mpi = _rows(tmp_path / "local"), _rows(tmp_path / "mpi")
    assert [r["loss"] for r in local] == ["ns", "hinge", "wgan"]
    assert mpi == local


@needs_mpi
def test_a_failed_run_is_a_row_and_the_others_finish(tmp_path):
    # dcgan cannot train on the 2-D grid25 data: that run raises, the mlp run must finish.
    p = _sweep([*TINY, "--set", "model=mlp,dcgan", "--executor", "mpi", "--out",
                str(tmp_path / "s")], n=2)
    rows = {r["model"]: r for r in _rows(tmp_path / "s")}
    assert rows["mlp"]["error"] == "" and float(rows["mlp"]["n_modes"]) == 25
    assert rows["dcgan"]["verdict"] == "failed"
    assert "ConfigError: model: 2-D dataset 'grid25' needs model 'mlp'" in rows["dcgan"]["error"]
    assert "| dcgan |" in p.stdout


@needs_mpi
def test_mpi_executor_in_one_process_says_how_to_start_it(tmp_path):
    p = subprocess.run([sys.executable, "-m", "minigan", "study", "sweep", *TINY,
                        "--executor", "mpi", "--out", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=120, env=ENV)
    assert p.returncode == 2
    assert "needs at least 2 MPI processes" in p.stderr and "mpiexec -n N" in p.stderr


@pytest.mark.parametrize("argv", [["study", "sweep", "--executor", "mpi", "--steps", "1"],
                                  ["bench", "scale", "--steps", "1"]],
                         ids=["sweep", "bench-scale"])
def test_without_mpi4py_the_error_says_what_to_install(tmp_path, argv):
    # mpi4py hidden both from import and from find_spec (bench scale checks without importing).
    argv = [*argv, "--json" if argv[0] == "bench" else "--out", str(tmp_path / "x")]
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import importlib.util; importlib.util.find_spec = lambda name, *a: None\n"
            f"from minigan.cli import main\nsys.exit(main({argv!r}))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env=ENV)
    assert p.returncode == 2, p.stderr
    assert "pip install 'minigan[mpi]'" in p.stderr
