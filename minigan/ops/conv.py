"""Convolution ops: conv2d and conv_transpose2d, PyTorch semantics and weight layouts.

Three Functions close under differentiation, so every gradient is differentiable again, to any
order (double backprop for WGAN-GP / R1 through a convolutional discriminator):

* ``Conv2d(x, w)``           y = conv(x, w)                      (kernel: conv2d_forward)
* ``ConvTranspose2d(y, w)``  x = conv^T(y, w), the adjoint in x  (kernel: conv2d_backward_data)
* ``Conv2dGradWeight(x, y)`` w = the adjoint of conv in w        (kernel: conv2d_backward_weight)

All three are bilinear and are different "slots" of one trilinear form
<y, conv(x, w)> = <conv^T(y, w), x> = <gradw(x, y), w>, so the backward of each is the other
two: d/dx of conv is conv^T, d/dw of conv is gradw, and so on.

conv2d's bias goes through ``Conv2dBias``: one kernel for conv + bias and one for the weight and
bias gradients (native fuses them: the add rides on the output store, the bias gradient on the
weight gradient's pass over g). conv_transpose2d's bias is a ``ChannelBias`` on the result.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

from ..function import Function
from ..kernels import bias_act as _bias_act_kernels  # noqa: F401  (defines the kernels)
from ..kernels import conv as _conv_kernels  # noqa: F401  (defines the conv kernels)
from ..kernels import registry
from ..tensor import Tensor, is_grad_enabled
from .shape import expand, pad, reshape


def _kernel(name: str, a: Any):
    """The ``name`` kernel of the backend in use, for the device ``a`` lives on."""
    device = "cpu" if type(a).__module__ == "numpy" else "cuda"
    return registry.get(name, device)


class Conv2d(Function):
    """y = conv(x, w); dx = conv^T(g, w), dw = gradw(x, g)."""

    @staticmethod
    def forward(ctx, x, w, stride, padding, dilation, groups):
        ctx.geom = (stride, padding, dilation, groups)
        ctx.save_for_backward(x, w)
        return _kernel("conv2d_forward", x)(x, w, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[:2]
        gx = ConvTranspose2d.apply(g, w, x.shape, *ctx.geom) if nx else None
        gw = Conv2dGradWeight.apply(x, g, w.shape, *ctx.geom) if nw else None
        return gx, gw, None, None, None, None


class Conv2dBias(Function):
    """y = conv(x, w) + b in one kernel; dx = conv^T(g, w), and (dw, db) in one pass over g.
    When a graph of the gradient is asked for (double backprop), dw and db come from the
    differentiable Conv2dGradWeight and ChannelSum instead."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.geom = (stride, padding, dilation, groups)
        ctx.save_for_backward(x, w)
        return _kernel("conv2d_forward_bias", x)(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        gx = ConvTranspose2d.apply(g, w, x.shape, *ctx.geom) if nx else None
        if nw and nb and not is_grad_enabled():
            kernel = _kernel("conv2d_backward_weight_bias", x.array)
            gw, gb = kernel(g.array, x.array, w.shape, *ctx.geom)
            return gx, Tensor(gw), Tensor(gb), None, None, None, None
        gw = Conv2dGradWeight.apply(x, g, w.shape, *ctx.geom) if nw else None
        gb = ChannelSum.apply(g) if nb else None
        return gx, gw, gb, None, None, None, None


class ConvTranspose2d(Function):
    """x = conv^T(y, w) with x of shape ``x_shape``; dy = conv(g, w), dw = gradw(g, y)."""

    @staticmethod
    def forward(ctx, y, w, x_shape, stride, padding, dilation, groups):
        ctx.geom = (stride, padding, dilation, groups)
        ctx.save_for_backward(y, w)
        return _kernel("conv2d_backward_data", y)(y, w, x_shape, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        y, w = ctx.saved_tensors
        ny, nw = ctx.needs_input_grad[:2]
        gy = Conv2d.apply(g, w, *ctx.geom) if ny else None
        gw = Conv2dGradWeight.apply(g, y, w.shape, *ctx.geom) if nw else None
        return gy, gw, None, None, None, None, None


class Conv2dGradWeight(Function):
    """w = gradw(x, y), the weight gradient of conv at x for output gradient y;
    dx = conv^T(y, g), dy = conv(x, g)."""

    @staticmethod
    def forward(ctx, x, y, w_shape, stride, padding, dilation, groups):
        ctx.geom = (stride, padding, dilation, groups)
        ctx.save_for_backward(x, y)
        kernel = _kernel("conv2d_backward_weight", x)
        return kernel(y, x, w_shape, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad[:2]
        gx = ConvTranspose2d.apply(y, g, x.shape, *ctx.geom) if nx else None
        gy = Conv2d.apply(x, g, *ctx.geom) if ny else None
        return gx, gy, None, None, None, None, None


# ---- argument checking ------------------------------------------------------------------------

def _pair(name: str, v: Any, low: int) -> tuple[int, int]:
    pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(pair) != 2 or not all(isinstance(p, Integral) and not isinstance(p, bool)
                                 for p in pair):
        raise TypeError(f"{name}: expected an int or a pair of ints, got {v!r}")
    if min(pair) < low:
        raise ValueError(f"{name}: expected values >= {low}, got {v!r}")
    return int(pair[0]), int(pair[1])


def _check_tensors(op: str, x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    for name, t in (("input", x), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim != 4:
            raise ValueError(f"{op}: {name} must be 4-D, got shape {t.shape}")
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be floating point, got {t.dtype}")
    if weight.dtype != x.dtype:
        raise TypeError(f"{op}: weight dtype {weight.dtype} differs from input dtype {x.dtype}")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__}")
        if bias.dtype != x.dtype:
            raise TypeError(f"{op}: bias dtype {bias.dtype} differs from input dtype {x.dtype}")


def _check_groups(groups: Any) -> int:
    if not isinstance(groups, Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups: expected a positive int, got {groups!r}")
    return int(groups)


class ChannelBias(Function):
    """y = x + b[None, :, None, None]; dx = g, db = ChannelSum(g). One pass each way through
    the bias_act kernels (native: bias add 0.04 ms, bias gradient 0.07 ms on a 64x128x7x7
    gradient, against 0.08 / 0.16 ms for a broadcast add and NumPy's sum over axes (0, 2, 3))."""

    @staticmethod
    def forward(ctx, x, b):
        return _kernel("bias_act", x)(x, b, "none", 0.0, 1)

    @staticmethod
    def backward(ctx, g):
        return g, (ChannelSum.apply(g) if ctx.needs_input_grad[1] else None)


class ChannelSum(Function):
    """s[c] = sum of g over every axis but 1; its gradient broadcasts back over those axes."""

    @staticmethod
    def forward(ctx, g):
        ctx.shape = g.shape
        return _kernel("bias_act_backward", g)(g, g, "none", 0.0, 1, need_bias=True)[1]

    @staticmethod
    def backward(ctx, gg):
        return expand(reshape(gg, (1, -1) + (1,) * (len(ctx.shape) - 2)), ctx.shape)


def _add_bias(y: Tensor, bias: Tensor | None, op: str) -> Tensor:
    if bias is None:
        return y
    if bias.shape != (y.shape[1],):
        raise ValueError(f"{op}: bias must have shape ({y.shape[1]},) (one per output channel), "
                         f"got {bias.shape}")
    return ChannelBias.apply(y, bias)


# ---- public functions -------------------------------------------------------------------------

def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) over x (N, C, H, W) with weight
    (O, C/groups, kh, kw) and optional bias (O,):

        y[n, o, p, q] = b[o] + sum_{c, i, j} x[n, g*C/G + c, p*sh - ph + i*dh, q*sw - pw + j*dw]
                               * w[o, c, i, j]

    (x is zero outside the image, g is the group of channel o). Output (N, O, OH, OW) with
    OH = (H + 2*ph - dh*(kh-1) - 1) // sh + 1. stride/padding/dilation: int or (h, w) pair."""
    _check_tensors("conv2d", x, weight, bias)
    geom = (_pair("stride", stride, 1), _pair("padding", padding, 0),
            _pair("dilation", dilation, 1), _check_groups(groups))
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"conv2d: bias must have shape ({weight.shape[0]},) (one per output "
                             f"channel), got {bias.shape}")
        return Conv2dBias.apply(x, weight, bias, *geom)
    return _add_bias(Conv2d.apply(x, weight, *geom), bias, "conv2d")


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, dilation: Any = 1,
                     groups: int = 1) -> Tensor:
    """Transposed 2-D convolution (the adjoint of conv2d in its input), PyTorch semantics:
    x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,):

        y[n, g*C_out/G + o, h*sh - ph + i*dh, w*sw - pw + j*dw] += x[n, c, h, w] * w[c, o, i, j]

    (c in group g; entries landing outside the output are dropped). Output (N, C_out, OH, OW),
    OH = (H-1)*sh - 2*ph + dh*(kh-1) + output_padding_h + 1: output_padding adds rows at the
    bottom/right (it must be smaller than stride or dilation, as in PyTorch)."""
    _check_tensors("conv_transpose2d", x, weight, bias)
    s, p = _pair("stride", stride, 1), _pair("padding", padding, 0)
    op, d = _pair("output_padding", output_padding, 0), _pair("dilation", dilation, 1)
    groups = _check_groups(groups)
    for a in range(2):
        if op[a] >= s[a] and op[a] >= d[a]:
            raise ValueError(f"output_padding: must be smaller than stride or dilation, got "
                             f"output_padding={op}, stride={s}, dilation={d}")
    cin, cout_g, kh, kw = weight.shape
    if x.shape[1] != cin:
        raise ValueError(f"conv_transpose2d: input has {x.shape[1]} channels but weight "
                         f"{weight.shape} expects {cin} (weight.shape[0])")
    if cin % groups:
        raise ValueError(f"conv_transpose2d: {cin} input channels are not divisible by "
                         f"groups={groups}")
    out_hw = [(x.shape[2 + a] - 1) * s[a] - 2 * p[a] + d[a] * ((kh, kw)[a] - 1) + op[a] + 1
              for a in range(2)]
    if min(out_hw) < 1:
        raise ValueError(f"conv_transpose2d: output size {tuple(out_hw)} is not positive "
                         f"(input {x.shape}, weight {weight.shape}, stride {s}, padding {p})")
    out_shape = (x.shape[0], cout_g * groups, *out_hw)
    # The output's convolution gives back H + output_padding // stride positions. Where
    # output_padding >= stride (allowed when it is < dilation), those extra positions are inputs
    # that are zero; padding x with them keeps the kernel's shape contract exact.
    extra = [op[a] // s[a] for a in range(2)]
    if any(extra):
        x = pad(x, [(0, 0), (0, 0), (0, extra[0]), (0, extra[1])])
    y = ConvTranspose2d.apply(x, weight, out_shape, s, p, d, groups)
    return _add_bias(y, bias, "conv_transpose2d")
