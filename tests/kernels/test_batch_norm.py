"""Batch norm kernels on every CPU backend: forward (train/eval) and running statistics against
the closed form written here, the backward against finite differences, the batch_norm op's
fused first-order gradient against its differentiable one, and clear errors from the native
module. (Parity with the reference on the table's rows is in test_parity.py.)"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import minigan as mg
from minigan import backends
from minigan.diagnostics.gradcheck import assert_close, gradgradcheck
from minigan.kernels import registry
from minigan.ops.norm import batch_norm

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]
DTYPES = [np.float32, np.float64]
SHAPES = [(5, 3, 4, 7), (6, 4), (3, 2, 5), (2, 3, 1, 1)]
EPS, MOMENTUM = 1e-5, 0.1


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    bshape = (1, c) + (1,) * (len(shape) - 2)
    x = 10 + 5 * rng.standard_normal(bshape) + 2 * rng.standard_normal(shape)  # offset channels
    w, b = 1 + 0.3 * rng.standard_normal(c), 0.3 * rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), 1 + rng.random(c)
    return [a.astype(dtype) for a in (x, w, b, rm, rv)]


def _per_channel(x):
    """x as (C, n): every value of channel c in one row."""
    return np.moveaxis(x, 1, 0).reshape(x.shape[1], -1).astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_training_forward_and_running_stats_closed_form(shape, backend, dtype):
    x, w, b, rm, rv = _data(shape, dtype)
    rm0, rv0 = rm.astype(np.float64), rv.astype(np.float64)
    fwd = registry.get("batch_norm_forward", "cpu", backend=backend)
    y, mean, invstd = fwd(x, w, b, rm, rv, True, MOMENTUM, EPS)
    xc = _per_channel(x)
    n = xc.shape[1]
    mu = xc.sum(axis=1) / n
    var = ((xc - mu[:, None]) ** 2).sum(axis=1) / n
    bshape = (1, -1) + (1,) * (len(shape) - 2)
    want = ((x - mu.reshape(bshape)) / np.sqrt(var.reshape(bshape) + EPS) * w.reshape(bshape)
            + b.reshape(bshape))
    assert y.dtype == dtype and mean.dtype == dtype and invstd.dtype == dtype
    assert_close(y, want, dtype)
    assert_close(mean, mu, dtype)
    assert_close(invstd, 1 / np.sqrt(var + EPS), dtype)
    assert_close(rm, (1 - MOMENTUM) * rm0 + MOMENTUM * mu, dtype)
    assert_close(rv, (1 - MOMENTUM) * rv0 + MOMENTUM * var * n / (n - 1), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", CPU)
def test_eval_forward_uses_running_stats_and_leaves_them(backend, dtype):
    x, w, b, rm, rv = _data((4, 3, 5), dtype)
    rm0, rv0 = rm.copy(), rv.copy()
    fwd = registry.get("batch_norm_forward", "cpu", backend=backend)
    y, mean, invstd = fwd(x, None, b, rm, rv, False, MOMENTUM, EPS)
    want = (x - rm0[:, None]) / np.sqrt(rv0[:, None].astype(np.float64) + EPS) + b[:, None]
    assert_close(y, want, dtype)
    assert np.array_equal(rm, rm0) and np.array_equal(rv, rv0)
    assert_close(mean, rm0, dtype)


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("affine", [True, False])
def test_backward_matches_finite_differences(backend, affine):
    x, w, b, _, _ = _data((3, 2, 4), np.float64, seed=1)
    w = w if affine else None
    gy = np.random.default_rng(2).standard_normal(x.shape)
    fwd = registry.get("batch_norm_forward", "cpu", backend=backend)
    bwd = registry.get("batch_norm_backward", "cpu", backend=backend)

    def f(x_, w_, b_):
        return float(np.sum(gy * fwd(x_, w_, b_, None, None, True, MOMENTUM, EPS)[0]))

    def numeric(i, args):
        arr = args[i]
        out = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            hi, lo = [a.copy() if a is not None else None for a in args], \
                [a.copy() if a is not None else None for a in args]
            hi[i][idx] += 1e-6
            lo[i][idx] -= 1e-6
            out[idx] = (f(*hi) - f(*lo)) / 2e-6
        return out

    args = [x, w, b]
    _, mean, invstd = fwd(x, w, b, None, None, True, MOMENTUM, EPS)
    gx, gw, gb = bwd(gy, x, w, mean, invstd)
    assert_close(gx, numeric(0, args), rtol=1e-6, atol=1e-7)
    assert_close(gb, numeric(2, args), rtol=1e-6, atol=1e-7)
    if affine:
        assert_close(gw, numeric(1, args), rtol=1e-6, atol=1e-7)
    else:  # the gradient a weight of ones would get
        xhat = (x - mean[:, None]) * invstd[:, None]
        assert_close(gw, (gy * xhat).sum(axis=(0, 2)))


@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("shape", [(4, 3, 2, 2), (5, 2)], ids=str)
def test_op_fused_backward_equals_differentiable_backward(backend, shape):
    x, w, b, _, _ = _data(shape, np.float64, seed=3)
    xt = mg.tensor(x, requires_grad=True)
    wt, bt = mg.tensor(w, requires_grad=True), mg.tensor(b, requires_grad=True)
    r = mg.tensor(np.random.default_rng(4).standard_normal(shape))
    with backends.use(backend):
        def loss():
            c = shape[1]
            return (batch_norm(xt, mg.zeros(c, dtype=np.float64), mg.ones(c, dtype=np.float64),
                               wt, bt, training=True) * r).sum()
        fused = mg.grad(loss(), [xt, wt, bt])
        graph = mg.grad(loss(), [xt, wt, bt], create_graph=True)
        for a, g in zip(fused, graph):
            assert_close(a, g.detach())
        gradgradcheck(lambda t, u, v: batch_norm(t, None, None, u, v), [xt, wt, bt])


@pytest.mark.parametrize("backend", CPU)
def test_op_running_stats_and_eval_inference_match_numpy_backend(backend):
    x, w, b, rm, rv = _data((6, 3, 4), np.float32, seed=5)

    def run():
        rmt, rvt = mg.tensor(rm.copy()), mg.tensor(rv.copy())
        y = batch_norm(mg.tensor(x), rmt, rvt, mg.tensor(w), mg.tensor(b), training=True)
        with mg.no_grad():
            ye = batch_norm(mg.tensor(x), rmt, rvt, mg.tensor(w), mg.tensor(b), training=False)
        return y.array, ye.array, rmt.array, rvt.array, rmt._version[0]

    want = run()
    with backends.use(backend):
        got = run()
    for a, r in zip(got[:4], want[:4]):
        assert_close(a, r, np.float32)
    assert got[4] == want[4] == 1  # one in-place update of the running mean


# ---- the native module rejects bad input with clear errors ------------------------------------

@pytest.fixture
def _C():
    if "native" not in CPU:
        pytest.skip("minigan._C is not built")
    return importlib.import_module("minigan._C")


def test_native_bad_input(_C):
    x, w, b, rm, rv = _data((4, 3, 2), np.float64)
    f = _C.batch_norm_forward
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64"):
        f(x.astype(np.int64), w, b, rm, rv, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="x: expected at least 2 dims"):
        f(np.ones(3), None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="x: expected a C-contiguous"):
        f(np.ones((3, 4)).T, None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"weight: expected shape \(3,\)"):
        f(x, np.ones(4), b, rm, rv, True, 0.1, 1e-5)
    with pytest.raises(TypeError, match="bias: expected dtype float64"):
        f(x, w, b.astype(np.float32), rm, rv, True, 0.1, 1e-5)
    ro = rm.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean: expected a writeable"):
        f(x, w, b, ro, rv, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="running_mean, running_var: pass both"):
        f(x, w, b, rm, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="running_mean: evaluation mode needs"):
        f(x, w, b, None, None, False, 0.1, 1e-5)
    with pytest.raises(ValueError, match="x: batch norm in training needs more than 1"):
        f(np.ones((1, 3)), None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(TypeError, match="training: expected a bool"):
        f(x, w, b, rm, rv, 1, 0.1, 1e-5)
    with pytest.raises(TypeError, match="momentum: expected a float"):
        f(x, w, b, rm, rv, True, None, 1e-5)
    g = _C.batch_norm_backward
    with pytest.raises(ValueError, match=r"gy: expected shape \(4, 3, 2\)"):
        g(np.ones((4, 3)), x, w, rm, rv)
    with pytest.raises(ValueError, match="mean: expected an array"):
        g(x, x, w, None, rv)
    with pytest.raises(ValueError, match=r"invstd: expected shape \(3,\)"):
        g(x, x, w, rm, np.ones(2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_native_results_do_not_depend_on_the_thread_count(_C, dtype):
    """The channel statistics of a (N, C, H, W) input are summed in fixed blocks of samples
    that the threads share out (csrc/cpu/batch_norm.cpp): 1, 2 and 3 threads give the same
    bits, forward (output, mean, invstd, running statistics) and backward -- and the closed
    form. 37 samples: blocks of uneven size, above the parallel grain (37*5*13*17 values)."""
    x, w, b, rm, rv = _data((37, 5, 13, 17), dtype, seed=4)
    gy = np.random.default_rng(9).standard_normal(x.shape).astype(dtype)
    before = backends.num_threads()
    runs = []
    try:
        for n in (1, 2, 3):
            backends.set_num_threads(n)
            rm_n, rv_n = rm.copy(), rv.copy()
            fwd = _C.batch_norm_forward(x, w, b, rm_n, rv_n, True, MOMENTUM, EPS)
            y, mean, invstd = fwd
            bwd = _C.batch_norm_backward(gy, x, w, mean, invstd)
            runs.append([np.asarray(a) for a in (*fwd, rm_n, rv_n, *bwd)])
    finally:
        backends.set_num_threads(before)
    for other in runs[1:]:
        for a, b_ in zip(runs[0], other):
            assert np.array_equal(a, b_)
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean((0, 2, 3), keepdims=True)) / np.sqrt(
        x64.var((0, 2, 3), keepdims=True) + EPS) * w[None, :, None, None] + b[None, :, None, None]
    assert_close(runs[0][0], want, dtype, what="y")
