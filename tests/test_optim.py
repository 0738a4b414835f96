"""Optimizers against NumPy re-derivations of PyTorch's documented algorithms (and against
torch.optim itself when torch is installed), plus state_dict, param groups and dtype rules."""

import json
import math

import numpy as np
import pytest

import minigan as mg
from minigan import optim

SHAPES = [(3, 4), (5,)]
STEPS = 6


def grads_for(seed, steps=STEPS, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def init_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def run_minigan(cls, kwargs, grads, dtype=np.float64):
    params = [mg.tensor(a, requires_grad=True) for a in init_params(dtype=dtype)]
    opt = cls(params, **kwargs)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = mg.tensor(g)
        opt.step()
    return [p.array for p in params], opt


# ---- NumPy references, written from the algorithm boxes in PyTorch's documentation ------------

def ref_sgd(theta, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    theta, b = theta.copy(), None
    for t, g in enumerate(grads, start=1):
        if weight_decay:
            g = g + weight_decay * theta
        if momentum:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        theta = theta - lr * g
    return theta


def ref_adam(theta, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             amsgrad=False):
    b1, b2 = betas
    theta = theta.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    vmax = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        if weight_decay:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2**t)
        else:
            v_hat = v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def ref_adamw(theta, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
              amsgrad=False):
    # Decoupled decay: theta <- theta (1 - lr wd) before each Adam step (no L2 in the gradient).
    b1, b2 = betas
    theta = theta.copy()
    m, v, vmax = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        theta = theta * (1 - lr * weight_decay)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vmax = np.maximum(vmax, v)
        v_hat = (vmax if amsgrad else v) / (1 - b2**t)
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v_hat) + eps)
    return theta


def ref_rmsprop(theta, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False):
    theta = theta.copy()
    v = np.zeros_like(theta)
    gavg = np.zeros_like(theta)
    b = np.zeros_like(theta)
    for g in grads:
        if weight_decay:
            g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g**2
        v_tilde = v
        if centered:
            gavg = alpha * gavg + (1 - alpha) * g
            v_tilde = v - gavg**2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            theta = theta - lr * b
        else:
            theta = theta - lr * g / (np.sqrt(v_tilde) + eps)
    return theta


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.9, weight_decay=0.05),
    dict(lr=0.1, momentum=0.7, weight_decay=0.02, nesterov=True),
]
ADAM_CASES = [
    dict(),
    dict(lr=0.1, betas=(0.5, 0.9)),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, amsgrad=True),
    dict(lr=0.02, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.03, amsgrad=True),
]
RMSPROP_CASES = [
    dict(),
    dict(lr=0.05, alpha=0.9, momentum=0.8),
    dict(lr=0.01, centered=True),
    dict(lr=0.03, alpha=0.8, eps=1e-4, momentum=0.5, centered=True, weight_decay=0.1),
]
ADAMW_CASES = [dict(), dict(lr=0.05, weight_decay=0.2, amsgrad=True)]
ALL_CASES = ([(optim.SGD, ref_sgd, "SGD", c) for c in SGD_CASES]
             + [(optim.Adam, ref_adam, "Adam", c) for c in ADAM_CASES]
             + [(optim.AdamW, ref_adamw, "AdamW", c) for c in ADAMW_CASES]
             + [(optim.RMSprop, ref_rmsprop, "RMSprop", c) for c in RMSPROP_CASES])
IDS = [f"{name}-{kw}" for _, _, name, kw in ALL_CASES]


@pytest.mark.parametrize("cls,ref,name,kwargs", ALL_CASES, ids=IDS)
def test_matches_numpy_rederivation(cls, ref, name, kwargs):
    grads = grads_for(1)
    got, _ = run_minigan(cls, kwargs, grads)
    for i, (theta0, p) in enumerate(zip(init_params(), got)):
        expected = ref(theta0, [gs[i] for gs in grads], **kwargs)
        np.testing.assert_allclose(p, expected, rtol=1e-12, atol=1e-14)
        assert not np.allclose(p, theta0)  # the comparison is not vacuous


