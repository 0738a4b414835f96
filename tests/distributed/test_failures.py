"""Failures under mpiexec end the whole job with the error, and missing pieces (mpi4py, NCCL,
a GPU) are named with what to install."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

from .mpi_helpers import ENV, mpiexec, needs_mpi

HERE = pathlib.Path(__file__).parent


def _mpirun(script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([mpiexec(), "-n", "2", sys.executable, str(HERE / script)],
                          capture_output=True, text=True, timeout=timeout, env=ENV)


@needs_mpi
def test_a_rank_that_raises_stops_every_rank():
    # A hang would raise TimeoutExpired: rank 0 blocks in a barrier rank 1 never reaches.
    p = _mpirun("rank_fails.py")
    assert p.returncode != 0
    assert "RuntimeError: rank 1 fails on purpose" in p.stderr
    assert "[rank 1/2]" in p.stderr and "stopping all 2 ranks" in p.stderr
    assert "passed the barrier" not in p.stdout


@needs_mpi
def test_digest_names_the_tensor_that_differs_on_every_rank():
    p = _mpirun("digest_mismatch.py")
    assert p.returncode == 0, p.stderr
    # Rank 1's stdout is muted by for_training; rank 0 reports.
    assert ("rank 0: step 7: G.net.2.weight differs between rank 0 and rank 1 "
            "(data-parallel state out of sync)") in p.stdout


def test_launch_under_mpiexec_without_mpi4py_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from minigan.cli import main\n"
            f"sys.exit(main(['train', '--steps', '1', '--quiet', '--out', r'{tmp_path / 'r'}']))")
    # PMI_SIZE is what MPICH's and Slurm's launchers set in each process they start.
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env={**ENV, "PMI_SIZE": "2", "PMI_RANK": "0"})
    assert p.returncode == 2
    assert "needs MPI for Python, which is not installed" in p.stderr
    assert "pip install 'minigan[mpi]'" in p.stderr


def test_nccl_missing_is_named():
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed: the gpu tests exercise NCCL")
    from minigan.distributed import allreduce

    with pytest.raises(RuntimeError, match=r"needs NCCL through CuPy.*minigan\[cuda\]"):
        allreduce._nccl()


@needs_mpi
def test_two_ranks_on_cuda_without_a_gpu_is_one_clear_error(tmp_path):
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed: the gpu tests cover --device cuda")
    p = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "minigan", "train",
                        "--device", "cuda", "--steps", "1", "--quiet", "--out",
                        str(tmp_path / "r")], capture_output=True, text=True, timeout=60,
                       env=ENV)
    assert p.returncode != 0
    assert "minigan train: error:" in p.stderr and "CuPy" in p.stderr


@needs_mpi
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_to_mpiexec_stops_every_rank_with_one_checkpoint(tmp_path, sig):
    import signal
    import time

    out = tmp_path / "r"
    args = ["train", "--set", "g_hidden=16", "--set", "d_hidden=16", "--set", "log_every=1",
            "--set", "sample_every=0", "--set", "checkpoint_every=0", "--steps", "1000000",
            "--quiet", "--out", str(out)]
    p = subprocess.Popen([mpiexec(), "-n", "2", sys.executable, "-m", "minigan", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 60
        while not ((out / "metrics.jsonl").exists()
                   and (out / "metrics.jsonl").read_text().count("\n") >= 3):
            assert p.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        p.send_signal(getattr(signal, sig))  # mpiexec forwards it to every rank
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert "interrupted at step" in err, err
    assert "MPI_Abort" not in err, err  # an agreed stop, not one rank aborting the others
    assert sorted(f.name for f in (out / "checkpoints").iterdir()) == ["latest.npz"]
    from minigan.gan import checkpoint

    step = checkpoint.load(out / "checkpoints" / "latest.npz")["step"]
    assert step >= 3
