"""Op-table rows for losses and the softmax family (all second order: GAN losses sit on top of
the discriminator, whose gradient penalties differentiate them twice)."""

import numpy as np

from minigan.diagnostics.gradcheck import OpCase
from minigan.ops.loss import (binary_cross_entropy_with_logits, cross_entropy, log_softmax,
                              mse_loss, softmax)


def np_bce(z, t):
    # the textbook definition, fine at moderate logits
    s = 1 / (1 + np.exp(-z))
    return -(t * np.log(s) + (1 - t) * np.log(1 - s))


def np_log_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return np.log(e / e.sum(axis=axis, keepdims=True))


def np_cross_entropy(z, t):
    # z (N, C, ...) and t (N, ...): -log softmax picked at the target class
    lp = np_log_softmax(z, 1)
    picked = np.take_along_axis(lp, np.expand_dims(t, 1), axis=1)
    return -picked.squeeze(1)


def logits_targets(*shape):
    return lambda r: [r.standard_normal(shape) * 2, r.uniform(0, 1, shape)]


def ce_inputs(n, c, *rest):
    return lambda r: [r.standard_normal((n, c) + rest), r.integers(0, c, (n,) + rest)]


CASES = [
    OpCase("binary_cross_entropy_with_logits", binary_cross_entropy_with_logits,
           lambda z, t: np_bce(z, t).mean(), logits_targets(3, 4), True),
    OpCase("binary_cross_entropy_with_logits_sum",
           lambda z, t: binary_cross_entropy_with_logits(z, t, reduction="sum"),
           lambda z, t: np_bce(z, t).sum(), logits_targets(5), True),
    OpCase("binary_cross_entropy_with_logits_none_scalar_target",
           lambda z: binary_cross_entropy_with_logits(z, 1.0, reduction="none"),
           lambda z: np_bce(z, 1.0), lambda r: [r.standard_normal((2, 3)) * 2], True),
    OpCase("mse_loss", mse_loss, lambda a, b: ((a - b) ** 2).mean(),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))], True),
    OpCase("mse_loss_none", lambda a, b: mse_loss(a, b, reduction="none"),
           lambda a, b: (a - b) ** 2,
           lambda r: [r.standard_normal((2, 3)), r.standard_normal((2, 3))], True),
    OpCase("softmax", lambda x: softmax(x, axis=1),
           lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True),
           lambda r: [r.standard_normal((3, 5))], True),
    OpCase("log_softmax", lambda x: log_softmax(x, axis=0), lambda x: np_log_softmax(x, 0),
           lambda r: [r.standard_normal((4, 3))], True),
    OpCase("cross_entropy", cross_entropy, lambda z, t: np_cross_entropy(z, t).mean(),
           ce_inputs(5, 4), True),
    OpCase("cross_entropy_spatial_sum", lambda z, t: cross_entropy(z, t, reduction="sum"),
           lambda z, t: np_cross_entropy(z, t).sum(), ce_inputs(2, 3, 2, 2), True),
]
