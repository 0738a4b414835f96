"""Layers with PyTorch's names, parameter layouts and default initialisation: Linear, Conv2d,
ConvTranspose2d, Embedding, shape layers, activations, Dropout, Upsample, and Sequential.

Default init (PyTorch's): weight ~ kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in),
1/sqrt(fan_in)), and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where fan_in is computed from
the weight's layout (for ConvTranspose2d that is out/groups * kh * kw, as in PyTorch).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from .. import ops as _ops
from ..ops.linear_act import linear_act as _linear_act
from ..tensor import Tensor, zeros
from . import functional as F
from . import init as _init
from .module import Module, Parameter


def _new_param(shape: tuple, dtype: Any, device: str) -> Parameter:
    return Parameter(zeros(shape, dtype=dtype, device=device))


def _reset_default(weight: Parameter, bias: Parameter | None) -> None:
    _init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        _init.uniform_(bias, -bound, bound)


def _positive_int(name: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name}: expected a positive int, got {v!r}")
    return v


def _pair(name: str, v: Any) -> tuple:
    pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(pair) != 2:
        raise ValueError(f"{name}: expected an int or a pair of ints, got {v!r}")
    return pair


class Linear(Module):
    """y = x W^T + b, weight (out_features, in_features), bias (out_features,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None, device: str = "cpu") -> None:
        super().__init__()
        self.in_features = _positive_int("in_features", in_features)
        self.out_features = _positive_int("out_features", out_features)
        self.weight = _new_param((out_features, in_features), dtype, device)
        if bias:
            self.bias = _new_param((out_features,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_default(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _ConvNd(Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, groups: int, bias: bool, weight_shape: tuple,
                 dtype: Any, device: str) -> None:
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.groups = _positive_int("groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride, self.padding = _pair("stride", stride), _pair("padding", padding)
        self.dilation = _pair("dilation", dilation)
        self.weight = _new_param(weight_shape + self.kernel_size, dtype, device)
        if bias:
            self.bias = _new_param((out_channels,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_default(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution, weight (out_channels, in_channels/groups, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = None, device: str = "cpu") -> None:
        # padding 'same'/'valid' and padding_mode 'reflect'/'replicate'/'circular' (PyTorch's):
        # the input is padded by F.pad in forward and the convolution itself pads nothing.
        pads = F._conv_pads(padding, padding_mode, kernel_size, stride, dilation)
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         0 if pads or padding == "valid" else padding, dilation, groups, bias,
                         (out_channels, in_channels // groups), dtype, device)
        self._pads, self.padding_mode = pads, padding_mode

    def forward(self, x: Tensor) -> Tensor:
        if self._pads:
            x = F.pad(x, self._pads[0], self._pads[1])
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution, weight (in_channels, out_channels/groups, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, dtype: Any = None, device: str = "cpu") -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, (in_channels, out_channels // groups), dtype, device)
        self.output_padding = _pair("output_padding", output_padding)

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        out_pad = self.output_padding
        if output_size is not None:  # the output_padding that reaches that size, as PyTorch
            out_pad = tuple(int(o) - ((n - 1) * s - 2 * p + d * (k - 1) + 1) for o, n, s, p, d, k in
                            zip(tuple(output_size)[-2:], x.shape[-2:], self.stride, self.padding,
                                self.dilation, self.kernel_size))
            if any(not 0 <= op < max(s, d) for op, s, d in zip(out_pad, self.stride,
                                                                 self.dilation)):
                raise ValueError(f"output_size: {tuple(output_size)} is not reachable from "
                                 f"input {tuple(x.shape)}")
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  out_pad, self.dilation, self.groups)


class Embedding(Module):
    """A lookup table: y = weight[indices], weight (num_embeddings, embedding_dim) ~ N(0, 1)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, dtype: Any = None,
                 device: str = "cpu") -> None:
        super().__init__()
        self.num_embeddings = _positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = _positive_int("embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx: expected a row in [-{num_embeddings}, "
                                 f"{num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("scale_grad_by_freq, sparse: not supported")
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.weight = _new_param((num_embeddings, embedding_dim), dtype, device)
        self.reset_parameters()
        if _weight is not None:
            self.weight.array[...] = _weight.array if isinstance(_weight, Tensor) else _weight
        self.weight.requires_grad = not _freeze

    def reset_parameters(self) -> None:
        _init.normal_(self.weight)
        if self.padding_idx is not None:  # the padding row starts at zero, as in PyTorch
            self.weight.array[self.padding_idx] = 0

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx, self.max_norm,
                           self.norm_type)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


# ---- parameter-free layers ---------------------------------------------------------------------

class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class ReLU(Module):
    """max(x, 0). ``inplace`` is accepted for PyTorch's signature; the result is the same, but
    the input tensor is left as it was (a new tensor is returned)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return _ops.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise (``inplace`` as in ReLU)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Tensor) -> Tensor:
        return _ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return _ops.tanh(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return _ops.sigmoid(x)


class Flatten(Module):
    """Flatten dims start_dim..end_dim into one (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return _ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (e.g. (N, 6272) -> (N, 128, 7, 7))."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        d = self.dim % x.ndim
        if math.prod(self.unflattened_size) != x.shape[d] and -1 not in self.unflattened_size:
            raise ValueError(f"x: dim {self.dim} has size {x.shape[d]}, which cannot be "
                             f"unflattened to {self.unflattened_size}")
        return _ops.reshape(x, x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Inverted dropout in training mode, the identity in evaluation mode (``inplace`` as in
    ReLU)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)


class Dropout2d(Dropout):
    """Zeroes whole channels (N, C, H, W) with probability p, survivors scaled by 1/(1-p)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Upsample(Module):
    """Resize by ``scale_factor`` or to ``size``: mode 'nearest', 'bilinear' or 'bicubic'
    (``align_corners``), see ``F.interpolate``."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        if mode not in ("nearest", "bilinear", "bicubic"):
            raise ValueError(f"mode: expected 'nearest', 'bilinear' or 'bicubic', got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("size, scale_factor: give exactly one of them")
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else \
            f"scale_factor={self.scale_factor}"
        return f"{what}, mode='{self.mode}'"


class PixelShuffle(Module):
    """(N, C r^2, H, W) -> (N, C, H r, W r), sub-pixel upsampling."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = _positive_int("upscale_factor", upscale_factor)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(N, C, H r, W r) -> (N, C r^2, H, W), the inverse of PixelShuffle."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = _positive_int("downscale_factor", downscale_factor)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


# ---- containers ----------------------------------------------------------------------------------


def _fused_act(lin: Module, nxt: Module, x: Any) -> tuple | None:
    """(act, slope) when ``lin`` (a plain Linear) then ``nxt`` can run as one linear_act op:
    an activation it fuses, no hooks on either (a hook must see the layer's own output), and
    an input F.linear would accept (its errors stay F.linear's). Same values and gradients."""
    t = type(nxt)
    if t is ReLU:
        act = ("relu", 0.0)
    elif t is LeakyReLU and nxt.negative_slope >= 0:
        act = ("leaky_relu", float(nxt.negative_slope))
    else:
        return None
    if (lin._forward_pre_hooks or lin._forward_hooks or nxt._forward_pre_hooks
            or nxt._forward_hooks or not isinstance(x, Tensor) or x.ndim != 2):
        return None
    w = lin.weight
    if x.shape[1] != w.shape[1] or x.array.dtype != w.array.dtype:
        return None
    return act


class Sequential(Module):
    """Modules applied in order; ``Sequential(a, b)`` names them "0", "1", ...,
    ``Sequential(OrderedDict(name=module))`` keeps the given names."""

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"modules[{i}]: expected a Module, got {type(m).__name__}")
                self.add_module(str(i), m)

    def forward(self, x: Any) -> Any:
        mods = list(self._modules.values())
        i, n = 0, len(mods)
        while i < n:
            m = mods[i]
            if type(m) is Linear and i + 1 < n:
                act = _fused_act(m, mods[i + 1], x)
                if act is not None:  # Linear then ReLU/LeakyReLU: one op (ops.linear_act)
                    x = _linear_act(x, m.weight, m.bias, *act)
                    i += 2
                    continue
            x = m(x)
            i += 1
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(mods[idx]))
        if not isinstance(idx, int) or not -len(mods) <= idx < len(mods):
            raise IndexError(f"idx: {idx!r} is out of range for a Sequential of {len(mods)}")
        return mods[idx][1]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self
