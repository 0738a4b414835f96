"""Image-quality and mode-collapse scores computed from a classifier's outputs.

All functions here work on plain NumPy arrays -- class probabilities ``(N, K)`` or feature
vectors ``(N, D)`` -- so they can be checked against closed forms without any network:

* :func:`class_coverage`: how many classes the samples hit, and KL(p || uniform) of the
  histogram p of predicted classes;
* :func:`frechet_distance`: the Fréchet (2-Wasserstein) distance between Gaussians fitted to two
  feature sets -- FID's formula, in the digit classifier's feature space;
* :func:`precision_recall`: the k-NN manifold precision and recall of Kynkäänniemi et al. 2019.

The digit classifier that produces the probabilities and features is in
:mod:`minigan.metrics.classifier`; Stacked MNIST is in :mod:`minigan.metrics.stacked`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def _probs(probs: np.ndarray, name: str = "probs") -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 1 or p.shape[0] < 1:
        raise ValueError(f"{name}: expected class probabilities of shape (N, K), got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise ValueError(f"{name}: expected finite non-negative probabilities")
    return p


def kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p || U) = sum_k p_k log(K p_k) of the histogram p = counts / sum(counts) against the
    uniform distribution over its K = len(counts) bins (0 log 0 = 0); inf for an empty
    histogram. 0 when every bin is hit equally, log K when all mass is in one bin."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return float("inf")
    p = counts / total
    nz = p > 0
    return float(np.sum(p[nz] * np.log(len(counts) * p[nz])))


@dataclass(frozen=True)
class ClassReport:
    classes_covered: int     # classes predicted with confidence > threshold by >= 1 sample
    n_classes: int
    confident: float         # fraction of samples whose top probability exceeds threshold
    kl_uniform: float        # KL(histogram of argmax classes of all samples || uniform)
    n_samples: int
    threshold: float

    def as_dict(self) -> dict:
        return asdict(self)


def class_coverage(probs: np.ndarray, threshold: float = 0.9) -> ClassReport:
    """Digit-class coverage of generated samples from the classifier's probabilities
    ``(N, K)``.

    A class is *covered* when at least one sample is predicted as that class with probability
    above ``threshold``. The KL term uses every sample's predicted class (argmax), as the
    Stacked-MNIST protocol does: KL(p || U) = sum_k p_k log(K p_k), p the histogram of
    predicted classes -- 0 for a generator that draws every class equally often.
    """
    p = _probs(probs)
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold: expected a probability in [0, 1), got {threshold!r}")
    k = p.shape[1]
    top, cls = p.max(1), p.argmax(1)
    sure = top > threshold
    covered = np.bincount(cls[sure], minlength=k) > 0
    return ClassReport(int(covered.sum()), k, float(sure.mean()),
                       kl_to_uniform(np.bincount(cls, minlength=k)), len(p), float(threshold))


# ---- Fréchet distance -------------------------------------------------------------------------

def _sym(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name}: expected a square matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return (a + a.T) / 2


def psd_sqrt(a: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix:
    A = V diag(w) V^T  ->  A^(1/2) = V diag(sqrt(w)) V^T. Eigenvalues that rounding made
    slightly negative are taken as 0."""
    w, v = np.linalg.eigh(_sym(a, "a"))
    r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return (r + r.T) / 2  # exactly symmetric, as the product's rounding is not


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for symmetric PSD S1, S2, without a general matrix square root.

    S1 S2 = S1^(1/2) (S1^(1/2) S2 S1^(1/2)) S1^(-1/2) is similar to the symmetric PSD matrix
    M = S1^(1/2) S2 S1^(1/2), so both have the same (non-negative) eigenvalues and
    tr((S1 S2)^(1/2)) = sum_i sqrt(eig_i(M)). Only symmetric eigen-decompositions are needed.
    """
    s1, s2 = _sym(s1, "s1"), _sym(s2, "s2")
    if s1.shape != s2.shape:
        raise ValueError(f"s2: expected shape {s1.shape} like s1, got {s2.shape}")
    r = psd_sqrt(s1)
    ev = np.linalg.eigvalsh(_sym(r @ s2 @ r, "M"))
    return float(np.sqrt(np.clip(ev, 0, None)).sum())


def frechet_from_stats(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray,
                       s2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, S1) and N(mu2, S2):

        d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

    (Dowson & Landau 1982; FID, Heusel et al. 2017, uses this d^2). Rounding can make an
    exact 0 come out a hair negative; the result is clipped at 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64).ravel(), np.asarray(mu2, np.float64).ravel()
    if mu1.shape != mu2.shape or np.shape(s1) != (len(mu1),) * 2 or np.shape(s2) != np.shape(s1):
        raise ValueError(f"frechet_from_stats: means {mu1.shape}, {mu2.shape} and covariances "
                         f"{np.shape(s1)}, {np.shape(s2)} do not match")
    diff = mu1 - mu2
    d2 = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(s1, s2)
    return float(max(d2, 0.0))


def feature_stats(feats: np.ndarray, name: str = "feats") -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, ddof=1, like FID's np.cov) of feature rows (N, D)."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"{name}: expected at least 2 feature rows (N, D), got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(feats1: np.ndarray, feats2: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N1, D) and (N2, D)."""
    m1, s1 = feature_stats(feats1, "feats1")
    m2, s2 = feature_stats(feats2, "feats2")
    if m1.shape != m2.shape:
        raise ValueError(f"feats2: expected {m1.shape[0]} features like feats1, got "
                         f"{m2.shape[0]}")
    return frechet_from_stats(m1, s1, m2, s2)


