"""Op-table rows for the PyTorch-compatibility ops: the extra losses, instance/group norm,
max and adaptive pooling, interpolation, pixel (un)shuffle, index padding, and the extra
activations. References are plain NumPy written from the definitions (loops where that is
clearest); all are second order (they can sit on a discriminator's path)."""

import numpy as np

from minigan.diagnostics.gradcheck import OpCase
from minigan.ops import activation as act
from minigan.ops import loss as L
from minigan.ops.norm import group_norm, instance_norm
from minigan.ops.padding import pad_by_index
from minigan.ops.pool import adaptive_avg_pool2d, max_pool2d
from minigan.ops.resample import interpolate, pixel_shuffle, pixel_unshuffle

EPS = 1e-5


def np_log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def np_nll(lp, t, w, ignore):
    # lp (N, C), t (N,): mean weighted by w[t] over the kept rows
    num = den = 0.0
    for n in range(lp.shape[0]):
        if t[n] != ignore:
            num -= w[t[n]] * lp[n, t[n]]
            den += w[t[n]]
    return num / den


def np_ce_smooth(z, t, eps):
    lp = np_log_softmax(z)
    c = z.shape[1]
    return np.mean([-(1 - eps) * lp[n, t[n]] - eps / c * lp[n].sum() for n in range(len(t))])


