"""The fused Linear + activation: its two backward paths agree, nn.Sequential uses it for
Linear -> ReLU/LeakyReLU pairs with the same values and gradients (first and second order) as the
layers run one by one, hooks keep the layers separate, and bad arguments are named."""

import numpy as np
import pytest

import minigan as mg
from minigan import backends, nn
from minigan.ops import leaky_relu, linear, relu
from minigan.ops.linear_act import linear_act

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]


def _rand(rng, *shape, dtype=np.float32):
    return mg.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "none"])
def test_plain_and_recorded_backward_give_the_same_gradients(backend, act):
    # create_graph=False takes the array path, create_graph=True the differentiable ops: the
    # same products, so equal up to the bias sum's order of additions (float32 here).
    rng = np.random.default_rng(0)
    x, w, b = _rand(rng, 64, 32), _rand(rng, 16, 32), _rand(rng, 16)
    gy = rng.standard_normal((64, 16)).astype(np.float32)
    with backends.use(backend):
        y = linear_act(x, w, b, act, 0.2)
        plain = mg.grad(y, [x, w, b], grad_outputs=[mg.tensor(gy)])
        y = linear_act(x, w, b, act, 0.2)
        recorded = mg.grad(y, [x, w, b], grad_outputs=[mg.tensor(gy)], create_graph=True)
        ref_y = {"relu": relu, "leaky_relu": lambda z: leaky_relu(z, 0.2),
                 "none": lambda z: z}[act](linear(x, w, b))
        ref = mg.grad(ref_y, [x, w, b], grad_outputs=[mg.tensor(gy)])
    np.testing.assert_array_equal(y.numpy(), ref_y.numpy())
    for p, r, q in zip(plain, recorded, ref):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(r.numpy(), q.numpy(), rtol=1e-5, atol=1e-5)


def _mlp(slope):
    mg.manual_seed(1)
    act = nn.LeakyReLU(slope) if slope else nn.ReLU()
    return nn.Sequential(nn.Linear(2, 16), act, nn.Linear(16, 16), act, nn.Linear(16, 1)).double()


def _unfused(model, x):
    for m in model:  # each layer on its own, as before the fusion
        x = m(x)
    return x


@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_sequential_fuses_and_keeps_values_and_double_backprop(slope):
    model = _mlp(slope)
    x = mg.tensor(np.random.default_rng(2).standard_normal((32, 2)), requires_grad=True)
    params = list(model.parameters())
    outs = []
    for run in (model, lambda t: _unfused(model, t)):
        y = run(x)
        (gx,) = mg.grad(y.sum(), x, create_graph=True)  # R1: the gradient of a gradient
        r1 = (gx * gx).sum()
        outs.append([y.numpy(), gx.numpy(), *[g.numpy() for g in mg.grad(
            r1 + y.mean(), params, allow_unused=True) if g is not None]])
    assert len(outs[0]) == len(outs[1])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert model(x)._node.name == "Linear"  # the head; the trunk's pairs ran fused
    assert model[:2](x)._node.name == "LinearAct"


def test_a_hook_keeps_its_layer_unfused():
    model = _mlp(0.2)
    seen = []
    model[0].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    model(mg.tensor(np.ones((3, 2))))
    assert seen == [(3, 16)]  # the Linear's own output, before the activation


def test_bad_arguments_are_named():
    x, w = mg.tensor(np.ones((2, 3))), mg.tensor(np.ones((4, 3)))
    with pytest.raises(ValueError, match="act: expected one of"):
        linear_act(x, w, None, "tanh")
    with pytest.raises(ValueError, match="negative_slope: expected >= 0"):
        linear_act(x, w, None, "leaky_relu", -0.1)
    with pytest.raises(ValueError, match="linear_act: input has 3 features, weight expects 2"):
        linear_act(x, mg.tensor(np.ones((4, 2))))
    with pytest.raises(TypeError, match="one dtype"):
        linear_act(x, w.float())
    with pytest.raises(ValueError, match=r"bias: expected shape \(4,\)"):
        linear_act(x, w, mg.tensor(np.ones(3)))


def test_an_outer_product_is_the_same_as_numpys_matmul_and_its_gradients_match():
    # ops.matmul.dot: an inner dimension of 1 (a one-output layer's input gradient) runs as a
    # broadcast multiply; the same values as NumPy's matmul, bit for bit, and the gradients of
    # a one-output Linear (first order and through double backprop) match the outer products.
    from minigan.ops.matmul import dot

    rng = np.random.default_rng(3)
    a = rng.standard_normal((37, 1)).astype(np.float32)
    b = rng.standard_normal((1, 19)).astype(np.float32)
    assert dot(a, b).tobytes() == (a @ b).tobytes()
    assert dot(b.T, a.T).tobytes() == (b.T @ a.T).tobytes()
    x, w = _rand(rng, 37, 19), _rand(rng, 1, 19)
    gy = rng.standard_normal((37, 1)).astype(np.float32)
    gx, gw = mg.grad(linear(x, w), [x, w], grad_outputs=[mg.tensor(gy)])
    np.testing.assert_array_equal(gx.numpy(), gy * w.numpy())
    np.testing.assert_allclose(gw.numpy(), gy.T @ x.numpy(), rtol=1e-6, atol=1e-6)
    # d/dw sum(grad_x(sum(x w^T))^2) = d/dw (37 * ||w||^2) = 74 w
    (g,) = mg.grad(linear(x, w).sum(), x, create_graph=True)
    (gw2,) = mg.grad((g * g).sum(), w)
    np.testing.assert_allclose(gw2.numpy(), 74 * w.numpy(), rtol=1e-5)
