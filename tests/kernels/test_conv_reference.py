"""The NumPy convolution reference (minigan/kernels/conv/) against naive loops, its adjoint
identities, its error messages, and PyTorch when it is installed."""

import itertools

import numpy as np
import pytest

from minigan.diagnostics.gradcheck import assert_close
from minigan.kernels import conv as K

# (x shape, kh, kw, stride, padding, dilation)
GEOMETRIES = [
    ((2, 3, 5, 6), 3, 3, (1, 1), (0, 0), (1, 1)),
    ((1, 2, 7, 5), 3, 2, (2, 1), (1, 2), (1, 1)),
    ((2, 2, 8, 7), 2, 3, (1, 2), (2, 1), (2, 3)),
    ((1, 3, 4, 4), 1, 1, (1, 1), (0, 0), (1, 1)),
    ((3, 1, 6, 6), 4, 4, (2, 2), (1, 1), (1, 1)),
    ((1, 1, 3, 3), 3, 3, (3, 3), (0, 0), (1, 1)),   # exactly one window
]


def naive_im2col(x, kh, kw, stride, padding, dilation):
    """The layout contract, element by element."""
    N, C, H, W = x.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cols = np.zeros((N * OH * OW, C * kh * kw), dtype=x.dtype)
    for n, oh, ow, c, i, j in itertools.product(range(N), range(OH), range(OW), range(C),
                                                range(kh), range(kw)):
        h, w = oh * sh - ph + i * dh, ow * sw - pw + j * dw
        if 0 <= h < H and 0 <= w < W:
            cols[(n * OH + oh) * OW + ow, (c * kh + i) * kw + j] = x[n, c, h, w]
    return cols


def naive_col2im(cols, x_shape, kh, kw, stride, padding, dilation):
    N, C, H, W = x_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x = np.zeros(x_shape, dtype=cols.dtype)
    for n, oh, ow, c, i, j in itertools.product(range(N), range(OH), range(OW), range(C),
                                                range(kh), range(kw)):
        h, w = oh * sh - ph + i * dh, ow * sw - pw + j * dw
        if 0 <= h < H and 0 <= w < W:
            x[n, c, h, w] += cols[(n * OH + oh) * OW + ow, (c * kh + i) * kw + j]
    return x


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geom", GEOMETRIES)
def test_im2col_and_col2im_match_naive_loops(geom, dtype):
    shape, kh, kw, s, p, d = geom
    x = rng().standard_normal(shape).astype(dtype)
    cols = K.im2col(x, kh, kw, s, p, d)
    assert cols.dtype == dtype and cols.flags.c_contiguous
    np.testing.assert_array_equal(cols, naive_im2col(x, kh, kw, s, p, d))  # a copy: exact
    c = rng(1).standard_normal(cols.shape).astype(dtype)
    back = K.col2im(c, shape, kh, kw, s, p, d)
    assert back.dtype == dtype and back.shape == shape
    assert_close(back, naive_col2im(c.astype(np.float64), shape, kh, kw, s, p, d), dtype)


def test_im2col_does_not_alias_its_input():
    # 1 channel, 1x1 kernel, stride 1: the window view is x itself; cols must still be a copy.
    x = rng().standard_normal((2, 1, 3, 3))
    cols = K.im2col(x, 1, 1, (1, 1), (0, 0), (1, 1))
    assert not np.shares_memory(cols, x)


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(geom):
    shape, kh, kw, s, p, d = geom
    x = rng().standard_normal(shape)
    cols = K.im2col(x, kh, kw, s, p, d)
    c = rng(1).standard_normal(cols.shape)
    lhs = np.vdot(cols, c)
    rhs = np.vdot(x, K.col2im(c, shape, kh, kw, s, p, d))
    assert_close(lhs, rhs)


