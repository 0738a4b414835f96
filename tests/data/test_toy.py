import numpy as np

from minigan.data.toy import grid25, mixture, ring8


def test_published_means():
    g = grid25()
    assert g.means.shape == (25, 2) and g.std == 0.05
    assert {tuple(m) for m in g.means} == {(-4.0 + 2 * i, -4.0 + 2 * j)
                                          for i in range(5) for j in range(5)}
    r = ring8()
    assert r.std == 0.01 and len({tuple(np.round(m, 9)) for m in r.means}) == 8
    assert np.allclose(np.linalg.norm(r.means, axis=1), 1.0)


def test_samples_are_seeded_and_shaped():
    a = grid25().sample(100, np.random.default_rng(5))
    b = grid25().sample(100, np.random.default_rng(5))
    assert a.shape == (100, 2) and a.dtype == np.float32 and np.array_equal(a, b)


def test_unknown_mixture_is_named():
    import pytest

    with pytest.raises(ValueError, match="grid25"):
        mixture("grid9")
