"""`minigan bench`: a smoke run of the CLI on test-sized rows and the tiny GAN, checking the
table and the JSON's structure and that the numbers are consistent with each other (never that
anything is fast: timing belongs in benchmarks/)."""

from __future__ import annotations

import json

import pytest

from minigan import backends
from minigan.cli import main

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]


@pytest.mark.parametrize("mode", [[], ["--same-process"]], ids=["own-processes", "one-process"])
def test_bench_kernels_small_rows_json(tmp_path, capsys, mode):
    out = tmp_path / "k.json"
    rc = main(["bench", "kernels", "--small", "--only", "x2x3x7x9", "--repeats", "2",
               "--warmup", "1", "--quiet", "--json", str(out), *mode])
    assert rc == 0
    text = capsys.readouterr().out
    header = text.splitlines()[0].split()
    assert header[:3] == ["kernel", "shape", "backend"] and "speed-up" in header
    report = json.loads(out.read_text())
    assert report["kind"] == "kernels" and report["isolated_processes"] == (not mode)
    assert {"cpu", "cpu_count", "numpy", "threads", "backends"} <= set(report["machine"])
    isa = report["machine"]["isa"]  # which ISA variant of minigan._C's kernels ran
    assert isa is None or isa["active"] in isa["supported"]
    kernels = {"im2col", "col2im", "conv2d_forward", "conv2d_backward_data",
               "conv2d_backward_weight", "conv2d_forward_bias", "conv2d_backward_weight_bias"}
    rows = report["results"]
    assert {r["kernel"] for r in rows} == kernels
    assert len(rows) == len(kernels) * len(CPU)        # every row x every CPU backend
    for r in rows:
        assert r["backend"] in CPU and r["status"] == "ok"
        assert r["median_s"] >= r["min_s"] > 0
        assert r["max_err"] < 1e-5                     # float32 vs the float64 reference
        assert ("gflops" in r) == r["kernel"].startswith("conv2d")
        assert ("gbps" in r) != ("gflops" in r)
        if r["backend"] == "numpy":
            assert r["speedup"] == pytest.approx(1.0)
        assert r["kernel"] in text and r["shape"] in text


def test_bench_kernels_lists_fallbacks_and_checks_backends(capsys):
    assert main(["bench", "kernels", "--backends", "fortran", "--quiet"]) == 2
    assert "unknown backend 'fortran'" in capsys.readouterr().err
    # numpy only: the reference alone, speed-up 1
    assert main(["bench", "kernels", "--small", "--only", "bias_act[relu,3x5x4x7",
                 "--backends", "numpy", "--repeats", "1", "--warmup", "0", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "1.00x" in lines[2]


def test_bench_step_tiny_json(tmp_path, capsys):
    out = tmp_path / "s.json"
    rc = main(["bench", "step", "--preset", "tiny", "--batch", "4", "--repeats", "2",
               "--warmup", "1", "--quiet", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "one training step" in text
    report = json.loads(out.read_text())
    impls = [r["impl"] for r in report["results"]]
    assert impls[:len(CPU)] == [f"minigan/{b}" for b in CPU]
    has_torch = "torch" in impls
    for r in report["results"]:
        assert r["median_s"] > 0
        assert (r["ratio_to_torch"] is not None) == has_torch
    assert report["results"][0]["vs_numpy"] == pytest.approx(1.0)
    capsys.readouterr()
    assert main(["bench", "step", "--preset", "nope", "--quiet"]) == 2
    assert "--preset: unknown 'nope'" in capsys.readouterr().err


def test_grid25_step_is_the_trainers_step_beside_torch(tmp_path, capsys):
    import math

    from minigan.bench import grid25

    before = backends.num_threads()
    step = grid25.make_minigan_step(batch=16)
    rec = step()
    step.close()  # the run's thread counts end with it
    assert backends.num_threads() == before
    # the trainer's own steps ran: one period of the preset's lazy R1 schedule per call
    assert step.trainer.step == grid25.steps_per_call()
    steps = [rec]
    if backends._installed("torch"):
        steps.append(grid25.make_torch_step(batch=16)())
    for r in steps:
        assert {"d_loss", "g_loss", "penalty", "d_real", "d_fake"} <= set(r)
        # At initialisation D's logits are near 0: each softplus term is near log 2.
        assert abs(r["d_loss"] - 2 * math.log(2)) < 0.2
        assert abs(r["g_loss"] - math.log(2)) < 0.1
        assert 0 < r["penalty"] < 0.1  # the period's last step applies R1
    out = tmp_path / "g.json"
    assert main(["bench", "step", "--preset", "grid25", "--batch", "8", "--repeats", "1",
                 "--warmup", "0", "--backends", "numpy", "--same-process", "--quiet",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["preset"] == "grid25" and report["batch"] == 8
    assert report["steps_per_call"] == grid25.steps_per_call()
    assert "preset grid25, batch 8" in capsys.readouterr().out