# (x shape, weight shape, stride, padding, dilation, groups)
CONVS = [
    ((2, 4, 6, 5), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ((1, 3, 7, 7), (2, 3, 4, 4), (2, 2), (1, 1), (1, 1), 1),
    ((2, 2, 9, 8), (4, 1, 3, 2), (2, 1), (0, 2), (2, 1), 2),
    ((3, 6, 4, 4), (6, 1, 3, 3), (1, 1), (1, 1), (1, 1), 6),   # depthwise
    ((2, 3, 5, 5), (4, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1),
]


def naive_conv(x, w, s, p, d, groups):
    """conv2d from the definition: loop over output pixels, contract each window."""
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    OH = (H + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    OW = (W + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    y = np.zeros((N, Co, OH, OW))
    Og = Co // groups
    for g, oh, ow in itertools.product(range(groups), range(OH), range(OW)):
        win = xp[:, g * Cg:(g + 1) * Cg, oh * s[0]:oh * s[0] + d[0] * (kh - 1) + 1:d[0],
                 ow * s[1]:ow * s[1] + d[1] * (kw - 1) + 1:d[1]]
        y[:, g * Og:(g + 1) * Og, oh, ow] = np.einsum("ncij,ocij->no", win, w[g * Og:(g + 1) * Og])
    return y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONVS)
def test_conv2d_forward_matches_definition(case, dtype):
    xs, ws, s, p, d, g = case
    x, w = rng().standard_normal(xs), rng(1).standard_normal(ws)
    y = K.conv2d_forward(x.astype(dtype), w.astype(dtype), s, p, d, g)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, naive_conv(x, w, s, p, d, g), dtype)


@pytest.mark.parametrize("case", CONVS)
def test_backward_data_and_weight_are_the_adjoints_of_forward(case):
    # <gy, conv(x, w)> = <backward_data(gy, w), x> = <backward_weight(gy, x), w>, in float64.
    # gx and gw do not depend on x (resp. w), so for a random x a wrong gx would satisfy the
    # identity only on a hyperplane of measure zero: one random pairing checks the whole map.
    xs, ws, s, p, d, g = case
    x, w = rng().standard_normal(xs), rng(1).standard_normal(ws)
    y = K.conv2d_forward(x, w, s, p, d, g)
    gy = rng(2).standard_normal(y.shape)
    gx = K.conv2d_backward_data(gy, w, xs, s, p, d, g)
    gw = K.conv2d_backward_weight(gy, x, ws, s, p, d, g)
    assert gx.shape == xs and gw.shape == ws
    ref = np.vdot(gy, y)
    assert_close(np.vdot(gx, x), ref)
    assert_close(np.vdot(gw, w), ref)


@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((2, 4, 6, 5), (6, 2, 3, 3), dict(padding=1, groups=2)),
    ((1, 3, 7, 8), (2, 3, 4, 4), dict(stride=2, padding=1)),
    ((2, 2, 9, 8), (4, 1, 3, 2), dict(stride=(2, 1), padding=(0, 2), dilation=(2, 1), groups=2)),
])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(x_shape, w_shape, kw):
    # <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for the same weight tensor and geometry,
    # with output_padding chosen so that conv_transpose2d lands on x's shape.
    from minigan.ops.conv import conv2d, conv_transpose2d
    from minigan.tensor import Tensor

    x, w = Tensor(rng().standard_normal(x_shape)), Tensor(rng(1).standard_normal(w_shape))
    y_shape = conv2d(x, w, **kw).shape
    y = Tensor(rng(2).standard_normal(y_shape))
    s = kw.get("stride", 1)
    s = (s, s) if isinstance(s, int) else s
    p = kw.get("padding", 0)
    p = (p, p) if isinstance(p, int) else p
    d = kw.get("dilation", 1)
    d = (d, d) if isinstance(d, int) else d
    # output_padding = what floor division dropped in conv2d's output-size formula.
    op = tuple((x_shape[2 + a] + 2 * p[a] - d[a] * (w_shape[2 + a] - 1) - 1) % s[a]
               for a in range(2))
    xt = conv_transpose2d(y, w, output_padding=op, **kw)
    assert xt.shape == x_shape
    assert_close(np.vdot(xt.numpy(), x.numpy()), np.vdot(conv2d(x, w, **kw).numpy(), y.numpy()))


