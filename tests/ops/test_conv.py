"""minigan/ops/conv.py and minigan/ops/pool.py beyond the op table: output shapes, dtypes,
argument errors, closed-form gradients, higher-order derivatives through each Function."""

import numpy as np
import pytest

from minigan.diagnostics.gradcheck import assert_close, gradcheck, gradgradcheck
from minigan.ops.activation import leaky_relu
from minigan import backends
from minigan.ops.conv import (Conv2d, Conv2dBias, Conv2dGradWeight, ConvTranspose2d, conv2d,
                              conv_transpose2d)
from minigan.ops.pool import avg_pool2d, upsample_nearest
from minigan.ops.shape import permute
from minigan.tensor import Tensor, grad, no_grad


def rand(*shape, seed=0, dtype=np.float64, requires_grad=False):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return Tensor(a, requires_grad=requires_grad)


# ---- shapes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("hw, k, s, p, d, out", [
    ((7, 6), 3, 1, 0, 1, (5, 4)),
    ((7, 6), 3, 2, 1, 1, (4, 3)),
    ((64, 64), 4, 2, 1, 1, (32, 32)),
    ((9, 9), 3, 3, 0, 2, (2, 2)),
    ((5, 8), (1, 3), (2, 3), (0, 1), (1, 2), (3, 2)),
])
def test_conv2d_output_shape(hw, k, s, p, d, out):
    kh, kw = (k, k) if isinstance(k, int) else k
    y = conv2d(rand(2, 3, *hw), rand(5, 3, kh, kw), stride=s, padding=p, dilation=d)
    assert y.shape == (2, 5, *out)