def np_instance_norm(x, w, b):
    mu = x.mean(axis=(2, 3), keepdims=True)
    var = x.var(axis=(2, 3), keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w[None, :, None, None] + b[None, :, None, None]


def np_group_norm(x, g, w, b):
    n, c = x.shape[:2]
    xg = x.reshape(n, g, -1)
    y = ((xg - xg.mean(-1, keepdims=True)) / np.sqrt(xg.var(-1, keepdims=True) + EPS))
    return y.reshape(x.shape) * w[None, :, None, None] + b[None, :, None, None]


def np_max_pool(x, k, s, p):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = xp[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return y


def np_adaptive_avg(x, oh, ow):
    h, w = x.shape[2:]
    y = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
            c0, c1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return y


def np_bilinear(x, oh, ow, align):
    h, w = x.shape[2:]

    def src(o, n_in, n_out):
        if align:
            return o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return max((o + 0.5) * n_in / n_out - 0.5, 0.0)

    y = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            sy, sx = src(i, h, oh), src(j, w, ow)
            y0, x0 = int(sy), int(sx)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            a, b = sy - y0, sx - x0
            y[:, :, i, j] = ((1 - a) * ((1 - b) * x[:, :, y0, x0] + b * x[:, :, y0, x1])
                             + a * ((1 - b) * x[:, :, y1, x0] + b * x[:, :, y1, x1]))
    return y


def np_bicubic(x, oh, ow):
    """PyTorch's bicubic (align_corners=False): Keys' kernel, a = -0.75, taps clamped."""
    h, w = x.shape[2:]

    def kernel(d, a=-0.75):
        d = abs(d)
        if d <= 1:
            return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a if d < 2 else 0.0

    def taps(o, n_in, n_out):
        s = (o + 0.5) * n_in / n_out - 0.5
        f = int(np.floor(s))
        return [(min(max(f + k, 0), n_in - 1), kernel(s - (f + k))) for k in range(-1, 3)]

    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            for yi, wy in taps(i, h, oh):
                for xi, wx in taps(j, w, ow):
                    y[:, :, i, j] += wy * wx * x[:, :, yi, xi]
    return y


def np_nearest(x, oh, ow):
    h, w = x.shape[2:]
    rows = [int(np.floor(i * h / oh)) for i in range(oh)]
    cols = [int(np.floor(j * w / ow)) for j in range(ow)]
    return x[:, :, rows][:, :, :, cols]


def np_pixel_shuffle(x, r):
    n, c, h, w = x.shape
    y = np.empty((n, c // (r * r), h * r, w * r))
    for ch in range(c // (r * r)):
        for i in range(r):
            for j in range(r):
                y[:, ch, i::r, j::r] = x[:, ch * r * r + i * r + j]
    return y


def np_pad(x, pad, mode):
    # PyTorch's spec: (before, after) pairs from the last dim backwards.
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return np.pad(x, widths, mode=mode)


def nz(*shape, scale=1.0):
    return lambda r: r.standard_normal(shape) * scale


def distinct(*shape):
    # no ties inside a pooling window: a unique arg-max, so the gradient is well defined
    def make(r):
        size = int(np.prod(shape))
        return [(r.permutation(size).reshape(shape) + r.uniform(0.1, 0.4, shape)) / size]
    return make


def probs_targets(*shape):
    return lambda r: [r.uniform(0.05, 0.95, shape), r.uniform(0, 1, shape)]


def away(*shape):
    def make(r):
        x = r.standard_normal(shape)
        return x + 0.2 * np.sign(x)
    return make


def np_smooth_l1(d, beta):
    a = np.abs(d)
    return np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)


CASES = [
    # losses
    OpCase("binary_cross_entropy", L.binary_cross_entropy,
           lambda x, t: (-(t * np.log(x) + (1 - t) * np.log(1 - x))).mean(),
           probs_targets(3, 4), True),
    OpCase("binary_cross_entropy_weight_sum",
           lambda x, t, w: L.binary_cross_entropy(x, t, w, reduction="sum"),
           lambda x, t, w: (-w * (t * np.log(x) + (1 - t) * np.log(1 - x))).sum(),
           lambda r: probs_targets(2, 3)(r) + [r.uniform(0.5, 2, (2, 3))], True, wrt=[0, 1]),
    OpCase("binary_cross_entropy_with_logits_pos_weight",
           lambda z, t, pw: L.binary_cross_entropy_with_logits(z, t, pos_weight=pw),
           lambda z, t, pw: (-(pw * t * np.log(1 / (1 + np.exp(-z)))
                               + (1 - t) * np.log(1 - 1 / (1 + np.exp(-z))))).mean(),
           lambda r: [r.standard_normal((3, 4)) * 2, r.uniform(0, 1, (3, 4)),
                      r.uniform(0.5, 3, 4)], True, wrt=[0, 1]),
    OpCase("l1_loss", L.l1_loss, lambda a, b: np.abs(a - b).mean(),
           lambda r: [away(3, 4)(r), np.zeros((3, 4))], True, wrt=[0]),
    OpCase("smooth_l1_loss", lambda a, b: L.smooth_l1_loss(a, b, beta=0.5),
           lambda a, b: np_smooth_l1(a - b, 0.5).mean(),
           lambda r: [away(4, 5)(r), np.zeros((4, 5))], True, wrt=[0]),
    OpCase("nll_loss_weight_ignore",
           lambda lp, t, w: L.nll_loss(lp, t, w, ignore_index=2),
           lambda lp, t, w: np_nll(lp, t, w, 2),
           lambda r: [r.standard_normal((6, 4)), np.array([0, 2, 3, 1, 3, 2]),
                      r.uniform(0.5, 2, 4)], True, wrt=[0]),
    OpCase("cross_entropy_label_smoothing",
           lambda z, t: L.cross_entropy(z, t, label_smoothing=0.2),
           lambda z, t: np_ce_smooth(z, t, 0.2),
           lambda r: [r.standard_normal((5, 3)), r.integers(0, 3, 5)], True),
    OpCase("cross_entropy_probabilities", lambda z, t: L.cross_entropy(z, t, reduction="sum"),
           lambda z, t: -(t * np_log_softmax(z)).sum(),
           lambda r: [r.standard_normal((4, 3)), r.dirichlet(np.ones(3), 4)], True),
    OpCase("kl_div", lambda x, t: L.kl_div(x, t, reduction="batchmean"),
           lambda x, t: (t * (np.log(t) - x)).sum() / x.shape[0],
           lambda r: [np_log_softmax(r.standard_normal((3, 4))), r.dirichlet(np.ones(4), 3)],
           True),
    OpCase("kl_div_log_target", lambda x, t: L.kl_div(x, t, log_target=True),
           lambda x, t: (np.exp(t) * (t - x)).mean(),
           lambda r: [r.standard_normal((3, 4)), r.standard_normal((3, 4))], True),
    # normalization
    OpCase("instance_norm", lambda x, w, b: instance_norm(x, None, None, w, b),
           np_instance_norm,
           lambda r: [r.standard_normal((2, 3, 3, 4)) * 1.5 + 0.3, r.uniform(0.5, 1.5, 3),
                      r.standard_normal(3)], True),
    OpCase("group_norm", lambda x, w, b: group_norm(x, 2, w, b),
           lambda x, w, b: np_group_norm(x, 2, w, b),
           lambda r: [r.standard_normal((2, 4, 2, 3)) + 0.2, r.uniform(0.5, 1.5, 4),
                      r.standard_normal(4)], True),
    # pooling, resampling, padding
    OpCase("max_pool2d", lambda x: max_pool2d(x, 3, 2, 1), lambda x: np_max_pool(x, 3, 2, 1),
           distinct(2, 2, 5, 6), True),
    OpCase("adaptive_avg_pool2d", lambda x: adaptive_avg_pool2d(x, (3, 2)),
           lambda x: np_adaptive_avg(x, 3, 2), lambda r: [r.standard_normal((2, 2, 5, 5))],
           True),
    OpCase("adaptive_avg_pool2d_global", lambda x: adaptive_avg_pool2d(x, 1),
           lambda x: x.mean(axis=(2, 3), keepdims=True),
           lambda r: [r.standard_normal((2, 3, 4, 5))], True),
    OpCase("interpolate_bilinear", lambda x: interpolate(x, size=(5, 7), mode="bilinear"),
           lambda x: np_bilinear(x, 5, 7, False), lambda r: [r.standard_normal((1, 2, 3, 4))],
           True),
    OpCase("interpolate_bilinear_align_corners",
           lambda x: interpolate(x, scale_factor=2, mode="bilinear", align_corners=True),
           lambda x: np_bilinear(x, 6, 8, True), lambda r: [r.standard_normal((1, 2, 3, 4))],
           True),
    OpCase("interpolate_bicubic", lambda x: interpolate(x, size=(7, 5), mode="bicubic"),
           lambda x: np_bicubic(x, 7, 5), lambda r: [r.standard_normal((1, 2, 3, 4))], True),
    OpCase("interpolate_nearest_size", lambda x: interpolate(x, size=(5, 3)),
           lambda x: np_nearest(x, 5, 3), lambda r: [r.standard_normal((2, 1, 3, 4))], True),
    OpCase("pixel_shuffle", lambda x: pixel_shuffle(x, 2), lambda x: np_pixel_shuffle(x, 2),
           lambda r: [r.standard_normal((2, 8, 2, 3))], True),
    OpCase("pixel_unshuffle", lambda y: pixel_unshuffle(y, 2),
           lambda y: np.stack([y[:, c // 4, (c % 4) // 2::2, c % 2::2] for c in
                               range(4 * y.shape[1])], axis=1),
           lambda r: [r.standard_normal((2, 2, 4, 6))], True),
    OpCase("pad_reflect", lambda x: pad_by_index(x, (2, 1, 1, 2), "reflect"),
           lambda x: np_pad(x, (2, 1, 1, 2), "reflect"),
           lambda r: [r.standard_normal((1, 2, 4, 3))], True),
    OpCase("pad_replicate", lambda x: pad_by_index(x, (1, 2, 2, 0), "replicate"),
           lambda x: np_pad(x, (1, 2, 2, 0), "edge"),
           lambda r: [r.standard_normal((2, 1, 3, 3))], True),
    OpCase("pad_circular", lambda x: pad_by_index(x, (1, 1, 2, 1), "circular"),
           lambda x: np_pad(x, (1, 1, 2, 1), "wrap"),
           lambda r: [r.standard_normal((1, 2, 3, 4))], True),
    # One-sided and 3-dim pads, a replicate border wider than the dim, a full circular wrap:
    # the backward's slice-adds (runs reversed, summed, one element long) all occur.
    OpCase("pad_reflect_3d_one_sided", lambda x: pad_by_index(x, (0, 2, 1, 0, 1, 1), "reflect"),
           lambda x: np_pad(x, (0, 2, 1, 0, 1, 1), "reflect"),
           lambda r: [r.standard_normal((2, 3, 2, 3))], True),
    OpCase("pad_replicate_wide", lambda x: pad_by_index(x, (3, 0, 1, 4), "replicate"),
           lambda x: np_pad(x, (3, 0, 1, 4), "edge"),
           lambda r: [r.standard_normal((1, 2, 2, 2))], True),
    OpCase("pad_circular_full", lambda x: pad_by_index(x, (3, 3, 0, 1), "circular"),
           lambda x: np_pad(x, (3, 3, 0, 1), "wrap"),
           lambda r: [r.standard_normal((2, 1, 2, 3))], True),
    # activations
    OpCase("prelu", act.prelu,
           lambda x, a: np.where(x > 0, x, a[None, :, None] * x),
           lambda r: [away(2, 3, 4)(r), r.uniform(0.1, 0.5, 3)], True),
    OpCase("hardtanh", lambda x: act.hardtanh(x, -0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0),
           lambda r: [np.array([-2.0, -0.7, -0.3, 0.2, 0.9, 1.4, 3.0])], True),
    OpCase("softplus_beta", lambda x: act.softplus_beta(x, 2.0, 3.0),
           lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2),
           lambda r: [np.array([-3.0, -0.5, 0.1, 0.8, 1.2, 1.7, 4.0])], True),
    OpCase("silu", act.silu, lambda x: x / (1 + np.exp(-x)), lambda r: [nz(3, 4)(r)], True),
    OpCase("selu", act.selu,
           lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
           lambda r: [away(3, 4)(r)], True),
]
