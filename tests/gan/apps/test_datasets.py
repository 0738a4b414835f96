"""The applications on the other datasets the GAN presets read: tiny files in the real formats
(IDX, CIFAR-10 python batches, image folders) written into tmp_path, a few steps each."""

import json
import pickle
import struct

import numpy as np
import pytest

from minigan.cli import main
from minigan.gan import config
from minigan.gan.apps import cyclegan, data, paired
from minigan.metrics.classifier import DigitClassifier

TINY = ["--quiet", "--steps", "2", "--set", "batch_size=4", "--set", "base_width=4",
        "--set", "app_eval=10", "--set", "log_every=1", "--set", "sample_every=100",
        "--set", "checkpoint_every=100"]


def _pixels(rng, shape):
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _idx(arr):
    """An IDX file from the format's spec: 00 00 08 <ndim>, big-endian sizes, the bytes."""
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


@pytest.fixture
def idx_dir(tmp_path):
    """An MNIST-format folder: 30 train and 20 test 28x28 images, labels i % 10."""
    rng = np.random.default_rng(0)
    d = tmp_path / "idx"
    d.mkdir()
    out = {}
    files = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    for split, n in (("train", 30), ("test", 20)):
        fi, fl = files[split]
        x, y = _pixels(rng, (n, 28, 28)), (np.arange(n) % 10).astype(np.uint8)
        (d / fi).write_bytes(_idx(x))
        (d / fl).write_bytes(_idx(y))
        out[split] = (x, y)
    return d, out


@pytest.fixture
def cifar_dir(tmp_path):
    """CIFAR-10 python batches: 5 train batches of 6 and a test batch of 10 images."""
    rng = np.random.default_rng(1)
    d = tmp_path / "cifar"
    d.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for j, name in enumerate(names):
        n = 10 if name == "test_batch" else 6
        batch = {b"data": _pixels(rng, (n, 3072)),
                 b"labels": [int(v) for v in (np.arange(n) + 6 * j) % 10]}
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))
    return d


def _write_pngs(folder, pixels):
    from PIL import Image

    folder.mkdir(parents=True)
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(folder / f"{i:03d}.png")


@pytest.fixture
def flat_folder(tmp_path):
    """25 RGB 32x32 PNGs, no class subfolders (no labels)."""
    pytest.importorskip("PIL")
    pixels = _pixels(np.random.default_rng(2), (25, 32, 32, 3))
    _write_pngs(tmp_path / "flat", pixels)
    return tmp_path / "flat", pixels


@pytest.fixture
def class_folder(tmp_path):
    """Three class subfolders of 10 RGB 32x32 PNGs each."""
    pytest.importorskip("PIL")
    rng = np.random.default_rng(3)
    for c in ("cat", "dog", "emu"):
        _write_pngs(tmp_path / "classes" / c, _pixels(rng, (10, 32, 32, 3)))
    return tmp_path / "classes"


@pytest.fixture
def tiny_judges(monkeypatch):
    """Untrained small digit classifiers instead of the cached real ones (no training)."""
    net = DigitClassifier((4, 4), 8).eval()
    monkeypatch.setattr(paired.PairedLoop, "classifier", lambda self: net)
    monkeypatch.setattr(cyclegan, "digit_classifier", lambda: net)
    monkeypatch.setattr(cyclegan, "domain_classifier", lambda: net)
    return net


def _train(tmp_path, preset, dataset, *sets):
    out = tmp_path / "run"
    code = main(["train", "--preset", preset, "--out", str(out), *TINY,
                 "--set", f"dataset={dataset}", *[a for s in sets for a in ("--set", s)]])
    assert code == 0
    return json.loads((out / "summary.json").read_text())


# ---- the splits --------------------------------------------------------------------------------