@pytest.mark.parametrize("hw, k, s, p, op, d", [
    ((4, 4), 4, 2, 1, 0, 1),      # DCGAN generator block: 4 -> 8
    ((1, 1), 4, 1, 0, 0, 1),      # latent -> 4x4
    ((3, 5), 3, 2, 1, 1, 1),      # output_padding < stride
    ((3, 4), 3, 3, 0, (2, 1), 1),
    ((3, 3), 2, 1, 0, 1, 2),      # output_padding >= stride, < dilation (PyTorch allows it)
    ((2, 3), (2, 3), (2, 1), (1, 0), (1, 0), (1, 3)),
])
def test_conv_transpose2d_output_shape_follows_pytorch_formula(hw, k, s, p, op, d):
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    (kh, kw), (sh, sw), (ph, pw), (oph, opw), (dh, dw) = map(pair, (k, s, p, op, d))
    y = conv_transpose2d(rand(2, 4, *hw), rand(4, 3, kh, kw), stride=s, padding=p,
                         output_padding=op, dilation=d)
    expect = ((hw[0] - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1,
              (hw[1] - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1)
    assert y.shape == (2, 3, *expect)


def test_output_padding_beyond_stride_gets_gradient_only_from_real_inputs():
    # stride 1, dilation 2, output_padding 1: the extra output row is reached by the last input
    # row's dilated taps only; gradients still have the input's shape.
    x, w = rand(1, 2, 3, 3, requires_grad=True), rand(2, 2, 2, 2, seed=1, requires_grad=True)
    gradcheck(lambda a, b: conv_transpose2d(a, b, output_padding=1, dilation=2), [x, w])


# ---- dtypes, modes, layouts ----------------------------------------------------------------------

def test_float32_stays_float32_through_forward_and_every_gradient():
    x = rand(2, 4, 5, 5, dtype=np.float32, requires_grad=True)
    w = rand(6, 2, 3, 3, seed=1, dtype=np.float32, requires_grad=True)
    b = rand(6, seed=2, dtype=np.float32, requires_grad=True)
    y = conv2d(x, w, b, padding=1, groups=2)
    z = avg_pool2d(upsample_nearest(conv_transpose2d(y, w, stride=2, groups=2), 2), 3, 2, 1)
    assert y.dtype == z.dtype == np.float32
    gs = grad((z * z).sum(), [x, w, b], create_graph=True)
    assert [g.dtype for g in gs] == [np.float32] * 3
    ggs = grad(sum((g * g).sum() for g in gs), [x, w, b])
    assert [g.dtype for g in ggs] == [np.float32] * 3


def test_numpy_integers_are_accepted_as_geometry():
    y = conv2d(rand(1, 2, 5, 5), rand(2, 1, 3, 3), stride=np.int64(2), padding=(np.int32(1), 0),
               groups=np.int64(2))
    assert y.shape == (1, 2, 3, 2)


def test_no_grad_records_nothing():
    x, w = rand(1, 2, 4, 4, requires_grad=True), rand(3, 2, 3, 3, requires_grad=True)
    with no_grad():
        y = conv2d(x, w)
    assert y.grad_fn is None and not y.requires_grad


def test_non_contiguous_input_is_read_through_its_strides():
    base = rand(2, 5, 6, 3)                                # N, H, W, C
    x = permute(base, 0, 3, 1, 2)                          # a strided NCHW view
    assert not x.array.flags.c_contiguous
    w = rand(4, 3, 3, 3, seed=1)
    y = conv2d(x, w, padding=1)
    assert_close(y, conv2d(Tensor(np.ascontiguousarray(x.array)), w, padding=1))


# ---- closed forms --------------------------------------------------------------------------------

def test_bias_gradient_is_the_sum_over_batch_and_pixels():
    x, w = rand(2, 3, 5, 5), rand(4, 3, 3, 3, seed=1)
    b = rand(4, seed=2, requires_grad=True)
    r = np.random.default_rng(3).standard_normal((2, 4, 3, 3))
    (gb,) = grad((conv2d(x, w, b) * Tensor(r)).sum(), [b])
    assert_close(gb, r.sum(axis=(0, 2, 3)))


def test_upsample_gradient_sums_each_block():
    x = rand(2, 3, 4, 5, requires_grad=True)
    r = np.random.default_rng(1).standard_normal((2, 3, 8, 15))
    (gx,) = grad((upsample_nearest(x, (2, 3)) * Tensor(r)).sum(), [x])
    assert_close(gx, r.reshape(2, 3, 4, 2, 5, 3).sum(axis=(3, 5)))


def test_avg_pool_gradient_spreads_evenly_over_each_window():
    x = rand(1, 2, 6, 4, requires_grad=True)
    r = np.random.default_rng(1).standard_normal((1, 2, 3, 2))
    (gx,) = grad((avg_pool2d(x, 2) * Tensor(r)).sum(), [x])
    assert_close(gx, np.repeat(np.repeat(r, 2, axis=2), 2, axis=3) / 4)


def test_avg_pool_with_padding_counts_the_padding():
    # count_include_pad=True: a corner window with padding 1 holds one real pixel of four.
    x = Tensor(np.ones((1, 1, 4, 4)))
    y = avg_pool2d(x, 2, stride=2, padding=1)
    assert y.shape == (1, 1, 3, 3)
    assert_close(y[0, 0], np.array([[.25, .5, .25], [.5, 1, .5], [.25, .5, .25]]))


# ---- higher order --------------------------------------------------------------------------------

GEOM = ((2, 1), (1, 0), (1, 2), 2)   # stride, padding, dilation, groups


def test_each_function_is_twice_differentiable_in_all_its_inputs():
    # The three Functions directly, every tensor argument differentiated (the op table only
    # differentiates conv2d / conv_transpose2d's (x, w)).
    x, w = rand(1, 4, 5, 5), rand(2, 2, 2, 2, seed=1)
    y = rand(1, 2, 3, 3, seed=2)                 # the shape conv2d(x, w, *GEOM) gives
    assert Conv2d.apply(x, w, *GEOM).shape == y.shape
    gradgradcheck(lambda a, b: Conv2d.apply(a, b, *GEOM), [x, w])
    gradgradcheck(lambda a, b: ConvTranspose2d.apply(a, b, x.shape, *GEOM), [y, w])
    gradgradcheck(lambda a, b: Conv2dGradWeight.apply(a, b, w.shape, *GEOM), [x, y])
    # with a bias: the fused Function's backward falls back to differentiable ops under
    # create_graph, so the bias enters second derivatives too
    b = rand(2, seed=3)
    gradgradcheck(lambda a, c, d: Conv2dBias.apply(a, c, d, *GEOM), [x, w, b])


@pytest.mark.parametrize("backend", [b for b in backends.available() if b != "numpy"])
@pytest.mark.parametrize("shape", [((3, 32, 9, 9), (64, 32, 4, 4)), ((2, 3, 7, 6), (5, 3, 3, 3))],
                         ids=["direct", "gemm"])
def test_float32_conv_bias_matches_the_reference_backend(backend, shape):
    """conv2d with a bias in float32 on each compiled backend (native: the bias fused into the
    AVX-512 kernels) against the numpy backend: output and the x, w and b gradients."""
    (xs, ws), r = shape, np.random.default_rng(9)
    x0, w0 = r.standard_normal(xs).astype(np.float32), r.standard_normal(ws).astype(np.float32)
    b0 = r.standard_normal(ws[0]).astype(np.float32)

    def run(name):
        with backends.use(name):
            x, w, b = (Tensor(a.copy(), requires_grad=True) for a in (x0, w0, b0))
            y = conv2d(x, w, b, stride=2, padding=1)
            g = Tensor(np.random.default_rng(1).standard_normal(y.shape).astype(np.float32))
            y.backward(g)
            return [t.numpy() for t in (y, x.grad, w.grad, b.grad)]

    for got, want, what in zip(run(backend), run("numpy"), ("y", "gx", "gw", "gb")):
        assert got.dtype == np.float32, what
        assert_close(got, want, np.float32, what=what)


def test_third_derivative_through_a_gradient():
    # gradgradcheck of the *gradient* of a conv net checks derivatives of order three.
    r = Tensor(np.random.default_rng(5).standard_normal((1, 2, 2, 2)))

    def grad_wrt_x(a, b):
        h = leaky_relu(conv2d(a, b, stride=2, padding=1), 0.2)
        (ga,) = grad((h * h * r).sum(), [a], create_graph=True)
        return ga

    gradgradcheck(grad_wrt_x, [rand(1, 1, 3, 3), rand(2, 1, 3, 3, seed=1)])


def test_gradient_penalty_through_a_small_discriminator():
    # D(x) = conv(avg_pool(leaky_relu(conv(x)))) ; the penalty ||dD/dx||^2 must backprop into
    # both weights (WGAN-GP / R1).
    def d_net(x, w1, w2):
        h = leaky_relu(conv2d(x, w1, stride=2, padding=1), 0.2)
        return conv2d(avg_pool2d(upsample_nearest(h, 2), 2), w2)

    xs = [rand(2, 1, 4, 4), rand(3, 1, 3, 3, seed=1), rand(1, 3, 2, 2, seed=2)]
    gradcheck(d_net, xs)
    gradgradcheck(d_net, xs)


# ---- argument errors -----------------------------------------------------------------------------

X, W = rand(1, 4, 5, 5), rand(2, 4, 3, 3)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: conv2d(X, W, stride=0), ValueError, "stride: expected values >= 1"),
    (lambda: conv2d(X, W, padding=-1), ValueError, "padding: expected values >= 0"),
    (lambda: conv2d(X, W, stride=1.5), TypeError, "stride: expected an int or a pair"),
    (lambda: conv2d(X, W, dilation=(1, 2, 3)), TypeError, "dilation: expected an int or a pair"),
    (lambda: conv2d(X, W, groups=0), ValueError, "groups: expected a positive int"),
    (lambda: conv2d(X, rand(2, 4, 3, 3, dtype=np.float32)), TypeError,
     "weight dtype float32 differs from input dtype float64"),
    (lambda: conv2d(X, W, rand(3)), ValueError, r"bias must have shape \(2,\)"),
    (lambda: conv2d(X, W, np.zeros(2)), TypeError, "bias must be a Tensor"),
    (lambda: conv2d(rand(4, 5, 5), W), ValueError, r"input must be 4-D, got shape \(4, 5, 5\)"),
    (lambda: conv2d(X, rand(2, 3, 3, 3)), ValueError, "input has 4 channels"),
    (lambda: conv2d(X, rand(3, 2, 3, 3), groups=2), ValueError, "not divisible by groups=2"),
    (lambda: conv2d(X, rand(2, 4, 7, 7)), ValueError, "larger than the padded input"),
    (lambda: conv_transpose2d(X, rand(3, 2, 3, 3)), ValueError, "input has 4 channels"),
    (lambda: conv_transpose2d(X, rand(4, 2, 3, 3), stride=2, output_padding=2), ValueError,
     "output_padding: must be smaller than stride or dilation"),
    (lambda: conv_transpose2d(X, rand(4, 2, 3, 3), rand(3)), ValueError,
     r"bias must have shape \(2,\)"),
    (lambda: conv_transpose2d(rand(1, 4, 1, 1), rand(4, 2, 1, 1), padding=1), ValueError,
     "output size .* is not positive"),
    (lambda: conv_transpose2d(X, rand(4, 1, 3, 3), groups=3), ValueError,
     "4 input channels are not divisible by groups=3"),
    (lambda: avg_pool2d(X, 2, padding=2), ValueError, "padding: must be at most half"),
    (lambda: avg_pool2d(X, 6), ValueError, "kernel .* is larger than the padded input"),
    (lambda: avg_pool2d(rand(5, 5), 2), ValueError, "input must be 4-D"),
    (lambda: upsample_nearest(X, 1.5), TypeError, "scale_factor: expected an int or a pair"),
    (lambda: upsample_nearest(X, 0), ValueError, "scale_factor: expected values >= 1"),
])
def test_bad_arguments_raise_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
