"""The digit classifier: a quick training learns, training is seeded and leaves minigan's
random state alone, the cache round-trips and a damaged cache file is retrained."""

import numpy as np
import pytest

from minigan import random as mgrandom
from minigan.data.digits import load_digits
from minigan.gan import checkpoint
from minigan.metrics import classifier as clf

# A cheap recipe: few channels, 800 digits, one epoch (seconds, not minutes).
TINY = {"channels": [8, 16], "hidden": 32, "dropout": 0.0, "epochs": 1, "batch_size": 16,
        "lr": 5e-3, "shift": 1, "train_limit": 800}


@pytest.fixture(scope="module")
def tiny_net():
    return clf.train_classifier(TINY)


def test_quick_training_learns_well_above_chance(tiny_net):
    # Chance is 10%; 800 random train digits, one epoch of a tiny CNN.
    assert tiny_net.test_accuracy > 0.4  # seeded: ~0.65 measured
    test = load_digits("test")
    assert tiny_net.accuracy(test.images, test.labels) == tiny_net.test_accuracy
    p, f = tiny_net.predict_and_embed(test.images[:7], batch_size=3)
    assert p.shape == (7, 10) and f.shape == (7, 32)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    assert f.min() >= 0  # post-ReLU features
    np.testing.assert_array_equal(tiny_net.embed(test.images[:7], batch_size=3), f)
    # Another batching regroups the float32 GEMMs: equal to float32 rounding.
    np.testing.assert_allclose(tiny_net.embed(test.images[:7]), f, rtol=1e-5,
                               atol=1e-5 * np.abs(f).max())


def test_training_is_seeded_and_restores_the_global_rng(tiny_net):
    mgrandom.manual_seed(123)
    before = mgrandom.randn(3).numpy()
    mgrandom.manual_seed(123)
    again = clf.train_classifier({**TINY, "train_limit": 64})
    assert np.array_equal(mgrandom.randn(3).numpy(), before)
    twice = clf.train_classifier({**TINY, "train_limit": 64})
    for (k, a), (_, b) in zip(again.state_dict().items(), twice.state_dict().items()):
        assert np.array_equal(a, b), k


def test_cache_round_trip_and_no_retraining(tmp_path, monkeypatch):
    recipe = {**TINY, "train_limit": 200}
    logs = []
    net = clf.get_classifier(recipe, directory=tmp_path, log=logs.append)
    path = clf.cache_path(recipe, tmp_path)
    assert path.is_file() and any("training it once now" in m for m in logs)
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: pytest.fail("retrained"))
    loaded = clf.get_classifier(recipe, directory=tmp_path)
    assert loaded.test_accuracy == net.test_accuracy and loaded.recipe == net.recipe
    for (k, a), (_, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert np.array_equal(a, b), k
    x = load_digits("test").images[:20]
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))


def test_corrupted_or_foreign_cache_file_is_retrained(tmp_path):
    recipe = {**TINY, "train_limit": 200}
    path = clf.cache_path(recipe, tmp_path)
    first = clf.get_classifier(recipe, directory=tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the checksum (or the zip) refuses it
    path.write_bytes(bytes(data))
    logs = []
    again = clf.get_classifier(recipe, directory=tmp_path, log=logs.append)
    assert any("unusable" in m and "retraining" in m for m in logs)
    assert again.test_accuracy == first.test_accuracy  # seeded: the same weights again
    checkpoint.load(path)  # the rewritten file is valid
    path.write_bytes(b"not a checkpoint at all")
    assert clf.get_classifier(recipe, directory=tmp_path).test_accuracy == first.test_accuracy
    # A valid checkpoint that holds another recipe is not trusted either.
    st = checkpoint.load(path)
    st["recipe"] = {**st["recipe"], "hidden": 99}
    checkpoint.save(path, st)
    logs.clear()
    clf.get_classifier(recipe, directory=tmp_path, log=logs.append)
    assert any("another recipe" in m for m in logs)


def test_cache_dir_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE_DIR", str(tmp_path / "c"))
    assert clf.cache_dir() == tmp_path / "c"
    assert clf.cache_path(TINY).parent == tmp_path / "c"
    monkeypatch.delenv("MINIGAN_CACHE_DIR")
    assert clf.cache_dir().parts[-2:] == (".cache", "minigan")
    # The key follows the recipe (and the data file), not the dict's spelling.
    assert clf.recipe_key(TINY) == clf.recipe_key(dict(reversed(list(TINY.items()))))
    assert clf.recipe_key(TINY) != clf.recipe_key({**TINY, "epochs": 2})
    assert clf.recipe_key(None) == clf.recipe_key(clf.DEFAULT_RECIPE)
    with pytest.raises(ValueError, match="unknown key"):
        clf.recipe_key({"epoch": 3})


def test_bad_images():
    net = clf.DigitClassifier([2, 2], 4)
    with pytest.raises(ValueError, match="images"):
        net.predict_proba(np.zeros((2, 3, 28, 28)))


@pytest.mark.slow
def test_default_recipe_reaches_98_percent(tmp_path):
    # The real classifier (a couple of minutes on 2 cores): the issue expects >= 98% held out.
    net = clf.get_classifier(directory=tmp_path)
    assert net.test_accuracy >= 0.98


def test_affine_augmentation_exact_cases():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 2, 6, 6)).astype(np.float32)
    # Integer shifts move pixels exactly, background -1 filling in.
    y = clf.affine(x, [0, 0, 0], [1, 1, 1], [1, 0, -2], [0, 2, 0])
    want = np.full_like(x, -1)
    want[0, :, 1:] = x[0, :, :-1]
    want[1, :, :, 2:] = x[1, :, :, :-2]
    want[2, :, :-2] = x[2, :, 2:]
    np.testing.assert_array_equal(y, want)
    # A quarter turn about the centre is np.rot90 (up to cos(pi/2) ~ 6e-17).
    r = clf.affine(x, [90] * 3, [1] * 3, [0] * 3, [0] * 3)
    np.testing.assert_allclose(r, np.rot90(x, -1, axes=(2, 3)), rtol=0, atol=1e-6)
    # Zoom 2 about the centre of a 4x4 ramp reads the input at (p - 1.5) / 2 + 1.5.
    ramp = np.tile(np.arange(4, dtype=np.float32), (1, 1, 4, 1))  # value = column
    z = clf.affine(ramp, [0], [2.0], [0], [0])
    np.testing.assert_allclose(z[0, 0, 0], (np.arange(4) - 1.5) / 2 + 1.5, rtol=1e-6)
    # No augmentation: the very same array back.
    assert clf._augment(x, 0, 0, 0, rng) is x
