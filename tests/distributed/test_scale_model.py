"""`minigan bench scale`: its ring all-reduce model against the closed form, and what it reports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from minigan.bench.scale import project, ring_allreduce_seconds

from .mpi_helpers import ENV, needs_mpi


def test_ring_allreduce_time_is_the_closed_form():
    # 8 GPUs, 1 GB, 100 GB/s, 10 us: 2*7/8 * 1e9/1e11 + 14 * 1e-5 seconds.
    assert ring_allreduce_seconds(1e9, 8, 100.0, 10.0) == pytest.approx(0.0175 + 14e-5,
                                                                        rel=1e-12)
    assert ring_allreduce_seconds(1e9, 1, 100.0, 10.0) == 0.0


def test_projection_efficiency():
    rows = project(bytes_g=3 << 20, bytes_d=1 << 20, n_critic=2, step_ms=5.0)
    assert [r["gpus"] for r in rows] == [8, 16, 32, 64, 128, 256]
    for r in rows:
        # E = t_c / (t_c + t_ar): the all-reduce time is n_critic reductions of D plus one of G.
        link = (350.0, 5.0) if r["gpus"] <= 8 else (45.0, 8.0)
        t = 1e3 * (2 * ring_allreduce_seconds(1 << 20, r["gpus"], *link)
                   + ring_allreduce_seconds(3 << 20, r["gpus"], *link))
        assert r["allreduce_ms"] == pytest.approx(t, rel=1e-12)
        assert r["efficiency"] == pytest.approx(5.0 / (5.0 + t), rel=1e-12)
    effs = [r["efficiency"] for r in rows]
    assert effs == sorted(effs, reverse=True) and 0 < effs[-1] < effs[0] < 1


@needs_mpi
def test_bench_scale_reduces_each_model_whole_once_per_update(tmp_path):
    out = tmp_path / "scale.json"
    p = subprocess.run([sys.executable, "-m", "minigan", "bench", "scale", "--steps", "1",
                        "--json", str(out)], capture_output=True, text=True, timeout=180,
                       env=ENV)
    assert p.returncode == 0, p.stderr
    r = json.loads(out.read_text())
    assert r["one_process"]["ranks"] == 1 and r["mpi"]["ranks"] == 2
    # The bucket of a model is every parameter's gradient: the model's size in bytes.
    assert r["mpi"]["bytes_per_step"] == r["one_process"]["bytes"]
    assert [row["gpus"] for row in r["projection"]] == [8, 16, 32, 64, 128, 256]
    assert "samples/s" in p.stdout and "all-reduced per step: D" in p.stdout
