"""Spectral norm kernels on every CPU backend: sigma against numpy.linalg.svd, the backward
against finite differences, the W/sigma op's first- and second-order gradients, and clear errors
from the native module for bad input. (Parity with the reference on the table's rows is in
test_parity.py.)"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import minigan as mg
from minigan import backends
from minigan.diagnostics.gradcheck import assert_close, gradcheck, gradgradcheck
from minigan.kernels import registry
from minigan.nn.spectral_norm import SpectralNormalize

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]
DTYPES = [np.float32, np.float64]


def _unit(rng, n):
    u = rng.standard_normal(n)
    return u / np.linalg.norm(u)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("shape", [(6, 9), (9, 6), (1, 4), (40, 300)])
def test_sigma_converges_to_the_largest_singular_value(shape, backend, dtype):
    rng = np.random.default_rng(0)
    # A planted spectrum with a gap (sigma_2 / sigma_1 = 1/2), so 60 iterations converge to
    # machine precision: the error shrinks by (1/2)^2 per iteration.
    k = min(shape)
    q1, _ = np.linalg.qr(rng.standard_normal((shape[0], k)))
    q2, _ = np.linalg.qr(rng.standard_normal((shape[1], k)))
    s = np.concatenate([[3.0], np.linspace(1.5, 1.0, k - 1)])
    w = (q1 * s) @ q2.T
    fn = registry.get("spectral_norm_power_iteration", "cpu", backend=backend)
    sigma, u, v = fn(w.astype(dtype), _unit(rng, shape[0]).astype(dtype), 60, 1e-12)
    svd = np.linalg.svd(w, compute_uv=False)[0]
    assert sigma.dtype == dtype and u.dtype == dtype and v.dtype == dtype
    assert sigma.shape == ()
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert abs(float(sigma) - svd) <= tol * svd
    # u, v are the top singular pair: W v = sigma u, unit norms.
    assert_close(w @ v.astype(np.float64), float(sigma) * u.astype(np.float64), dtype,
                 rtol=10 * tol, atol=10 * tol)
    assert abs(np.linalg.norm(u) - 1) <= tol and abs(np.linalg.norm(v) - 1) <= tol


@pytest.mark.parametrize("backend", CPU)
def test_power_iteration_steps_match_a_hand_written_loop(backend):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 8))
    u0 = _unit(rng, 5)
    u = u0
    for _ in range(3):
        v = w.T @ u
        v /= np.linalg.norm(v)
        u = w @ v
        u /= np.linalg.norm(u)
    fn = registry.get("spectral_norm_power_iteration", "cpu", backend=backend)
    sigma, got_u, got_v = fn(w, u0, 3, 1e-12)
    assert_close(got_u, u)
    assert_close(got_v, v)
    assert_close(sigma, u @ w @ v)


@pytest.mark.parametrize("backend", CPU)
def test_eps_guards_a_zero_matrix(backend):
    fn = registry.get("spectral_norm_power_iteration", "cpu", backend=backend)
    sigma, u, v = fn(np.zeros((3, 4)), np.ones(3) / np.sqrt(3), 2, 1e-12)
    assert float(sigma) == 0.0 and np.all(np.isfinite(u)) and np.all(np.isfinite(v))


@pytest.mark.parametrize("backend", CPU)
def test_backward_matches_finite_differences(backend):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 7))
    u, v = _unit(rng, 4), _unit(rng, 7)
    g = rng.standard_normal((4, 7))

    def f(w_):  # sum(G * W / sigma(W)) with u, v fixed
        return float(np.sum(g * w_) / (u @ w_ @ v))

    numeric = np.zeros_like(w)
    h = 1e-6
    for idx in np.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += h
        wm[idx] -= h
        numeric[idx] = (f(wp) - f(wm)) / (2 * h)
    normalize = registry.get("spectral_norm_normalize", "cpu", backend=backend)
    w_bar, sigma = normalize(w, u, v)
    assert_close(sigma, u @ w @ v)
    assert_close(w_bar, w / (u @ w @ v))
    dw = registry.get("spectral_norm_backward", "cpu", backend=backend)(g, w, u, v, sigma)
    assert_close(dw, numeric, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("dim,shape", [(0, (3, 2, 2, 2)), (1, (2, 3, 2, 2)), (0, (4, 5))])
def test_w_over_sigma_op_first_and_second_order(backend, dim, shape):
    rng = np.random.default_rng(3)
    w = mg.tensor(rng.standard_normal(shape), requires_grad=True)
    d = shape[dim]
    u, v = _unit(rng, d), _unit(rng, int(np.prod(shape)) // d)
    with backends.use(backend):
        fn = lambda t: SpectralNormalize.apply(t, u, v, dim)  # noqa: E731
        gradcheck(fn, [w])
        gradgradcheck(fn, [w])
        # The fused first-order backward equals the differentiable one.
        r = mg.tensor(rng.standard_normal(shape))
        (g1,) = mg.grad((fn(w) * r).sum(), [w])
        (g2,) = mg.grad((fn(w) * r).sum(), [w], create_graph=True)
    assert_close(g1, g2.detach())


@pytest.mark.parametrize("backend", CPU)
def test_sn_discriminator_double_backprop_matches_numpy_backend(backend):
    mg.manual_seed(0)
    conv = mg.nn.spectral_norm(mg.nn.Conv2d(2, 3, 3, dtype=np.float64))
    x = mg.tensor(np.random.default_rng(4).standard_normal((2, 2, 5, 5)), requires_grad=True)
    state = {k: v.clone() for k, v in conv.state_dict().items()}  # a snapshot (PyTorch's views)

    def penalty():
        conv.load_state_dict(state)
        conv.zero_grad()
        (gx,) = mg.grad(conv(x).sum(), [x], create_graph=True)
        ((gx * gx).sum()).backward()
        return conv.weight_orig.grad.array.copy()

    want = penalty()
    with backends.use(backend):
        got = penalty()
    assert_close(got, want)


# ---- the native module rejects bad input with clear errors ------------------------------------

@pytest.fixture
def _C():
    if "native" not in CPU:
        pytest.skip("minigan._C is not built")
    return importlib.import_module("minigan._C")


def test_native_bad_input(_C):
    w, u, v = np.ones((3, 4)), np.ones(3), np.ones(4)
    with pytest.raises(TypeError, match="w2d: expected dtype float32 or float64"):
        _C.sn_power_iteration(w.astype(np.int64), u, 1, 1e-12)
    with pytest.raises(TypeError, match="u: expected dtype float64"):
        _C.sn_power_iteration(w, u.astype(np.float32), 1, 1e-12)
    with pytest.raises(ValueError, match="w2d: expected a C-contiguous"):
        _C.sn_power_iteration(np.ones((4, 3)).T, u, 1, 1e-12)
    with pytest.raises(ValueError, match=r"u: expected shape \(3,\)"):
        _C.sn_power_iteration(w, np.ones(4), 1, 1e-12)
    with pytest.raises(ValueError, match="n_iter: expected an int >= 1"):
        _C.sn_power_iteration(w, u, 0, 1e-12)
    with pytest.raises(TypeError, match="w2d: expected a numpy.ndarray"):
        _C.sn_normalize([[1.0]], u, v)
    with pytest.raises(ValueError, match=r"v: expected shape \(4,\)"):
        _C.sn_normalize(w, u, np.ones(5))
    with pytest.raises(ValueError, match=r"g2d: expected shape \(3, 4\)"):
        _C.sn_backward(np.ones((4, 3)), w, u, v, 1.0)
    with pytest.raises(TypeError, match="sigma: expected a float"):
        _C.sn_backward(w, w, u, v, "1")
    with pytest.raises(ValueError, match="w2d: expected a 2-d array"):
        _C.sn_normalize(np.ones(3), u, v)
