"""PSNR and SSIM against closed forms and against scikit-image's definition written here."""

import numpy as np
import pytest

from minigan.metrics.fidelity import psnr, ssim


def skimage_ssim(x, y, data_range, win=7):
    """scikit-image's structural_similarity (defaults: uniform window, K1 0.01, K2 0.03, sample
    covariance), written from its definition: filter everywhere, crop (win - 1) / 2 pixels."""
    ndimage = pytest.importorskip("scipy.ndimage")
    np_ = win * win
    cov = np_ / (np_ - 1)

    def f(a):
        return ndimage.uniform_filter(a, size=win)

    ux, uy = f(x), f(y)
    vx, vy, vxy = cov * (f(x * x) - ux * ux), cov * (f(y * y) - uy * uy), cov * (f(x * y) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    p = (win - 1) // 2
    return s[p:-p, p:-p].mean()


def test_psnr_of_known_noise():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 1, 8, 8))
    noise = 0.1 * rng.choice([-1.0, 1.0], size=x.shape)  # MSE exactly 0.01
    np.testing.assert_allclose(psnr(x + noise, x), 10 * np.log10(4 / 0.01), rtol=1e-12)
    np.testing.assert_allclose(psnr(x + noise, x, data_range=1.0), 20.0, rtol=1e-12)
    assert psnr(x, x).tolist() == [np.inf] * 3
    # Per image: a second image with twice the error loses 20 log10(2) dB.
    two = np.stack([x[0], x[0]])
    err = np.stack([x[0] + 0.1, x[0] + 0.2])
    np.testing.assert_allclose(psnr(err, two), 10 * np.log10(4 / np.array([0.01, 0.04])),
                               rtol=1e-12)


def test_ssim_of_constant_images_is_the_luminance_term():
    a, b = 0.3, -0.5
    x, y = np.full((1, 1, 9, 9), a), np.full((1, 1, 9, 9), b)
    c1 = (0.01 * 2) ** 2
    # Zero variances: the structure term is C2 / C2 = 1.
    np.testing.assert_allclose(ssim(x, y), (2 * a * b + c1) / (a * a + b * b + c1), rtol=1e-12)
    np.testing.assert_allclose(ssim(x, x), 1.0, rtol=1e-12)


def test_ssim_of_a_shifted_image_is_the_windows_luminance_terms():
    # y = x + d: variances and covariance equal, so each window scores
    # (2 mu (mu + d) + C1) / (mu^2 + (mu + d)^2 + C1); with equal window means, one value.
    x = np.tile(np.array([[-0.5, 0.5], [0.5, -0.5]]), (4, 4))  # every 7x7 window: mean +-1/98
    d = 0.4
    c1 = (0.01 * 2) ** 2
    mus = [(x[i:i + 7, j:j + 7]).mean() for i in range(2) for j in range(2)]
    want = np.mean([(2 * m * (m + d) + c1) / (m * m + (m + d) ** 2 + c1) for m in mus])
    np.testing.assert_allclose(ssim(x, x + d), [want], rtol=1e-12)


@pytest.mark.parametrize("shape,win,rng_", [((28, 28), 7, 2), ((13, 17), 3, 3), ((11, 11), 11, 4)])
def test_ssim_matches_skimage_definition(shape, win, rng_):
    rng = np.random.default_rng(rng_)
    x = rng.uniform(-1, 1, shape)
    y = np.clip(x + rng.normal(0, 0.3, shape), -1, 1)
    want = skimage_ssim(x, y, 2.0, win)
    np.testing.assert_allclose(ssim(x, y, 2.0, win), [want], rtol=1e-10)


def test_ssim_averages_channels_and_keeps_images_apart():
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (2, 3, 10, 10))
    y = x + rng.normal(0, 0.2, x.shape)
    got = ssim(x, y)
    for i in range(2):
        per_channel = [ssim(x[i, c], y[i, c])[0] for c in range(3)]
        np.testing.assert_allclose(got[i], np.mean(per_channel), rtol=1e-12)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="data_range"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)), data_range=0)
    with pytest.raises(ValueError, match="win"):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)))
