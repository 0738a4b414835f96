"""Stacked MNIST: three digits as the R, G, B channels of one 28x28 image -- 1,000 modes.

The benchmark of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018): a generator
is trained on images whose three channels are independent random digits; each sample's mode
is read off by classifying every channel with a digit classifier,

    mode = d0 + 10 d1 + 100 d2    (d_c the digit predicted for channel c),

and the scores are the number of modes hit (out of 1,000) and KL(p || uniform over the 1,000
modes), p the histogram of modes over 26,000 samples (the protocol's sample count).

``stacked_digits`` makes the real data from the offline digits, so a run can train on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .images import kl_to_uniform

N_MODES = 1000
PROTOCOL_SAMPLES = 26_000


def stacked_modes(classifier: Any, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The mode 0..999 of each 3-channel image ``(N, 3, H, W)``: every channel goes through
    ``classifier.predict_proba`` (single-channel images ``(n, 1, H, W)`` -> ``(n, 10)``) and
    mode = d0 + 10 d1 + 100 d2 with d_c the argmax for channel c."""
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images: expected 3-channel images (N, 3, H, W), got {x.shape}")
    digits = np.empty((len(x), 3), dtype=np.int64)
    for c in range(3):
        for i in range(0, len(x), batch_size):
            p = np.asarray(classifier.predict_proba(x[i:i + batch_size, c:c + 1]))
            if p.ndim != 2 or p.shape[1] != 10:
                raise ValueError(f"classifier: expected (n, 10) digit probabilities, got "
                                 f"shape {p.shape}")
            digits[i:i + batch_size, c] = p.argmax(1)
    return digits @ np.array([1, 10, 100])


@dataclass(frozen=True)
class StackedReport:
    modes_covered: int  # distinct modes among the samples
    n_modes: int
    kl_uniform: float   # KL(mode histogram || uniform over 1,000)
    n_samples: int

    def as_dict(self) -> dict:
        return asdict(self)


def stacked_report(modes: np.ndarray, n_modes: int = N_MODES) -> StackedReport:
    """Modes covered and KL(p || U) of mode labels ``(N,)`` in 0..n_modes-1."""
    m = np.asarray(modes)
    if m.ndim != 1 or m.dtype.kind not in "iu":
        raise ValueError(f"modes: expected a 1-D integer array, got {m.dtype} {m.shape}")
    if len(m) and (m.min() < 0 or m.max() >= n_modes):
        raise ValueError(f"modes: expected values in 0..{n_modes - 1}")
    counts = np.bincount(m, minlength=n_modes)
    return StackedReport(int((counts > 0).sum()), n_modes, kl_to_uniform(counts), len(m))


def stack_digits(digits: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Images ``(n, 3, H, W)`` whose channel c is ``digits[index[:, c], 0]``."""
    index = np.asarray(index)
    if index.ndim != 2 or index.shape[1] != 3:
        raise ValueError(f"index: expected shape (n, 3), got {index.shape}")
    return np.ascontiguousarray(digits[index, 0])


def stacked_digits(n: int, rng: np.random.Generator, split: str = "train") -> Any:
    """Real Stacked-MNIST data: ``n`` images ``(n, 3, 28, 28)`` float32 in [-1, 1], each
    channel an independent uniformly drawn digit image of the offline digits' ``split``, and
    int64 labels = the true mode d0 + 10 d1 + 100 d2. Returns :class:`minigan.data.ImageData`.
    """
    from ..data import ImageData
    from ..data.digits import load_digits

    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive number of images, got {n!r}")
    data = load_digits(split)
    idx = rng.integers(0, len(data.images), size=(int(n), 3))
    modes = data.labels[idx] @ np.array([1, 10, 100])
    return ImageData(stack_digits(data.images, idx), modes.astype(np.int64))
