"""Op-table rows for the fused Linear + bias + activation (minigan.ops.linear_act): forward
against x W^T + b and the activation in NumPy, first and second derivatives (it sits on the
discriminator's path, under R1 and WGAN-GP)."""

import numpy as np

from minigan.diagnostics.gradcheck import OpCase
from minigan.ops.linear_act import linear_act


def _inputs(shape_x, out, bias=True):
    def make(r):
        x = r.standard_normal(shape_x)
        w = r.standard_normal((out, shape_x[-1]))
        return [x, w, r.standard_normal(out)] if bias else [x, w]
    return make


def np_leaky(z, slope):
    return np.where(z > 0, z, slope * z)


CASES = [
    OpCase("linear_act_relu", lambda x, w, b: linear_act(x, w, b, "relu"),
           lambda x, w, b: np.maximum(x @ w.T + b, 0), _inputs((5, 4), 3), True),
    OpCase("linear_act_leaky_relu", lambda x, w, b: linear_act(x, w, b, "leaky_relu", 0.2),
           lambda x, w, b: np_leaky(x @ w.T + b, 0.2), _inputs((6, 3), 4), True),
    OpCase("linear_act_none", lambda x, w, b: linear_act(x, w, b),
           lambda x, w, b: x @ w.T + b, _inputs((4, 3), 2), True),
    OpCase("linear_act_relu_nobias", lambda x, w: linear_act(x, w, None, "relu"),
           lambda x, w: np.maximum(x @ w.T, 0), _inputs((5, 3), 4, bias=False), True),
    OpCase("linear_act_leaky_relu_3d", lambda x, w, b: linear_act(x, w, b, "leaky_relu", 0.1),
           lambda x, w, b: np_leaky(x @ w.T + b, 0.1), _inputs((2, 3, 4), 5), True),
]