# ---- precision and recall (k-NN manifolds) ----------------------------------------------------

def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # ||a||^2 + ||b||^2 - 2 a.b: one matrix product instead of an (Na, Nb, D) difference array.
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)
    return np.maximum(d, 0, out=d)


def knn_radii(feats: np.ndarray, k: int = 3, chunk: int = 1024) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row (the row itself, at
    distance 0, is skipped): the radius of its ball in the k-NN manifold estimate."""
    f = np.asarray(feats, dtype=np.float64)
    if not 1 <= k < len(f):
        raise ValueError(f"k: expected 1 <= k < number of samples ({len(f)}), got {k}")
    out = np.empty(len(f))
    for i in range(0, len(f), chunk):
        d = _sq_dists(f[i:i + chunk], f)
        # Sorted row: d[0] is the point itself (0), d[k] is its k-th neighbour.
        out[i:i + chunk] = np.partition(d, k, axis=1)[:, k]
    return out


def manifold_coverage(points: np.ndarray, support: np.ndarray, radii: np.ndarray,
                      chunk: int = 1024) -> np.ndarray:
    """For each point, whether it lies inside some ball (support_i, radius_i): a boolean
    array (N,). ``radii`` are squared distances as :func:`knn_radii` returns them."""
    p = np.asarray(points, dtype=np.float64)
    s = np.asarray(support, dtype=np.float64)
    inside = np.empty(len(p), dtype=bool)
    for i in range(0, len(p), chunk):
        inside[i:i + chunk] = (_sq_dists(p[i:i + chunk], s) <= radii[None, :]).any(1)
    return inside


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float  # fraction of generated samples inside the real manifold
    recall: float     # fraction of real samples inside the generated manifold
    k: int
    n_real: int
    n_fake: int

    def as_dict(self) -> dict:
        return asdict(self)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its points, each ball reaching that
    point's k-th nearest neighbour in the same set. Then

        precision = (1/M) sum_j 1[fake_j in manifold(real)]
        recall    = (1/N) sum_i 1[real_i in manifold(fake)].

    The radii grow as a set gets sparser, so compare sets of equal size, as the paper does.
    """
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"real, fake: expected feature arrays (N, D) with the same D, got "
                         f"{r.shape} and {f.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(f))):
        raise ValueError("real, fake: contain NaN or Inf")
    precision = manifold_coverage(f, r, knn_radii(r, k)).mean()
    recall = manifold_coverage(r, f, knn_radii(f, k)).mean()
    return PrecisionRecall(float(precision), float(recall), k, len(r), len(f))
