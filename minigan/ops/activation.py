"""Activations. Each backward is written from the saved output or input with differentiable ops,
so the discriminator's path differentiates twice (gradient penalties)."""

from __future__ import annotations

from ..function import Function
from ..kernels import bias_act as _bias_act_kernels  # noqa: F401  (defines the kernels)
from ..kernels import registry
from ..tensor import Tensor, array_module
from .elementwise import const, where


def _stable_sigmoid(xp, x):
    # exp of a non-positive number only: no overflow for |x| up to the dtype's max.
    e = xp.exp(-abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _kernel(name: str, a):
    """The ``name`` kernel of the backend in use, for the device ``a`` lives on."""
    return registry.get(name, "cpu" if type(a).__module__ == "numpy" else "cuda")


# Up to this many elements the kernels' argument handling costs more than the arithmetic:
# NumPy directly (per-op autograd overhead on 4x4 tensors, benchmarks/bench_ops.py).
_SMALL = 4096


def _small_forward(xp, x, slope: float):
    return xp.maximum(x, 0) if slope == 0 else xp.where(x > 0, x, x * x.dtype.type(slope))


class _PiecewiseLinear(Function):
    """relu (slope 0) and leaky_relu (slope >= 0) through the bias_act kernels: one fused pass
    forward (native: 0.2 ms instead of 1.7 ms for where + astype + multiply on 800k floats) and
    one backward, which reads the derivative from the saved output (y > 0 exactly where x > 0
    when slope >= 0). A negative slope keeps the input's mask instead."""

    @staticmethod
    def forward(ctx, x, act, slope):
        ctx.act, ctx.slope = act, slope
        xp = array_module(x)
        if slope < 0:  # the output's sign no longer tells the input's
            ctx.scale = xp.where(x > 0, 1, slope).astype(x.dtype)
            return x * ctx.scale
        if x.size <= _SMALL:
            y = _small_forward(xp, x, slope)
        else:
            # As (1, size) with channel axis 0: any shape (0-d included) is then one channel,
            # one contiguous run for the kernel's (outer, C, inner) loops (a flat array on axis
            # 0 would be `size` channels of one element each: 20x slower in native).
            y = _kernel("bias_act", x)(x.reshape(1, -1), None, act, slope, 0).reshape(x.shape)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.slope < 0:
            return g * const(ctx.scale), None, None
        (y,) = ctx.saved_tensors
        return ActivationGrad.apply(g, y, ctx.act, ctx.slope), None, None


class ReLU(_PiecewiseLinear):
    pass


class LeakyReLU(_PiecewiseLinear):
    pass


class ActivationGrad(Function):
    """g * act'(y) for relu/leaky_relu. Linear in g with the same mask, so its gradient in g is
    itself; act' is piecewise constant, so the gradient in y is zero (None)."""

    @staticmethod
    def forward(ctx, g, y, act, slope):
        ctx.act, ctx.slope = act, slope
        ctx.save_for_backward(y)
        if g.size <= _SMALL:
            if slope == 0:  # one multiply by the boolean mask (half the time of a where)
                return g * (y > 0)
            return g * array_module(y).where(y > 0, y.dtype.type(1), y.dtype.type(slope))
        gx, _ = _kernel("bias_act_backward", g)(g.reshape(1, -1), y.reshape(1, -1), act, slope,
                                                0, need_bias=False)
        return gx.reshape(y.shape)

    @staticmethod
    def backward(ctx, gg):
        (y,) = ctx.saved_tensors
        return ActivationGrad.apply(gg, y, ctx.act, ctx.slope), None, None, None


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
    return ReLU.apply(x, "relu", 0.0)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    return LeakyReLU.apply(x, "leaky_relu", float(negative_slope))


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


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, a_c x otherwise, a learned slope per channel (dim 1) or one shared:
    written max(x, 0) - a max(-x, 0), so the slope's gradient is min(x, 0) summed."""
    if weight.ndim != 1:
        raise ValueError(f"weight: expected a 1-D slope tensor, got shape {weight.shape}")
    if weight.array.dtype != x.array.dtype:  # as PyTorch: no silent promotion into a layer
        raise TypeError(f"prelu: input dtype {x.dtype} differs from weight dtype {weight.dtype}")
    a = weight
    if weight.shape[0] != 1:
        if x.ndim < 2 or x.shape[1] != weight.shape[0]:
            raise ValueError(f"weight: {weight.shape[0]} slopes need input with that many "
                             f"channels (dim 1), got shape {x.shape}")
        a = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return relu(x) - a * relu(-x)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clamped to [min_val, max_val]; gradient 1 strictly inside, 0 outside."""
    from .elementwise import clip
    if min_val > max_val:
        raise ValueError(f"min_val: must not exceed max_val, got {min_val} > {max_val}")
    return clip(x, min_val, max_val)


def softplus_beta(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """PyTorch's softplus: log(1 + e^(beta x)) / beta, and x itself where beta x > threshold."""
    if beta == 1.0 and threshold == float("inf"):
        return softplus(x)
    return where(x.array * beta > threshold, x, softplus(x * beta) / beta)


def silu(x: Tensor) -> Tensor:
    """x sigmoid(x) (swish)."""
    return x * sigmoid(x)


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalizing constants of Klambauer et al."""
    return 1.0507009873554804934193349852946 * elu(x, 1.6732632423543772848170429916717)


def mish(x: Tensor) -> Tensor:
    """x tanh(softplus(x)) (Misra 2019), PyTorch's softplus threshold 20."""
    return x * tanh(softplus_beta(x))


def hardsigmoid(x: Tensor) -> Tensor:
    """clip(x / 6 + 1/2, 0, 1)."""
    return hardtanh(x / 6.0 + 0.5, 0.0, 1.0)


def hardswish(x: Tensor) -> Tensor:
    """x relu6(x + 3) / 6; d/dx = (2x + 3) / 6 on (-3, 3)."""
    return x * hardtanh(x + 3.0, 0.0, 6.0) / 6.0


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (e^(x / alpha) - 1) otherwise."""
    from .pointwise import expm1

    if alpha == 0:
        raise ValueError("alpha: must not be 0 for celu")
    return where(x.array > 0, x, expm1(x / alpha) * alpha)


def threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    """x where x > threshold, else ``value``."""
    return where(x.array > threshold, x, const(array_module(x.array).full(x.shape, value,
                                                                          dtype=x.dtype)))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (Hendrycks & Gimpel); ``approximate='tanh'``:
    x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2."""
    if approximate == "tanh":
        return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * (x * x * x))))
    if approximate != "none":
        raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
    from .pointwise import erf

    return x * 0.5 * (1.0 + erf(x * 0.7071067811865476))
