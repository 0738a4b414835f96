"""Fused GAN losses on every CPU backend: values and gradients against closed forms written here
independently, against the composed ops (gan/losses.py's formulas), stability at |logit| = 1e4,
the autograd op (cached gradient, create_graph fallback, second order), and clear errors from the
native module. (Parity with the reference on the table's rows is in test_parity.py.)"""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest

import minigan as mg
from minigan import backends
from minigan.diagnostics.gradcheck import assert_close, gradcheck, gradgradcheck
from minigan.gan import losses
from minigan.kernels import registry
from minigan.kernels.gan_loss import KINDS, SIDES
from minigan.ops.gan_loss import composed_gan_loss, gan_loss

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]
DTYPES = [np.float32, np.float64]
PAIRS = list(itertools.product(KINDS, SIDES))
IDS = [f"{k}-{s}" for k, s in PAIRS]


def closed_form(kind, side, x):
    """(l(x), l'(x)) in float64, from log(1 + e^x) = logaddexp(0, x) and the logistic function
    1 / (1 + e^-x) (via tanh, no overflow) -- not the kernels' formulas."""
    x = x.astype(np.float64)
    sp = lambda t: np.logaddexp(0.0, t)  # noqa: E731
    sg = lambda t: 0.5 * (1 + np.tanh(t / 2))  # noqa: E731
    table = {
        ("minimax", "d_real"): (sp(-x), -sg(-x)), ("ns", "d_real"): (sp(-x), -sg(-x)),
        ("minimax", "d_fake"): (sp(x), sg(x)), ("ns", "d_fake"): (sp(x), sg(x)),
        ("minimax", "g"): (-sp(x), -sg(x)), ("ns", "g"): (sp(-x), -sg(-x)),
        ("lsgan", "d_real"): ((x - 1) ** 2 / 2, x - 1), ("lsgan", "g"): ((x - 1) ** 2 / 2, x - 1),
        ("lsgan", "d_fake"): (x ** 2 / 2, x),
        ("wgan", "d_real"): (-x, -np.ones_like(x)), ("wgan", "g"): (-x, -np.ones_like(x)),
        ("wgan", "d_fake"): (x, np.ones_like(x)),
        ("hinge", "d_real"): (np.maximum(1 - x, 0), -1.0 * (x < 1.0)),
        ("hinge", "d_fake"): (np.maximum(1 + x, 0), (x > -1.0) * 1.0),
        ("hinge", "g"): (-x, -np.ones_like(x)),
    }
    value, slope = table[kind, side]
    return value.mean(), slope / x.size


def logits(shape, dtype, scale=3.0, seed=0):
    x = (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)
    x.reshape(-1)[:3] = [0.0, 1.0, -1.0]  # the hinge kinks and zero
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("kind,side", PAIRS, ids=IDS)
def test_kernel_matches_closed_form(kind, side, backend, dtype):
    x = logits((7, 5), dtype)
    loss, grad = registry.get("fused_gan_loss", "cpu", backend=backend)(kind, side, x)
    want_loss, want_grad = closed_form(kind, side, x)
    assert loss.shape == () and loss.dtype == dtype and grad.dtype == dtype
    assert grad.shape == x.shape
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("kind,side", PAIRS, ids=IDS)
def test_stable_at_huge_logits(kind, side, backend, dtype):
    x = np.array([1e4, -1e4, 3e3, -3e3, 0.5], dtype=dtype)
    loss, grad = registry.get("fused_gan_loss", "cpu", backend=backend)(kind, side, x)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    want_loss, want_grad = closed_form(kind, side, x)
    assert_close(loss, want_loss, dtype)
    assert_close(grad, want_grad, dtype)


