"""interpolate(mode="bicubic") against PyTorch's upsample_bicubic2d (a = -0.75) and closed forms."""

import numpy as np
import pytest

from minigan import nn
from minigan.ops.resample import cubic_weights, interpolate
from minigan.tensor import Tensor


def test_cubic_weights_sum_to_one_and_interpolate_the_taps():
    t = np.linspace(0, 1, 11)
    w = cubic_weights(t)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=0, atol=1e-15)
    # At t = 0 the kernel passes through the sample: weights (0, 1, 0, 0).
    np.testing.assert_allclose(w[0], [0, 1, 0, 0], atol=1e-15)
    # Keys' a = -1/2 reproduces a linear ramp, sum_k w_k (k - 1) = t; a = -3/4 (PyTorch's)
    # does not: the ramp comes out as t - 2 (a + 1/2) t (1 - t)(1 - 2t) (expand the weights).
    ramp = np.array([-1.0, 0, 1, 2])
    np.testing.assert_allclose(cubic_weights(t, a=-0.5) @ ramp, t, atol=1e-15)
    np.testing.assert_allclose(w @ ramp, t - 2 * (-0.75 + 0.5) * t * (1 - t) * (1 - 2 * t),
                               atol=1e-15)


def test_constant_image_stays_constant():
    x = np.full((1, 1, 4, 5), 0.3)
    y = interpolate(Tensor(x), scale_factor=3, mode="bicubic").numpy()
    np.testing.assert_allclose(y, 0.3, rtol=1e-14)


@pytest.mark.parametrize("shape,kw", [
    ((2, 3, 7, 7), {"scale_factor": 4}),
    ((1, 1, 14, 14), {"scale_factor": 2}),
    ((1, 2, 5, 6), {"size": (9, 4)}),
    ((1, 2, 5, 6), {"size": (11, 13), "align_corners": True}),
    ((1, 1, 8, 8), {"scale_factor": 0.5}),
])
def test_matches_torch(shape, kw):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.interpolate(xt, mode="bicubic", **kw)
    xm = Tensor(x, requires_grad=True)
    got = interpolate(xm, mode="bicubic", **kw)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=0, atol=1e-13)
    g = np.random.default_rng(1).standard_normal(want.shape)
    want.backward(torch.tensor(g))
    (got * Tensor(g)).sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=0, atol=1e-13)
    # float32 too, as the SR baseline runs it.
    got32 = interpolate(Tensor(x.astype(np.float32)), mode="bicubic", **kw).numpy()
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want.detach().numpy(), rtol=0, atol=2e-6)


def test_upsample_module_bicubic_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((1, 1, 7, 7))
    got = nn.Upsample(scale_factor=4, mode="bicubic")(Tensor(x)).numpy()
    want = torch.nn.Upsample(scale_factor=4, mode="bicubic")(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
