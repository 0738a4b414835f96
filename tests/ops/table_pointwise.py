"""Op-table rows for PyTorch's extra element-wise math (minigan.ops.pointwise), the small
linear algebra (minigan.ops.linalg) and order/selection (minigan.ops.sort)."""

import math

import numpy as np

import minigan as mg
from minigan.diagnostics.gradcheck import OpCase


def n(*shape):
    return lambda r: r.standard_normal(shape)


def pos(*shape):
    return lambda r: r.uniform(0.5, 2.0, shape)


def off_grid(*shape):
    # Values whose quotients and roundings stay away from integers (no jump within the
    # finite-difference step).
    return lambda r: r.integers(-4, 4, shape) + r.uniform(0.2, 0.8, shape)


def distinct(*shape):
    def make(r):
        size = int(np.prod(shape))
        return (r.permutation(size).reshape(shape) + r.uniform(0.1, 0.4, shape)) / size
    return make


def many(*makers):
    return lambda r: [m(r) for m in makers]


def np_diag_embed(v, k):
    return np.diag(v, k)


CASES = [
    OpCase("sin", mg.sin, np.sin, many(n(3, 4)), True),
    OpCase("cos", mg.cos, np.cos, many(n(3, 4)), True),
    OpCase("log1p", mg.log1p, np.log1p, many(pos(3, 4)), True),
    OpCase("expm1", mg.expm1, np.expm1, many(n(3, 4)), True),
    OpCase("floor", mg.floor, np.floor, many(off_grid(3, 4)), True),
    OpCase("ceil", mg.ceil, np.ceil, many(off_grid(3, 4)), True),
    OpCase("round", mg.round, np.rint, many(off_grid(3, 4)), True),
    OpCase("round_decimals", lambda a: mg.round(a, decimals=1), lambda a: np.round(a, 1),
           many(lambda r: r.integers(-40, 40, (3, 4)) / 10 + r.uniform(0.02, 0.08, (3, 4))),
           True),
    OpCase("trunc", mg.trunc, np.trunc, many(off_grid(3, 4)), True),
    OpCase("sign", mg.sign, np.sign, many(off_grid(3, 4)), True),
    OpCase("frac", mg.frac, lambda a: a - np.trunc(a), many(off_grid(3, 4)), True),
    OpCase("square", mg.square, np.square, many(n(3, 4)), True),
    OpCase("reciprocal", mg.reciprocal, np.reciprocal, many(pos(3, 4)), True),
    OpCase("rsqrt", mg.rsqrt, lambda a: 1 / np.sqrt(a), many(pos(3, 4)), True),
    OpCase("lerp", lambda a, b, w: mg.lerp(a, b, w), lambda a, b, w: a + w * (b - a),
           many(n(3, 4), n(4), n(3, 1)), True),
    OpCase("lerp_scalar", lambda a, b: a.lerp(b, 0.3), lambda a, b: a + 0.3 * (b - a),
           many(n(3, 4), n(3, 4)), True),
    OpCase("addcmul", lambda a, b, c: a.addcmul(b, c, value=0.5),
           lambda a, b, c: a + 0.5 * b * c, many(n(3, 4), n(3, 4), n(4)), True),
    OpCase("addcdiv", lambda a, b, c: mg.addcdiv(a, b, c, value=-2),
           lambda a, b, c: a - 2 * b / c, many(n(3, 4), n(3, 4), pos(3, 4)), True),
    OpCase("remainder", lambda a, b: a % b, np.remainder, many(off_grid(3, 4), pos(4)), True),
    OpCase("fmod", mg.fmod, np.fmod, many(off_grid(3, 4), pos(4)), True),
    OpCase("floor_divide", lambda a, b: a // b, np.floor_divide,
           many(off_grid(3, 4), pos(4)), True),
    # activations (PyTorch's Mish, Hardsigmoid, Hardswish, CELU, Threshold)
    OpCase("mish", mg.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), many(n(3, 4)), True),
    OpCase("hardsigmoid", mg.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1),
           many(lambda r: r.uniform(-5, 5, (3, 4))), True),
    OpCase("hardswish", mg.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6,
           many(lambda r: r.uniform(-5, 5, (3, 4))), True),
    OpCase("celu", lambda x: mg.celu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7)),
           many(n(3, 4)), True),
    OpCase("threshold", lambda x: mg.threshold(x, 0.1, -2.0),
           lambda x: np.where(x > 0.1, x, -2.0), many(n(3, 4)), True),
    OpCase("erf", mg.erf, np.vectorize(math.erf), many(n(3, 4)), True),
    OpCase("gelu", mg.gelu, lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
           many(n(3, 4)), True),
    OpCase("gelu_tanh", lambda x: mg.gelu(x, approximate="tanh"),
           lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
           many(n(3, 4)), True),
    # linalg
    OpCase("bmm", mg.bmm, np.matmul, many(n(2, 3, 4), n(2, 4, 5)), True),
    OpCase("dot", mg.dot, np.dot, many(n(5), n(5)), True),
    OpCase("mv", mg.mv, np.dot, many(n(3, 4), n(4)), True),
    OpCase("outer", mg.outer, np.outer, many(n(3), n(4)), True),
    OpCase("einsum", lambda a, b: mg.einsum("bij,bkj->bik", a, b),
           lambda a, b: np.einsum("bij,bkj->bik", a, b), many(n(2, 3, 4), n(2, 5, 4)), True),
    OpCase("einsum_reduce", lambda a, b: mg.einsum("ij,k->i", a, b),
           lambda a, b: np.einsum("ij,k->i", a, b), many(n(3, 4), n(2)), True),
    OpCase("triu", lambda a: a.triu(1), lambda a: np.triu(a, 1), many(n(2, 3, 4)), True),
    OpCase("tril", lambda a: mg.tril(a, -1), lambda a: np.tril(a, -1), many(n(4, 3)), True),
    OpCase("diag_of_matrix", lambda a: a.diag(1), lambda a: np.diag(a, 1), many(n(3, 4)), True),
    OpCase("diag_embed_vector", lambda v: mg.diag(v, -1), lambda v: np_diag_embed(v, -1),
           many(n(3)), True),
    OpCase("diagonal", lambda a: a.diagonal(0, 1, 2),
           lambda a: np.diagonal(a, 0, 1, 2), many(n(2, 3, 4)), True),
    OpCase("trace", mg.trace, np.trace, many(n(4, 4)), True),
    # order and selection (values are gathered: the gradient goes back where they came from)
    OpCase("sort", lambda a: a.sort(1, descending=True).values,
           lambda a: -np.sort(-a, axis=1), many(distinct(3, 4)), True),
    OpCase("topk", lambda a: mg.topk(a, 2, dim=0).values,
           lambda a: -np.sort(-a, axis=0)[:2], many(distinct(4, 3)), True),
    OpCase("median", lambda a: a.median(1).values,
           lambda a: np.sort(a, axis=1)[:, 1], many(distinct(3, 4)), True),
    OpCase("roll", lambda a: mg.roll(a, (1, -2), (0, 1)),
           lambda a: np.roll(a, (1, -2), (0, 1)), many(n(3, 4)), True),
    OpCase("narrow", lambda a: a.narrow(1, 1, 2), lambda a: a[:, 1:3], many(n(3, 4)), True),
]
