"""The numba_cuda kernels under Numba's CUDA simulator, against the NumPy reference.

Not collected by a normal run (the name does not match test_*.py): the simulator has to be
switched on (``NUMBA_ENABLE_CUDASIM=1``) before Numba is first imported, so
tests/kernels/test_numba_cuda_sim.py runs this file in a pytest process of its own with the
variable set. Run by hand:

    NUMBA_ENABLE_CUDASIM=1 pytest -q tests/cudasim/check_numba_cuda.py

Every small row of the parity table (minigan.kernels.table) runs in float32 and float64, and
the result is compared with the reference run in float64 on the same inputs, with the parity
tests' tolerances (tests/kernels/test_parity.py). Then edge cases the table does not reach:
conv shapes spanning several tiles with ragged tails, stride > kernel, |logit| = 1e4, buffers
updated in place, argument errors -- and one pass of each family with the GPU's launch shapes
(256-thread blocks, the 64 x 64 x 16 conv tile), which the simulator otherwise replaces with
smaller ones for speed.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 before Numba is imported; run through "
                "tests/kernels/test_numba_cuda_sim.py", allow_module_level=True)

numba = pytest.importorskip("numba")

from minigan.diagnostics.gradcheck import assert_close, assert_outputs_close  # noqa: E402
from minigan.kernels import registry, table  # noqa: E402
from minigan.kernels.batch_norm import numba_cuda as numba_cuda_batch_norm  # noqa: E402
from minigan.kernels.bias_act import numba_cuda as numba_cuda_bias_act  # noqa: E402
from minigan.kernels.common import numba_cuda as numba_cuda_common  # noqa: E402
from minigan.kernels.conv import numba_cuda as numba_cuda_conv  # noqa: E402
from minigan.kernels.gan_loss import numba_cuda as numba_cuda_gan_loss  # noqa: E402
from minigan.kernels.optim import numba_cuda as numba_cuda_optim  # noqa: E402

# The simulator runs one Python thread per CUDA thread and polls them all at each barrier; with
# the default 5 ms switch interval a barrier costs milliseconds. 0.1 ms makes the run ~5x faster.
sys.setswitchinterval(1e-4)

DTYPES = [np.float32, np.float64]
SMALL = 4096  # the largest array (elements) a row may pass: keeps the simulated thread count low


def _arrays(obj) -> list:
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [a for o in obj for a in _arrays(o)]
    return []


def _small(case: table.KernelCase) -> bool:
    args, kwargs = case.arguments(np.float64)
    return max((a.size for a in _arrays((args, tuple(kwargs.values())))), default=0) <= SMALL


ROWS = [c for c in table.rows() if _small(c)]
NUMBA_CUDA_KERNELS = sorted(name for name in registry._REFERENCE
                            if "numba_cuda" in registry.providers(name))


def _upcast(obj, dtype):
    """float64 copies of the arrays of ``dtype`` in obj (as tests/kernels/test_parity.py)."""
    if isinstance(obj, np.ndarray) and obj.dtype == dtype:
        return obj.astype(np.float64)
    if isinstance(obj, tuple):
        return tuple(_upcast(o, dtype) for o in obj)
    if isinstance(obj, list):
        return [_upcast(o, dtype) for o in obj]
    if isinstance(obj, dict):
        return {k: _upcast(v, dtype) for k, v in obj.items()}
    return obj


def _check_case(case: table.KernelCase, dtype, impl=None) -> None:
    """The parity test's comparison: impl in ``dtype`` vs the reference in float64."""
    impl = impl or registry.get(case.kernel, "cuda", backend="numba_cuda")
    args, kwargs = case.arguments(dtype)
    got = case.run(impl, args, kwargs)
    want = case.run(registry.reference(case.kernel), _upcast(args, np.dtype(dtype)),
                    _upcast(kwargs, np.dtype(dtype)))
    for k, a in enumerate(got):
        assert a is None or isinstance(a, np.ndarray), \
            f"output {k}: {type(a).__name__}, expected ndarray"
    rtol, atol = case.tol.get(np.dtype(dtype), (None, None))
    assert_outputs_close(got, want, dtype, rtol, atol, what=case.name)


