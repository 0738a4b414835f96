"""nn.init: bounds and standard deviations within sampling error, gains, fans, orthogonality,
DCGAN init, in-place and outside the graph."""

import math

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn
from minigan.nn import init


def empty(*shape, dtype=np.float64):
    return nn.Parameter(mg.zeros(*shape, dtype=dtype))


def check_uniform(a, bound):
    a = a.numpy().astype(np.float64).ravel()
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    se = math.sqrt(4 / 45 / a.size) * bound ** 2  # sd of mean(x^2) for U(-b, b)
    assert abs(np.mean(a * a) - bound ** 2 / 3) < 5 * se
    assert abs(a.mean()) < 5 * bound / math.sqrt(3 * a.size)


def check_normal(a, mean, std):
    a = a.numpy().astype(np.float64).ravel()
    assert abs(a.mean() - mean) < 5 * std / math.sqrt(a.size)
    d = a - mean
    assert abs(np.mean(d * d) - std ** 2) < 5 * math.sqrt(2 / a.size) * std ** 2


def test_calculate_gain_matches_pytorch_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")


def test_fans_follow_pytorch_convention():
    assert init.calculate_fan_in_and_fan_out(empty(7, 5)) == (5, 7)
    assert init.calculate_fan_in_and_fan_out(empty(8, 3, 3, 2)) == (18, 48)
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.calculate_fan_in_and_fan_out(empty(5))


def test_kaiming_and_xavier_bounds_and_stds():
    mg.manual_seed(0)
    w = empty(64, 32, 3, 3)  # fan_in 288, fan_out 576
    init.kaiming_uniform_(w, nonlinearity="relu")
    check_uniform(w, math.sqrt(2) * math.sqrt(3 / 288))
    init.kaiming_uniform_(w, a=math.sqrt(5))  # the Linear/Conv default: 1/sqrt(fan_in)
    check_uniform(w, 1 / math.sqrt(288))
    init.kaiming_normal_(w, a=0.2, mode="fan_out")
    check_normal(w, 0, math.sqrt(2 / 1.04) / math.sqrt(576))
    init.xavier_uniform_(w, gain=2.0)
    check_uniform(w, 2.0 * math.sqrt(6 / (288 + 576)))
    init.xavier_normal_(w)
    check_normal(w, 0, math.sqrt(2 / (288 + 576)))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(w, mode="fan_avg")


def test_basic_fills_keep_dtype_and_work_on_parameters_with_grad_enabled():
    w = nn.Linear(40, 50).weight  # requires grad; the init runs under no_grad internally
    init.normal_(w, 1.0, 0.5)
    assert w.dtype == np.float32 and w.is_leaf and w.grad_fn is None
    check_normal(w, 1.0, 0.5)
    init.uniform_(w, -3, 3)
    check_uniform(w, 3)
    init.constant_(w, 0.25)
    assert np.all(w.numpy() == np.float32(0.25))
    init.ones_(w)
    assert np.all(w.numpy() == 1)
    init.zeros_(w)
    assert np.all(w.numpy() == 0)


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (4, 2, 3, 3)])
def test_orthogonal(shape):
    mg.manual_seed(1)
    w = empty(*shape)
    init.orthogonal_(w, gain=1.5)
    m = w.numpy().reshape(shape[0], -1) / 1.5
    if m.shape[0] <= m.shape[1]:
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-12)
    else:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-12)
    w32 = empty(*shape, dtype=np.float32)
    init.orthogonal_(w32)
    m = w32.numpy().reshape(shape[0], -1).astype(np.float64)
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-6)


def test_init_draws_are_reproducible():
    a, b = empty(30, 20), empty(30, 20)
    mg.manual_seed(4)
    init.xavier_normal_(a)
    mg.manual_seed(4)
    init.xavier_normal_(b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_dcgan_init():
    mg.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(3, 64, 4), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
                        nn.ConvTranspose2d(64, 32, 4), nn.Linear(200, 100),
                        nn.spectral_norm(nn.Linear(100, 50)))
    assert init.dcgan_init(net) is net
    check_normal(net[0].weight, 0, 0.02)
    check_normal(net[3].weight, 0, 0.02)
    check_normal(net[4].weight, 0, 0.02)
    check_normal(net[5].weight_orig, 0, 0.02)
    check_normal(net[1].weight, 1, 0.02)
    for m in (net[0], net[1], net[3], net[4], net[5]):
        assert np.all(m.bias.numpy() == 0)
