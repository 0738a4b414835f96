"""Op-table rows for the core families: elementwise, activations, reductions, shape, matmul."""

import numpy as np

import minigan as mg
from minigan.diagnostics.gradcheck import OpCase


def n(*shape):
    return lambda r: r.standard_normal(shape)


def away(*shape):
    # Normal samples pushed away from 0, so kinks (relu, abs, clip) are not straddled by the
    # finite-difference step.
    def make(r):
        x = r.standard_normal(shape)
        return x + 0.2 * np.sign(x)
    return make


def pos(*shape):
    return lambda r: r.uniform(0.5, 2.0, shape)


def two(a, b):
    return lambda r: [a(r), b(r)]


def one(a):
    return lambda r: [a(r)]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def distinct(*shape):
    # Values with no ties, so max/maximum have a unique derivative.
    def make(r):
        size = int(np.prod(shape))
        return (r.permutation(size).reshape(shape) + r.uniform(0.1, 0.4, shape)) / size
    return make


CASES = [
    # elementwise, with broadcasting in every binary op
    OpCase("add", lambda a, b: a + b, np.add, two(n(3, 4), n(4)), True),
    OpCase("sub", lambda a, b: a - b, np.subtract, two(n(2, 1, 3), n(4, 1)), True),
    OpCase("mul", lambda a, b: a * b, np.multiply, two(n(3, 4), n(3, 1)), True),
    OpCase("div", lambda a, b: a / b, np.divide, two(n(3, 4), pos(4)), True),
    OpCase("neg", lambda a: -a, np.negative, one(n(5)), True),
    OpCase("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, one(n(3, 4)), True),
    OpCase("pow", lambda a, b: mg.pow(a, b), np.power, two(pos(3, 4), n(3, 4)), True),
    OpCase("exp", mg.exp, np.exp, one(n(3, 4)), True),
    OpCase("log", mg.log, np.log, one(pos(3, 4)), True),
    OpCase("sqrt", mg.sqrt, np.sqrt, one(pos(3, 4)), True),
    OpCase("abs", mg.abs, np.abs, one(away(3, 4)), True),
    OpCase("clip", lambda a: mg.clip(a, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7),
           one(lambda r: r.choice([-1.0, -0.2, 0.1, 0.4, 1.2], (4, 5))
               + r.uniform(-0.05, 0.05, (4, 5))), True),
    OpCase("where", lambda a, b: mg.where(a > 0, a, b),
           lambda a, b: np.where(a > 0, a, b), two(away(3, 4), n(3, 4)), True),
    OpCase("maximum", mg.maximum, np.maximum, lambda r: [distinct(3, 4)(r), distinct(4)(r)], True),
    OpCase("minimum", mg.minimum, np.minimum, lambda r: [distinct(3, 4)(r), distinct(3, 4)(r)],
           True),
    # activations
    OpCase("relu", mg.relu, lambda x: np.maximum(x, 0), one(away(3, 5)), True),
    OpCase("leaky_relu", lambda x: mg.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
           one(away(3, 5)), True),
    OpCase("tanh", mg.tanh, np.tanh, one(n(3, 5)), True),
    OpCase("sigmoid", mg.sigmoid, sigmoid, one(n(3, 5)), True),
    OpCase("softplus", mg.softplus, softplus, one(n(3, 5)), True),
    OpCase("log_sigmoid", mg.log_sigmoid, lambda x: -softplus(-x), one(n(3, 5)), True),
    OpCase("elu", mg.elu, lambda x: np.where(x > 0, x, np.expm1(x)), one(away(3, 5)), True),
    # reductions
    OpCase("prod_all", lambda a: a.prod(), np.prod, one(pos(3, 4)), True),
    OpCase("prod_dim", lambda a: mg.prod(a, dim=1), lambda a: a.prod(axis=1), one(n(3, 4)), True),
    # Zeros in a slice (one and two of them): the gradient is the product of the others.
    OpCase("prod_zeros_keepdim", lambda a: mg.prod(a, -2, keepdim=True),
           lambda a: a.prod(axis=-2, keepdims=True),
           one(lambda r: r.standard_normal((2, 3, 4)) * (r.random((2, 3, 4)) > 0.3)), True),
    OpCase("sum_all", lambda a: a.sum(), np.sum, one(n(3, 4)), True),
    OpCase("sum_axis", lambda a: a.sum(axis=(0, 2), keepdims=True),
           lambda a: a.sum(axis=(0, 2), keepdims=True), one(n(2, 3, 4)), True),
    OpCase("mean", lambda a: a.mean(axis=1), lambda a: a.mean(axis=1), one(n(3, 4)), True),
    OpCase("max", lambda a: a.max(axis=1), lambda a: a.max(axis=1), one(distinct(3, 4)), True),
    OpCase("min", lambda a: mg.min(a, axis=0), lambda a: a.min(axis=0), one(distinct(3, 4)), True),
    # PyTorch's default: unbiased (n - 1); unbiased=False / ddof=0 divides by n.
    OpCase("var", lambda a: mg.var(a, axis=0), lambda a: a.var(axis=0, ddof=1), one(n(5, 3)),
           True),
    OpCase("var_biased", lambda a: mg.var(a, 0, unbiased=False), lambda a: a.var(axis=0),
           one(n(5, 3)), True),
    OpCase("std", lambda a: mg.std(a, axis=1, ddof=1), lambda a: a.std(axis=1, ddof=1),
           one(n(3, 5)), True),
    OpCase("std_dim", lambda a: mg.std(a, dim=(0, 1), keepdim=True),
           lambda a: a.std(axis=(0, 1), ddof=1, keepdims=True), one(n(3, 5)), True),
    OpCase("max_dim", lambda a: a.max(dim=1).values, lambda a: a.max(axis=1),
           one(distinct(3, 4)), True),
    OpCase("min_dim", lambda a: mg.min(a, 0, keepdim=True)[0],
           lambda a: a.min(axis=0, keepdims=True), one(distinct(3, 4)), True),
    OpCase("norm", lambda a: a.norm(dim=1), lambda a: np.sqrt((a * a).sum(axis=1)),
           one(n(3, 4)), True),
    OpCase("norm_p3", lambda a: mg.norm(a, p=3), lambda a: (np.abs(a) ** 3).sum() ** (1 / 3),
           one(n(3, 4)), True),
    OpCase("amax amin", lambda a: mg.amax(a, (0, 1)) - mg.amin(a, 1).sum(),
           lambda a: a.max() - a.min(axis=1).sum(), one(distinct(3, 4)), True),
    OpCase("chunk unbind", lambda a: mg.chunk(a, 2, dim=1)[1] * mg.unbind(a, 1)[0][:, None],
           lambda a: a[:, 2:] * a[:, :1], one(n(3, 4)), True),
    OpCase("flip index_select", lambda a: mg.flip(a, (0, 1)).index_select(1, mg.tensor([3, 0, 3])),
           lambda a: a[::-1, ::-1][:, [3, 0, 3]], one(n(3, 4)), True),
    OpCase("scatter", lambda a, s: a.scatter(1, mg.tensor([[1], [0], [3]]), s),
           lambda a, s: _scatter_ref(a, s), lambda rng: [rng.standard_normal((3, 4)),
                                                         rng.standard_normal((3, 2))], True),
    OpCase("cumsum", lambda a: mg.cumsum(a, 1), lambda a: a.cumsum(axis=1), one(n(3, 4)),
           True),
    OpCase("gather", lambda a: a.gather(1, mg.tensor([[0, 0], [2, 1], [3, 3]])),
           lambda a: np.take_along_axis(a, np.array([[0, 0], [2, 1], [3, 3]]), 1),
           one(n(3, 4)), True),
    OpCase("repeat", lambda a: a.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)),
           one(n(3, 4)), True),
    OpCase("masked_fill", lambda a: a.masked_fill(mg.tensor([True, False, True, False]), 0.5),
           lambda a: np.where([True, False, True, False], 0.5, a).astype(a.dtype),
           one(n(3, 4)), True),
    OpCase("logsumexp", lambda a: mg.logsumexp(a, axis=1),
           lambda a: np.log(np.exp(a).sum(axis=1)), one(n(3, 6)), True),
    # shape
    OpCase("reshape", lambda a: a.reshape(4, 3), lambda a: a.reshape(4, 3), one(n(3, 4)), True),
    OpCase("transpose", lambda a: a.transpose(0, 2), lambda a: a.swapaxes(0, 2),
           one(n(2, 3, 4)), True),
    OpCase("permute", lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1),
           one(n(2, 3, 4)), True),
    OpCase("flatten", lambda a: mg.flatten(a, 1), lambda a: a.reshape(2, -1), one(n(2, 3, 4)),
           True),
    OpCase("squeeze", lambda a: mg.squeeze(a, 1), lambda a: a[:, 0], one(n(3, 1, 2)), True),
    OpCase("unsqueeze", lambda a: mg.unsqueeze(a, -1), lambda a: a[..., None], one(n(3, 2)), True),
    OpCase("expand", lambda a: mg.expand(a, (2, 3, 4)), lambda a: np.broadcast_to(a, (2, 3, 4)),
           one(n(3, 1)), True),
    OpCase("concat", lambda a, b: mg.concat([a, b, a], axis=1),
           lambda a, b: np.concatenate([a, b, a], axis=1), two(n(2, 3), n(2, 1)), True),
    OpCase("stack", lambda a, b: mg.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1),
           two(n(2, 3), n(2, 3)), True),
    OpCase("split", lambda a: mg.split(a, [1, 3], axis=1), lambda a: (a[:, :1], a[:, 1:]),
           one(n(2, 4)), True),
    OpCase("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], one(n(3, 5)), True),
    OpCase("getitem_int_array", lambda a, i: a[i], lambda a, i: a[i],
           lambda r: [r.standard_normal((4, 3)), np.array([0, 2, 2, 3, 0])], True),
    OpCase("getitem_bool", lambda a: a[a.array > 0], lambda a: a[a > 0], one(away(3, 4)), True),
    OpCase("pad", lambda a: mg.pad(a, [(0, 0), (1, 2)], 0.5),
           lambda a: np.pad(a, [(0, 0), (1, 2)], constant_values=0.5), one(n(2, 3)), True),
    # matmul
    OpCase("matmul", mg.matmul, np.matmul, two(n(3, 4), n(4, 5)), True),
    OpCase("matmul_batched", mg.matmul, np.matmul, two(n(2, 1, 3, 4), n(3, 4, 2)), True),
    OpCase("matmul_vec", mg.matmul, np.matmul, two(n(4), n(2, 4, 3)), True),
    OpCase("linear", mg.linear, lambda x, w, b: x @ w.T + b, lambda r: [
        r.standard_normal((2, 3, 4)), r.standard_normal((5, 4)), r.standard_normal(5)], True),
    OpCase("linear_nobias", lambda x, w: mg.linear(x, w), lambda x, w: x @ w.T,
           two(n(6, 4), n(3, 4)), True),
]


def _scatter_ref(a, s):
    out = a.copy()
    for i, j in enumerate([1, 0, 3]):
        out[i, j] = s[i, 0]
    return out