@pytest.mark.parametrize("cls,ref,name,kwargs", ALL_CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch_optim(cls, ref, name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    grads = grads_for(2, dtype=dtype)
    got, _ = run_minigan(cls, kwargs, grads, dtype=dtype)
    tparams = [torch.tensor(a, requires_grad=True) for a in init_params(dtype=dtype)]
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 2e-6)
    for p, tp in zip(got, tparams):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("cls,ref,name,kwargs", ALL_CASES, ids=IDS)
def test_float32_params_and_state_stay_float32(cls, ref, name, kwargs):
    kwargs = {**kwargs, "lr": np.float64(kwargs.get("lr", 1e-3))}  # even a NumPy float64 lr
    got, opt = run_minigan(cls, kwargs, grads_for(3, steps=2, dtype=np.float32), np.float32)
    assert all(p.dtype == np.float32 for p in got)
    for state in opt.state.values():
        for k, v in state.items():
            if k != "step":
                assert v.dtype == np.float32, k


def test_state_dict_round_trip_continues_bitwise_identically():
    grads = grads_for(4, steps=8)
    for cls, kwargs in [(optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
                        (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
                        (optim.RMSprop, dict(momentum=0.5, centered=True))]:
        a = [mg.tensor(x, requires_grad=True) for x in init_params()]
        opt_a = cls(a, **kwargs)
        for gs in grads[:4]:
            for p, g in zip(a, gs):
                p.grad = mg.tensor(g)
            opt_a.step()
        sd = opt_a.state_dict()
        # Through JSON (arrays as lists, integer keys as strings): plain data suffices.
        text = json.dumps({"state": {k: {n: (v.tolist() if isinstance(v, np.ndarray) else v)
                                         for n, v in s.items()} for k, s in sd["state"].items()},
                           "param_groups": sd["param_groups"]})
        b = [mg.tensor(p.array.copy(), requires_grad=True) for p in a]
        opt_b = cls(b, lr=123.0)  # its hyperparameters come from the state dict
        opt_b.load_state_dict(json.loads(text))
        c = [mg.tensor(p.array.copy(), requires_grad=True) for p in a]
        opt_c = cls(c)
        opt_c.load_state_dict(sd)
        saved = {k: {n: np.copy(v) for n, v in s.items()} for k, s in sd["state"].items()}
        for gs in grads[4:]:
            for params, opt in ((a, opt_a), (b, opt_b), (c, opt_c)):
                for p, g in zip(params, gs):
                    p.grad = mg.tensor(g)
                opt.step()
        for pa, pb, pc in zip(a, b, c):
            assert np.array_equal(pa.array, pb.array) and np.array_equal(pa.array, pc.array)
        # The state dict is a snapshot: later steps did not write into it.
        for k, s in saved.items():
            for n, v in s.items():
                assert np.array_equal(np.asarray(sd["state"][k][n]), v)


def test_load_state_dict_rejects_mismatches():
    p, q = mg.randn(3, requires_grad=True), mg.randn(2, 2, requires_grad=True)
    adam = optim.Adam([p, q])
    p.grad, q.grad = mg.ones(3), mg.ones(2, 2)
    adam.step()
    sd = adam.state_dict()
    with pytest.raises(ValueError, match="has 1 parameter groups, this optimizer has 2"):
        optim.Adam([{"params": [p]}, {"params": [q]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="has 2 parameters"):
        optim.Adam([p]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"'exp_avg' has shape \(3,\)"):
        optim.Adam([mg.randn(4, requires_grad=True), q]).load_state_dict(sd)
    with pytest.raises(ValueError, match="options"):
        optim.SGD([p, q]).load_state_dict(sd)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        optim.Adam([p, q], amsgrad=True).load_state_dict(
            {**sd, "param_groups": [{**sd["param_groups"][0], "amsgrad": True}]})
    with pytest.raises(ValueError, match="parameter 5"):
        optim.Adam([p, q]).load_state_dict({**sd, "state": {5: sd["state"][0]}})
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        adam.load_state_dict({"state": {}})


def test_per_group_learning_rates_and_lr_changes_take_effect():
    a, b = mg.tensor(np.ones(3), requires_grad=True), mg.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    a.grad, b.grad = mg.tensor(np.full(3, 2.0)), mg.tensor(np.full(2, 2.0))
    opt.step()
    np.testing.assert_array_equal(a.array, 1 - 0.1 * 2)
    np.testing.assert_array_equal(b.array, 1 - 0.5 * 2)
    opt.param_groups[0]["lr"] = 0.25  # what a scheduler does
    opt.step()
    np.testing.assert_allclose(a.array, 1 - 0.1 * 2 - 0.25 * 2, rtol=1e-15)
    np.testing.assert_allclose(b.array, 1 - 0.5 * 2 * 2, rtol=1e-15)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.05),
                                  lambda ps: optim.RMSprop(ps, lr=0.01, centered=True)],
                         ids=["SGD", "Adam", "RMSprop"])
def test_minimizing_a_quadratic_converges(make):
    # f(x) = 1/2 x^T A x - b^T x with A symmetric positive definite: minimum at A^{-1} b.
    rng = np.random.default_rng(5)
    m = rng.standard_normal((4, 4))
    A, bvec = m @ m.T / 4 + np.eye(4), rng.standard_normal(4)
    x = mg.tensor(np.zeros(4), requires_grad=True)
    At, bt = mg.tensor(A), mg.tensor(bvec)
    opt = make([x])
    for i in range(1500):
        if i == 1000:  # RMSprop's and Adam's steps stay ~lr near the optimum: anneal
            opt.param_groups[0]["lr"] *= 0.1
        opt.zero_grad()
        loss = 0.5 * (mg.matmul(At, x) * x).sum() - (bt * x).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(x.array, np.linalg.solve(A, bvec), atol=2e-3)


def test_zero_grad_and_skipping_params_without_grad():
    a, b = mg.randn(3, requires_grad=True), mg.randn(3, requires_grad=True)
    (a + b).sum().backward()  # the engine may give a and b one gradient object
    opt = optim.Adam([a])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.array, 0.0)
    np.testing.assert_array_equal(b.grad.array, 1.0)  # b's gradient is untouched
    opt.zero_grad()
    assert a.grad is None
    before = a.array.copy()
    opt.step()  # no gradient: no update and no state
    np.testing.assert_array_equal(a.array, before)
    assert opt.state == {}


def test_step_bumps_the_version_counter_and_updates_in_place():
    p = mg.randn(3, requires_grad=True)
    arr, version = p.array, p._version[0]
    y = (p * p).sum()  # saves p for backward
    p.grad = mg.ones(3)
    optim.SGD([p], lr=0.1).step()
    assert p.array is arr and p._version[0] == version + 1
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_closure_is_called_with_grad_enabled():
    x = mg.tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([x], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    with mg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0 and x.array[0] == 3.0 - 0.25 * 6.0


def test_bad_arguments_are_named():
    p = mg.randn(2, requires_grad=True)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2])
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match=r"params\[1\]"):
        optim.SGD([p, np.zeros(2)])
    with pytest.raises(ValueError, match="lr"):
        optim.Adam([p], lr=-1.0)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], nesterov=True)
    with pytest.raises(ValueError, match="unknown options"):
        optim.RMSprop([{"params": [p], "betas": (0.9, 0.99)}])
    assert math.isfinite(optim.RMSprop([p]).param_groups[0]["alpha"])