def test_backward_data_output_padding_rows_get_zero_gradient():
    # x taller than the windows reach (as conv_transpose2d's output_padding makes it): the last
    # row is never read by conv, so its gradient is exactly zero.
    x_shape, w = (1, 1, 6, 5), rng().standard_normal((2, 1, 3, 3))
    gy = rng(1).standard_normal((1, 2, 2, 2))      # (6 - 3) // 2 + 1 = 2 rows, as for 5 rows
    gx = K.conv2d_backward_data(gy, w, x_shape, (2, 2), (0, 0), (1, 1), 1)
    assert gx.shape == x_shape
    assert np.all(gx[:, :, 5, :] == 0) and np.any(gx[:, :, 4, :] != 0)


def test_registry_entries():
    assert set(K.REFERENCE) == {"im2col", "col2im", "conv2d_forward", "conv2d_backward_data",
                                "conv2d_backward_weight", "conv2d_forward_bias",
                                "conv2d_backward_weight_bias"}
    assert K.REFERENCE["conv2d_forward"] is K.conv2d_forward


def test_fused_bias_references_are_conv_plus_channel_terms():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    b, geom = rng.standard_normal(4), ((2, 1), (1, 0), (1, 1))
    y = K.conv2d_forward_bias(x, w, b, *geom)
    np.testing.assert_array_equal(y, K.conv2d_forward(x, w, *geom) + b[None, :, None, None])
    gy = rng.standard_normal(y.shape)
    gw, gb = K.conv2d_backward_weight_bias(gy, x, w.shape, *geom)
    np.testing.assert_array_equal(gw, K.conv2d_backward_weight(gy, x, w.shape, *geom))
    np.testing.assert_allclose(gb, [gy[:, o].sum() for o in range(4)], rtol=1e-13)
    with pytest.raises(ValueError, match=r"bias: expected shape \(4,\)"):
        K.conv2d_forward_bias(x, w, b[:3], *geom)
    with pytest.raises(TypeError, match="bias: expected dtype float64"):
        K.conv2d_forward_bias(x, w, b.astype(np.float32), *geom)


G1 = ((1, 1), (0, 0), (1, 1))


@pytest.mark.parametrize("call, match", [
    (lambda: K.conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3)), *G1, 1),
     "input has 3 channels but weight"),
    (lambda: K.conv2d_forward(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), *G1, 2),
     "not divisible by groups=2"),
    (lambda: K.conv2d_forward(np.zeros((1, 2, 5, 5)), np.zeros((2, 2, 3, 3)), *G1, 0),
     "groups: expected a positive integer"),
    (lambda: K.conv2d_forward(np.zeros((1, 2, 2, 5)), np.zeros((2, 2, 3, 3)), *G1, 1),
     r"larger than the padded input \(2, 5\)"),
    (lambda: K.conv2d_forward(np.zeros((1, 2, 5, 5)), np.zeros((2, 2, 3, 3)), (1, 1), (0, 0),
                              (3, 3), 1), r"spans \(7, 7\) pixels"),
    (lambda: K.conv2d_forward(np.zeros((2, 5, 5)), np.zeros((2, 2, 3, 3)), *G1, 1),
     r"x: expected a 4-D \(N, C, H, W\) array, got shape \(2, 5, 5\)"),
    (lambda: K.conv2d_forward(np.zeros((1, 2, 5, 5)), np.zeros((2, 2, 3)), *G1, 1),
     "weight: expected a 4-D"),
    (lambda: K.im2col(np.zeros((1, 1, 4, 4)), 2, 2, (0, 1), (0, 0), (1, 1)),
     "stride: expected a pair of integers >= 1"),
    (lambda: K.im2col(np.zeros((1, 1, 4, 4)), 2, 2, (1, 1), (-1, 0), (1, 1)),
     "padding: expected a pair of integers >= 0"),
    (lambda: K.col2im(np.zeros((9, 5)), (1, 1, 4, 4), 2, 2, (1, 1), (0, 0), (1, 1)),
     r"cols: expected shape \(9, 4\)"),
    (lambda: K.conv2d_backward_data(np.zeros((1, 2, 3, 4)), np.zeros((2, 1, 3, 3)), (1, 1, 5, 5),
                                    *G1, 1), r"grad_output: expected shape \(1, 2, 3, 3\)"),
    (lambda: K.conv2d_backward_weight(np.zeros((1, 2, 3, 3)), np.zeros((1, 1, 5, 5)),
                                      (2, 2, 3, 3), *G1, 1), "input has 1 channels"),
])
def test_bad_shapes_raise_clear_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mixed_dtypes_raise_type_error():
    with pytest.raises(TypeError, match="x float32, weight float64"):
        K.conv2d_forward(np.zeros((1, 1, 3, 3), np.float32), np.zeros((1, 1, 2, 2)), *G1, 1)


