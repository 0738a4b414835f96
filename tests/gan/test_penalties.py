"""Penalties on discriminators whose input gradients are known in closed form."""

import numpy as np
import pytest

import minigan as mg
from minigan.diagnostics.gradcheck import assert_close
from minigan.gan import penalties


def linear_critic(w):
    # D(x) = <w, x> per sample: grad_x D = w for every x, so ||grad|| = ||w|| everywhere.
    return lambda x: (x * w).sum(axis=tuple(range(1, x.ndim)))


def test_gradient_penalty_of_a_linear_critic_and_its_gradient():
    rng = np.random.default_rng(0)
    w = mg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    real = mg.tensor(rng.standard_normal((8, 3, 2)))
    fake = mg.tensor(rng.standard_normal((8, 3, 2)))
    gp = penalties.gradient_penalty(linear_critic(w), real, fake)
    norm = np.linalg.norm(w.array)
    assert_close(gp, (norm - 1) ** 2, rtol=1e-9)
    # Double backprop: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||.
    (gw,) = mg.grad(gp, w)
    assert_close(gw, 2 * (norm - 1) * w.array / norm, rtol=1e-9)


def test_one_sided_penalty_ignores_small_gradients():
    w = mg.tensor(np.array([0.3, 0.4]), requires_grad=True)  # ||w|| = 0.5 < 1
    x = mg.tensor(np.ones((4, 2)))
    assert penalties.gradient_penalty(linear_critic(w), x, x, one_sided=True).item() < 1e-10
    assert_close(penalties.gradient_penalty(linear_critic(w), x, x), 0.25, rtol=1e-9)


def test_r1_of_a_quadratic_critic():
    # D(x) = sum(a * x^2): grad = 2 a x, so R1 = gamma/2 mean_i ||2 a x_i||^2.
    rng = np.random.default_rng(1)
    a = mg.tensor(rng.standard_normal(3), requires_grad=True)
    x = rng.standard_normal((5, 3))
    D = lambda t: (a * t * t).sum(axis=1)  # noqa: E731
    r1 = penalties.r1_penalty(D, mg.tensor(x), gamma=0.7)
    expected = 0.35 * np.mean(((2 * a.array * x) ** 2).sum(1))
    assert_close(r1, expected, rtol=1e-9)
    (ga,) = mg.grad(r1, a)
    assert_close(ga, 0.35 * np.mean(8 * a.array * x ** 2, axis=0), rtol=1e-9)


def test_r1_from_the_logits_of_the_loss_forward_equals_r1_with_its_own_forward():
    # The trainer's shared forward: R1 from D(x) computed once with x requiring grad must give
    # the penalty and the parameter gradients (double backprop) of r1_penalty's own forward.
    from minigan.gan.models.mlp import MLPDiscriminator

    mg.manual_seed(3)
    D = MLPDiscriminator(hidden=8, layers=2).double()
    x = mg.tensor(np.random.default_rng(4).standard_normal((6, 2)))
    ref = penalties.r1_penalty(D, x, gamma=0.3)
    # R1's gradient reaches the weights only (the biases move the activation masks alone).
    weights = [p for p in D.parameters() if p.ndim == 2]
    ref_grads = mg.grad(ref, weights)
    xr = x.detach().requires_grad_()
    got = penalties.r1_from_logits(D(xr), xr, gamma=0.3)
    assert_close(got, ref.item(), rtol=1e-12)
    for g, r in zip(mg.grad(got, weights), ref_grads):
        assert_close(g, r.array, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="real: expected .*requires_grad"):
        penalties.r1_from_logits(D(x), x)


def test_penalty_interpolates_per_sample():
    # With D(x) = sum x^2 / 2, grad = x_hat; x_hat_i = a_i real_i + (1 - a_i) fake_i with one a_i
    # per sample: check the penalty against alphas drawn from the same seed.
    real = np.zeros((6, 2, 2))
    fake = np.ones((6, 2, 2))
    mg.manual_seed(3)
    gp = penalties.gradient_penalty(lambda t: (t * t).sum(axis=(1, 2)) * 0.5,
                                    mg.tensor(real), mg.tensor(fake))
    mg.manual_seed(3)
    alpha = mg.rand(6, 1, 1, dtype=np.float64).numpy()
    norms = np.sqrt(((1 - alpha) ** 2 * 4).reshape(6))
    assert_close(gp, np.mean((norms - 1) ** 2), rtol=1e-9)


def test_weight_clipping_in_place():
    p = mg.tensor(np.array([-2.0, 0.005, 3.0]), requires_grad=True)
    penalties.clip_weights([p], 0.01)
    assert_close(p, [-0.01, 0.005, 0.01])
