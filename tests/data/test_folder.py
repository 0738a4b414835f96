import numpy as np
import pytest

from minigan.data import DatasetError
from minigan.data.folder import folder_classes, load_folder

Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (pip install pillow)")


def _png(path, arr, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).convert(mode).save(path)


def test_flat_folder_rgb_and_gray(tmp_path):
    rng = np.random.default_rng(0)
    rgb = [rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(3)]
    for k, a in enumerate(rgb):
        _png(tmp_path / f"im{k}.png", a, "RGB")
    (tmp_path / "notes.txt").write_text("not an image")
    x, y = load_folder(tmp_path)
    assert y is None and x.shape == (3, 3, 6, 5) and x.dtype == np.float32
    want = np.stack([a.transpose(2, 0, 1) for a in rgb])  # files are read in sorted order
    assert np.array_equal(np.rint((x.astype(np.float64) + 1) * 127.5), want)
    g, _ = load_folder(tmp_path, grayscale=True)
    assert g.shape == (3, 1, 6, 5)
    # Pillow's L = (299 R + 587 G + 114 B) / 1000, rounded: ITU-R 601-2 luma.
    luma = np.stack([np.asarray(Image.fromarray(a).convert("L")) for a in rgb])
    assert np.array_equal(np.rint((g[:, 0].astype(np.float64) + 1) * 127.5), luma)
    r, g_, b = (rgb[0][..., c].astype(np.int64) for c in range(3))
    ref = (r * 299 + g_ * 587 + b * 114) / 1000
    assert np.abs(luma[0] - ref).max() <= 1


def test_class_subfolders_give_labels(tmp_path):
    for cls, n in (("cat", 2), ("ant", 1), ("dog", 3)):
        for k in range(n):
            _png(tmp_path / cls / f"{k}.png", np.full((4, 4), 10 * k, np.uint8), "L")
    (tmp_path / "empty").mkdir()
    assert folder_classes(tmp_path) == ["ant", "cat", "dog"]
    x, y = load_folder(tmp_path, grayscale=True)
    assert x.shape == (6, 1, 4, 4) and y.tolist() == [0, 1, 1, 2, 2, 2]
    assert load_folder(tmp_path, grayscale=True, limit=2).labels.tolist() == [0, 1]


def test_resize_and_mismatched_sizes(tmp_path):
    _png(tmp_path / "a.png", np.zeros((8, 8), np.uint8), "L")
    _png(tmp_path / "b.png", np.full((16, 12), 200, np.uint8), "L")
    with pytest.raises(DatasetError, match=r"b.png: size 12x16 differs .*pass size="):
        load_folder(tmp_path)
    x, _ = load_folder(tmp_path, size=4, grayscale=True)
    assert x.shape == (2, 1, 4, 4)
    # A constant image stays that constant under any resampling filter.
    assert np.all(x[0] == -1.0) and np.allclose(x[1], 200 / 127.5 - 1, atol=1e-6)
    assert load_folder(tmp_path, size=(3, 5)).images.shape == (2, 3, 3, 5)
    with pytest.raises(ValueError, match="size"):
        load_folder(tmp_path, size=(0, 4))


def test_rgba_and_palette_become_rgb(tmp_path):
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 100
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(np.full((3, 3), 77, np.uint8)).convert("P").save(tmp_path / "b.png")
    x, _ = load_folder(tmp_path)
    assert x.shape == (2, 3, 3, 3)
    assert np.all(x[0, 0] == 1.0) and np.all(x[0, 1:] == -1.0)


def test_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such directory"):
        load_folder(tmp_path / "absent")
    with pytest.raises(DatasetError, match="no images"):
        load_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DatasetError, match="broken.png: cannot read as an image"):
        load_folder(tmp_path)
