"""Op-table rows for normalization and dropout: batch_norm (training and evaluation), layer_norm,
dropout with a fixed mask. All are on a discriminator's path, so all are second order."""

import numpy as np

import minigan as mg
from minigan import random as mg_random
from minigan.diagnostics.gradcheck import OpCase
from minigan.ops.dropout import dropout
from minigan.ops.norm import batch_norm, layer_norm

EPS = 1e-5


def np_batch_norm(x, mean, var, w, b):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + EPS) * w.reshape(shape) \
        + b.reshape(shape)


def np_bn_train(x, w, b):
    axes = (0,) + tuple(range(2, x.ndim))
    return np_batch_norm(x, x.mean(axis=axes), x.var(axis=axes), w, b)


def bn_train(x, w, b):
    # Fresh running buffers every call: the in-place statistics update must not change the output.
    c = x.shape[1]
    return batch_norm(x, mg.zeros(c, dtype=x.dtype), mg.ones(c, dtype=x.dtype), w, b,
                      training=True)


def np_layer_norm(x, w, b):
    axes = (-2, -1)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


P_DROP, SEED = 0.3, 7


def seeded_dropout(x):
    # The same mask on every call (gradcheck evaluates the function many times), and the global
    # generator left as it was.
    state = mg_random.get_rng_state()
    mg.manual_seed(SEED)
    try:
        return dropout(x, P_DROP)
    finally:
        mg_random.set_rng_state(state)


def np_dropout(x):
    # The documented draw: float32 uniforms from a fresh default_rng(seed), keep where u >= p.
    u = np.random.default_rng(SEED).random(x.shape, dtype=np.float32)
    return np.where(u >= P_DROP, x / (1 - P_DROP), 0.0)


def bn_inputs(*shape):
    def make(r):
        c = shape[1]
        # scale and shift per channel so statistics differ between channels
        x = r.standard_normal(shape) * r.uniform(0.5, 2.0, (1, c) + (1,) * (len(shape) - 2)) + 0.3
        return [x, r.uniform(0.5, 1.5, c), r.standard_normal(c)]
    return make


def bn_eval_inputs(r):
    x, w, b = bn_inputs(3, 4, 2, 2)(r)
    return [x, w, b, r.standard_normal(4), r.uniform(0.5, 2.0, 4)]


CASES = [
    OpCase("batch_norm_train_2d", bn_train, np_bn_train, bn_inputs(5, 3), True),
    OpCase("batch_norm_train_4d", bn_train, np_bn_train, bn_inputs(3, 4, 2, 3), True),
    OpCase("batch_norm_train_noaffine", lambda x: batch_norm(x, None, None, training=True),
           lambda x: np_bn_train(x, np.ones(x.shape[1]), np.zeros(x.shape[1])),
           lambda r: [bn_inputs(4, 3, 5)(r)[0]], True),
    OpCase("batch_norm_eval",
           lambda x, w, b, m, v: batch_norm(x, m, v, w, b, training=False),
           lambda x, w, b, m, v: np_batch_norm(x, m, v, w, b), bn_eval_inputs, True,
           wrt=[0, 1, 2]),
    OpCase("layer_norm", lambda x, w, b: layer_norm(x, (3, 4), w, b), np_layer_norm,
           lambda r: [r.standard_normal((2, 3, 4)) * 1.5 + 0.2, r.uniform(0.5, 1.5, (3, 4)),
                      r.standard_normal((3, 4))], True),
    OpCase("layer_norm_noaffine", lambda x: layer_norm(x, 5),
           lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + EPS),
           lambda r: [r.standard_normal((4, 5))], True),
    OpCase("dropout", seeded_dropout, np_dropout, lambda r: [r.standard_normal((6, 7))], True),
]