def test_running_under_the_simulator():
    assert numba.config.ENABLE_CUDASIM
    assert numba_cuda_common.simulated()


def test_every_numba_cuda_kernel_is_in_the_small_rows():
    assert NUMBA_CUDA_KERNELS, "no kernel names a numba_cuda implementation"
    for name in NUMBA_CUDA_KERNELS:
        impl = registry.get(name, "cuda", backend="numba_cuda")
        assert impl.__module__.endswith(".numba_cuda"), name  # minigan.kernels.<family>.numba_cuda
        assert any(c.kernel == name for c in ROWS), f"{name}: no parity row small enough"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", ROWS, ids=lambda c: c.name)
def test_kernel_matches_reference(case, dtype):
    _check_case(case, dtype)


# ---- conv: tiles, tails, geometry ---------------------------------------------------------------

# (x shape, w shape, stride, padding, dilation, groups). The first spans 8 x 2 tiles of the
# simulator's 16 x 16 tile in the forward (P = 126, Q = 18) with a ragged reduction (R = 45 =
# 5 slabs of 8 + 5); the second has stride 2 > the 1x1 kernel, so half the data gradient is 0;
# the third combines stride, padding and dilation with groups.
CONV_EDGES = [
    ((2, 5, 9, 7), (18, 5, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 3, 7, 6), (5, 3, 1, 1), (2, 2), (0, 0), (1, 1), 1),
    ((1, 4, 9, 10), (6, 2, 3, 2), (2, 1), (2, 1), (2, 3), 2),
]


def _conv_rows(geom) -> list:
    x_shape, w_shape, s, p, d, g = geom
    kh, kw = w_shape[2], w_shape[3]
    from minigan.kernels.conv import out_size

    oh = out_size(x_shape[2], kh, s[0], p[0], d[0])
    ow = out_size(x_shape[3], kw, s[1], p[1], d[1])
    y_shape = (x_shape[0], w_shape[0], oh, ow)

    def arr(rng, dtype, shape):
        return rng.standard_normal(shape).astype(dtype)

    label = f"x{x_shape},w{w_shape},s{s},p{p},d{d},g{g}"
    return [
        table.KernelCase("conv2d_forward", label, lambda rng, dt: (
            (arr(rng, dt, x_shape), arr(rng, dt, w_shape), s, p, d, g), {})),
        table.KernelCase("conv2d_backward_data", label, lambda rng, dt: (
            (arr(rng, dt, y_shape), arr(rng, dt, w_shape), x_shape, s, p, d, g), {})),
        table.KernelCase("conv2d_backward_weight", label, lambda rng, dt: (
            (arr(rng, dt, y_shape), arr(rng, dt, x_shape), w_shape, s, p, d, g), {})),
    ]


@pytest.mark.parametrize("case", [c for geom in CONV_EDGES for c in _conv_rows(geom)],
                         ids=lambda c: c.name)
def test_conv_edge_shapes(case):
    _check_case(case, np.float32)


def test_conv_data_gradient_is_zero_where_no_window_reads():
    x_shape, w_shape, s, p, d, g = CONV_EDGES[1]
    rng = np.random.default_rng(1)
    gy = rng.standard_normal((2, 5, 4, 3))
    w = rng.standard_normal(w_shape)
    gx = numba_cuda_conv.conv2d_backward_data(gy, w, x_shape, s, p, d, g)
    assert np.all(gx[:, :, 1::2, :] == 0) and np.all(gx[:, :, :, 1::2] == 0)
    assert np.all(gx[:, :, ::2, ::2] != 0)


def test_conv_strided_input_and_bad_arguments():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 5, 4))[:, ::2]  # a non-contiguous view
    w = rng.standard_normal((4, 3, 3, 3))
    y = numba_cuda_conv.conv2d_forward(x, w, (1, 1), (1, 1), (1, 1))
    want = registry.reference("conv2d_forward")(x, w, (1, 1), (1, 1), (1, 1))
    assert_close(y, want, np.float64)
    with pytest.raises(TypeError, match="x: expected a float32 or float64"):
        numba_cuda_conv.conv2d_forward(x.astype(np.int64), w.astype(np.int64), (1, 1), (1, 1),
                                       (1, 1))
    with pytest.raises(ValueError, match="grad_output: expected shape"):
        numba_cuda_conv.conv2d_backward_weight(np.zeros((2, 4, 3, 3)), x, w.shape, (1, 1),
                                               (1, 1), (1, 1))
    with pytest.raises(ValueError, match="weight: input has 3 channels"):
        numba_cuda_conv.conv2d_forward(x, w[:, :2], (1, 1), (1, 1), (1, 1))


