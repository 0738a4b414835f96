"""Differentiable ops, one family per module. Every public function here is also a Tensor
method when its first argument is a tensor (``t.exp()``, ``t.sum(axis=1)``)."""

from ..tensor import Tensor as _Tensor
from .activation import elu, leaky_relu, log_sigmoid, relu, sigmoid, softplus, tanh
from .conv import conv2d, conv_transpose2d
from .dropout import dropout
from .elementwise import (abs, add, cast, clip, clone, div, exp, log, maximum, minimum, mul, neg,
                          pow, sqrt, sub, to_device, where)
from .loss import (binary_cross_entropy_with_logits, cross_entropy, log_softmax, mse_loss,
                   softmax)
from .matmul import linear, matmul
from .norm import batch_norm, layer_norm
from .pool import avg_pool2d, upsample_nearest
from .compare import (allclose, eq, equal, ge, gt, isfinite, isinf, isnan, le, lt, masked_fill,
                      ne, scatter)
from .reduce import (amax, amin, argmax, argmin, cumsum, logsumexp, max, mean, min, norm, std,
                     sum, var)
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
]

# Tensor methods: t.reshape(2, 3), t.view(...), t.clamp(0, 1), ...
METHODS = {name: globals()[name] for name in __all__
           if name not in ("cat", "concat", "stack", "where")}
METHODS.update(view=reshape, clamp=clip, mm=matmul, split=split, bmm=matmul, clip=clip,
               greater=gt, less=lt, sub=sub, subtract=sub, multiply=mul, divide=div,
               true_divide=div)


# Installed on the class as plain methods: a lookup through Tensor.__getattr__ (which stays as
# the fallback) costs a failed attribute search and a lambda per call (~1 us of a 4x4 op).
for _name, _fn in METHODS.items():
    if not hasattr(_Tensor, _name):
        setattr(_Tensor, _name, _fn)
del _name, _fn
