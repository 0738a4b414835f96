"""``mpiexec -n 2 minigan train`` follows the 1-process run with the same global batch.

Every run here is float64 and tiny (a few steps, narrow models) so that the only difference
between one process and two ranks is the order of floating-point sums: losses, final weights,
EMA weights and Adam moments must agree to 1e-12 relative.
"""

from __future__ import annotations

import pytest

from .mpi_helpers import assert_same_run, final_state, metrics, needs_mpi, run

pytestmark = needs_mpi

TINY_MLP = ["--set", "dtype=float64", "--set", "batch_size=16", "--set", "g_hidden=16",
            "--set", "d_hidden=16", "--set", "g_layers=2", "--set", "d_layers=2",
            "--set", "log_every=1", "--set", "sample_every=0", "--set", "eval_samples=50",
            "--quiet"]


@pytest.mark.parametrize("extra", [
    [],  # the grid25 preset: non-saturating loss, R1, EMA, linear lr decay
    ["--set", "loss=wgan-gp", "--set", "n_critic=2", "--set", "r1_gamma=0",
     "--set", "r2_gamma=0.5", "--set", "dragan_weight=1.0", "--set", "instance_noise=0.1",
     "--set", "d_sn=true"],
], ids=["ns-r1-ema", "wgan-gp-r2-dragan-noise-sn"])
def test_grid25_two_ranks_follow_one_process(tmp_path, extra):
    args = ["train", *TINY_MLP, "--set", "checkpoint_every=2", "--steps", "4", *extra]
    run([*args, "--out", str(tmp_path / "one")])
    run([*args, "--out", str(tmp_path / "two")], n=2)
    assert_same_run(tmp_path / "one", tmp_path / "two")


@pytest.mark.parametrize("model", ["dcgan", "acgan"])
def test_image_models_with_sync_bn_two_ranks_follow_one_process(tmp_path, model):
    # BatchNorm in G and D: with sync_bn the 2-rank statistics are the global batch's. ACGAN
    # also draws class labels for its fakes: each rank must get its rows of them too.
    preset = "dcgan-mnist" if model == "dcgan" else "cgan-mnist"
    args = ["train", "--preset", preset, "--set", f"model={model}", "--set", "dtype=float64",
            "--set", "batch_size=8", "--set", "base_width=4", "--set", "z_dim=8", "--set",
            "log_every=1", "--set", "sample_every=0", "--set", "checkpoint_every=0",
            "--set", "eval_samples=8", "--set", "sync_bn=true", "--steps", "2", "--quiet"]
    run([*args, "--out", str(tmp_path / "one")])
    run([*args, "--out", str(tmp_path / "two")], n=2)
    assert_same_run(tmp_path / "one", tmp_path / "two", rtol=1e-11)


def test_dcgan_per_rank_bn_differs_but_stays_in_sync(tmp_path):
    # Without sync_bn each rank normalizes by its own rows: not the 1-process step, but the
    # ranks still agree (the digest check at the last step would stop the run otherwise).
    args = ["train", "--preset", "dcgan-mnist", "--set", "dtype=float64", "--set",
            "batch_size=8", "--set", "base_width=4", "--set", "z_dim=8", "--set",
            "log_every=1", "--set", "sample_every=0", "--set", "checkpoint_every=0",
            "--set", "eval_samples=8", "--steps", "1", "--quiet"]
    run([*args, "--out", str(tmp_path / "one")])
    run([*args, "--out", str(tmp_path / "two")], n=2)
    d1, d2 = metrics(tmp_path / "one")[0]["d_loss"], metrics(tmp_path / "two")[0]["d_loss"]
    assert abs(d1 - d2) > 1e-9 * abs(d1)


@pytest.mark.parametrize("first,second", [(2, 1), (1, 2)], ids=["2-then-1", "1-then-2"])
def test_resume_with_another_number_of_ranks(tmp_path, first, second):
    # A constant learning rate: the linear decay depends on the run's length, which --resume
    # changes here.
    args = ["train", *TINY_MLP, "--set", "checkpoint_every=2", "--set", "lr_decay=none"]
    run([*args, "--steps", "4", "--out", str(tmp_path / "whole")])
    run([*args, "--steps", "2", "--out", str(tmp_path / "split")], n=first)
    run(["train", "--resume", "--steps", "4", "--quiet", "--out", str(tmp_path / "split")],
        n=second)
    assert_same_run(tmp_path / "whole", tmp_path / "split")
    assert final_state(tmp_path / "split")["step"] == 4


def test_batch_that_does_not_split_is_a_clear_error(tmp_path):
    p = run(["train", *TINY_MLP, "--set", "batch_size=15", "--steps", "1", "--out",
             str(tmp_path / "r")], n=2, check=False)
    assert p.returncode != 0
    assert "batch_size: the global batch 15 must split evenly over the 2 ranks" in p.stderr
    assert not (tmp_path / "r" / "metrics.jsonl").exists()
