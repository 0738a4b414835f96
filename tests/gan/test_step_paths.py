"""The default job's step shortcuts keep its arithmetic: the G step leaves D's parameters out
of its graph (same G gradients, bit for bit; D untouched and trainable again after it), and
the run's thread count follows the config key ``threads`` (auto: one kernel thread for the MLP
models, and BLAS gets the CPUs)."""

import numpy as np
import pytest

from minigan import backends
from minigan import random as mgrandom
from minigan.gan import config, resources
from minigan.gan.trainer import Trainer, _flat_logits


def _trainer(tmp_path, *sets):
    cfg = config.resolve("grid25", None, ["batch_size=32", "steps=10", *sets])
    return Trainer(cfg, tmp_path, progress=False)


def test_g_step_gives_the_gradients_of_the_unfrozen_graph_and_leaves_d_alone(tmp_path):
    tr = _trainer(tmp_path)
    tr.train_step()  # Adam moments and a D step's gradients in place
    rng, src = mgrandom.get_rng_state(), tr.source.state_dict()
    # Reference: G's loss through D with D's parameters in the graph, as PyTorch would run it.
    fake, cond = tr.source.generate(tr.G, 32)
    loss = tr.loss.g_loss(_flat_logits(tr._D(fake, cond)), None)
    tr.G.zero_grad()
    loss.backward()
    ref = [p.grad.numpy().copy() for p in tr.G.parameters()]
    assert all(p.grad is not None for p in tr.D.parameters())
    d_before = [(p.numpy().copy(), p.grad.numpy().copy()) for p in tr.D.parameters()]

    mgrandom.set_rng_state(rng)
    tr.source.load_state_dict(src)
    tr.D.zero_grad()
    tr._g_step()
    for p, r in zip(tr.G.parameters(), ref):
        assert p.grad.numpy().tobytes() == r.tobytes()
    for p, (w, _) in zip(tr.D.parameters(), d_before):
        assert p.requires_grad and p.grad is None  # no D gradient computed, D trainable again
        np.testing.assert_array_equal(p.numpy(), w)


def test_threads_auto_is_one_for_the_mlp_models_unless_the_environment_chose(monkeypatch):
    for var in ("MINIGAN_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(backends, "current", lambda: "native")
    grid = config.resolve("grid25", None, [])
    assert grid["threads"] == 0 and resources.threads_for(grid) == 1
    assert resources.threads_for(grid, "cuda") is None
    assert resources.threads_for(config.resolve("dcgan-mnist", None, [])) is None
    assert resources.threads_for(config.resolve("dcgan-mnist", None, ["threads=3"])) == 3
    assert resources.threads_for({k: v for k, v in grid.items() if k != "threads"}) == 1
    monkeypatch.setattr(backends, "current", lambda: "numpy")  # BLAS-bound: keeps every thread
    assert resources.threads_for(grid) is None
    monkeypatch.setattr(backends, "current", lambda: "native")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert resources.threads_for(grid) is None
    assert resources.threads_for({**grid, "threads": 2}) == 2
    with pytest.raises(config.ConfigError, match="threads"):
        config.resolve("grid25", None, ["threads=-1"])


def test_run_threads_sets_the_count_for_the_run_and_restores_it():
    before = backends.num_threads()
    want = 1 if before != 1 else 2
    with resources.run_threads({"threads": want, "model": "dcgan"}):
        assert backends.num_threads() == want
    assert backends.num_threads() == before


def test_threads_auto_gives_blas_the_cpus_for_the_mlp_models(monkeypatch):
    for var in ("MINIGAN_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(backends, "current", lambda: "native")
    monkeypatch.setattr(backends, "num_threads", lambda: 6)
    grid = config.resolve("grid25", None, [])
    assert resources.blas_threads_for_run(grid) == 6
    assert resources.blas_threads_for_run({**grid, "threads": 1}) is None  # the user chose
    assert resources.blas_threads_for_run(grid, "cuda") is None
    assert resources.blas_threads_for_run(config.resolve("dcgan-mnist", None, [])) is None
    monkeypatch.setenv("MINIGAN_NUM_THREADS", "1")
    assert resources.blas_threads_for_run(grid) is None


def test_run_threads_splits_kernels_and_blas_and_restores_both(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if backends.current() not in ("native", "numba"):
        pytest.skip("the split applies to the compiled CPU backends")
    for var in ("MINIGAN_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)

    def blas() -> set:
        return {i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"}

    before = backends.num_threads()
    grid = config.resolve("grid25", None, [])
    with resources.run_threads(grid):
        assert backends.num_threads() == 1
        assert blas() == {before}
        with pytest.raises(ValueError, match="n: expected"):
            backends.set_blas_threads(0)
    assert backends.num_threads() == before
    assert blas() == {backends.blas_threads_for(backends.current())}


def test_the_final_picture_is_the_last_steps_picture(tmp_path):
    # finish copies sample_every's picture of the last step instead of drawing it again: the
    # bytes a fresh drawing of the final sampler gives.
    tr = _trainer(tmp_path, "steps=4", "sample_every=2", "log_every=2", "eval_samples=200")
    drawn, save = [], tr.save_samples
    tr.save_samples = lambda tag: drawn.append(tag) or save(tag)
    summary = tr.run()
    assert drawn == ["step_000002", "step_000004"]
    final = tmp_path / "samples" / "final.png"
    assert summary["pictures"]["samples"] == str(final)
    assert final.read_bytes() == tr.save_samples("again").read_bytes()