@pytest.mark.parametrize("backend", CPU)
def test_out_grad_buffer_receives_the_gradient(backend):
    x = logits((4, 3), np.float64)
    out = np.full_like(x, np.nan)
    loss, grad = registry.get("fused_gan_loss", "cpu", backend=backend)("ns", "g", x,
                                                                        out_grad=out)
    assert grad is out
    assert_close(out, closed_form("ns", "g", x)[1])


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("kind,side", PAIRS, ids=IDS)
def test_op_matches_composed_ops_value_gradient_and_second_order(kind, side, backend):
    x = mg.tensor(logits((6, 1), np.float64, scale=2.0), requires_grad=True)
    with backends.use(backend):
        fused = gan_loss(kind, side, x)
        composed = composed_gan_loss(kind, side, x)
        assert_close(fused, composed)
        (g1,) = mg.grad(3.0 * fused, [x])            # the cached kernel gradient, scaled
        (g2,) = mg.grad(3.0 * composed, [x])
        assert_close(g1, g2)
        (g3,) = mg.grad(3.0 * gan_loss(kind, side, x), [x], create_graph=True)
        assert_close(g3.detach(), g2)
        # Away from the hinge kinks, finite differences apply to first and second order.
        xs = mg.tensor(np.array([[0.3], [-2.0], [1.7], [-0.4]]), requires_grad=True)
        gradcheck(lambda t: gan_loss(kind, side, t), [xs])
        gradgradcheck(lambda t: gan_loss(kind, side, t), [xs])


@pytest.mark.parametrize("backend", CPU)
def test_gradient_penalty_through_the_loss_matches_composed(backend):
    # d/dx of ||d loss / dx||^2 needs the create_graph fallback (sigmoid's derivative).
    x = mg.tensor(logits((9,), np.float64), requires_grad=True)
    with backends.use(backend):
        outs = []
        for fn in (gan_loss, composed_gan_loss):
            (g,) = mg.grad(fn("ns", "g", x), [x], create_graph=True)
            (gg,) = mg.grad((g * g).sum(), [x])
            outs.append(gg.array)
    assert np.abs(outs[1]).max() > 0
    assert_close(outs[0], outs[1])


@pytest.mark.parametrize("name", ["minimax", "ns", "lsgan", "wgan", "hinge"])
def test_public_losses_equal_the_composed_formulas(name):
    rng = np.random.default_rng(5)
    r = mg.tensor(rng.standard_normal(8) * 2, requires_grad=True)
    f = mg.tensor(rng.standard_normal(8) * 2, requires_grad=True)
    loss = losses.get(name)
    d = loss.d_loss(r, f)
    assert_close(d, composed_gan_loss(name, "d_real", r) + composed_gan_loss(name, "d_fake", f))
    assert_close(loss.g_loss(f), composed_gan_loss(name, "g", f))


def test_op_errors_name_the_argument():
    x = mg.tensor(np.zeros(3))
    with pytest.raises(ValueError, match="kind: expected one of"):
        gan_loss("bce", "g", x)
    with pytest.raises(ValueError, match="side: expected one of"):
        gan_loss("ns", "generator", x)
    with pytest.raises(TypeError, match="logits: expected a Tensor"):
        gan_loss("ns", "g", np.zeros(3))
    with pytest.raises(ValueError, match="logits: expected at least one logit"):
        gan_loss("ns", "g", mg.tensor(np.zeros(0)))


# ---- the native module rejects bad input with clear errors ------------------------------------

@pytest.fixture
def _C():
    if "native" not in CPU:
        pytest.skip("minigan._C is not built")
    return importlib.import_module("minigan._C")


def test_native_bad_input(_C):
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="code: expected 3 \\* kind \\+ side"):
        _C.gan_loss(15, x)
    with pytest.raises(TypeError, match="code: expected an int"):
        _C.gan_loss("ns", x)
    with pytest.raises(TypeError, match="logits: expected dtype float32 or float64"):
        _C.gan_loss(0, x.astype(np.int32))
    with pytest.raises(ValueError, match="logits: expected a C-contiguous"):
        _C.gan_loss(0, x.T)
    with pytest.raises(ValueError, match="logits: expected at least one logit"):
        _C.gan_loss(0, np.ones(0))
    with pytest.raises(ValueError, match=r"out: expected shape \(4, 3\)"):
        _C.gan_loss(0, x, out=np.ones(12))
    with pytest.raises(TypeError, match="out: expected dtype float64"):
        _C.gan_loss(0, x, out=np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="out: must not partially overlap"):
        buf = np.ones(13)
        _C.gan_loss(0, buf[:12], out=buf[1:])
    ro = np.ones((4, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out: expected a writeable array"):
        _C.gan_loss(0, x, out=ro)
