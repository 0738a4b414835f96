"""Image scores on constructed inputs: Fréchet distance vs closed forms (and SciPy when
installed), k-NN precision/recall vs hand-computed cases, class coverage and KL."""

import importlib.util
import math

import numpy as np
import pytest

from minigan.metrics import images
from minigan.metrics.images import (class_coverage, frechet_distance, frechet_from_stats,
                                    kl_to_uniform, precision_recall, psd_sqrt,
                                    trace_sqrt_product)


def random_psd(rng, d, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T + (0 if rank else 0.1 * np.eye(d))


def test_frechet_diagonal_closed_form():
    # N(m1, diag s1) vs N(m2, diag s2): ||m1 - m2||^2 + sum(s1 + s2 - 2 sqrt(s1 s2)).
    rng = np.random.default_rng(0)
    m1, m2 = rng.standard_normal(6), rng.standard_normal(6)
    s1, s2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    want = ((m1 - m2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    got = frechet_from_stats(m1, np.diag(s1), m2, np.diag(s2))
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_frechet_commuting_and_rotated_covariances():
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T commute: tr sqrt(S1 S2) = sum sqrt(a b). A shared
    # rotation must not change the distance -- checks the non-diagonal path.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    a, b = rng.uniform(0.2, 2, 5), rng.uniform(0.2, 2, 5)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert trace_sqrt_product(s1, s2) == pytest.approx(np.sqrt(a * b).sum(), rel=1e-12)
    mu = rng.standard_normal(5)
    want = (a + b - 2 * np.sqrt(a * b)).sum()
    assert frechet_from_stats(mu, s1, mu, s2) == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_trace_sqrt_product_of_1d_and_scalar_multiple():
    # S2 = c S1: tr sqrt(c S1^2) = sqrt(c) tr S1.
    rng = np.random.default_rng(2)
    s = random_psd(rng, 7)
    assert trace_sqrt_product(s, 4.0 * s) == pytest.approx(2.0 * np.trace(s), rel=1e-12)
    assert trace_sqrt_product(np.array([[4.0]]), np.array([[9.0]])) == pytest.approx(6.0)


def test_psd_sqrt_squares_back_and_handles_singular():
    rng = np.random.default_rng(3)
    for s in (random_psd(rng, 6), random_psd(rng, 6, rank=2)):
        r = psd_sqrt(s)
        np.testing.assert_allclose(r @ r, s, rtol=0, atol=1e-10 * np.abs(s).max())
        np.testing.assert_allclose(r, r.T, rtol=0, atol=0)


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None, reason="SciPy is not installed")
def test_trace_sqrt_product_matches_scipy_sqrtm():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(4)
    for d in (2, 8, 32):
        s1, s2 = random_psd(rng, d), random_psd(rng, d)
        want = np.trace(sqrtm(s1 @ s2)).real
        assert trace_sqrt_product(s1, s2) == pytest.approx(want, rel=1e-8)


def test_frechet_of_samples_zero_symmetric_and_known_gaussians():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((400, 4))
    b = rng.standard_normal((300, 4)) * 2 + 1
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-10)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-10)
    # Equals the closed form on the sample statistics (np.cov, ddof=1).
    m1, m2 = a.mean(0), b.mean(0)
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    want = ((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * trace_sqrt_product(c1, c2)
    assert frechet_distance(a, b) == pytest.approx(want, rel=1e-12)
    # N(0, I) vs N(1, 4 I) in 4-D: 4 * 1 + 4 * (1 + 4 - 2 * 2) = 8, up to sampling error.
    big_a = rng.standard_normal((20000, 4))
    big_b = rng.standard_normal((20000, 4)) * 2 + 1
    assert frechet_distance(big_a, big_b) == pytest.approx(8.0, rel=0.05)


def test_frechet_bad_input():
    with pytest.raises(ValueError, match="feats2"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((5, 3), np.nan), np.zeros((5, 3)))


def test_precision_recall_identical_and_far_apart():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((300, 8))
    pr = precision_recall(a, a)
    assert (pr.precision, pr.recall) == (1.0, 1.0)
    far = precision_recall(a, a + 100.0)
    assert (far.precision, far.recall) == (0.0, 0.0)
    assert (far.k, far.n_real, far.n_fake) == (3, 300, 300)


def test_precision_recall_hand_computed():
    # 1-D. Real 0, 1, 2, 3: k=1 radii all 1. Fake 0.1, 0.4, 10, 10.3: k=1 radii all 0.3.
    # Precision: 0.1 and 0.4 lie within 1 of a real point, 10 and 10.3 do not -> 1/2.
    # Recall: real 0 lies within 0.3 of fake 0.1; 1, 2, 3 are nowhere near -> 1/4.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.1], [0.4], [10.0], [10.3]])
    pr = precision_recall(real, fake, k=1)
    assert (pr.precision, pr.recall) == (0.5, 0.25)
    # k=2: real radii: 0 -> 2, 1 -> 1, 2 -> 1, 3 -> 2; fake radii: 0.1 -> 9.9, 0.4 -> 9.6,
    # 10 -> 9.6, 10.3 -> 9.9. Precision: 10 is 7 from 3 (radius 2) -> no -> 2/4.
    # Recall: every real point is within 9.9 of 0.1 -> 1.
    pr2 = precision_recall(real, fake, k=2)
    assert (pr2.precision, pr2.recall) == (0.5, 1.0)
    np.testing.assert_allclose(images.knn_radii(real, 2), [4.0, 1.0, 1.0, 4.0])


def test_precision_recall_chunks_agree():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((50, 3)), rng.standard_normal((40, 3)) + 0.5
    radii = images.knn_radii(a, 3)
    np.testing.assert_array_equal(images.knn_radii(a, 3, chunk=7), radii)
    np.testing.assert_array_equal(images.manifold_coverage(b, a, radii, chunk=3),
                                  images.manifold_coverage(b, a, radii))


def test_precision_recall_bad_input():
    with pytest.raises(ValueError, match="same D"):
        precision_recall(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="k: expected"):
        precision_recall(np.zeros((3, 2)), np.zeros((5, 2)), k=3)


def test_class_coverage_and_kl_on_constructed_predictions():
    eye = np.eye(10)
    uniform = eye[np.arange(100) % 10]  # every class 10 times, fully confident
    r = class_coverage(uniform)
    assert (r.classes_covered, r.n_classes, r.confident, r.n_samples) == (10, 10, 1.0, 100)
    assert r.kl_uniform == pytest.approx(0.0, abs=1e-15)
    collapsed = eye[np.zeros(50, dtype=int)]
    r = class_coverage(collapsed)
    assert r.classes_covered == 1 and r.kl_uniform == pytest.approx(math.log(10))
    # Two classes, 3:1; a third class predicted only with low confidence.
    p = np.zeros((8, 10))
    p[:6, 0] = 1.0
    p[6, 1] = 1.0
    p[7, 2], p[7, 3] = 0.6, 0.4  # argmax 2, confidence 0.6 < 0.9: not covered
    r = class_coverage(p)
    assert r.classes_covered == 2 and r.confident == pytest.approx(7 / 8)
    hist = np.array([6, 1, 1]) / 8
    assert r.kl_uniform == pytest.approx(float((hist * np.log(10 * hist)).sum()), rel=1e-12)
    assert class_coverage(p, threshold=0.5).classes_covered == 3


def test_kl_to_uniform_and_bad_input():
    assert kl_to_uniform(np.array([1, 1, 0, 2])) == pytest.approx(
        0.25 * math.log(1) * 2 + 0.5 * math.log(2) + 0.25 * 2 * math.log(1), abs=1e-15)
    assert kl_to_uniform(np.zeros(4)) == math.inf
    with pytest.raises(ValueError, match="probs"):
        class_coverage(np.ones(10))
    with pytest.raises(ValueError, match="threshold"):
        class_coverage(np.eye(10), threshold=1.5)