def test_adamw_loads_torch_adamw_state_and_continues_bitwise():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((2, 3))
    tw = torch.tensor(w0, requires_grad=True)
    mw = mg.nn.Parameter(mg.tensor(w0.copy()))
    topt = torch.optim.AdamW([tw], lr=0.01, weight_decay=0.1)
    grads = [rng.standard_normal((2, 3)) for _ in range(3)]
    tw.grad = torch.tensor(grads[0])
    topt.step()
    mw.array[...] = tw.detach().numpy()
    mopt = optim.AdamW([mw], lr=0.01, weight_decay=0.1)
    mopt.load_state_dict(topt.state_dict())  # decoupled_weight_decay=True is AdamW itself
    for g in grads[1:]:
        tw.grad, mw.grad = torch.tensor(g), mg.tensor(g)
        topt.step()
        mopt.step()
    np.testing.assert_array_equal(mw.numpy(), tw.detach().numpy())
    with pytest.raises(ValueError, match="decoupled_weight_decay"):
        optim.Adam([mg.nn.Parameter(mg.tensor(w0))]).load_state_dict(topt.state_dict())


def test_pytorch_implementation_flags_are_accepted_when_they_change_nothing():
    p = mg.nn.Parameter(mg.ones(2))
    for cls in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop):
        o = cls([p], lr=0.1, foreach=None, fused=True, capturable=False, maximize=False,
                differentiable=False)
        assert "fused" not in o.param_groups[0]  # state dicts stay as they were
        with pytest.raises(NotImplementedError, match="maximize"):
            cls([p], lr=0.1, maximize=True)
        with pytest.raises(TypeError, match="momentun"):
            cls([p], lr=0.1, momentun=0.9)
