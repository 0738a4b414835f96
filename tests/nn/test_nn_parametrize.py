"""minigan.nn.utils.parametrize / parametrizations (PyTorch's newer spectral_norm and weight_norm
API): the power iteration (u first) and W / sigma against NumPy, gradients by finite
differences, evaluation mode, state_dict keys, removal keeping the Parameter's identity, the
property setter, cached(), deepcopy; and, where PyTorch is installed, float64 training steps and
state dicts against torch.nn.utils.parametrizations."""

import copy

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn
from minigan.diagnostics.gradcheck import gradcheck, gradgradcheck
from minigan.nn.utils import parametrizations, parametrize

SN_KEYS = ["bias", "parametrizations.weight.original", "parametrizations.weight.0._u",
           "parametrizations.weight.0._v"]


def normalize(x):
    return x / max(np.linalg.norm(x), 1e-12)


def as_matrix(w, dim):
    return np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1)


@pytest.mark.parametrize("make, dim", [
    (lambda: nn.Linear(7, 5, dtype=np.float64), 0),
    (lambda: nn.Conv2d(3, 6, 3, dtype=np.float64), 0),
    (lambda: nn.ConvTranspose2d(4, 6, 3, dtype=np.float64), 1),
], ids=["linear", "conv", "conv_transpose"])
def test_spectral_norm_power_iteration_and_weight_against_numpy(make, dim):
    mg.manual_seed(0)
    m = make()
    w = m.weight.numpy().copy()
    parametrizations.spectral_norm(m)
    sn = m.parametrizations.weight[0]
    assert list(m.state_dict()) == SN_KEYS and sn.dim == dim
    w2d = as_matrix(w, dim)
    # Registration ran 15 iterations, each ending with v = normalize(W^T u): v is near the
    # top right singular vector already.
    np.testing.assert_allclose(sn._v.numpy(), normalize(w2d.T @ sn._u.numpy()), rtol=1e-13,
                               atol=1e-15)
    assert abs(sn._v.numpy() @ np.linalg.svd(w2d)[2][0]) > 0.99
    rng = np.random.default_rng(1)
    u0, v0 = normalize(rng.standard_normal(w2d.shape[0])), normalize(rng.standard_normal(
        w2d.shape[1]))
    sn._u.array[...], sn._v.array[...] = u0, v0
    got = m.weight.numpy()  # one read in training mode = one iteration, u first
    u = normalize(w2d @ v0)
    v = normalize(w2d.T @ u)
    np.testing.assert_allclose(sn._u.numpy(), u, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(sn._v.numpy(), v, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got, w / (u @ w2d @ v), rtol=1e-13, atol=1e-15)
    m.eval()
    before = sn._u.numpy().copy()
    np.testing.assert_allclose(m.weight.numpy(), got, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(sn._u.numpy(), before)


def test_spectral_norm_gradients_by_finite_differences():
    mg.manual_seed(0)
    m = parametrizations.spectral_norm(nn.Conv2d(2, 3, 3, dtype=np.float64)).eval()
    sn = m.parametrizations.weight[0]
    x = mg.randn(2, 2, 4, 4, dtype=np.float64)
    original = m.parametrizations.weight.original
    gradcheck(lambda w: nn.functional.conv2d(x, sn(w), m.bias), [original])
    gradgradcheck(lambda w: (sn(w) ** 3).sum(), [original])
    # A one-dimensional weight is only normalized.
    v = mg.randn(5, dtype=np.float64, requires_grad=True)
    one = parametrizations._SpectralNorm(v)
    np.testing.assert_allclose(one(v).numpy(), normalize(v.numpy()), rtol=1e-14)
    assert not hasattr(one, "_u")


def test_remove_parametrizations_keeps_the_parameter_and_the_value():
    mg.manual_seed(0)
    m = parametrizations.spectral_norm(nn.Linear(4, 3, dtype=np.float64))
    original = m.parametrizations.weight.original
    opt = mg.optim.SGD(m.parameters(), lr=0.1)
    assert parametrize.is_parametrized(m) and parametrize.is_parametrized(m, "weight")
    assert not parametrize.is_parametrized(m, "bias")
    assert type(m).__name__ == "ParametrizedLinear"
    assert parametrize.type_before_parametrizations(m) is nn.Linear
    m.eval()
    expected = m.weight.numpy().copy()
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and m.weight is original and not parametrize.is_parametrized(m)
    assert list(m.state_dict()) == ["bias", "weight"]  # re-registered last, as in PyTorch
    np.testing.assert_array_equal(m.weight.numpy(), expected)
    assert any(p is original for p in opt.param_groups[0]["params"])
    with pytest.raises(ValueError, match="weight"):
        parametrize.remove_parametrizations(m, "weight")


class Scale(nn.Module):
    """X -> 2 X, right inverse X / 2."""

    def forward(self, x):
        return x * 2

    def right_inverse(self, x):
        return x / 2


def test_register_parametrization_chain_setter_cached_and_deepcopy():
    m = nn.Linear(3, 2, dtype=np.float64)
    w = m.weight.numpy().copy()
    parametrize.register_parametrization(m, "weight", Scale())
    np.testing.assert_allclose(m.parametrizations.weight.original.numpy(), w / 2, rtol=1e-15)
    np.testing.assert_allclose(m.weight.numpy(), w, rtol=1e-15)
    parametrize.register_parametrization(m, "weight", Scale())
    np.testing.assert_allclose(m.weight.numpy(), 2 * w, rtol=1e-15)
    m.weight = mg.tensor(np.ones((2, 3)))  # stored through both right inverses
    np.testing.assert_allclose(m.parametrizations.weight.original.numpy(), np.full((2, 3), 0.25))
    with parametrize.cached():
        assert m.weight is m.weight
    assert m.weight is not m.weight
    c = copy.deepcopy(m)
    assert type(c) is type(m) and c.parametrizations.weight.original is not (
        m.parametrizations.weight.original)
    np.testing.assert_array_equal(c.weight.numpy(), m.weight.numpy())
    with pytest.raises(ValueError, match="tensor_name"):
        parametrize.register_parametrization(m, "nothing", Scale())


def test_weight_norm_against_numpy():
    m = parametrizations.weight_norm(nn.Conv2d(3, 4, 3, dtype=np.float64))
    w = m.weight.numpy().copy()
    g = m.parametrizations.weight.original0
    assert g.shape == (4, 1, 1, 1)
    np.testing.assert_allclose(g.numpy().ravel(), np.linalg.norm(w.reshape(4, -1), axis=1),
                               rtol=1e-14)
    with mg.no_grad():
        g.mul_(3)
    np.testing.assert_allclose(m.weight.numpy(), 3 * w, rtol=1e-14)


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is not installed: nothing to compare with")


@pytest.mark.parametrize("kind", ["linear", "conv", "conv_transpose"])
def test_spectral_norm_matches_torch_over_training_steps(kind):
    torch = torch_or_skip()
    torch.manual_seed(0)
    make = {"linear": (lambda lib: lib.nn.Linear(5, 7), (3, 5)),
            "conv": (lambda lib: lib.nn.Conv2d(3, 4, 3), (2, 3, 6, 6)),
            "conv_transpose": (lambda lib: lib.nn.ConvTranspose2d(3, 4, 3), (2, 3, 5, 5))}
    build, shape = make[kind]
    tm = torch.nn.utils.parametrizations.spectral_norm(build(torch).double())
    mm = parametrizations.spectral_norm(build(mg).double())
    assert list(mm.state_dict()) == list(tm.state_dict())
    mm.load_state_dict(tm.state_dict())  # PyTorch's tensors, u and v included
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    mopt = mg.optim.SGD(mm.parameters(), lr=0.1)
    x = np.random.default_rng(0).standard_normal(shape)
    for _ in range(3):
        topt.zero_grad()
        mopt.zero_grad()
        yt, ym = tm(torch.tensor(x)), mm(mg.tensor(x))
        (yt ** 2).sum().backward()
        (ym ** 2).sum().backward()
        np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
        topt.step()
        mopt.step()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(mm.state_dict()[k].numpy(), v.numpy(), rtol=1e-12,
                                   atol=1e-14, err_msg=k)
    torch.nn.utils.parametrize.remove_parametrizations(tm, "weight")
    parametrize.remove_parametrizations(mm, "weight")
    np.testing.assert_allclose(mm.weight.numpy(), tm.weight.detach().numpy(), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("dim", [0, 1, -2, None])
def test_weight_norm_matches_torch(dim):
    torch = torch_or_skip()
    tm = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(3, 4, 3).double(), dim=dim)
    mm = parametrizations.weight_norm(nn.Conv2d(3, 4, 3, dtype=np.float64), dim=dim)
    assert [tuple(v.shape) for v in mm.state_dict().values()] == [
        tuple(v.shape) for v in tm.state_dict().values()]
    mm.load_state_dict(tm.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    yt, ym = tm(torch.tensor(x)), mm(mg.tensor(x))
    (yt ** 3).sum().backward()
    (ym ** 3).sum().backward()
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    for i in (0, 1):
        t_grad = getattr(tm.parametrizations.weight, f"original{i}").grad.numpy()
        m_grad = getattr(mm.parametrizations.weight, f"original{i}").grad.numpy()
        np.testing.assert_allclose(m_grad, t_grad, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("dim", [0, 1, -2, None])
def test_old_weight_norm_matches_torch(dim):
    torch = torch_or_skip()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: weight_norm is deprecated for the new form
        tm = torch.nn.utils.weight_norm(torch.nn.Conv2d(3, 4, 3).double(), dim=dim)
    mm = nn.utils.weight_norm(nn.Conv2d(3, 4, 3, dtype=np.float64), dim=dim)
    assert list(mm.state_dict()) == list(tm.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert [v.shape for v in mm.state_dict().values()] == [
        tuple(v.shape) for v in tm.state_dict().values()]
    mm.load_state_dict(tm.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    yt, ym = tm(torch.tensor(x)), mm(mg.tensor(x))
    (yt ** 2).sum().backward()
    (ym ** 2).sum().backward()
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    for k in ("weight_g", "weight_v"):
        np.testing.assert_allclose(getattr(mm, k).grad.numpy(), getattr(tm, k).grad.numpy(),
                                   rtol=1e-11, atol=1e-13, err_msg=k)
    torch.nn.utils.remove_weight_norm(tm)
    nn.utils.remove_weight_norm(mm)
    assert list(mm.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(mm.weight.numpy(), tm.weight.detach().numpy(), rtol=1e-13)
    with pytest.raises(ValueError, match="weight_norm"):
        nn.utils.remove_weight_norm(mm)
