"""`minigan eval RUN_DIR` on tiny runs made here: 2-D modes, digit scores, Stacked MNIST,
eval.json, and clear errors."""

import json

import numpy as np
import pytest

from minigan.cli import main
from minigan.data.digits import load_digits
from minigan.gan import checkpoint, models
from minigan.metrics import classifier as clf
from minigan.metrics import commands, images
from minigan.metrics.modes import mode_report
from minigan.metrics.stacked import stacked_digits

MLP = ["--set", "g_hidden=16", "--set", "d_hidden=16", "--set", "eval_samples=64"]
IMAGE = ["--set", "base_width=8", "--set", "batch_size=16", "--set", "eval_samples=16",
         "--set", "sample_every=0"]
TINY_RECIPE = {"channels": [8, 16], "hidden": 32, "dropout": 0.0, "epochs": 1,
               "batch_size": 16, "lr": 5e-3, "shift": 0, "train_limit": 400}


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """Make `minigan eval` use a seconds-cheap classifier, cached in a private directory."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINIGAN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        for k, v in TINY_RECIPE.items():
            mp.setitem(clf.DEFAULT_RECIPE, k, v)
        yield clf.get_classifier()


def train(out, *args):
    assert main(["train", "--out", str(out), "--steps", "2", "--quiet", *args]) == 0
    return out


def load_G(out):
    st = checkpoint.load(out / "checkpoints" / "final.npz")
    cfg = st["model_config"]
    G, _ = models.build(cfg["model"], cfg)
    G.load_state_dict(st["G_ema"])
    return G, cfg


def test_eval_2d_run_writes_the_mode_report(tmp_path, capsys):
    out = train(tmp_path / "run", *MLP)
    assert main(["eval", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "modes covered" in printed and "eval.json" in printed
    res = json.loads((out / "eval.json").read_text())
    assert res["kind"] == "2d" and res["generator"] == "G_ema" and res["step"] == 2
    m = res["metrics"]
    # By default eval scores the run's own evaluation samples, so it prints what train printed.
    summary = json.loads((out / "summary.json").read_text())
    assert m == summary["metrics"]
    G, cfg = load_G(out)
    assert m["n_samples"] == cfg["eval_samples"]
    # An explicit --n/--seed: the 2-D protocol on freshly drawn samples.
    from minigan.data import toy

    x = commands.draw_samples(G, cfg, 2500, seed=0)
    mix = toy.mixture("grid25")
    assert main(["eval", str(out), "--n", "2500", "--seed", "0", "--json"]) == 0
    fresh = json.loads(capsys.readouterr().out)["metrics"]
    assert fresh == mode_report(x, mix.means, mix.std).as_dict()
    assert main(["eval", str(out), "--n", "300", "--seed", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["metrics"]["n_samples"] == 300 and printed["seed"] == 1
    assert json.loads((out / "eval.json").read_text()) == printed


def test_eval_digits_run(tmp_path, tiny_classifier, capsys):
    out = train(tmp_path / "run", "--preset", "dcgan-mnist", *IMAGE)
    assert main(["eval", str(out), "--n", "300"]) == 0
    assert "Fréchet distance" in capsys.readouterr().out
    res = json.loads((out / "eval.json").read_text())
    m = res["metrics"]
    assert res["kind"] == "digits" and m["n_samples"] == 300 and m["n_real"] == 1000
    assert m["classifier_test_accuracy"] == tiny_classifier.test_accuracy
    # Recomputed here from the classifier's outputs on the same samples.
    G, cfg = load_G(out)
    x = commands.draw_samples(G, cfg, 300, seed=0)
    real = load_digits("test").images
    p, f = tiny_classifier.predict_and_embed(x)
    fr = tiny_classifier.embed(real)
    assert m["frechet_distance"] == pytest.approx(images.frechet_distance(f, fr), rel=1e-9)
    pr = images.precision_recall(fr[:300], f)
    assert (m["precision"], m["recall"], m["pr_samples"]) == (pr.precision, pr.recall, 300)
    cov = images.class_coverage(p)
    assert (m["classes_covered"], m["kl_uniform"]) == (cov.classes_covered, cov.kl_uniform)


def test_real_digits_score_as_real(tiny_classifier):
    # The test digits themselves: distance 0, precision and recall 1.
    real = load_digits("test").images
    m = commands.evaluate_samples("digits", real, {}, tiny_classifier)
    assert m["frechet_distance"] == pytest.approx(0.0, abs=1e-9)
    assert (m["precision"], m["recall"]) == (1.0, 1.0)
    assert m["n_samples"] == m["n_real"] == 1000


def test_eval_stacked_run(tmp_path, tiny_classifier):
    data = stacked_digits(64, np.random.default_rng(0))
    np.savez(tmp_path / "stacked.npz", images=data.images)
    out = train(tmp_path / "run", "--preset", "dcgan-mnist", "--set",
                f"dataset=npz:{tmp_path / 'stacked.npz'}", *IMAGE)
    assert main(["eval", str(out), "--n", "200", "--json"]) == 0
    res = json.loads((out / "eval.json").read_text())
    m = res["metrics"]
    assert res["kind"] == "stacked" and m["n_samples"] == 200 and m["n_modes"] == 1000
    assert 1 <= m["modes_covered"] <= 200 and m["kl_uniform"] >= 0
    # Real Stacked-MNIST data through the same path: its modes are the classifier's reading.
    real = stacked_digits(500, np.random.default_rng(1), split="test")
    rm = commands.evaluate_samples("stacked", real.images, {}, tiny_classifier)
    assert rm["modes_covered"] == len(np.unique(
        tiny_classifier.predict_proba(real.images[:, :1]).argmax(1)
        + 10 * tiny_classifier.predict_proba(real.images[:, 1:2]).argmax(1)
        + 100 * tiny_classifier.predict_proba(real.images[:, 2:]).argmax(1)))


def test_eval_errors(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    assert main(["eval", str(tmp_path / "run")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "run" / "checkpoints" / "final.npz").write_bytes(b"garbage")
    assert main(["eval", str(tmp_path / "run")]) == 2
    assert "corrupt" in capsys.readouterr().err
    out = train(tmp_path / "spiral", "--set", "dataset=spiral", *MLP)
    assert main(["eval", str(out)]) == 2
    assert "no discrete modes" in capsys.readouterr().err
    assert not (out / "eval.json").exists()
    assert main(["eval", str(out), "--n", "1"]) == 2


def test_kind_of():
    assert commands.kind_of({"dataset": "ring8"}) == "2d"
    assert commands.kind_of({"dataset": "digits", "channels": 1, "image_size": 28}) == "digits"
    assert commands.kind_of({"dataset": "npz:x", "channels": 3, "image_size": 28}) == "stacked"
    with pytest.raises(ValueError, match="3-channel 32x32"):
        commands.kind_of({"dataset": "cifar10:x", "channels": 3, "image_size": 32})


@pytest.mark.parametrize("preset, model, key", [("infogan-mnist", "infogan", "code_accuracy"),
                                                ("cgan-mnist", "cgan", "class_accuracy"),
                                                ("cgan-mnist", "acgan", "class_accuracy")])
def test_eval_scores_the_label_each_sample_was_drawn_with(preset, model, key, tmp_path,
                                                         tiny_classifier, capsys):
    out = train(tmp_path / "run", "--preset", preset, "--set", f"model={model}", *IMAGE)
    capsys.readouterr()
    assert main(["eval", str(out), "--n", "300", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["metrics"]
    G, cfg = load_G(out)
    x = commands.draw_samples(G, cfg, 300, seed=0)
    pred = tiny_classifier.predict_proba(x).argmax(1)
    drawn = np.arange(300) % 10  # the labels / codes cycle 0..9 along the samples
    if key == "class_accuracy":
        assert m[key] == np.mean(pred == drawn) and "code_accuracy" not in m
        return
    # InfoGAN: the reported map is one-to-one, scores what it says, and no swap of two codes'
    # digits (nor moving a code to an unused digit: none is left with 10 codes) scores more.
    mp = np.array(m["code_to_class"])
    assert sorted(mp) == list(range(10)) and "class_accuracy" not in m
    hits = np.array([[np.sum(pred[drawn == k] == c) for c in range(10)] for k in range(10)])
    assert m[key] == hits[np.arange(10), mp].sum() / 300
    for a in range(10):
        for b in range(a + 1, 10):
            assert hits[a, mp[b]] + hits[b, mp[a]] <= hits[a, mp[a]] + hits[b, mp[b]]
