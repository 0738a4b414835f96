import numpy as np
import pytest

from minigan.data import DatasetError
from minigan.data.arrays import load_npz


def test_uint8_nhwc_with_labels(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    labels = np.array([1, 0, 2, 2, 1], dtype=np.int32)
    p = tmp_path / "d.npz"
    np.savez(p, x=imgs, y=labels)
    x, y = load_npz(p)
    assert x.shape == (5, 3, 6, 7) and x.dtype == np.float32 and x.flags.c_contiguous
    assert np.array_equal(np.rint((x.astype(np.float64) + 1) * 127.5), imgs.transpose(0, 3, 1, 2))
    assert y.dtype == np.int64 and np.array_equal(y, labels)


def test_layouts_and_keys(tmp_path):
    p = tmp_path / "d.npz"
    a = np.zeros((4, 3, 8, 8), np.uint8)
    np.savez_compressed(p, images=a, other=np.ones(3))
    x, y = load_npz(p)
    assert x.shape == (4, 3, 8, 8) and y is None
    np.savez(p, arr_0=np.zeros((2, 9, 9), np.uint8))  # 3-D: one channel
    assert load_npz(p).images.shape == (2, 1, 9, 9)
    np.savez(p, pics=np.zeros((2, 3, 5, 3), np.uint8))  # only one array: used whatever its name
    with pytest.raises(DatasetError, match="cannot tell channels"):
        load_npz(p)
    assert load_npz(p, layout="NHWC").images.shape == (2, 3, 3, 5)
    assert load_npz(p, layout="NCHW").images.shape == (2, 3, 5, 3)
    np.savez(p, a=np.zeros((2, 4, 4)), b=np.array([3, 1]))
    with pytest.raises(DatasetError, match="no images array; it holds a, b"):
        load_npz(p)
    x, y = load_npz(p, images_key="a", labels_key="b")
    assert x.shape == (2, 1, 4, 4) and y.tolist() == [3, 1] and y.dtype == np.int64
    np.savez(p, images=np.zeros((2, 4, 4)), labels=np.zeros(2))
    with pytest.raises(DatasetError, match=r"d.npz\[labels\]: expected integer labels"):
        load_npz(p)
    with pytest.raises(DatasetError, match="no array named 'c'"):
        load_npz(p, images_key="c")


def test_value_ranges(tmp_path):
    p = tmp_path / "d.npz"
    f = np.linspace(0, 1, 2 * 16, dtype=np.float32).reshape(2, 4, 4)
    np.savez(p, images=f)
    np.testing.assert_allclose(load_npz(p).images[:, 0], f, rtol=0, atol=0)  # (-1, 1) default
    np.testing.assert_allclose(load_npz(p, value_range=(0, 1)).images[:, 0], 2 * f - 1,
                               rtol=0, atol=6e-8)
    np.savez(p, images=f * 3)
    with pytest.raises(DatasetError, match=r"values span \[0, 3\], outside .*value_range"):
        load_npz(p)
    np.savez(p, images=np.arange(32, dtype=np.int64).reshape(2, 4, 4) * 8)
    np.testing.assert_allclose(load_npz(p).images.ravel(), np.arange(32) * 8 / 127.5 - 1,
                               rtol=0, atol=1e-7)
    bad = f.copy()
    bad[0, 0, 0] = np.nan
    np.savez(p, images=bad)
    with pytest.raises(DatasetError, match="NaN or Inf"):
        load_npz(p)


def test_never_unpickles_and_clear_errors(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, images=np.array([object(), 1], dtype=object))
    with pytest.raises(DatasetError, match="dtype object is not a plain numeric type"):
        load_npz(p)
    np.save(tmp_path / "one.npy", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(DatasetError, match="single .npy array"):
        load_npz(tmp_path / "one.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(DatasetError, match="no such file"):
        load_npz(tmp_path / "absent.npz")
    np.savez(p, images=np.zeros((2, 4, 4), np.uint8), labels=np.zeros(3, np.int64))
    with pytest.raises(DatasetError, match="expected 2 labels"):
        load_npz(p)
    np.savez(p, images=np.zeros((2, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"expected images \(N, H, W\)"):
        load_npz(p)
