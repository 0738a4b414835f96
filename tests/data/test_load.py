import pickle

import numpy as np
import pytest

from minigan.data import DATASETS, DatasetError, ImageData, load


def test_unknown_names_and_options_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown 'mnist'; expected one of digits, mnist-idx"):
        load("mnist")
    with pytest.raises(ValueError, match="2-D mixtures are in minigan.data.toy"):
        load("grid25")
    with pytest.raises(ValueError, match="unknown option.*size; valid: split"):
        load("mnist-idx:/nowhere", size=3)
    with pytest.raises(ValueError, match="needs a folder"):
        load("cifar10")
    with pytest.raises(ValueError, match="needs a file"):
        load("npz:")
    with pytest.raises(TypeError, match="name"):
        load(3)
    assert set(DATASETS) == {"digits", "mnist-idx", "fashion-mnist-idx", "kmnist-idx",
                             "stacked-digits", "cifar10", "folder", "npz"}


def test_dispatch_reaches_each_reader(tmp_path, write_idx, mnist_like):
    images, labels = mnist_like
    write_idx("train-images-idx3-ubyte", images)
    write_idx("train-labels-idx1-ubyte", labels)
    for kind in ("mnist-idx", "fashion-mnist-idx", "kmnist-idx"):
        got = load(f"{kind}:{tmp_path}")
        assert isinstance(got, ImageData) and np.array_equal(got.labels, labels)
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte"):
        load(f"mnist-idx:{tmp_path}", split="test")
    np.savez(tmp_path / "a.npz", x=images, y=labels)
    assert load(f"npz:{tmp_path / 'a.npz'}").images.shape == (7, 1, 5, 4)
    c = tmp_path / "c"
    c.mkdir()
    batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 9]}
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch"):
        (c / name).write_bytes(pickle.dumps(batch))
    assert load(f"cifar10:{c}", split="all").labels.tolist() == [0, 9] * 6


def test_folder_by_name(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "a.png")
    x, y = load(f"folder:{tmp_path}", size=(2, 3), grayscale=True)
    assert x.shape == (1, 1, 2, 3) and y is None
