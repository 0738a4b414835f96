"""A run killed at any moment (SIGTERM, SIGINT, a full disk, a kill before the first
checkpoint) leaves a directory that `--resume` continues or a fresh run restarts."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from minigan.cli import main
from minigan.gan import checkpoint, rundir
from minigan.gan.trainer import Trainer, TrainingError

TINY = ["--set", "g_hidden=16", "--set", "d_hidden=16", "--set", "log_every=1",
        "--set", "sample_every=0", "--set", "checkpoint_every=5", "--set", "eval_samples=300",
        "--quiet"]


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_checkpoints_like_sigint_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "MINIGAN_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "minigan", "train", "--out", str(out),
                             "--steps", "100000", *TINY, "--set", "checkpoint_every=0"],
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "metrics.jsonl").exists() and (out / "metrics.jsonl").read_text().count(
                "\n") >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted at step" in err and "Traceback" not in err
    step = checkpoint.load(out / "checkpoints" / "latest.npz")["step"]
    assert step >= 2 and _rows(out)[-1]["step"] == step
    assert main(["train", "--resume", "--out", str(out), "--steps", str(step + 2),
                 "--quiet"]) == 0
    assert [r["step"] for r in _rows(out)] == list(range(1, step + 3))


def test_interrupt_during_final_evaluation_stops_it_and_resume_finishes(tmp_path, capsys,
                                                                         monkeypatch):
    from minigan.gan import data_source

    out = tmp_path / "run"
    calls = []
    real = data_source.ToySource.evaluate if hasattr(data_source, "ToySource") else None

    def evaluate(self, G, n):
        calls.append(n)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the metrics are computed
            time.sleep(1)  # the handler raises at once; this sleep is never finished
        return real(self, G, n)

    if real is None:
        pytest.skip("no ToySource in data_source")
    monkeypatch.setattr(data_source.ToySource, "evaluate", evaluate)
    assert main(["train", "--out", str(out), "--steps", "6", *TINY]) == 130
    err = capsys.readouterr().err
    assert "interrupted during the final evaluation" in err
    assert (out / "checkpoints" / "final.npz").is_file() and not (out / "summary.json").exists()
    assert main(["train", "--resume", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
    assert len(calls) == 2


def test_stale_temp_files_are_cleaned_and_a_partial_metrics_line_is_repaired(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "12", *TINY,
                 "--set", "checkpoint_every=10"]) == 0
    # As a kill would leave them: a checkpoint write never renamed, rows past the checkpoint
    # and a half-written last row (a full disk).
    stale = out / "checkpoints" / ".latest.npz.k1llme.tmp"
    stale.write_bytes(b"half a checkpoint")
    ck = checkpoint.load(out / "checkpoints" / "latest.npz")
    ck["step"]  # noqa: B018 -- the final checkpoint is at 12
    rows_before = (out / "metrics.jsonl").read_text()
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 13, "d_loss": 0.6')
    assert main(["train", "--resume", "--out", str(out), "--steps", "14", "--quiet"]) == 0
    assert not stale.exists()
    text = (out / "metrics.jsonl").read_text()
    assert text.startswith(rows_before) and text.endswith("\n")
    assert [r["step"] for r in _rows(out)] == list(range(1, 15))


def test_repair_metrics_keeps_complete_rows_up_to_the_first_damaged_one(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "x": \n{"step": 4}\n')
    assert rundir.repair_metrics(p, None) == 2
    assert p.read_text() == '{"step": 1}\n{"step": 2}\n'
    p.write_bytes(b'{"step": 1}\n\xff\xfe{"st')
    assert rundir.repair_metrics(p, 5) == 1
    assert rundir.repair_metrics(p, 0) == 0 and p.read_text() == ""


def test_disk_full_is_a_clear_error_and_the_run_stays_resumable(tmp_path, capsys,
                                                                monkeypatch):
    out = tmp_path / "run"
    real_save = checkpoint.save
    saves = []

    def save(path, state):
        saves.append(path)
        if len(saves) == 2:  # the second checkpoint finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_save(path, state)

    monkeypatch.setattr(checkpoint, "save", save)
    assert main(["train", "--out", str(out), "--steps", "20", *TINY]) == 1
    err = capsys.readouterr().err
    assert "the disk is full" in err and "--resume" in err and "Traceback" not in err
    assert checkpoint.load(out / "checkpoints" / "latest.npz")["step"] == 5
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert main(["train", "--resume", "--out", str(out), "--quiet"]) == 0
    assert [r["step"] for r in _rows(out)] == list(range(1, 21))


def test_a_run_killed_before_its_first_checkpoint_can_be_restarted(tmp_path, capsys):
    out = tmp_path / "run"
    # What such a kill leaves: config.toml and a few metric rows, no checkpoint.
    t = Trainer(__import__("minigan.gan.config", fromlist=["resolve"]).resolve(
        "grid25", overrides=["g_hidden=16", "d_hidden=16", "log_every=1", "sample_every=0",
                             "checkpoint_every=0", "steps=50"]), out, progress=False)
    real = t.train_step

    def step(record=False):
        if t.step == 3:
            raise KeyboardInterrupt  # SIGKILL stand-in: nothing after this runs
        return real(record)

    t.train_step = step
    with pytest.raises(KeyboardInterrupt):
        t.run()
    assert (out / "config.toml").is_file() and not (out / "checkpoints").exists()
    assert rundir.kind(out) == "unstarted"
    # --resume restarts it from its own config.toml ...
    assert main(["train", "--resume", "--out", str(out), "--steps", "4", "--quiet"]) == 0
    assert "restarting the run from step 0" in capsys.readouterr().err
    assert [r["step"] for r in _rows(out)] == [1, 2, 3, 4]
    # ... and a fresh run into the same kind of directory is accepted too.
    out2 = tmp_path / "run2"
    out2.mkdir()
    (out2 / "config.toml").write_text((out / "config.toml").read_text())
    (out2 / "metrics.jsonl").write_text('{"step": 1, "d_loss": 1.0}\n{"step": 2')
    assert main(["train", "--out", str(out2), "--steps", "3", *TINY]) == 0
    assert [r["step"] for r in _rows(out2)] == [1, 2, 3]


def test_nan_message_does_not_claim_a_checkpoint_that_does_not_exist(tmp_path, capsys,
                                                                    monkeypatch):
    def boom(self, record=False):
        raise TrainingError("step 1: D loss is nan")

    monkeypatch.setattr(Trainer, "train_step", boom)
    assert main(["train", "--out", str(tmp_path / "r"), "--steps", "5", *TINY]) == 1
    err = capsys.readouterr().err
    assert "No checkpoint was written" in err and "untouched" not in err
