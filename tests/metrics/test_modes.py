import numpy as np
import pytest

from minigan.data.toy import grid25, ring8
from minigan.metrics.modes import mode_report


def test_perfect_samples_match_the_chi_square_tail():
    m = grid25()
    rep = mode_report(m.sample(200_000, np.random.default_rng(0)), m.means, m.std)
    assert rep.modes_covered == 25
    # P(||z|| <= 3) for a 2-D standard normal is 1 - e^(-4.5).
    assert rep.high_quality == pytest.approx(1 - np.exp(-4.5), abs=0.002)
    assert rep.reverse_kl < 1e-3


def test_collapse_to_one_mode():
    m = ring8()
    samples = np.tile(m.means[3], (2500, 1))
    rep = mode_report(samples, m.means, m.std)
    assert rep.modes_covered == 1 and rep.high_quality == 1.0
    assert rep.reverse_kl == pytest.approx(np.log(8))


def test_samples_between_modes_are_low_quality():
    m = grid25()
    samples = m.means[:10] + np.array([1.0, 1.0])  # halfway between grid points
    rep = mode_report(samples, m.means, m.std)
    assert rep.high_quality == 0.0 and rep.modes_covered == 0 and rep.reverse_kl == np.inf


def test_two_of_four_modes_half_each():
    m = grid25()
    samples = np.concatenate([np.tile(m.means[0], (50, 1)), np.tile(m.means[7], (50, 1))])
    rep = mode_report(samples, m.means, m.std)
    assert rep.modes_covered == 2 and rep.reverse_kl == pytest.approx(np.log(25 / 2))


def test_bad_samples_are_refused():
    m = ring8()
    with pytest.raises(ValueError, match="samples"):
        mode_report(np.zeros((5, 3)), m.means, m.std)
    with pytest.raises(ValueError, match="NaN"):
        mode_report(np.full((5, 2), np.nan), m.means, m.std)
