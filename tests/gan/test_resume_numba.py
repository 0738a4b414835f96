"""--resume in a fresh process on the numba backend is bitwise equal to an uninterrupted run
(grid25; dcgan-mnist, sngan-mnist and wgan-gp-mnist were checked the same way by hand): numba's
thread pool is sized before the first step as the native one is."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

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
