"""Op-table rows for the fused mean squared norm (minigan.ops.sq_norm, R1/R2's reduction):
forward against scale * mean_i ||g_i||^2 in NumPy, first and second derivatives."""

import numpy as np

from minigan.diagnostics.gradcheck import OpCase
from minigan.ops.sq_norm import mean_sq_norm

CASES = [
    OpCase("mean_sq_norm_2d", lambda g: mean_sq_norm(g, 0.05),
           lambda g: 0.05 * np.mean((g ** 2).sum(axis=1)),
           lambda r: [r.standard_normal((7, 3))], True),
    OpCase("mean_sq_norm_4d", lambda g: mean_sq_norm(g, 5.0),
           lambda g: 5.0 * np.mean((g ** 2).sum(axis=(1, 2, 3))),
           lambda r: [r.standard_normal((3, 2, 4, 4))], True),
    OpCase("mean_sq_norm_1d", lambda g: mean_sq_norm(g), lambda g: np.mean(g ** 2),
           lambda r: [r.standard_normal(6)], True),
]
