"""The parity table (minigan.kernels.table): every row x every CPU backend present x (float32,
float64) against the NumPy reference run in float64 on the same inputs.

A float32 result is compared with the float64 reference (not with the float32 reference), so
the tolerance measures the kernel's rounding and nothing else; the ``numpy`` backend is checked
the same way, which keeps the tolerances honest for the reference itself. The rows with NaN/inf
inputs (``table.nonfinite``) are included: NaN where the reference has NaN, the same infinities.

The native backend's vectorised conv, GAN-loss, optimizer, bias + activation, batch norm and
spectral norm kernels exist once per ISA variant (``_C.isa_info()``): their rows run again under
every variant this CPU executes, forced with ``_C.set_isa``; variants it cannot execute are
reported as skipped with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backends
from minigan.diagnostics.gradcheck import assert_outputs_close
from minigan.kernels import registry, table

CPU = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]
DTYPES = [np.float32, np.float64]
ROWS = table.rows(nonfinite=True)
_C = backends.native()
_ISA = _C.isa_info() if _C is not None else {"compiled": [], "supported": []}


def _upcast(obj, dtype):
    """float64 copies of the row's arrays of ``dtype`` (other values unchanged)."""
    if isinstance(obj, np.ndarray) and obj.dtype == dtype:
        return obj.astype(np.float64)
    if isinstance(obj, tuple):
        return tuple(_upcast(o, dtype) for o in obj)
    if isinstance(obj, list):
        return [_upcast(o, dtype) for o in obj]
    if isinstance(obj, dict):
        return {k: _upcast(v, dtype) for k, v in obj.items()}
    return obj


def test_table_covers_every_family_with_several_rows():
    kernels = {c.kernel for c in ROWS}
    for name in ("im2col", "col2im", "conv2d_forward", "conv2d_backward_data",
                 "conv2d_backward_weight", "conv2d_forward_bias", "conv2d_backward_weight_bias",
                 "bias_act", "bias_act_backward"):
        assert sum(c.kernel == name for c in ROWS) >= 3, name
    assert kernels <= set(registry._REFERENCE)
    assert table.rows(bench=True), "no benchmark rows"


def test_gpu_benchmark_rows_reach_16m_elements_and_stay_off_the_cpu_run():
    """The GPU's bandwidth targets are judged at >= 16M elements (losses, bias-act, Adam); such
    rows run in `minigan bench kernels --device cuda` only."""
    cpu, gpu = table.rows(bench=True, device="cpu"), table.rows(bench=True, device="cuda")
    assert {c.name for c in cpu} < {c.name for c in gpu}
    big = {c.kernel for c in gpu if c not in cpu and c.bytes >= 4 * 2 * (1 << 24)}
    assert {"fused_gan_loss", "bias_act", "bias_act_backward", "adam_step"} <= big
    assert not any(c.devices == ("cuda",) for c in table.rows())  # never a test-sized row


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("backend", CPU)
@pytest.mark.parametrize("case", ROWS, ids=lambda c: c.name)
def test_kernel_matches_reference(case, backend, dtype):
    impl = registry.get(case.kernel, "cpu", backend=backend)
    if backend != "numpy" and impl is registry.reference(case.kernel):
        pytest.skip(f"{backend} has no {case.kernel} kernel (falls back to the reference)")
    args, kwargs = case.arguments(dtype)
    got = case.run(impl, args, kwargs)
    want = case.run(registry.reference(case.kernel), _upcast(args, np.dtype(dtype)),
                    _upcast(kwargs, np.dtype(dtype)))
    rtol, atol = case.tol.get(np.dtype(dtype), (None, None))
    assert_outputs_close(got, want, dtype, rtol, atol, what=case.name)


@pytest.mark.parametrize("backend", [b for b in CPU if b != "numpy"])
def test_every_conv_and_bias_act_kernel_is_provided(backend):
    """The numba and native backends implement these families themselves (no fallback)."""
    for name in ("im2col", "col2im", "conv2d_forward", "conv2d_backward_data",
                 "conv2d_backward_weight", "conv2d_forward_bias", "conv2d_backward_weight_bias",
                 "bias_act", "bias_act_backward"):
        assert backend in registry.providers(name)
        assert registry.get(name, "cpu", backend=backend) is not registry.reference(name)


@pytest.fixture(params=["avx512", "avx2", "generic"])
def native_isa(request):
    """The native backend with one ISA variant forced for the test, then restored."""
    name = request.param
    if _C is None or "native" not in CPU:
        pytest.skip("minigan._C is not built")
    if name not in _ISA["compiled"]:
        pytest.skip(f"{name}: not compiled into this build of minigan._C")
    if name not in _ISA["supported"]:
        pytest.skip(f"{name}: this CPU does not report the instructions it needs "
                    f"(it runs: {', '.join(_ISA['supported'])})")
    before = _C.isa()
    _C.set_isa(name)
    yield name
    _C.set_isa(before)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", [c for c in ROWS if c.kernel.startswith("conv2d")],
                         ids=lambda c: c.name)
