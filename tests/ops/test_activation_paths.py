"""relu / leaky_relu take two paths (minigan/ops/activation.py): NumPy for small arrays, the
bias_act kernels of the backend in use above ``_SMALL`` elements. The op table checks the small
path; here both sizes, every CPU backend, against closed forms: y = x or slope*x, dy/dx = 1 or
slope, and the gradient of the gradient (linear in the upstream gradient, so it repeats the
mask)."""

from __future__ import annotations

import numpy as np
import pytest

import minigan as mg
from minigan import backends
from minigan.ops import activation

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("slope", [0.0, 0.2, -0.1])
@pytest.mark.parametrize("size", [activation._SMALL // 2, activation._SMALL * 3 + 5])
def test_relu_paths_match_closed_form(backend, dtype, slope, size):
    rng = np.random.default_rng(size)
    x0 = rng.standard_normal((size,)).astype(dtype)
    x0[:7] = [0.0, -0.0, 1e-30, -1e-30, 5.0, -5.0, 0.5]
    g0 = rng.standard_normal(x0.shape).astype(dtype)
    v0 = rng.standard_normal(x0.shape).astype(dtype)
    mask = np.where(x0 > 0, 1.0, slope).astype(dtype)
    with backends.use(backend):
        x = mg.tensor(x0, requires_grad=True)
        y = mg.relu(x) if slope == 0 else mg.nn.functional.leaky_relu(x, slope)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y.numpy(), x0 * mask)
        g = mg.tensor(g0, requires_grad=True)
        (gx,) = mg.grad(y, x, grad_outputs=g, create_graph=True)
        np.testing.assert_array_equal(gx.numpy(), g0 * mask)
        # d/dg <gx, v> = mask * v: the backward is itself differentiable.
        (gg,) = mg.grad((gx * mg.tensor(v0)).sum(), g)
        np.testing.assert_array_equal(gg.numpy(), v0 * mask)
