"""What is specific to the ``cuda`` backend's own kernels (minigan._cuda), on a real GPU; the
parity table itself runs in test_parity_gpu.py. Here: convolutions larger than one 64x64 tile
and of sizes that are not multiples of it, split-K determinism, the opt-in TF32 path against its
documented bound, CuPy's current stream, logits of any size, optimizer groups longer than one
launch's table, the per-channel kernels' two layouts, and unaligned (scalar-path) inputs.

Needs an NVIDIA GPU with CuPy and minigan._cuda: skipped elsewhere with the reason.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backends
from minigan.diagnostics.gradcheck import assert_close
from minigan.kernels import batch_norm, bias_act, conv, gan_loss, spectral_norm
from minigan.kernels import optim as optim_kernels

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cp():
    reason = backends.unavailable_reason("cuda")
    if reason is not None:
        pytest.skip(f"backend 'cuda' unavailable: {reason}")
    import cupy

    return cupy


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# (x, w, stride, padding, dilation, groups): several tiles in m and n, sizes off the 64 grid,
# a long reduction (split-K), groups with dilation, 1x1, and the dcgan layers at batch 64.
CONV = [
    ((8, 96, 30, 30), (130, 96, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((3, 5, 13, 11), (70, 5, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((5, 12, 33, 17), (18, 4, 3, 2), (2, 3), (2, 0), (1, 2), 3),
    ((7, 65, 9, 9), (129, 65, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((64, 1, 28, 28), (64, 1, 4, 4), (2, 2), (1, 1), (1, 1), 1),
    ((64, 64, 14, 14), (128, 64, 4, 4), (2, 2), (1, 1), (1, 1), 1),
]


def _conv_all(cp, x, w, geom, dtype):
    """(forward, backward data, backward weight) of minigan.kernels.conv.cuda, as host arrays."""
    from minigan.kernels.conv import cuda as cuda_conv

    xs, ws, s, p, d, g = geom
    y = conv.conv2d_forward(x, w, s, p, d, g)
    gy = _rng(1).standard_normal(y.shape)
    dev = [cp.asarray(a.astype(dtype)) for a in (x, w, gy)]
    got = (cuda_conv.conv2d_forward(dev[0], dev[1], s, p, d, g),
           cuda_conv.conv2d_backward_data(dev[2], dev[1], xs, s, p, d, g),
           cuda_conv.conv2d_backward_weight(dev[2], dev[0], ws, s, p, d, g))
    for a in got:
        assert isinstance(a, cp.ndarray) and a.dtype == dtype
    return tuple(a.get() for a in got), gy


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("geom", CONV, ids=lambda g: f"x{g[0]}w{g[1]}s{g[2]}g{g[5]}")
def test_conv_beyond_one_tile_matches_reference(cp, geom, dtype):
    xs, ws, s, p, d, g = geom
    x, w = _rng().standard_normal(xs), _rng(2).standard_normal(ws)
    (y, gx, gw), gy = _conv_all(cp, x, w, geom, dtype)
    assert_close(y, conv.conv2d_forward(x, w, s, p, d, g), dtype, what="forward")
    assert_close(gx, conv.conv2d_backward_data(gy, w, xs, s, p, d, g), dtype, what="data")
    assert_close(gw, conv.conv2d_backward_weight(gy, x, ws, s, p, d, g), dtype, what="weight")


def test_split_k_weight_gradient_is_deterministic_and_equals_one_split(cp):
    from minigan.kernels.conv import cuda as cuda_conv

    xs, ws, s, p, d, g = CONV[5]
    x = cp.asarray(_rng().standard_normal(xs).astype(np.float32))
    OH = conv.out_size(xs[2], ws[2], s[0], p[0], d[0])
    gy = cp.asarray(_rng(1).standard_normal((xs[0], ws[0], OH, OH)).astype(np.float32))
    splits = cuda_conv.weight_splits(xs, ws, s, p, d, g)
    if splits == 1:
        pytest.skip("this GPU has too few multiprocessors for split-K on this layer")
    mod = backends.cuda_module()
    one = cp.empty(ws, np.float32)
    mod.conv2d_backward_weight(gy, x, ws, s, p, d, g, out=one, splits=1,
                               stream=cp.cuda.get_current_stream().ptr)
    first = cuda_conv.conv2d_backward_weight(gy, x, ws, s, p, d, g)
    again = cuda_conv.conv2d_backward_weight(gy, x, ws, s, p, d, g)
    assert cp.array_equal(first, again), "split-K must sum its partials in a fixed order"
    assert_close(first.get(), one.get().astype(np.float64), np.float32, what="splits vs one")


@pytest.mark.parametrize("geom", CONV[:3] + CONV[4:], ids=lambda g: f"x{g[0]}w{g[1]}")
def test_tf32_path_within_its_documented_bound(cp, geom):
    """|y - y_exact| <= 2^-9 * sum_k |a_k b_k| (csrc/cuda/conv_tf32.cuh), and the flag really
    switches path: the TF32 result differs from the float32 one."""
    from minigan.kernels.conv import cuda as cuda_conv

    xs, ws, s, p, d, g = geom
    x, w = _rng().standard_normal(xs), _rng(2).standard_normal(ws)
    exact32, gy = _conv_all(cp, x, w, geom, np.float32)
    previous = cuda_conv.set_tf32(True)
    try:
        tf32, _ = _conv_all(cp, x, w, geom, np.float32)
    finally:
        cuda_conv.set_tf32(previous)
    exact = (conv.conv2d_forward(x, w, s, p, d, g),
             conv.conv2d_backward_data(gy, w, xs, s, p, d, g),
             conv.conv2d_backward_weight(gy, x, ws, s, p, d, g))
    bound = (conv.conv2d_forward(abs(x), abs(w), s, p, d, g),
             conv.conv2d_backward_data(abs(gy), abs(w), xs, s, p, d, g),
             conv.conv2d_backward_weight(abs(gy), abs(x), ws, s, p, d, g))
    for what, got, want, b in zip(("forward", "data", "weight"), tf32, exact, bound):
        err = np.abs(got.astype(np.float64) - want)
        ratio = np.max(err / np.maximum(b, 1e-300))
        assert (err <= 2.0 ** -9 * b).all(), f"{what}: max err/bound {ratio:.3g} (limit 2^-9)"
    assert any(not np.array_equal(a, b) for a, b in zip(tf32, exact32)), "TF32 path not taken"


def test_kernels_run_on_cupys_current_stream(cp):
    """A non-blocking stream does not wait for the legacy default stream: were the kernels
    launched anywhere but on the current stream, they would race the CuPy work feeding them."""
    from minigan.kernels.conv import cuda as cuda_conv
    from minigan.kernels.gan_loss import cuda as cuda_gan_loss

    n = 1 << 24
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        base = cp.arange(n, dtype=cp.float32)
        x = cp.sin(base) * 3 + cp.cos(base * 0.5)  # still running when the next launch is queued
        loss, grad = cuda_gan_loss.fused_gan_loss("ns", "g", x)
        xs, ws = (16, 32, 20, 20), (48, 32, 3, 3)
        xc = cp.tanh(cp.asarray(_rng().standard_normal(xs).astype(np.float32)))
        wc = cp.asarray(_rng(1).standard_normal(ws).astype(np.float32))
        y = cuda_conv.conv2d_forward(xc, wc, (1, 1), (1, 1), (1, 1), 1)
    stream.synchronize()
    ref_loss, ref_grad = gan_loss.fused_gan_loss("ns", "g", x.get().astype(np.float64))
    assert_close(np.asarray(loss.get()), ref_loss, np.float32, what="loss")
    assert_close(grad.get(), ref_grad, np.float32, what="dlogits")
    assert_close(y.get(), conv.conv2d_forward(xc.get().astype(np.float64), wc.get().astype(
        np.float64), (1, 1), (1, 1), (1, 1), 1), np.float32, what="conv on the stream")


@pytest.mark.parametrize("kind", gan_loss.KINDS)
def test_gan_loss_finite_for_huge_logits(cp, kind):
    from minigan.kernels.gan_loss import cuda as cuda_gan_loss

    x = np.array([0.0, 1.0, -1.0, 20.0, -20.0, 88.0, -88.0, 1e4, -1e4], np.float32)
    for side in gan_loss.SIDES:
        loss, grad = cuda_gan_loss.fused_gan_loss(kind, side, cp.asarray(x))
        ref_loss, ref_grad = gan_loss.fused_gan_loss(kind, side, x.astype(np.float64))
        assert np.isfinite(grad.get()).all() and np.isfinite(loss.get()), (kind, side)
        assert_close(np.asarray(loss.get()), ref_loss, np.float32, what=f"{kind} {side}")
        assert_close(grad.get(), ref_grad, np.float32, what=f"{kind} {side} dlogits")


def test_adam_and_sgd_groups_longer_than_one_launch(cp):
    """70 parameters: three launches of the 32-entry table, sizes 0 to ~100k, mixed dtypes."""
    from minigan.kernels.optim import cuda as cuda_optim

    rng = _rng()
    shapes = [(int(rng.integers(0, 3000)),) if i % 7 else (37, 2900) for i in range(70)]
    dtypes = [np.float32 if i % 3 else np.float64 for i in range(70)]
    host = {k: [rng.standard_normal(s).astype(t) for s, t in zip(shapes, dtypes)]
            for k in ("p", "g", "m")}
    host["v"] = [abs(rng.standard_normal(s)).astype(t) for s, t in zip(shapes, dtypes)]
    dev = {k: [cp.asarray(a) for a in v] for k, v in host.items()}
    steps = [int(rng.integers(1, 20)) for _ in shapes]
    cuda_optim.adam_step(dev["p"], dev["g"], dev["m"], dev["v"], None, steps, 1e-2, 0.9, 0.999,
                         1e-8, 0.01, False)
    optim_kernels.adam_step(host["p"], host["g"], host["m"], host["v"], None, steps, 1e-2, 0.9,
                            0.999, 1e-8, 0.01, False)
    for k in ("p", "m", "v"):
        for i, (a, r) in enumerate(zip(dev[k], host[k])):
            assert_close(a.get(), r, r.dtype, what=f"adam {k}[{i}]")
    bufs = cuda_optim.sgd_step(dev["p"], dev["g"], [None] * 70, 0.1, 0.9, 0.0, True, 0.0)
    ref_bufs = optim_kernels.sgd_step(host["p"], host["g"], [None] * 70, 0.1, 0.9, 0.0, True, 0.0)
    for i, (a, r, b, rb) in enumerate(zip(dev["p"], host["p"], bufs, ref_bufs)):
        assert_close(a.get(), r, r.dtype, what=f"sgd p[{i}]")
        assert_close(b.get(), rb, rb.dtype, what=f"sgd buffer[{i}]")


@pytest.mark.parametrize("shape", [(7, 1000), (3, 1000, 1, 2), (256, 40, 33, 3)],
                         ids=["columns", "rows small inner", "rows large"])
def test_per_channel_kernels_in_both_layouts(cp, shape):
    from minigan.kernels.batch_norm import cuda as cuda_batch_norm
    from minigan.kernels.bias_act import cuda as cuda_bias_act

    rng = _rng()
    c = shape[1]
    x = (3 + 2 * rng.standard_normal(shape))
    w, b = 1 + 0.3 * rng.standard_normal(c), 0.3 * rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), 1 + rng.random(c)
    gy = rng.standard_normal(shape)
    d = {k: cp.asarray(v.astype(np.float32)) for k, v in dict(x=x, w=w, b=b, rm=rm, rv=rv,
                                                              gy=gy).items()}
    y, mean, invstd = cuda_batch_norm.batch_norm_forward(d["x"], d["w"], d["b"], d["rm"],
                                                         d["rv"], True, 0.1, 1e-5)
    ry, rmean, rinv = batch_norm.batch_norm_forward(x, w, b, rm, rv, True, 0.1, 1e-5)
    for what, a, r in (("y", y, ry), ("mean", mean, rmean), ("invstd", invstd, rinv),
                       ("running_mean", d["rm"], rm), ("running_var", d["rv"], rv)):
        assert_close(a.get(), r, np.float32, what=f"bn {what}")
    got = cuda_batch_norm.batch_norm_backward(d["gy"], d["x"], d["w"], mean, invstd)
    want = batch_norm.batch_norm_backward(gy, x, w, rmean, rinv)
    for what, a, r in zip(("gx", "gw", "gb"), got, want):
        assert_close(a.get(), r, np.float32, what=f"bn backward {what}")
    ya = bias_act.bias_act(x, b, "leaky_relu", 0.2, 1)
    gx, gb = cuda_bias_act.bias_act_backward(d["gy"], cp.asarray(ya.astype(np.float32)),
                                             "leaky_relu", 0.2, 1)
    rgx, rgb = bias_act.bias_act_backward(gy, ya, "leaky_relu", 0.2, 1)
    assert_close(gx.get(), rgx, np.float32, what="bias_act gx")
    assert_close(gb.get(), rgb, np.float32, what="bias_act gbias")


def test_unaligned_inputs_take_the_scalar_path(cp):
    """A view one element into a buffer is not 16-byte aligned: the vectorised kernels must
    fall back to scalar accesses, not fault or misread."""
    from minigan.kernels.bias_act import cuda as cuda_bias_act
    from minigan.kernels.gan_loss import cuda as cuda_gan_loss

    rng = _rng()
    host = rng.standard_normal(1 + 4 * 6 * 8).astype(np.float32)
    buf = cp.asarray(host)
    x = buf[1:].reshape(4, 6, 8)  # contiguous, data pointer 4 bytes past an aligned one
    assert x.data.ptr % 16 != 0
    bias = cp.asarray(rng.standard_normal(6).astype(np.float32))
    y = cuda_bias_act.bias_act(x, bias, "tanh", 0.2, 1)
    assert_close(y.get(), bias_act.bias_act(host[1:].reshape(4, 6, 8).astype(np.float64),
                                            bias.get().astype(np.float64), "tanh", 0.2, 1),
                 np.float32, what="bias_act unaligned")
    loss, grad = cuda_gan_loss.fused_gan_loss("hinge", "d_fake", x)
    ref_loss, ref_grad = gan_loss.fused_gan_loss("hinge", "d_fake",
                                                 host[1:].reshape(4, 6, 8).astype(np.float64))
    assert_close(np.asarray(loss.get()), ref_loss, np.float32, what="loss unaligned")
    assert_close(grad.get(), ref_grad, np.float32, what="dlogits unaligned")


def test_spectral_norm_on_matrices_larger_than_the_block(cp):
    """One block of 1024 threads loops over rows and columns: shapes beyond it either way."""
    from minigan.kernels.spectral_norm import cuda as cuda_spectral_norm

    for shape in ((3000, 5), (5, 5000), (700, 1500)):
        rng = _rng()
        w = rng.standard_normal(shape)
        u = rng.standard_normal(shape[0])
        u /= np.linalg.norm(u)
        got = cuda_spectral_norm.spectral_norm_power_iteration(cp.asarray(w), cp.asarray(u), 5,
                                                               1e-12)
        want = spectral_norm.spectral_norm_power_iteration(w, u, 5, 1e-12)
        for what, a, r in zip(("sigma", "u", "v"), got, want):
            assert_close(np.asarray(a.get()), r, np.float64, what=f"{shape} {what}")
