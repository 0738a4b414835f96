"""Arnoldi iteration: the largest-magnitude eigenvalues of a large non-symmetric operator that
is only available as a function ``matvec(x) -> A x``.

After m steps, Q = [q_1 .. q_m] is an orthonormal basis of the Krylov space
span{q_1, A q_1, ..., A^(m-1) q_1} and H = Q^T A Q is upper Hessenberg with
A Q_m = Q_m H_m + h_(m+1,m) q_(m+1) e_m^T. The eigenvalues of H_m (Ritz values) approximate
A's extreme eigenvalues, the largest in magnitude first; for a Ritz pair (lambda, y) with
||y|| = 1 the residual ||A x - lambda x|| of x = Q_m y is |h_(m+1,m)| |y_m| in exact arithmetic.
It is reported (never below the rounding level eps ||H||) so that an unconverged value is never
mistaken for a converged one. When the Krylov space becomes invariant (h_(m+1,m) = 0), the Ritz
values are exact eigenvalues of A.

Orthogonalization is classical Gram-Schmidt applied twice ("twice is enough", Giraud et al.
2005), which keeps Q orthonormal to rounding error at the cost of one more pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class ArnoldiResult:
    """Ritz values sorted by decreasing magnitude, their residual norms ||A x - lambda x||
    (x unit), Ritz vectors (columns, in the operator's space), and the Krylov dimension."""

    values: np.ndarray
    residuals: np.ndarray
    vectors: np.ndarray
    krylov_dim: int
    invariant: bool

    def leading(self, k: int) -> ArnoldiResult:
        return ArnoldiResult(self.values[:k], self.residuals[:k], self.vectors[:, :k],
                             self.krylov_dim, self.invariant)


def arnoldi(matvec: Callable[[np.ndarray], np.ndarray], n: int, m: int,
            seed: int = 0, start: np.ndarray | None = None) -> ArnoldiResult:
    """All m Ritz pairs of the n x n operator ``matvec`` (float64), from a random start vector
    (``seed``) or ``start``; m is capped at n."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if not (isinstance(m, int) and m >= 1):
        raise ValueError(f"m: expected a positive Krylov dimension, got {m!r}")
    m = min(m, n)
    q = np.random.default_rng(seed).standard_normal(n) if start is None else (
        np.asarray(start, dtype=np.float64).reshape(-1))
    if q.shape != (n,):
        raise ValueError(f"start: expected a vector of length {n}, got shape {q.shape}")
    Q = np.zeros((m + 1, n))
    H = np.zeros((m + 1, m))
    Q[0] = q / np.linalg.norm(q)
    invariant = False
    scale = 0.0
    for j in range(m):
        w = np.asarray(matvec(Q[j]), dtype=np.float64).reshape(-1)
        if w.shape != (n,):
            raise ValueError(f"matvec: expected a vector of length {n}, got shape {w.shape}")
        scale = max(scale, float(np.linalg.norm(w)))
        for _ in range(2):
            c = Q[:j + 1] @ w
            w = w - Q[:j + 1].T @ c
            H[:j + 1, j] += c
        H[j + 1, j] = np.linalg.norm(w)
        # Breakdown: the Krylov space is invariant under A, so the Ritz values are exact.
        if H[j + 1, j] <= 1e-13 * max(scale, 1e-300):
            m, invariant = j + 1, True
            H[j + 1, j] = 0.0
            break
        Q[j + 1] = w / H[j + 1, j]
    values, Y = np.linalg.eig(H[:m, :m])
    Y = Y / np.linalg.norm(Y, axis=0)
    # The Arnoldi residual, but never below the rounding level of the basis, eps ||H||.
    floor = np.finfo(np.float64).eps * np.linalg.norm(H[:m, :m])
    residuals = np.maximum(np.abs(H[m, m - 1]) * np.abs(Y[m - 1]), floor)
    order = np.lexsort((-values.imag, -np.abs(values)))  # conjugate pairs stay together
    return ArnoldiResult(values[order], residuals[order], Q[:m].T @ Y[:, order], m, invariant)
