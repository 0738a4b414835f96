"""spectral_norm against numpy.linalg.svd and hand-computed power iterations: convergence to the
largest singular value (Linear, Conv2d, ConvTranspose2d with dim 1), exactly one iteration per
training forward, none in eval, the gradient with u, v held constant, state_dict, removal."""

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn
from minigan.diagnostics.gradcheck import assert_close, gradcheck, gradgradcheck
from minigan.ops.conv import conv2d


def normalize(x):
    return x / max(np.linalg.norm(x), 1e-12)


def matrix(m):
    w = m.weight_orig.numpy()
    if isinstance(m, nn.ConvTranspose2d):
        w = w.transpose(1, 0, 2, 3)
    return w.reshape(w.shape[0], -1)


def sn_layers():
    return [
        (lambda: nn.Linear(7, 5, dtype=np.float64), (3, 7)),
        (lambda: nn.Conv2d(3, 6, 3, dtype=np.float64), (2, 3, 5, 5)),
        (lambda: nn.ConvTranspose2d(4, 6, 3, dtype=np.float64), (2, 4, 3, 3)),
    ]


@pytest.mark.parametrize("make, xshape", sn_layers(), ids=["linear", "conv", "conv_transpose"])
def test_sigma_converges_to_largest_singular_value(make, xshape):
    mg.manual_seed(0)
    m = nn.spectral_norm(make())
    x = mg.randn(*xshape, dtype=np.float64)
    for _ in range(300):  # one power iteration each
        m(x)
    w = matrix(m)
    s = np.linalg.svd(w, compute_uv=False)
    sigma = float(m.weight_u.numpy() @ w @ m.weight_v.numpy())
    assert_close(np.array(sigma), np.array(s[0]))
    # W_bar = W / sigma has spectral norm 1 (in the layer's own reshaping)
    w_bar = m.weight.numpy()
    if isinstance(m, nn.ConvTranspose2d):
        w_bar = w_bar.transpose(1, 0, 2, 3)
    assert_close(np.array(np.linalg.svd(w_bar.reshape(w.shape[0], -1), compute_uv=False)[0]),
                 np.array(1.0))


def test_conv_transpose_uses_dim_1():
    # (in, out, kh, kw) reshaped along out; the other reshaping has a different top singular value
    m = nn.spectral_norm(nn.ConvTranspose2d(4, 6, 3, dtype=np.float64))
    assert m.weight_u.shape == (6,) and m.weight_v.shape == (4 * 9,)
    w = m.weight_orig.numpy()
    s_dim1 = np.linalg.svd(w.transpose(1, 0, 2, 3).reshape(6, -1), compute_uv=False)[0]
    s_dim0 = np.linalg.svd(w.reshape(4, -1), compute_uv=False)[0]
    assert abs(s_dim1 - s_dim0) > 1e-3 * s_dim1
    m2 = nn.spectral_norm(nn.ConvTranspose2d(4, 6, 3, dtype=np.float64), dim=0)
    assert m2.weight_u.shape == (4,) and m2.weight_v.shape == (6 * 9,)


def test_registration_replaces_weight_with_orig_and_buffers():
    mg.manual_seed(3)
    lin = nn.Linear(4, 3)
    w = lin.weight
    m = nn.spectral_norm(lin)
    assert m is lin and m.weight_orig is w
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight_orig"]
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert m.weight_u.dtype == np.float32 and m.weight_v.shape == (4,)
    assert_close(np.array(np.linalg.norm(m.weight_u.numpy())), np.array(1.0))
    with pytest.raises(RuntimeError, match="already spectrally normalized"):
        nn.spectral_norm(m)
    with pytest.raises(ValueError, match="no parameter 'kernel'"):
        nn.spectral_norm(nn.Linear(2, 2), name="kernel")


@pytest.mark.parametrize("n_iter", [1, 3])
def test_each_training_forward_runs_exactly_n_power_iterations(n_iter):
    mg.manual_seed(1)
    m = nn.spectral_norm(nn.Conv2d(2, 4, 3, dtype=np.float64), n_power_iterations=n_iter)
    w = matrix(m)
    u = m.weight_u.numpy().copy()
    x = mg.randn(1, 2, 4, 4, dtype=np.float64)
    for _ in range(2):
        out = m(x)
        for _ in range(n_iter):
            v = normalize(w.T @ u)
            u = normalize(w @ v)
        assert_close(m.weight_u, u)
        assert_close(m.weight_v, v)
        sigma = u @ w @ v
        assert_close(m.weight, m.weight_orig.numpy() / sigma)
        ref = conv2d(x, mg.tensor(m.weight_orig.numpy() / sigma), m.bias)
        assert_close(out, ref.numpy())


