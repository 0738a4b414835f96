"""The ring all-reduce model behind `minigan bench scale`'s projection, against its closed form."""

from __future__ import annotations

import pytest

from minigan.bench.scale import project, ring_allreduce_seconds


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
