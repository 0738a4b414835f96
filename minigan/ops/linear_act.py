"""Fused Linear + bias + activation: y = act(x W^T + b), act in {none, relu, leaky_relu}.

One op where a Linear followed by ReLU/LeakyReLU records two (Linear, then the activation) and
their backward five (the activation's gradient, two products, a bias sum, plus the activation's
op). The math is that of the two ops, term for term:

    z = x W^T + b,   y = act(z)                      (bias_act kernel: one pass over z)
    gz = gy * act'(y)                                 (act' read from y: slope >= 0, see below)
    gx = gz W,   gW = gz^T x,   gb = sum_rows gz

Backward has two paths with the same arithmetic. With grad mode off (an ordinary backward) it
works on the arrays directly: one bias_act_backward pass gives gz and gb together, then the two
products -- no op objects, which is what an MLP step on 256 x 128 tensors mostly paid for. With
grad mode on (``create_graph=True``: R1, WGAN-GP, DRAGAN) it is built from differentiable ops
(ActivationGrad, MatMul, sum), so gradients of gradients work exactly as through the separate
Linear and activation.

act'(y) is read from the output, as the activations do: with slope >= 0, y > 0 exactly where
z > 0. A negative slope is refused (use linear and leaky_relu).
"""

from __future__ import annotations

from .. import tensor as _t
from ..function import Function
from ..tensor import Tensor
from .activation import ActivationGrad, _kernel
from .matmul import MatMul, dot
from .reduce import sum as _sum
from .shape import reshape

ACTS = ("none", "relu", "leaky_relu")


class LinearAct(Function):
    """y = act(x W^T + b) for x (N, in), W (out, in), b (out,) or None."""

    @staticmethod
    def forward(ctx, x, w, b, act, slope):
        ctx.act, ctx.slope = act, slope
        z = dot(x, w.T)
        if act == "none" and b is None:
            y = z
        else:
            # One pass over the product adds the bias and applies the activation.
            y = _kernel("bias_act", z)(z, b, act, slope, 1)
        ctx.save_for_backward(x, w, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w, y = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        act, slope = ctx.act, ctx.slope
        if not _t._GRAD_ENABLED[0]:
            # Plain backward: arrays only, the same products as the recorded path below.
            g, ya = gy.array, y.array
            if act == "none":
                gz, gb = g, (g.sum(0) if nb else None)
            else:
                gz, gb = _kernel("bias_act_backward", g)(g, ya, act, slope, 1, need_bias=nb)
            return (Tensor(dot(gz, w.array)) if nx else None,
                    Tensor(dot(gz.T, x.array)) if nw else None,
                    Tensor(gb) if nb else None, None, None)
        gz = gy if act == "none" else ActivationGrad.apply(gy, y, act, slope)
        return (MatMul.apply(gz, w) if nx else None,
                MatMul.apply(gz, x, True, False) if nw else None,
                _sum(gz, 0) if nb else None, None, None)


def linear_act(x: Tensor, weight: Tensor, bias: Tensor | None = None, act: str = "none",
               negative_slope: float = 0.0) -> Tensor:
    """act(x @ weight^T + bias) in one op; act is "none", "relu" or "leaky_relu" (with
    ``negative_slope`` >= 0). Same values and gradients (any order) as
    ``leaky_relu(linear(x, weight, bias), negative_slope)``; x may have leading batch axes."""
    if act not in ACTS:
        raise ValueError(f"act: expected one of {', '.join(ACTS)}, got {act!r}")
    slope = 0.0 if act == "relu" else float(negative_slope)
    if not slope >= 0:
        raise ValueError(f"negative_slope: expected >= 0 (the backward reads the sign of the "
                         f"output), got {negative_slope!r}")
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear_act: input has {x.shape[-1] if x.ndim else None} features, "
                         f"weight expects {weight.shape[-1]} (weight shape {weight.shape})")
    if x.array.dtype != weight.array.dtype or (bias is not None
                                               and bias.array.dtype != weight.array.dtype):
        raise TypeError(f"linear_act: input dtype {x.dtype}, weight {weight.dtype} and bias "
                        f"{None if bias is None else bias.dtype} must be one dtype")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"bias: expected shape ({weight.shape[0]},), got {bias.shape}")
    if x.ndim == 2:
        return LinearAct.apply(x, weight, bias, act, slope)
    lead = x.shape[:-1]
    y = LinearAct.apply(reshape(x, (-1, x.shape[-1])), weight, bias, act, slope)
    return reshape(y, lead + (weight.shape[0],))