# ---- against PyTorch (optional) ----------------------------------------------------------------

def test_dcgan_shapes_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional check)")
    F = torch.nn.functional
    from minigan.ops.conv import conv2d, conv_transpose2d
    from minigan.tensor import Tensor, grad

    r = rng(3)

    def compare(mg_fn, torch_fn, x, w, b):
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        yt = torch_fn(xt, wt, bt)
        gy = r.standard_normal(tuple(yt.shape))
        gt = torch.autograd.grad(yt, (xt, wt, bt), torch.tensor(gy))
        xm, wm, bm = (Tensor(a, requires_grad=True) for a in (x, w, b))
        ym = mg_fn(xm, wm, bm)
        gm = grad(ym, [xm, wm, bm], grad_outputs=Tensor(gy))
        assert_close(ym, yt.detach().numpy(), what="output")
        for name, a, t in zip("xwb", gm, gt):
            assert_close(a, t.numpy(), what=f"grad {name}")

    # DCGAN discriminator block (64x64 -> 32x32, k4 s2 p1) and generator block (4x4 -> 8x8).
    compare(lambda x, w, b: conv2d(x, w, b, stride=2, padding=1),
            lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
            r.standard_normal((2, 3, 64, 64)), 0.1 * r.standard_normal((16, 3, 4, 4)),
            r.standard_normal(16))
    compare(lambda x, w, b: conv_transpose2d(x, w, b, stride=2, padding=1),
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1),
            r.standard_normal((2, 32, 4, 4)), 0.1 * r.standard_normal((32, 16, 4, 4)),
            r.standard_normal(16))
    # The generator's first layer: 1x1 latent to 4x4, stride 1, no padding.
    compare(lambda x, w, b: conv_transpose2d(x, w, b),
            lambda x, w, b: F.conv_transpose2d(x, w, b),
            r.standard_normal((2, 8, 1, 1)), r.standard_normal((8, 4, 4, 4)), r.standard_normal(4))
    # Odd geometry: groups, dilation, output_padding (both the < stride and < dilation kinds).
    compare(lambda x, w, b: conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                             groups=2),
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                               groups=2),
            r.standard_normal((2, 4, 5, 3)), r.standard_normal((4, 3, 3, 3)),
            r.standard_normal(6))
    compare(lambda x, w, b: conv_transpose2d(x, w, b, output_padding=(1, 0), dilation=2),
            lambda x, w, b: F.conv_transpose2d(x, w, b, output_padding=(1, 0), dilation=2),
            r.standard_normal((1, 2, 4, 3)), r.standard_normal((2, 3, 3, 2)),
            r.standard_normal(3))
    compare(lambda x, w, b: conv2d(x, w, b, stride=(2, 1), padding=(0, 2), dilation=(1, 2),
                                   groups=2),
            lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(0, 2), dilation=(1, 2),
                                     groups=2),
            r.standard_normal((2, 4, 9, 7)), r.standard_normal((6, 2, 3, 3)),
            r.standard_normal(6))
