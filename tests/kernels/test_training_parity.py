"""Training-level parity: a few steps of a small conv GAN (the dcgan-mnist architecture at 8x8,
width 4: spectral-norm convs, transposed convs, batch norm, hinge loss, Adam) give the same
losses on every CPU backend as on the NumPy reference, and the conv ops really run the
backend's kernels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from minigan import backends
from minigan.bench.models import make_minigan_step
from minigan.kernels import registry

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]
FAST = [b for b in CPU if b != "numpy"]
STEPS = 4
# Per-kernel rounding differs between backends (BLAS on different cols layouts, sums in another
# order); over 4 steps of Adam it stays at the dtype's rounding level times the loss scale.
# Adam divides by sqrt(v) ~ |g|, so a relative gradient difference d moves a weight by ~lr*d.
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def _losses(backend: str, dtype) -> np.ndarray:
    with backends.use(backend):
        step = make_minigan_step("tiny", batch=6, seed=3, dtype=dtype)
        return np.array([step() for _ in range(STEPS)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("backend", FAST)
def test_a_few_gan_steps_match_the_reference(backend, dtype):
    want = _losses("numpy", dtype)
    got = _losses(backend, dtype)
    assert np.all(np.isfinite(want)) and want.shape == (STEPS, 2)
    assert len({tuple(r) for r in want}) == STEPS, "losses must change between steps"
    np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("backend", FAST)
def test_conv_ops_dispatch_to_the_backend(backend, monkeypatch):
    """The ops layer asks the registry for the backend in use: count calls of its kernels."""
    calls = []
    for name in ("conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight"):
        impl = registry.get(name, "cpu", backend=backend)
        monkeypatch.setitem(registry._PROVIDED[name], backend,
                            lambda *a, _impl=impl, _n=name, **k: calls.append(_n) or _impl(*a, **k))
    with backends.use(backend):
        make_minigan_step("tiny", batch=2, seed=0)()
    assert {"conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight"} <= set(calls)
    calls.clear()
    with backends.use("numpy"):
        make_minigan_step("tiny", batch=2, seed=0)()
    assert calls == []


def test_importing_minigan_imports_no_numba():
    code = ("import sys, minigan, minigan.kernels, minigan.bench, minigan.ops.conv\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.skipif("numba" not in CPU, reason="numba is not installed")
def test_numba_kernels_are_cached_and_follow_the_thread_count():
    import numba

    from minigan.kernels.bias_act import numba as numba_bias_act
    from minigan.kernels.conv import numba as numba_conv

    for fn in (numba_conv._im2col_span, numba_conv._col2im_par, numba_bias_act._forward_span):
        assert fn._cache.__class__.__name__ == "FunctionCache", fn  # cache=True
    before = backends.num_threads()
    try:
        backends.set_num_threads(1)
        assert numba.get_num_threads() == 1
    finally:
        backends.set_num_threads(before)
    assert numba.get_num_threads() == min(before, numba.config.NUMBA_NUM_THREADS)
