"""--resume on a backend other than the default: in a fresh process on numba it is bitwise
equal to an uninterrupted run (grid25; dcgan-mnist, sngan-mnist and wgan-gp-mnist were checked
the same way by hand): numba's thread pool is sized before the first step as the native one is.
Without --backend, --resume continues on the backend the run used."""

import json
import os
import subprocess
import sys

import pytest

from minigan import backends
from minigan.cli import main
from minigan.gan import config
from minigan.gan.trainer import Trainer

SET = ["g_hidden=16", "d_hidden=16", "log_every=1", "sample_every=0", "checkpoint_every=0",
       "eval_samples=300", "telemetry=true"]
STEPS, STOP = 30, 13

# One process: train to STOP on numba (as SIGINT would stop it), checkpoint, exit.
PARTIAL = f"""
import sys
from minigan import backends
from minigan.gan import config
from minigan.gan.trainer import Trainer
backends.use("numba")
cfg = config.resolve("grid25", overrides=sys.argv[2:])
t = Trainer(cfg, sys.argv[1], progress=False)
assert t.run(should_stop=lambda: t.step == {STOP}) is None
"""
ENV = {**os.environ, "MINIGAN_NUM_THREADS": "2"}  # two threads: numba's parallel loops split
ENV.pop("MINIGAN_BACKEND", None)


def _run(*args):
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                       env=ENV)
    assert r.returncode == 0, r.stderr
    return r


def _rows(out):
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]


@pytest.mark.slow  # three processes importing numba: ~10 s on the shared 2-core machine
def test_grid25_resume_on_numba_in_a_fresh_process_is_bitwise(tmp_path):
    pytest.importorskip("numba")
    sets = [a for s in SET for a in ("--set", s)]
    full, part = tmp_path / "full", tmp_path / "part"
    _run("-m", "minigan", "train", "--backend", "numba", "--out", str(full), "--steps",
         str(STEPS), "--quiet", *sets)
    _run("-c", PARTIAL, str(part), f"steps={STEPS}", *SET)
    assert [r["step"] for r in _rows(part)] == list(range(1, STOP + 1))
    _run("-m", "minigan", "train", "--resume", "--backend", "numba", "--out", str(part),
         "--quiet")
    a, b = _rows(full), _rows(part)
    assert [r["step"] for r in b] == list(range(1, STEPS + 1))
    assert any("sigma" in r for r in a)  # telemetry rows are compared too
    assert a == b  # floats from JSON: equal means bitwise equal


TINY = ["--set", "g_hidden=16", "--set", "d_hidden=16", "--set", "log_every=1",
        "--set", "sample_every=0", "--set", "checkpoint_every=4", "--set", "eval_samples=300",
        "--quiet"]


@pytest.fixture
def restore_backend():
    previous = backends._current
    yield
    backends._current = previous


def test_resume_without_backend_continues_on_the_runs_backend(tmp_path, capsys,
                                                              restore_backend):
    """A run trained with --backend numpy (not the default native) and stopped at step 4 is
    resumed by a plain --resume: on numpy again, saying so, and bitwise as an uninterrupted
    numpy run (on native the first resumed step already differs in the last bits)."""
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", "--backend", "numpy", "--out", str(full), "--steps", "8", *TINY]) == 0
    assert (full / "backend.txt").read_text() == "numpy\n"
    sets = [s for s in TINY[1::2] if "=" in s] + ["steps=8"]
    backends.use("numpy")
    t = Trainer(config.resolve("grid25", overrides=sets), part, progress=False)
    assert t.run(should_stop=lambda: t.step == 4) is None  # as Ctrl-C at step 4 would
    backends._current = None  # a fresh process: the default backend again
    if backends.current() == "numpy":
        pytest.skip("native is not built: numpy is the default already")
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(part), "--steps", "8", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert _rows(part) == _rows(full)
    assert backends.current() == "numpy"
    assert "continuing on backend 'numpy', the run's" in err