def test_splits_read_each_source_and_hold_out_every_fifth_folder_image(idx_dir, flat_folder):
    d, raw = idx_dir
    for which in ("train", "test"):
        s = data.split(f"fashion-mnist-idx:{d}", which)
        x, y = raw[which]
        np.testing.assert_array_equal(s.images[:, 0], x / np.float32(127.5) - 1)
        np.testing.assert_array_equal(s.labels, y)
        # Positions in the whole set: the test images follow the 30 train images.
        np.testing.assert_array_equal(s.index, np.arange(len(x)) + (30 if which == "test" else 0))
        assert not s.images.flags.writeable
    folder, pixels = flat_folder
    tr, te = data.split(f"folder:{folder}", "train"), data.split(f"folder:{folder}", "test")
    np.testing.assert_array_equal(te.index, [4, 9, 14, 19, 24])
    assert len(tr.index) == 20 and not set(tr.index) & set(te.index)
    assert tr.labels is None and te.labels is None
    np.testing.assert_array_equal(te.images, pixels[4::5].transpose(0, 3, 1, 2) / np.float32(127.5)
                                  - 1)
    with pytest.raises(config.ConfigError, match="'dataset'.*no such"):
        data.split(f"cifar10:{folder}/nothing", "train")


def test_which_judges_apply():
    grey, rgb = np.zeros((1, 1, 28, 28)), np.zeros((1, 3, 32, 32))
    assert data.digit_labels("digits", grey) and data.digit_labels("mnist-idx:/d", grey)
    assert not data.digit_labels("fashion-mnist-idx:/d", grey)
    assert data.digit_features(grey) and not data.digit_features(rgb)
    with pytest.raises(config.ConfigError, match="'sr_factor'.*30x30.*divisible by 4"):
        data.need_side("folder:x", np.zeros((1, 1, 30, 30)), 4, "sr_factor")


# ---- super-resolution --------------------------------------------------------------------------

def test_sr_on_fashion_mnist_idx_scores_pixels_and_features_but_no_digit_accuracy(
        tmp_path, idx_dir, tiny_judges):
    d, _ = idx_dir
    s = _train(tmp_path, "sr-digits", f"fashion-mnist-idx:{d}")
    m = s["metrics"]
    assert m["n_test"] == 10 and "target_accuracy" not in m
    for name in ("output", "bicubic", "baseline"):
        assert set(m[name]) == {"l1", "psnr", "ssim", "frechet"}  # not a digit: no accuracy
    assert "perceptual_loss" in s["final_losses"]


def test_sr_on_full_mnist_idx_keeps_the_digit_accuracy(tmp_path, idx_dir, tiny_judges):
    d, raw = idx_dir
    s = _train(tmp_path, "sr-digits", f"mnist-idx:{d}", "sr_factor=2",
               "paired_baseline=false")
    m = s["metrics"]
    assert set(m["output"]) == {"l1", "psnr", "ssim", "accuracy", "frechet"}
    want = tiny_judges.accuracy(data.split(f"mnist-idx:{d}", "test").images, raw["test"][1])
    assert m["target_accuracy"] == pytest.approx(want)


def test_sr_on_cifar10_rgb_and_minigan_sr_on_a_colour_image(tmp_path, cifar_dir):
    from PIL import Image

    with pytest.raises(config.ConfigError, match="perceptual_weight.*3x32x32"):
        _train_loop("sr", f"cifar10:{cifar_dir}", tmp_path)
    s = _train(tmp_path, "sr-digits", f"cifar10:{cifar_dir}", "perceptual_weight=0")
    assert set(s["metrics"]["output"]) == {"l1", "psnr", "ssim"}
    assert Image.open(s["pictures"]["samples"]).size == (2 + 4 * 34, 2 + 10 * 34)
    low = tmp_path / "low.png"
    Image.fromarray(_pixels(np.random.default_rng(4), (6, 5, 3))).save(low)
    assert main(["sr", "--checkpoint", str(tmp_path / "run"), "--in", str(low),
                 "--out", str(tmp_path / "high.png")]) == 0
    high = Image.open(tmp_path / "high.png")
    assert high.mode == "RGB" and high.size == (20, 24)


def _train_loop(task, dataset, tmp_path, **kw):
    from minigan.gan.apps import trainer_class

    preset = {"sr": "sr-digits", "pix2pix": "pix2pix-digits", "ssgan": "ssgan-digits",
              "cyclegan": "cyclegan-digits"}[task]
    sets = {"dataset": dataset, "steps": 2, "batch_size": 4, "base_width": 4, "app_eval": 10,
            "log_every": 1, "sample_every": 100, "checkpoint_every": 100, **kw}
    cfg = config.resolve(preset, overrides=[f"{k}={v}" for k, v in sets.items()])
    return trainer_class(task)(cfg, tmp_path / "loop", progress=False)


