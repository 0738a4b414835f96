"""Do generated digits show the label they were drawn with? Scores for conditional and InfoGAN
generators, from a classifier's predicted classes.

* :func:`class_accuracy` (cgan, acgan): the fraction of samples whose predicted class equals
  the label the generator was given.
* :func:`code_accuracy` (InfoGAN): the categorical code is learned without labels, so code k
  may draw digit pi(k) for any one-to-one map pi. The score is the accuracy under the best map,

      acc = max_pi (1/N) sum_k C[k, pi(k)],   C[k, j] = #{samples with code k predicted j},

  the InfoGAN paper's measure (about 5% error on MNIST). The best map is a maximum-weight
  assignment on the confusion matrix C, found by :func:`best_assignment` (the Hungarian
  method with potentials, O(n^3)).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def _labels(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected a 1-D integer array, got {a.dtype} {a.shape}")
    if len(a) and a.min() < 0:
        raise ValueError(f"{name}: expected non-negative labels, got {int(a.min())}")
    return a.astype(np.int64)


def confusion_matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int | None = None,
                     n_cols: int | None = None) -> np.ndarray:
    """C[i, j] = #{n : rows[n] = i and cols[n] = j}, shape (n_rows, n_cols) (default: the
    largest label + 1 of each)."""
    r, c = _labels(rows, "rows"), _labels(cols, "cols")
    if len(r) != len(c):
        raise ValueError(f"rows, cols: expected equal lengths, got {len(r)} and {len(c)}")
    n_rows = int(r.max()) + 1 if n_rows is None and len(r) else (n_rows or 0)
    n_cols = int(c.max()) + 1 if n_cols is None and len(c) else (n_cols or 0)
    if len(r) and (r.max() >= n_rows or c.max() >= n_cols):
        raise ValueError(f"rows, cols: labels exceed the matrix shape ({n_rows}, {n_cols})")
    return np.bincount(r * n_cols + c, minlength=n_rows * n_cols).reshape(n_rows, n_cols)


def best_assignment(weight: np.ndarray) -> np.ndarray:
    """The one-to-one map maximizing sum_i weight[i, col[i]] for an (n, m) matrix, n <= m:
    returns col (n,) of distinct column indices. (For n > m pass the transpose.)

    The Hungarian method on the cost -weight: row i is added to the matching in turn; a
    Dijkstra-like search over reduced costs cost[i, j] - u[i] - v[j] >= 0 finds the cheapest
    augmenting path, and the potentials u, v are raised so reduced costs stay non-negative and
    are 0 along the matching. Ties are broken by the lowest column index."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] > w.shape[1] or not np.all(np.isfinite(w)):
        raise ValueError(f"weight: expected a finite (n, m) matrix with n <= m, got {w.shape}")
    n, m = w.shape
    cost = -w
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.int64)  # owner[j]: row (1-based) matched to column j; 0 none
    for i in range(1, n + 1):
        owner[0] = i  # column 0 is the virtual start of row i's augmenting path
        j0 = 0
        dist = np.full(m + 1, np.inf)
        prev = np.zeros(m + 1, dtype=np.int64)
        used = np.zeros(m + 1, dtype=bool)
        while owner[j0] != 0:
            used[j0] = True
            i0 = owner[j0]
            free = ~used[1:]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < dist[1:])
            dist[1:][better] = reduced[better]
            prev[1:][better] = j0
            cand = np.where(free, dist[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            dist[1:][free] -= delta
            j0 = j1
        while j0:  # flip the matching along the path back to the start
            j1 = prev[j0]
            owner[j0] = owner[j1]
            j0 = j1
    col = np.empty(n, dtype=np.int64)
    for j in range(1, m + 1):
        if owner[j]:
            col[owner[j] - 1] = j - 1
    return col


@dataclass(frozen=True)
class CodeReport:
    code_accuracy: float    # accuracy under the best one-to-one code -> class map
    code_to_class: list     # that map: code k draws digit code_to_class[k] (-1: none left)
    n_codes: int
    n_samples: int

    def as_dict(self) -> dict:
        return asdict(self)


def code_accuracy(codes: np.ndarray, predicted: np.ndarray, n_codes: int,
                  n_classes: int = 10) -> CodeReport:
    """The accuracy of the best one-to-one map from the categorical ``codes`` (N,) in
    0..n_codes-1 to the ``predicted`` classes (N,) in 0..n_classes-1 (see the module doc).
    With more codes than classes the unmatched codes count as wrong."""
    conf = confusion_matrix(codes, predicted, n_codes, n_classes)
    if n_codes <= n_classes:
        col = best_assignment(conf)
    else:
        col = np.full(n_codes, -1, dtype=np.int64)
        col[best_assignment(conf.T)] = np.arange(n_classes)
    hits = sum(int(conf[k, c]) for k, c in enumerate(col) if c >= 0)
    n = len(codes)
    return CodeReport(hits / n if n else float("nan"), [int(c) for c in col], n_codes, n)


def class_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The fraction of samples whose predicted class equals the label they were drawn with."""
    a, b = _labels(labels, "labels"), _labels(predicted, "predicted")
    if len(a) != len(b) or not len(a):
        raise ValueError(f"labels, predicted: expected equal non-zero lengths, got {len(a)} "
                         f"and {len(b)}")
    return float((a == b).mean())
