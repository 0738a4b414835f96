"""Differentiable ops, one family per module. Every public function here is also a Tensor
method when its first argument is a tensor (``t.exp()``, ``t.sum(axis=1)``)."""

from ..tensor import Tensor as _Tensor
from .activation import (celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu,
                         log_sigmoid, mish, prelu, relu, selu, sigmoid, silu, softplus,
                         softplus_beta, tanh, threshold)
from .conv import conv2d, conv_transpose2d
from .dropout import dropout
from .elementwise import (abs, add, cast, clip, clone, div, exp, log, maximum, minimum, mul, neg,
                          pow, sqrt, sub, to_device, where)
from .gan_loss import composed_gan_loss, gan_loss
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, kl_div,
                   l1_loss, log_softmax, mse_loss, nll_loss, smooth_l1_loss, softmax)
from .linalg import bmm, diag, diagonal, dot, einsum, mv, outer, trace, tril, triu
from .linear_act import linear_act
from .matmul import linear, matmul
from .norm import batch_norm, group_norm, instance_norm, layer_norm
from .pointwise import (addcdiv, addcmul, all, any, ceil, cos, count_nonzero, erf, expm1, floor,
                        floor_divide, fmod, frac, isclose, lerp, log1p, logical_and, logical_not,
                        logical_or, logical_xor, reciprocal, remainder, round, rsqrt, sign, sin,
                        square, trunc)
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d, upsample_nearest
from .compare import (allclose, eq, equal, ge, gt, isfinite, isinf, isnan, le, lt, masked_fill,
                      ne, scatter)
from .reduce import (amax, amin, argmax, argmin, cumsum, logsumexp, max, mean, min, norm, prod,
                     std, sum, var)
from .resample import interpolate, pixel_shuffle, pixel_unshuffle
from .sort import argsort, median, narrow, nonzero, roll, sort, topk
from .sq_norm import mean_sq_norm
from .shape import (cat, chunk, concat, expand, flatten, flip, gather, getitem, index_select, pad,
                    permute, repeat, reshape, split, squeeze, stack, sum_to, t, transpose, unbind,
                    unsqueeze)

__all__ = [
    "avg_pool2d", "conv2d", "conv_transpose2d", "upsample_nearest",
    "batch_norm", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "layer_norm",
    "log_softmax", "mse_loss", "softmax",
    "abs", "add", "cast", "cat", "clip", "clone", "concat", "div", "elu", "exp", "expand",
    "flatten", "getitem", "leaky_relu", "linear", "log", "log_sigmoid", "logsumexp", "matmul",
    "max", "maximum", "mean", "min", "minimum", "mul", "neg", "pad", "permute", "pow", "relu",
    "reshape", "sigmoid", "softplus", "split", "sqrt", "squeeze", "stack", "std", "sub", "sum",
    "sum_to", "tanh", "to_device", "transpose", "unsqueeze", "var", "where",
    # PyTorch's tensor API (issue 13)
    "allclose", "amax", "amin", "argmax", "argmin", "chunk", "cumsum", "eq", "equal", "flip",
    "gather", "ge", "gt", "index_select", "isfinite", "isinf", "isnan", "le", "lt",
    "masked_fill", "ne", "norm", "repeat", "scatter", "t", "unbind",
    "adaptive_avg_pool2d", "binary_cross_entropy", "composed_gan_loss", "gan_loss",
    "group_norm", "hardtanh", "instance_norm", "interpolate", "kl_div", "l1_loss", "max_pool2d",
    "nll_loss", "pixel_shuffle", "pixel_unshuffle", "prelu", "prod", "selu", "silu",
    "smooth_l1_loss", "softplus_beta",
    "addcdiv", "addcmul", "all", "any", "argsort", "bmm", "ceil", "cos", "count_nonzero", "diag",
    "diagonal", "dot", "einsum", "expm1", "floor", "floor_divide", "fmod", "frac", "isclose",
    "lerp", "log1p", "logical_and", "logical_not", "logical_or", "logical_xor", "median", "mv",
    "narrow", "nonzero", "outer", "reciprocal", "remainder", "roll", "round", "rsqrt", "sign",
    "sin", "sort", "square", "topk", "trace", "tril", "triu", "trunc", "celu", "hardsigmoid",
    "hardswish", "mish", "threshold", "erf", "gelu",
    # fused ops of the training step (not PyTorch's names; not Tensor methods)
    "linear_act", "mean_sq_norm",
]
# Functions of these modules that are helpers for other ops, not ops (tests/ops checks that
# every other public function is in __all__).
HELPERS = ("const", "cubic_weights", "pad_by_index", "pad_index", "reduce_grad")

# Tensor methods: t.reshape(2, 3), t.view(...), t.clamp(0, 1), ...
METHODS = {name: globals()[name] for name in __all__
           if name not in ("cat", "concat", "stack", "where", "gan_loss", "composed_gan_loss",
                           "linear_act", "mean_sq_norm", "einsum")}
METHODS.update(view=reshape, clamp=clip, mm=matmul, split=split, clip=clip,
               greater=gt, less=lt, sub=sub, subtract=sub, multiply=mul, divide=div,
               true_divide=div)


# Installed on the class as plain methods: a lookup through Tensor.__getattr__ (which stays as
# the fallback) costs a failed attribute search and a lambda per call (~1 us of a 4x4 op).
for _name, _fn in METHODS.items():
    if not hasattr(_Tensor, _name):
        setattr(_Tensor, _name, _fn)
del _name, _fn