# ---- paired translation ------------------------------------------------------------------------

def test_pix2pix_inpaints_an_unlabelled_rgb_folder(tmp_path, flat_folder):
    from PIL import Image

    folder, _ = flat_folder
    s = _train(tmp_path, "pix2pix-digits", f"folder:{folder}", "paired_task=inpaint")
    m = s["metrics"]
    assert m["n_test"] == 5 and set(m["output"]) == {"l1", "psnr", "ssim"}
    assert set(m["baseline"]) == {"l1", "psnr", "ssim"}
    # No labels: the first 5 held-out images, one per row; input | output | target.
    assert Image.open(s["pictures"]["samples"]).size == (2 + 3 * 34, 2 + 5 * 34)


def test_pix2pix_edges_of_colour_images_are_one_channel(tmp_path, cifar_dir):
    loop = _train_loop("pix2pix", f"cifar10:{cifar_dir}", tmp_path)
    assert loop.train_x.shape == (30, 1, 32, 32) and loop.train_y.shape == (30, 3, 32, 32)
    grey = loop.train_y.mean(axis=1, keepdims=True)
    np.testing.assert_array_equal(loop.train_x, np.where(
        (grey > 0) & ~_interior(grey > 0), 1.0, -1.0))
    assert loop.run()["metrics"]["output"].keys() == {"l1", "psnr", "ssim"}