# ---- GAN loss -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["minimax", "ns", "lsgan", "wgan", "hinge"])
def test_gan_loss_is_finite_and_exact_at_huge_logits(kind):
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0], dtype=np.float32)
    for side in ("d_real", "d_fake", "g"):
        loss, grad = numba_cuda_gan_loss.fused_gan_loss(kind, side, x)
        ref_loss, ref_grad = registry.reference("fused_gan_loss")(kind, side,
                                                                 x.astype(np.float64))
        assert np.isfinite(loss) and np.all(np.isfinite(grad)), (kind, side)
        assert_close(loss, ref_loss, np.float32, what=f"{kind},{side} loss")
        assert_close(grad, ref_grad, np.float32, what=f"{kind},{side} dlogits")


def test_gan_loss_writes_out_grad_in_place():
    x = np.random.default_rng(3).standard_normal((4, 3))
    out = np.full_like(x, np.nan)
    loss, grad = numba_cuda_gan_loss.fused_gan_loss("ns", "g", x, out_grad=out)
    assert grad is out
    assert_close(out, registry.reference("fused_gan_loss")("ns", "g", x)[1], np.float64)
    strided = np.full((4, 6), np.nan)[:, ::2]  # not contiguous: filled through a copy
    _, grad = numba_cuda_gan_loss.fused_gan_loss("ns", "g", x, out_grad=strided)
    assert grad is strided and np.array_equal(strided, out)
    with pytest.raises(TypeError, match="logits: expected a float32 or float64"):
        numba_cuda_gan_loss.fused_gan_loss("ns", "g", x.astype(np.float16))
    with pytest.raises(ValueError, match="out_grad: expected shape"):
        numba_cuda_gan_loss.fused_gan_loss("ns", "g", x, out_grad=np.empty(3))


# ---- in-place state -----------------------------------------------------------------------------

def test_batch_norm_training_without_running_stats_and_eval_leaves_them():
    rng = np.random.default_rng(4)
    x = 3 + rng.standard_normal((4, 3, 5))
    ref = registry.reference("batch_norm_forward")
    for got, want in zip(numba_cuda_batch_norm.batch_norm_forward(x, None, None, None, None,
                                                                  True, 0.1, 1e-5),
                         ref(x, None, None, None, None, True, 0.1, 1e-5)):
        assert_close(got, want, np.float64)
    rm, rv = rng.standard_normal(3), 1 + rng.random(3)
    before = rm.copy(), rv.copy()
    numba_cuda_batch_norm.batch_norm_forward(x, None, None, rm, rv, False, 0.1, 1e-5)
    assert np.array_equal(rm, before[0]) and np.array_equal(rv, before[1])
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        numba_cuda_batch_norm.batch_norm_forward(x[:1, :, :1], None, None, None, None, True,
                                                 0.1, 1e-5)


# NaN/inf as the reference (the CPU parity test runs every family's NaN/inf rows; here batch
# norm's, in both layouts: (N, C) columns and (N, C, H, W) rows).
BN_NONFINITE = [c for c in table.rows(nonfinite=True) if c.nonfinite and
                c.kernel.startswith("batch_norm") and c.name.split(",")[0].endswith(
                    ("6x5", "3x2x5"))]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", BN_NONFINITE, ids=lambda c: c.name)
def test_batch_norm_propagates_nan_and_inf_as_the_reference(case, dtype):
    _check_case(case, dtype)


# Spectral norm's too: a NaN norm must stay NaN in max(norm, eps) (it picked eps, so u and v
# came out finite where the reference has NaN).
SN_NONFINITE = [c for c in table.rows(nonfinite=True) if c.nonfinite and
                c.kernel.startswith("spectral_norm")]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", SN_NONFINITE, ids=lambda c: c.name)