def test_eval_mode_does_not_iterate():
    mg.manual_seed(2)
    m = nn.spectral_norm(nn.Linear(6, 4, dtype=np.float64))
    x = mg.randn(2, 6, dtype=np.float64)
    m(x)
    u, v = m.weight_u.numpy().copy(), m.weight_v.numpy().copy()
    m.eval()
    for _ in range(3):
        out = m(x)
    np.testing.assert_array_equal(m.weight_u.numpy(), u)
    np.testing.assert_array_equal(m.weight_v.numpy(), v)
    w = m.weight_orig.numpy()
    assert_close(out, x.numpy() @ (w / (u @ w @ v)).T + m.bias.numpy())


def sigma_fixed(module):
    # sigma = u^T W v from the stored (constant) vectors
    return float(module.weight_u.numpy() @ matrix(module) @ module.weight_v.numpy())


def test_gradient_treats_u_v_as_constants():
    mg.manual_seed(4)
    m = nn.spectral_norm(nn.Linear(5, 3, dtype=np.float64))
    rng = np.random.default_rng(0)
    x1, x2 = mg.randn(4, 5, dtype=np.float64), mg.randn(4, 5, dtype=np.float64)
    r1, r2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    # two training forwards before one backward, as a discriminator sees real then fake: each
    # iterates, and each forward's backward must use the u, v that forward used
    y1 = m(x1)
    u1, v1 = m.weight_u.numpy().copy(), m.weight_v.numpy().copy()
    y2 = m(x2)
    u2, v2 = m.weight_u.numpy().copy(), m.weight_v.numpy().copy()
    assert not np.allclose(u1, u2)
    ((y1 * mg.tensor(r1)).sum() + (y2 * mg.tensor(r2)).sum()).backward()
    # closed form with u, v fixed: L = <G, W>/sigma, G = r^T x;
    # dL/dW = G/sigma - <G, W>/sigma^2 u v^T
    w = m.weight_orig.numpy()
    expected = 0
    for x, r, u, v in ((x1, r1, u1, v1), (x2, r2, u2, v2)):
        g = r.T @ x.numpy()
        sigma = u @ w @ v
        expected = expected + g / sigma - (g * w).sum() / sigma ** 2 * np.outer(u, v)
    assert_close(m.weight_orig.grad, expected)


def test_gradcheck_and_gradgradcheck_through_w_over_sigma():
    # eval mode fixes u, v, so finite differences see exactly the function autograd differentiates
    mg.manual_seed(5)
    m = nn.spectral_norm(nn.Conv2d(2, 3, 2, dtype=np.float64))
    for _ in range(3):
        m(mg.randn(1, 2, 3, 3, dtype=np.float64))
    m.eval()
    bias = m.bias

    def f(w, x):
        m._parameters["weight_orig"] = w  # the gradcheck leaf stands in for the parameter
        return m(x)

    w0 = m.weight_orig.numpy().copy()
    x0 = np.random.default_rng(1).standard_normal((2, 2, 3, 3))
    assert gradcheck(f, [w0, x0])
    assert gradgradcheck(f, [w0, x0])  # a spectrally normalized D under a gradient penalty
    assert bias is m.bias


def test_state_dict_round_trip_carries_u_and_v():
    mg.manual_seed(6)
    a = nn.Sequential(nn.spectral_norm(nn.Linear(4, 8)), nn.LeakyReLU(0.2),
                      nn.spectral_norm(nn.ConvTranspose2d(8, 2, 1)))
    x = mg.randn(3, 4)
    for _ in range(5):
        a[2](a[1](a[0](x)).reshape(3, 8, 1, 1))
    mg.manual_seed(7)
    b = nn.Sequential(nn.spectral_norm(nn.Linear(4, 8)), nn.LeakyReLU(0.2),
                      nn.spectral_norm(nn.ConvTranspose2d(8, 2, 1)))
    sd = a.state_dict()
    assert {"0.weight_u", "0.weight_v", "2.weight_u", "2.weight_v"} <= set(sd)
    b.load_state_dict(sd)
    for k in sd:
        np.testing.assert_array_equal(b.state_dict()[k], sd[k])
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a[0](x).numpy(), b[0](x).numpy())


def test_remove_spectral_norm():
    mg.manual_seed(8)
    m = nn.spectral_norm(nn.Linear(5, 4, dtype=np.float64))
    x = mg.randn(2, 5, dtype=np.float64)
    m(x)
    m.eval()
    expected = m(x).numpy()
    sigma = sigma_fixed(m)
    w_orig = m.weight_orig.numpy().copy()
    nn.remove_spectral_norm(m)
    assert isinstance(m.weight, nn.Parameter)
    assert list(m.state_dict()) == ["bias", "weight"]
    assert_close(m.weight, w_orig / sigma)
    assert_close(m(x), expected)
    with pytest.raises(ValueError, match="not found"):
        nn.remove_spectral_norm(m)
