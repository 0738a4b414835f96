"""GAN losses against their closed forms, and their stability at huge logits."""

import numpy as np
import pytest

import minigan as mg
from minigan.diagnostics.gradcheck import assert_close
from minigan.gan import losses


def softplus(t):
    return np.logaddexp(0, t)


def sig(t):
    return 1 / (1 + np.exp(-t))


R = np.array([2.0, -0.5, 0.3, 1.7])
F = np.array([-1.0, 0.4, -2.2, 0.9, 0.1])

CLOSED = {
    "minimax": (np.mean(-np.log(sig(R))) + np.mean(-np.log(1 - sig(F))),
                np.mean(np.log(1 - sig(F)))),
    "ns": (np.mean(-np.log(sig(R))) + np.mean(-np.log(1 - sig(F))), np.mean(-np.log(sig(F)))),
    "lsgan": (0.5 * np.mean((R - 1) ** 2) + 0.5 * np.mean(F ** 2), 0.5 * np.mean((F - 1) ** 2)),
    "wgan": (F.mean() - R.mean(), -F.mean()),
    "hinge": (np.mean(np.maximum(0, 1 - R)) + np.mean(np.maximum(0, 1 + F)), -F.mean()),
    "ragan": (np.mean(-np.log(sig(R - F.mean()))) + np.mean(-np.log(1 - sig(F - R.mean()))),
              np.mean(-np.log(sig(F - R.mean()))) + np.mean(-np.log(1 - sig(R - F.mean())))),
}


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_losses_match_closed_forms(name):
    loss = losses.get(name)
    r, f = mg.tensor(R), mg.tensor(F)
    d_ref, g_ref = CLOSED[name]
    assert_close(loss.d_loss(r, f), d_ref)
    assert_close(loss.g_loss(f, r), g_ref)


def test_nonsaturating_gradient_does_not_vanish_where_minimax_does():
    # D confidently rejects the fakes (logit -10): minimax G's gradient is sigmoid(-10)/n,
    # the non-saturating one is sigmoid(10)/n -- the reason NS exists.
    f = mg.tensor(np.full(4, -10.0), requires_grad=True)
    (g_mm,) = mg.grad(losses.get("minimax").g_loss(f), f)
    (g_ns,) = mg.grad(losses.get("ns").g_loss(f), f)
    assert_close(g_mm, np.full(4, -sig(-10.0) / 4))
    assert_close(g_ns, np.full(4, -sig(10.0) / 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CLOSED))
def test_losses_are_finite_at_huge_logits(name, dtype):
    loss = losses.get(name)
    r = mg.tensor(np.array([1e4, -1e4], dtype=dtype), requires_grad=True)
    f = mg.tensor(np.array([-1e4, 1e4], dtype=dtype), requires_grad=True)
    d = loss.d_loss(r, f)
    gr, gf = mg.grad(d, [r, f])
    assert np.isfinite(d.item())
    assert np.all(np.isfinite(gr.numpy())) and np.all(np.isfinite(gf.numpy()))
    assert d.dtype == dtype


def test_bce_d_loss_value_at_huge_logits():
    # softplus(1e4) = 1e4 exactly in floating point; a naive log(sigmoid) would give inf.
    d = losses.get("ns").d_loss(mg.tensor([-1e4]), mg.tensor([1e4]))
    assert d.item() == pytest.approx(2e4)


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match="hinge"):
        losses.get("bogus")
    with pytest.raises(ValueError, match="real_logits"):
        losses.get("ragan").g_loss(mg.tensor([1.0]))