def test_spectral_norm_propagates_nan_and_inf_as_the_reference(case, dtype):
    _check_case(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batch_norm_with_an_infinite_first_value_of_a_channel(dtype):
    # The one-pass sums are shifted by a value of the channel; an infinite one must not turn
    # the channel's mean (the reference: that infinity) into inf - inf = NaN.
    x = np.random.default_rng(6).standard_normal((4, 3, 5))
    x[0, 1, 0], x[0, 2, 0], x[2, 2, 3] = np.inf, -np.inf, np.inf
    x = x.astype(dtype)
    rm, rv = np.zeros(3, dtype), np.ones(3, dtype)
    rm64, rv64 = np.zeros(3), np.ones(3)
    got = numba_cuda_batch_norm.batch_norm_forward(x, None, None, rm, rv, True, 0.1, 1e-5)
    want = registry.reference("batch_norm_forward")(x.astype(np.float64), None, None, rm64,
                                                    rv64, True, 0.1, 1e-5)
    assert np.isposinf(want[1][1]) and np.isnan(want[1][2])
    assert_outputs_close((*got, rm, rv), (*want, rm64, rv64), dtype, what="inf at x[0, c, 0]")


def test_bias_act_backward_without_bias_gradient():
    rng = np.random.default_rng(5)
    gy, y = rng.standard_normal((3, 4, 5)), np.tanh(rng.standard_normal((3, 4, 5)))
    gx, gb = numba_cuda_bias_act.bias_act_backward(gy, y, "tanh", need_bias=False)
    assert gb is None
    assert_close(gx, gy * (1 - y * y), np.float64)


def test_optimizers_update_non_contiguous_parameters_in_place():
    rng = np.random.default_rng(6)
    p = np.asfortranarray(rng.standard_normal((3, 4)))  # no flat view: the reference path
    g, m, v = rng.standard_normal((3, 4)), np.zeros((3, 4)), np.zeros((3, 4))
    want = p.copy()
    registry.reference("adam_step")([want], [g], [np.zeros((3, 4))], [np.zeros((3, 4))], None,
                                    1, 1e-2, 0.9, 0.999, 1e-8, 0.0, False)
    numba_cuda_optim.adam_step([p], [g], [m], [v], None, 1, 1e-2, 0.9, 0.999, 1e-8, 0.0, False)
    assert_close(p, want, np.float64)
    q, buf = rng.standard_normal(5), rng.standard_normal(5)
    bufs = numba_cuda_optim.sgd_step([q], [q.copy()], [buf], 0.1, 0.0, 0.0, False, 0.0)
    assert bufs[0] is buf  # momentum 0: the buffer given is handed back, as the reference does


# ---- the GPU's launch shapes ------------------------------------------------------------------

def _first(kernel: str, label_part: str) -> table.KernelCase:
    return next(c for c in ROWS if c.kernel == kernel and label_part in c.label)


GPU_SHAPE_ROWS = [("conv2d_forward", ""), ("conv2d_backward_data", ""),
                  ("conv2d_backward_weight", ""), ("fused_gan_loss", "|x|~1000"),
                  ("bias_act_backward", ""), ("batch_norm_forward", "train"),
                  ("spectral_norm_power_iteration", ""), ("spectral_norm_normalize", ""),
                  ("spectral_norm_backward", "")]


@pytest.mark.parametrize("kernel,label_part", GPU_SHAPE_ROWS, ids=[k for k, _ in GPU_SHAPE_ROWS])
def test_gpu_launch_shapes(monkeypatch, kernel, label_part):
    """The kernels whose work depends on the launch shape -- the tiled GEMMs and the
    shared-memory reductions -- once more with the GPU's: 256-thread blocks, up to 1024 blocks
    and the 64 x 64 x 16 conv tile (16 x 16 threads, 4 x 4 outputs each). Each 256-thread
    block costs the simulator ~0.1 s per barrier round, hence one row each, float32 only."""
    monkeypatch.setattr(numba_cuda_common, "BLOCK", 256)
    monkeypatch.setattr(numba_cuda_common, "MAX_BLOCKS", 1024)
    monkeypatch.setattr(numba_cuda_conv, "TILE", numba_cuda_conv.GPU_TILE)
    _check_case(_first(kernel, label_part), np.float32)
