"""Full-reference image scores: PSNR and SSIM of an output against its target.

Both work on NumPy arrays of images ``(N, C, H, W)`` (or one image ``(C, H, W)`` / ``(H, W)``)
and return one value per image; ``data_range`` is the span of the pixel scale (2 for minigan's
images in [-1, 1], 255 for bytes).

* PSNR = 10 log10(R^2 / MSE), MSE the mean squared difference over the image; +inf when the
  images are equal.
* SSIM (Wang et al. 2004) with scikit-image's defaults: a ``win`` x ``win`` uniform window
  (7), K1 = 0.01, K2 = 0.03, sample (n - 1) variances, averaged over every window that lies
  inside the image and over channels:

      SSIM(x, y) = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))

  with C1 = (K1 R)^2, C2 = (K2 R)^2 and the window's means, variances and covariance. 1 for
  equal images.
"""

from __future__ import annotations

import numpy as np

K1, K2 = 0.01, 0.03


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"x, y: expected images of the same shape, got {a.shape} and {b.shape}")
    if a.ndim == 2:
        a, b = a[None, None], b[None, None]
    elif a.ndim == 3:
        a, b = a[None], b[None]
    if a.ndim != 4:
        raise ValueError(f"x: expected images (N, C, H, W), (C, H, W) or (H, W), got {a.shape}")
    return a, b


def psnr(x: np.ndarray, y: np.ndarray, data_range: float = 2.0) -> np.ndarray:
    """Peak signal-to-noise ratio of each image of ``x`` against ``y``, in dB: (N,)."""
    a, b = _pair(x, y)
    if not data_range > 0:
        raise ValueError(f"data_range: expected a positive span, got {data_range!r}")
    mse = ((a - b) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10 * np.log10(data_range ** 2 / mse)


def _window_means(a: np.ndarray, win: int) -> np.ndarray:
    """Mean of every win x win window lying inside the image (a 'valid' box filter), from an
    integral image: (N, C, H - win + 1, W - win + 1)."""
    s = np.pad(a.cumsum(2).cumsum(3), ((0, 0), (0, 0), (1, 0), (1, 0)))
    box = s[:, :, win:, win:] - s[:, :, :-win, win:] - s[:, :, win:, :-win] + s[:, :, :-win, :-win]
    return box / (win * win)


def ssim(x: np.ndarray, y: np.ndarray, data_range: float = 2.0, win: int = 7) -> np.ndarray:
    """Structural similarity of each image of ``x`` against ``y`` (module docstring): (N,)."""
    a, b = _pair(x, y)
    if not data_range > 0:
        raise ValueError(f"data_range: expected a positive span, got {data_range!r}")
    if win < 2 or win % 2 == 0 or win > min(a.shape[2:]):
        raise ValueError(f"win: expected an odd window of 3..{min(a.shape[2:])} pixels, got {win}")
    n = win * win
    cov = n / (n - 1)  # sample (unbiased) variances, as scikit-image by default
    mx, my = _window_means(a, win), _window_means(b, win)
    vx = cov * (_window_means(a * a, win) - mx * mx)
    vy = cov * (_window_means(b * b, win) - my * my)
    vxy = cov * (_window_means(a * b, win) - mx * my)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(axis=(1, 2, 3))