def _interior(inside):
    """Pixels whose 4 neighbours are all inside (outside the image counts as outside)."""
    p = np.pad(inside, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return p[..., :-2, 1:-1] & p[..., 2:, 1:-1] & p[..., 1:-1, :-2] & p[..., 1:-1, 2:]


# ---- unpaired translation ----------------------------------------------------------------------

def test_cyclegan_on_an_unlabelled_folder_reports_the_cycle_scores(tmp_path, flat_folder):
    folder, _ = flat_folder
    s = _train(tmp_path, "cyclegan-digits", f"folder:{folder}", "g_layers=1", "pool_size=2")
    m = s["metrics"]
    assert not any(k.startswith(("accuracy", "frechet")) for k in m)
    assert m["n_eval_per_domain"] == 2  # 5 held-out images: 2 in A, 3 in B; app_eval 10 / 2
    for k in ("cycle_l1_A", "cycle_l1_B"):
        assert 0 <= m[k] <= 2
    assert m["cycle_psnr_A"] > 0


def test_cyclegan_domains_of_a_labelled_source_split_each_class(idx_dir):
    d, raw = idx_dir
    dom = cyclegan.domains(f"mnist-idx:{d}")
    # 3 train and 2 test images of each class: the first half (1 of 3, 1 of 2) goes to A.
    assert dom["A"].shape == (10, 3, 28, 28) and dom["B"].shape == (20, 3, 28, 28)
    np.testing.assert_array_equal(np.sort(dom["A_test_y"]), np.arange(10))
    np.testing.assert_array_equal(np.sort(dom["B_test_y"]), np.arange(10))
    np.testing.assert_array_equal(dom["A"][:, 1], dom["A"][:, 0])  # grey, repeated


def test_cyclegan_on_mnist_idx_is_judged(tmp_path, idx_dir, tiny_judges):
    d, _ = idx_dir
    m = _train(tmp_path, "cyclegan-digits", f"mnist-idx:{d}", "g_layers=1")["metrics"]
    assert 0 <= m["accuracy_B_to_A"] <= 1 and m["frechet_A_to_B"] >= 0 and "cycle_l1_A" in m


# ---- semi-supervised GAN -----------------------------------------------------------------------

def test_ssgan_needs_labels_and_names_the_key(tmp_path, flat_folder):
    with pytest.raises(config.ConfigError, match="'dataset'.*no class labels.*ssgan"):
        _train_loop("ssgan", f"folder:{flat_folder[0]}", tmp_path)


def test_ssgan_on_cifar10_classifies_colour_images(tmp_path, cifar_dir):
    loop = _train_loop("ssgan", f"cifar10:{cifar_dir}", tmp_path, labels_per_class=2, steps=2,
                       z_dim=8)
    assert loop.D.shape == (3, 32, 32) and loop.lab_x.shape == (20, 3, 32, 32)
    m = loop.run()["metrics"]
    assert m["n_labelled"] == 20 and m["n_test"] == 10
    assert 0 <= m["test_accuracy"] <= 1 and 0 <= m["baseline_accuracy"] <= 1
    with pytest.raises(config.ConfigError, match="'labels_per_class'.*at most 3"):
        _train_loop("ssgan", f"cifar10:{cifar_dir}", tmp_path, labels_per_class=4)


def test_ssgan_on_class_subfolders(tmp_path, class_folder):
    loop = _train_loop("ssgan", f"folder:{class_folder}", tmp_path, labels_per_class=2, steps=1)
    assert loop.n_classes == 3 and loop.D.out.out_features == 3
    assert loop.run()["metrics"]["n_test"] == 6  # every 5th of 30


# ---- the augment study -------------------------------------------------------------------------

def test_augment_study_on_cifar10_and_a_labelled_folder(tmp_path, cifar_dir, class_folder,
                                                        capsys):
    for name, ds in (("cifar", f"cifar10:{cifar_dir}"), ("folder", f"folder:{class_folder}")):
        out = tmp_path / name
        assert main(["study", "augment", "--dataset", ds, "--n", "1", "--seeds", "1",
                     "--clf-steps", "1", "--gan-steps", "1", "--synthetic-per-class", "1",
                     "--out", str(out)]) == 0
        doc = json.loads((out / "augment.json").read_text())
        assert doc["settings"]["dataset"] == ds
        assert doc["settings"]["n_test"] == (10 if name == "cifar" else 6)  # all of the split
        assert 0 <= doc["runs"][0]["augmented"] <= 1
    capsys.readouterr()


def test_augment_study_refuses_unlabelled_data(tmp_path, flat_folder, capsys):
    assert main(["study", "augment", "--dataset", f"folder:{flat_folder[0]}",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no class labels" in err and "config key" not in err


# ---- the pieces ----------------------------------------------------------------------------------

def test_classifier_network_for_other_shapes_and_classes():
    from minigan.tensor import Tensor

    net = DigitClassifier((2, 3), 5, in_channels=3, image_size=32, n_classes=4).eval()
    # 32 -> conv 30 -> pool 15 -> conv 13 -> pool 6: the linear layer reads 3 * 6 * 6 values.
    assert net.fc.weight.shape == (5, 3 * 6 * 6)
    x = np.random.default_rng(5).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    assert net(Tensor(x)).shape == (2, 4) and net.predict_proba(x).shape == (2, 4)
    np.testing.assert_allclose(net.predict_proba(x).sum(1), 1, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        net.predict_proba(np.zeros((1, 1, 28, 28), np.float32))


def test_paired_inputs_of_colour_images():
    from minigan.data.paired import HOLE, make_pairs

    y = np.random.default_rng(6).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    low = make_pairs("sr", y, np.arange(2), 4)
    np.testing.assert_allclose(low[1, 2, 3, 5], y[1, 2, 12:16, 20:24].mean(), rtol=1e-6)
    holed = make_pairs("inpaint", y, np.array([7, 8]))
    assert ((holed == -1).all(axis=1).sum(axis=(1, 2)) >= HOLE * HOLE).all()  # every channel
    assert np.array_equal(holed[holed != -1], y[holed != -1])


def test_eval_and_sample_of_a_folder_run(tmp_path, flat_folder, capsys):
    folder, _ = flat_folder
    s = _train(tmp_path, "pix2pix-digits", f"folder:{folder}", "paired_task=inpaint")
    run = tmp_path / "run"
    assert main(["eval", str(run)]) == 0
    got = json.loads((run / "eval.json").read_text())["metrics"]
    assert got["output"] == s["metrics"]["output"]  # the same held-out folder images
    assert main(["sample", "--checkpoint", str(run), "--n", "3", "--out",
                 str(tmp_path / "s.npy")]) == 0
    # input | output | target of 3 of the 5 held-out RGB images.
    assert np.load(tmp_path / "s.npy").shape == (3, 3, 3, 32, 32)
    capsys.readouterr()