def test_native_conv_matches_reference_per_isa(case, native_isa, dtype):
    """The native conv rows under each ISA variant (with generic, native routes float32 conv
    to im2col + BLAS, which beats the portable kernels wherever measured; those kernels are
    compared with the reference directly in test_conv_gemm.py)."""
    test_kernel_matches_reference(case, "native", dtype)


_DISPATCHED = {"fused_gan_loss": "gan_loss", "adam_step": "optim", "sgd_step": "optim",
               "bias_act": "bias_act", "bias_act_backward": "bias_act",
               "batch_norm_forward": "batch_norm", "batch_norm_backward": "batch_norm",
               "spectral_norm_power_iteration": "spectral_norm",
               "spectral_norm_normalize": "spectral_norm",
               "spectral_norm_backward": "spectral_norm"}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", [c for c in ROWS if c.kernel in _DISPATCHED],
                         ids=lambda c: c.name)
def test_native_loss_and_optimizer_match_reference_per_isa(case, native_isa, dtype):
    """The GAN-loss, optimizer, bias + activation, batch norm and spectral norm rows under each
    ISA variant, which isa_info then names."""
    assert _C.isa_info()["families"][_DISPATCHED[case.kernel]] == native_isa
    test_kernel_matches_reference(case, "native", dtype)


def test_native_optimizer_variants_round_like_numpy(native_isa):
    """Every variant rounds the Adam update step by step (no FMA contraction, even where the
    variant's instruction set has FMA): bitwise NumPy's float32 result."""
    impl = registry.get("adam_step", "cpu", backend="native")
    ref = registry.reference("adam_step")
    for case in [c for c in ROWS if c.kernel == "adam_step"]:
        args, kwargs = case.arguments(np.float32)
        got, want = case.run(impl, args, kwargs), case.run(ref, args, kwargs)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w, err_msg=case.name)


@pytest.mark.parametrize("act", ["none", "relu", "leaky_relu", "tanh", "sigmoid"])
def test_native_bias_act_variants_give_the_generic_variants_bits(native_isa, act):
    """bias_act.cpp rounds step by step in every variant (no FMA contraction) and sums each
    channel in the same order, so a wider vector changes the speed and not one bit: forward,
    input gradient and bias gradient equal the generic variant's, channels last (the Linear
    layers' case) and channels first (a conv's)."""
    rng = np.random.default_rng(3)
    for shape in ((300, 129, 1), (3, 17, 50)):
        x = rng.standard_normal(shape).astype(np.float32)
        b = rng.standard_normal(shape[1]).astype(np.float32)
        gy = rng.standard_normal(shape).astype(np.float32)
        got = []
        for name in (native_isa, "generic"):
            _C.set_isa(name)
            y = _C.bias_act(x, b, act, 0.2)
            got.append((y, *_C.bias_act_backward(gy, y, act, 0.2, True)))
        _C.set_isa(native_isa)  # (the fixture restores the test's variant)
        for a, w in zip(*got):
            np.testing.assert_array_equal(a, w)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "sigmoid"])
def test_native_bias_act_without_bias_gives_the_same_bits_on_any_thread_count(act):
    """Without a bias (forward) or a bias gradient (backward) the kernel is element by element
    and splits the flat array over the threads, whatever its (outer, C, inner) fold -- the
    (1, 1, size) row that ops.activation passes included: 1, 2 and 3 threads give the same bits.
    relu and leaky_relu are exact in float32, so those bits are the NumPy reference's."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 1, 100_003)).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    before = backends.num_threads()
    got = []
    try:
        for n in (1, 2, 3):
            backends.set_num_threads(n)
            y = _C.bias_act(x, None, act, 0.2)
            gx, gb = _C.bias_act_backward(gy, y, act, 0.2, False)
            assert gb is None
            got.append((y, gx))
    finally:
        backends.set_num_threads(before)
    if act != "sigmoid":
        want_y = registry.reference("bias_act")(x, None, act, 0.2, 1)
        want_gx, _ = registry.reference("bias_act_backward")(gy, want_y, act, 0.2, 1,
                                                             need_bias=False)
        np.testing.assert_array_equal(got[0][0], want_y)
        np.testing.assert_array_equal(got[0][1], want_gx)
    for y, gx in got[1:]:
        np.testing.assert_array_equal(y, got[0][0])
        np.testing.assert_array_equal(gx, got[0][1])
