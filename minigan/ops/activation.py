"""Activations. Each backward is written from the saved output or input with differentiable ops,
so the discriminator's path differentiates twice (gradient penalties)."""

from __future__ import annotations

from ..function import Function
from ..tensor import Tensor, array_module
from .elementwise import const, where


def _stable_sigmoid(xp, x):
    # exp of a non-positive number only: no overflow for |x| up to the dtype's max.
    e = xp.exp(-abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.mask = (x > 0).astype(x.dtype)
        return x * ctx.mask

    @staticmethod
    def backward(ctx, g):
        return g * const(ctx.mask)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, x, slope):
        xp = array_module(x)
        ctx.scale = xp.where(x > 0, 1, slope).astype(x.dtype)
        return x * ctx.scale

    @staticmethod
    def backward(ctx, g):
        return g * const(ctx.scale), None


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = _stable_sigmoid(array_module(x), x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


class Softplus(Function):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): exact and overflow-free."""

    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        ctx.save_for_backward(x)
        return (xp.maximum(x, 0) + xp.log1p(xp.exp(-abs(x)))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * sigmoid(x)


class ELU(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        xp = array_module(x)
        ctx.alpha = alpha
        ctx.pos = x > 0
        y = xp.where(ctx.pos, x, alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        # d/dx = 1 for x > 0, else alpha e^x = y + alpha.
        return g * where(ctx.pos, 1.0, y + ctx.alpha), None


def relu(x: Tensor) -> Tensor:
    """max(x, 0); gradient 1 where x > 0, else 0."""
    return ReLU.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    return LeakyReLU.apply(x, negative_slope)


def tanh(x: Tensor) -> Tensor:
    """tanh x; d/dx = 1 - tanh^2 x."""
    return Tanh.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x); d/dx = s (1 - s)."""
    return Sigmoid.apply(x)


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x); d/dx = sigmoid(x)."""
    return Softplus.apply(x)


def log_sigmoid(x: Tensor) -> Tensor:
    """log sigmoid(x) = -softplus(-x); stable for large |x|."""
    return -softplus(-x)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return ELU.apply(x, alpha)
