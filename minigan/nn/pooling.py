"""Pooling and padding layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, and the 2-D padding
layers (ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d), PyTorch's arguments."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import functional as F
from .layers import Upsample
from .module import Module


class MaxPool2d(Module):
    """Max over each window; ``return_indices`` also returns the flat (H*W) arg-max indices."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over each window (zero padding counted in the divisor, PyTorch's default)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        if ceil_mode or not count_include_pad or divisor_override is not None:
            raise NotImplementedError("ceil_mode, count_include_pad=False, divisor_override: "
                                      "not supported")
        self.kernel_size, self.stride = kernel_size, kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average into an ``output_size`` grid of adaptive bins (1 gives global average pooling)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


def _pad4(padding: Any) -> tuple:
    if isinstance(padding, int):
        return (padding,) * 4
    padding = tuple(padding)
    if len(padding) != 4:
        raise ValueError(f"padding: expected an int or (left, right, top, bottom), got {padding}")
    return padding


class _Pad2d(Module):
    _mode = "constant"

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _pad4(padding)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad2d(_Pad2d):
    """Mirror padding without repeating the edge: (a b c) -> (c b | a b c | b a)."""

    _mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """Edge padding: (a b c) -> (a a | a b c | c c)."""

    _mode = "replicate"


class ZeroPad2d(_Pad2d):
    """Zero padding of the last two dims."""


class ConstantPad2d(_Pad2d):
    """Padding with ``value``."""

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class UpsamplingNearest2d(Upsample):
    """PyTorch's older name for ``Upsample(mode='nearest')``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, "nearest")


class UpsamplingBilinear2d(Upsample):
    """PyTorch's older name for ``Upsample(mode='bilinear', align_corners=True)``."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, "bilinear", align_corners=True)
