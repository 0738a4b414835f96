"""Op-table rows for the minibatch layers of minigan.nn.minibatch (minibatch standard deviation,
Karras et al. 2018; minibatch discrimination, Salimans et al. 2016). The references loop over
samples and groups as the papers define them; all rows are second order (they sit in D)."""

import numpy as np

from minigan.diagnostics.gradcheck import OpCase
from minigan.nn.minibatch import minibatch_discrimination, minibatch_stddev


def np_mbstd(x, g):
    n = x.shape[0]
    m = n // g
    out = []
    for i in range(n):
        group = np.stack([x[i % m + j * m] for j in range(g)])    # samples sharing i's group
        s = np.sqrt(group.var(axis=0) + 1e-8).mean()
        extra = np.full((1, *x.shape[2:]), s) if x.ndim == 4 else np.array([s])
        out.append(np.concatenate([x[i], extra], 0))
    return np.stack(out)


def np_mbdisc(x, T):
    n, b = x.shape[0], T.shape[1]
    M = np.einsum("na,abc->nbc", x, T)
    o = np.array([[sum(np.exp(-np.abs(M[i, k] - M[j, k]).sum()) for j in range(n))
                   for k in range(b)] for i in range(n)])
    return np.concatenate([x, o], 1)


CASES = [
    OpCase("minibatch_stddev_features", lambda x: minibatch_stddev(x, 2),
           lambda x: np_mbstd(x, 2), lambda r: [r.standard_normal((6, 3))], True),
    OpCase("minibatch_stddev_whole_batch", lambda x: minibatch_stddev(x, 100),
           lambda x: np_mbstd(x, 4), lambda r: [r.standard_normal((4, 5))], True),
    OpCase("minibatch_stddev_images", lambda x: minibatch_stddev(x, 2),
           lambda x: np_mbstd(x, 2), lambda r: [r.standard_normal((4, 2, 3, 3))], True),
    # Small T keeps exp(-L1) away from underflow, so every pair's term is felt.
    OpCase("minibatch_discrimination", minibatch_discrimination, np_mbdisc,
           lambda r: [r.standard_normal((5, 3)), 0.3 * r.standard_normal((3, 4, 2))], True),
]
