"""Fused Adam/SGD group updates on every CPU backend against the per-parameter rules
(minigan.optim's previous implementation: sgd_update / adam_update applied parameter by
parameter), several steps with state carried over, non-contiguous parameters, the optimizers
end to end per backend, and clear errors from the native module."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import minigan as mg
from minigan import backends, optim
from minigan.diagnostics.gradcheck import assert_close
from minigan.kernels import registry
from minigan.kernels.optim import adam_update, sgd_update

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]
DTYPES = [np.float32, np.float64]
SHAPES = [(3, 5), (7,), (2, 3, 1, 3), (1,), (200, 300)]  # the last one runs in parallel


def _arrays(dtype, seed, positive=False):
    rng = np.random.default_rng(seed)
    out = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return [np.abs(a) for a in out] if positive else out


ADAM = [dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False),
        dict(lr=3e-3, beta1=0.5, beta2=0.99, eps=1e-6, weight_decay=0.05, amsgrad=True)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("hyper", ADAM, ids=["plain", "amsgrad-wd"])
def test_adam_step_matches_per_parameter_rule_over_steps(hyper, backend, dtype):
    params, m, v = _arrays(dtype, 0), _arrays(dtype, 1), _arrays(dtype, 2, positive=True)
    vmax = _arrays(dtype, 3, positive=True) if hyper["amsgrad"] else None
    ref = [[a.copy() for a in lst] if lst is not None else None for lst in (params, m, v, vmax)]
    fn = registry.get("adam_step", "cpu", backend=backend)
    for t in range(1, 5):
        grads = _arrays(dtype, 10 + t)
        fn(params, grads, m, v, vmax, t, **hyper)
        h = {k: hyper[k] for k in ("lr", "beta1", "beta2", "eps", "weight_decay")}
        for i in range(len(SHAPES)):
            adam_update(ref[0][i], grads[i], ref[1][i], ref[2][i],
                        ref[3][i] if vmax is not None else None, t, **h)
    for got, want in zip((params, m, v, vmax), ref):
        for a, r in zip(got or (), want or ()):
            assert a.dtype == dtype
            if backend == "numpy":
                assert np.array_equal(a, r)  # the reference is the per-parameter rule itself
            else:
                assert_close(a, r, dtype)


SGD = [dict(lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
       dict(lr=0.05, momentum=0.9, dampening=0.1, nesterov=False, weight_decay=0.01),
       dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.0)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("hyper", SGD, ids=["plain", "momentum-dampening-wd", "nesterov"])
def test_sgd_step_matches_per_parameter_rule_over_steps(hyper, backend, dtype):
    params = _arrays(dtype, 0)
    ref = [a.copy() for a in params]
    bufs = [None] * len(SHAPES)
    ref_bufs = [None] * len(SHAPES)
    fn = registry.get("sgd_step", "cpu", backend=backend)
    for t in range(4):
        grads = _arrays(dtype, 20 + t)
        bufs = fn(params, grads, bufs, **hyper)
        ref_bufs = [sgd_update(p, g, b, **hyper) for p, g, b in zip(ref, grads, ref_bufs)]
    assert len(bufs) == len(SHAPES)
    for a, r in zip(params + [b for b in bufs if b is not None],
                    ref + [b for b in ref_bufs if b is not None]):
        assert a.dtype == dtype
        if backend == "numpy":
            assert np.array_equal(a, r)
        else:
            assert_close(a, r, dtype)
    assert all((b is None) == (hyper["momentum"] == 0) for b in bufs)


@pytest.mark.parametrize("backend", CPU)
def test_non_contiguous_parameters_and_gradients_are_updated_in_place(backend):
    base = np.random.default_rng(0).standard_normal((6, 4))
    param = base.T  # a transposed view: updates must reach base
    grad = np.broadcast_to(np.arange(6.0), (4, 6))  # read-only, zero strides
    m, v = np.zeros((4, 6)), np.zeros((4, 6))
    want = param.copy()
    adam_update(want, grad, np.zeros((4, 6)), np.zeros((4, 6)), None, 1, lr=0.1, beta1=0.9,
                beta2=0.999, eps=1e-8, weight_decay=0.0)
    registry.get("adam_step", "cpu", backend=backend)(
        [param], [grad], [m], [v], None, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False)
    assert_close(base.T, want)
    p2 = np.ones((3, 2))[:, :1]  # a strided column
    bufs = registry.get("sgd_step", "cpu", backend=backend)(
        [p2], [np.ones((3, 1))], [None], 0.5, 0.9, 0.0, False, 0.0)
    assert np.all(p2 == 0.5) and np.all(bufs[0] == 1.0)


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=1e-2, betas=(0.5, 0.999), weight_decay=0.01),
    lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
], ids=["adam", "amsgrad", "sgd-nesterov"])
def test_optimizer_on_each_backend_matches_the_numpy_backend(backend, make):
    def run():
        params = [mg.tensor(a, requires_grad=True) for a in _arrays(np.float32, 0)]
        opt = make([{"params": params[:2]}, {"params": params[2:], "lr": 5e-3}])
        for t in range(3):
            for i, (p, g) in enumerate(zip(params, _arrays(np.float32, 30 + t))):
                p.grad = None if (t == 1 and i == 0) else mg.tensor(g)  # one skipped step
            opt.step()
        return [p.array for p in params], opt.state_dict()

    want, want_state = run()
    with backends.use(backend):
        got, got_state = run()
    for a, r in zip(got, want):
        assert_close(a, r, np.float32)
    assert [s.get("step") for s in got_state["state"].values()] == \
        [s.get("step") for s in want_state["state"].values()]


# ---- the native module rejects bad input with clear errors ------------------------------------

@pytest.fixture
def _C():
    if "native" not in CPU:
        pytest.skip("minigan._C is not built")
    return importlib.import_module("minigan._C")


def test_native_bad_input(_C):
    p, g, m, v = (np.ones((2, 3)) for _ in range(4))
    h = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    with pytest.raises(ValueError, match="grads: expected 1 entries"):
        _C.adam_step([p], [g, g], [m], [v], None, [1], **h)
    with pytest.raises(ValueError, match=r"exp_avgs\[0\]: expected shape \(2, 3\)"):
        _C.adam_step([p], [g], [np.ones(6)], [v], None, [1], **h)
    with pytest.raises(TypeError, match=r"grads\[0\]: expected dtype float64"):
        _C.adam_step([p], [g.astype(np.float32)], [m], [v], None, [1], **h)
    with pytest.raises(TypeError, match=r"params\[0\]: expected dtype float32 or float64"):
        _C.adam_step([p.astype(np.int32)], [g], [m], [v], None, [1], **h)
    with pytest.raises(ValueError, match=r"steps\[0\]: expected a step >= 1"):
        _C.adam_step([p], [g], [m], [v], None, [0], **h)
    with pytest.raises(ValueError, match=r"exp_avg_sqs\[0\]: expected a C-contiguous"):
        _C.adam_step([p], [g], [m], [np.ones((3, 2)).T], None, [1], **h)
    ro = np.ones((2, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\]: expected a writeable"):
        _C.adam_step([ro], [g], [m], [v], None, [1], **h)
    with pytest.raises(TypeError, match="lr: expected a float"):
        _C.adam_step([p], [g], [m], [v], None, [1], **{**h, "lr": "0.1"})
    with pytest.raises(TypeError, match="grads: expected a list of arrays"):
        _C.adam_step([p], g, [m], [v], None, [1], **h)
    s = dict(lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0)
    with pytest.raises(ValueError, match=r"momentum_buffers\[0\]: expected an array"):
        _C.sgd_step([p], [g], [None], [False], **s)
    with pytest.raises(ValueError, match=r"momentum_buffers\[0\]: expected None"):
        _C.sgd_step([p], [g], [m], [False], **{**s, "momentum": 0.0})
    with pytest.raises(TypeError, match=r"fresh\[0\]: expected a bool"):
        _C.sgd_step([p], [g], [m], [1], **s)
    assert np.all(p == 1)  # nothing was touched by the failed calls
