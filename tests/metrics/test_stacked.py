"""Stacked MNIST: mode labelling through a fake classifier, the report, and the real data."""

import math

import numpy as np
import pytest

from minigan.data.digits import load_digits
from minigan.metrics.stacked import (N_MODES, stack_digits, stacked_digits, stacked_modes,
                                     stacked_report)


class MeanClassifier:
    """Reads a 'digit' off a constructed channel: the channel's constant value v in
    {0, ..., 9} -> one-hot of v. Records the batches it saw."""

    def __init__(self):
        self.calls = []

    def predict_proba(self, x):
        assert x.ndim == 4 and x.shape[1] == 1
        self.calls.append(len(x))
        d = np.rint(x.mean(axis=(1, 2, 3))).astype(int)
        return np.eye(10)[d]


def test_stacked_modes_on_constructed_inputs():
    digits = np.array([[3, 0, 7], [9, 9, 9], [0, 0, 0], [1, 2, 3], [5, 4, 0]])
    x = np.ones((len(digits), 3, 28, 28), dtype=np.float32) * digits[:, :, None, None]
    fake = MeanClassifier()
    modes = stacked_modes(fake, x, batch_size=2)
    # mode = d0 + 10 d1 + 100 d2 (channel 0 is the units digit).
    np.testing.assert_array_equal(modes, [703, 999, 0, 321, 45])
    assert fake.calls == [2, 2, 1] * 3  # batched, per channel


def test_stacked_report_counts_and_kl():
    modes = np.array([703, 703, 999, 0])
    r = stacked_report(modes)
    assert (r.modes_covered, r.n_modes, r.n_samples) == (3, N_MODES, 4)
    p = np.array([0.5, 0.25, 0.25])
    assert r.kl_uniform == pytest.approx(float((p * np.log(1000 * p)).sum()), rel=1e-12)
    every = stacked_report(np.arange(2000) % 1000)
    assert every.modes_covered == 1000 and every.kl_uniform == pytest.approx(0, abs=1e-12)
    assert stacked_report(np.full(10, 42)).kl_uniform == pytest.approx(math.log(1000))


def test_stacked_bad_input():
    with pytest.raises(ValueError, match="3-channel"):
        stacked_modes(MeanClassifier(), np.zeros((2, 1, 28, 28)))
    with pytest.raises(ValueError, match="0..999"):
        stacked_report(np.array([1000]))
    with pytest.raises(ValueError, match="integer"):
        stacked_report(np.array([1.0]))


def test_stacked_digits_are_real_digits_with_their_modes():
    rng = np.random.default_rng(0)
    data = stacked_digits(300, rng, split="test")
    assert data.images.shape == (300, 3, 28, 28) and data.images.dtype == np.float32
    test = load_digits("test")
    # Each channel is one of the test images, and the label is its mode.
    flat = test.images.reshape(len(test.images), -1)
    for i in range(0, 300, 37):
        d = []
        for c in range(3):
            match = np.flatnonzero((flat == data.images[i, c].ravel()).all(1))
            assert len(match) >= 1
            d.append(test.labels[match[0]])
        assert data.labels[i] == d[0] + 10 * d[1] + 100 * d[2]
    # Three independent uniform digits: many of the 1,000 modes appear.
    assert len(np.unique(data.labels)) > 200
    again = stacked_digits(300, np.random.default_rng(0), split="test")
    np.testing.assert_array_equal(again.images, data.images)
    with pytest.raises(ValueError, match="n:"):
        stacked_digits(0, rng)


def test_stack_digits_layout():
    digits = np.arange(4 * 1 * 2 * 2, dtype=np.float32).reshape(4, 1, 2, 2)
    out = stack_digits(digits, np.array([[0, 1, 2], [3, 3, 0]]))
    np.testing.assert_array_equal(out[0], digits[[0, 1, 2], 0])
    np.testing.assert_array_equal(out[1], digits[[3, 3, 0], 0])
