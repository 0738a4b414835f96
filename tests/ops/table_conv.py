"""Op-table rows for convolution and spatial ops: conv2d, conv_transpose2d, avg_pool2d,
upsample_nearest. All sit on a discriminator's path, so every row is second order.

The references here are direct definitions written independently of minigan/kernels/conv/:
conv2d and avg_pool2d gather each output pixel's window and contract it; conv_transpose2d
scatters each input pixel into the output; upsample repeats. Shapes stay tiny because
gradcheck costs one forward per input element (and gradgradcheck one backward)."""

import numpy as np

from minigan.diagnostics.gradcheck import OpCase
from minigan.ops.conv import conv2d, conv_transpose2d
from minigan.ops.pool import avg_pool2d, upsample_nearest


def _pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, p, q] = b[o] + sum_{c,i,j} xpad[n, g*Cg + c, p*sh + i*dh, q*sw + j*dw] w[o, c, i, j],
    one output pixel at a time."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    OH = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    Og = Co // groups
    y = np.zeros((N, Co, OH, OW))
    for g in range(groups):
        for p in range(OH):
            for q in range(OW):
                win = xp[:, g * Cg:(g + 1) * Cg,
                         p * sh:p * sh + dh * (kh - 1) + 1:dh, q * sw:q * sw + dw * (kw - 1) + 1:dw]
                y[:, g * Og:(g + 1) * Og, p, q] = np.einsum("ncij,ocij->no", win,
                                                            w[g * Og:(g + 1) * Og])
    return y if b is None else y + b[None, :, None, None]


def ref_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1,
                         groups=1):
    """Scatter: out[n, g*Og + o, h*sh - ph + i*dh, v*sw - pw + j*dw] += x[n, c, h, v] w[c, o, i, j]
    over every input pixel (h, v), then crop to PyTorch's output size."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    oph, opw = _pair(output_padding)
    N, C, H, W = x.shape
    _, Og, kh, kw = w.shape
    Cg = C // groups
    OH = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    # Accumulate in uncropped coordinates (offset by the padding), big enough for every write.
    full = np.zeros((N, Og * groups, ph + OH + dh * (kh - 1) + sh, pw + OW + dw * (kw - 1) + sw))
    for g in range(groups):
        for h in range(H):
            for v in range(W):
                contrib = np.einsum("nc,coij->noij", x[:, g * Cg:(g + 1) * Cg, h, v],
                                    w[g * Cg:(g + 1) * Cg])
                full[:, g * Og:(g + 1) * Og,
                     h * sh:h * sh + dh * (kh - 1) + 1:dh,
                     v * sw:v * sw + dw * (kw - 1) + 1:dw] += contrib
    y = full[:, :, ph:ph + OH, pw:pw + OW]
    return y if b is None else y + b[None, :, None, None]


def ref_avg_pool2d(x, k, stride=None, padding=0):
    (kh, kw), (ph, pw) = _pair(k), _pair(padding)
    sh, sw = (kh, kw) if stride is None else _pair(stride)
    N, C, H, W = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, C, OH, OW))
    for p in range(OH):
        for q in range(OW):
            y[:, :, p, q] = xp[:, :, p * sh:p * sh + kh, q * sw:q * sw + kw].sum(axis=(2, 3))
    return y / (kh * kw)


def ref_upsample(x, s):
    sh, sw = _pair(s)
    return np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)


def n(*shape):
    return lambda r: r.standard_normal(shape)


def arrays(*makers):
    return lambda r: [m(r) for m in makers]


def conv_case(name, x, w, bias=False, **kw):
    """A conv2d row: x and w shapes, optional bias, geometry keywords."""
    if bias:
        return OpCase(name, lambda a, b, c: conv2d(a, b, c, **kw),
                      lambda a, b, c: ref_conv2d(a, b, c, **kw),
                      arrays(n(*x), n(*w), n(w[0])), True)
    return OpCase(name, lambda a, b: conv2d(a, b, **kw), lambda a, b: ref_conv2d(a, b, **kw),
                  arrays(n(*x), n(*w)), True)


def convt_case(name, x, w, bias=False, **kw):
    """A conv_transpose2d row: weight is (C_in, C_out/groups, kh, kw)."""
    if bias:
        cout = w[1] * kw.get("groups", 1)
        return OpCase(name, lambda a, b, c: conv_transpose2d(a, b, c, **kw),
                      lambda a, b, c: ref_conv_transpose2d(a, b, c, **kw),
                      arrays(n(*x), n(*w), n(cout)), True)
    return OpCase(name, lambda a, b: conv_transpose2d(a, b, **kw),
                  lambda a, b: ref_conv_transpose2d(a, b, **kw), arrays(n(*x), n(*w)), True)


CASES = [
    conv_case("conv2d", (2, 2, 4, 4), (3, 2, 3, 3)),
    conv_case("conv2d_bias", (1, 2, 4, 5), (3, 2, 3, 2), bias=True, padding=1),
    conv_case("conv2d_stride2", (1, 2, 5, 5), (2, 2, 3, 3), stride=2),
    conv_case("conv2d_stride2_pad1_odd", (2, 1, 5, 4), (2, 1, 4, 4), bias=True, stride=2,
              padding=1),
    conv_case("conv2d_rect_geometry", (1, 2, 5, 6), (2, 2, 2, 3), stride=(2, 1), padding=(0, 1)),
    conv_case("conv2d_dilation2", (1, 2, 6, 5), (2, 2, 2, 2), dilation=2, padding=1),
    conv_case("conv2d_groups2", (2, 4, 4, 4), (4, 2, 2, 2), groups=2),
    conv_case("conv2d_1x1", (2, 3, 3, 3), (2, 3, 1, 1), bias=True),
    convt_case("conv_transpose2d", (1, 2, 3, 3), (2, 3, 3, 3)),
    convt_case("conv_transpose2d_stride2_outpad", (2, 2, 3, 2), (2, 2, 4, 4), bias=True, stride=2,
               padding=1, output_padding=1),
    convt_case("conv_transpose2d_pad", (1, 2, 4, 3), (2, 2, 3, 3), padding=1),
    convt_case("conv_transpose2d_groups2", (1, 4, 3, 3), (4, 1, 3, 2), groups=2, stride=2),
    convt_case("conv_transpose2d_dilation2", (1, 2, 3, 3), (2, 2, 2, 2), dilation=2,
               output_padding=1),
    OpCase("avg_pool2d", lambda a: avg_pool2d(a, 2), lambda a: ref_avg_pool2d(a, 2),
           arrays(n(2, 2, 5, 4)), True),
    OpCase("avg_pool2d_overlap_pad", lambda a: avg_pool2d(a, 3, stride=2, padding=1),
           lambda a: ref_avg_pool2d(a, 3, 2, 1), arrays(n(1, 2, 5, 6)), True),
    OpCase("upsample_nearest", lambda a: upsample_nearest(a, 2), lambda a: ref_upsample(a, 2),
           arrays(n(2, 2, 2, 3)), True),
    OpCase("upsample_nearest_rect", lambda a: upsample_nearest(a, (3, 1)),
           lambda a: ref_upsample(a, (3, 1)), arrays(n(1, 2, 2, 2)), True),
]
