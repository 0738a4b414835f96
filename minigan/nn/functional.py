"""``mg.nn.functional`` (import as F): the stateless ops behind the layers, with PyTorch's names.

Most are re-exports of ``minigan.ops``; ``embedding``, ``pad`` (PyTorch's last-dim-first pad
spec) and ``interpolate`` are defined here. Convolution and pooling resolve lazily, so this module
imports even where ``minigan.ops.conv`` / ``minigan.ops.pool`` are unavailable.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from ..ops.activation import elu, leaky_relu, log_sigmoid, relu, sigmoid, softplus, tanh
from ..ops.dropout import dropout
from ..ops.loss import binary_cross_entropy_with_logits, cross_entropy, log_softmax, mse_loss
from ..ops.loss import softmax
from ..ops.matmul import linear
from ..ops.norm import batch_norm, layer_norm
from ..ops.shape import getitem
from ..ops.shape import pad as _np_pad
from ..tensor import Tensor, array_module, host_values

__all__ = [
    "avg_pool2d", "batch_norm", "binary_cross_entropy_with_logits", "conv2d", "conv_transpose2d",
    "cross_entropy", "dropout", "elu", "embedding", "interpolate", "layer_norm", "leaky_relu",
    "linear", "log_sigmoid", "log_softmax", "mse_loss", "pad", "relu", "sigmoid", "softmax",
    "softplus", "tanh", "upsample_nearest",
]


def _ops_module(name: str) -> Any:
    return importlib.import_module(f"minigan.ops.{name}")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation); see ``minigan.ops.conv.conv2d``."""
    return _ops_module("conv").conv2d(x, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, dilation: Any = 1,
                     groups: int = 1) -> Tensor:
    """Transposed 2-D convolution; see ``minigan.ops.conv.conv_transpose2d``."""
    return _ops_module("conv").conv_transpose2d(x, weight, bias, stride, padding,
                                                output_padding, dilation, groups)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Average pooling; see ``minigan.ops.pool.avg_pool2d``."""
    return _ops_module("pool").avg_pool2d(x, kernel_size, stride, padding)


def upsample_nearest(x: Tensor, scale_factor: Any) -> Tensor:
    """Nearest-neighbour upsampling by integer factors; see ``minigan.ops.pool``."""
    return _ops_module("pool").upsample_nearest(x, scale_factor)


def interpolate(x: Tensor, size: Any = None, scale_factor: Any = None,
                mode: str = "nearest") -> Tensor:
    """Resize (N, C, H, W) input, nearest-neighbour only: by integer ``scale_factor``, or to a
    ``size`` (int or (h, w)) that is an integer multiple of the input's."""
    if mode != "nearest":
        raise ValueError(f"mode: only 'nearest' is supported, got {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError("size, scale_factor: give exactly one of them")
    if size is not None:
        if x.ndim != 4:
            raise ValueError(f"x: expected 4-D input (N, C, H, W), got shape {x.shape}")
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if len(hw) != 2 or any(s % n for s, n in zip(hw, x.shape[2:])):
            raise ValueError(f"size: nearest upsampling needs integer multiples of the input "
                             f"size {x.shape[2:]}, got {size!r}")
        scale_factor = tuple(s // n for s, n in zip(hw, x.shape[2:]))
    elif isinstance(scale_factor, float) and scale_factor.is_integer():
        scale_factor = int(scale_factor)
    return upsample_nearest(x, scale_factor)


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """PyTorch-style constant padding: ``pad = (left, right, top, bottom, ...)`` pads the last
    dim by (left, right), the one before by (top, bottom), and so on."""
    if mode != "constant":
        raise ValueError(f"mode: only 'constant' padding is supported, got {mode!r}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of sizes, at most 2 per dim of a "
                         f"{x.ndim}-D input, got {pad}")
    if any(not isinstance(p, int) or p < 0 for p in pad):
        raise ValueError(f"pad: expected non-negative ints, got {pad}")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return _np_pad(x, widths, value)


def embedding(indices: Any, weight: Tensor) -> Tensor:
    """Row gather y[..., :] = weight[indices[...], :] (shape indices.shape + (dim,)). The
    backward scatters the gradient back to the rows, summing over repeated indices."""
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"weight: expected a 2-D Tensor (num_embeddings, dim), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    idx = indices.array if isinstance(indices, Tensor) else indices
    idx = array_module(weight.array).asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices: expected integer indices, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size:
        lo, hi = (int(v) for v in host_values(idx.min(), idx.max()))  # one copy on a GPU
        if lo < 0 or hi >= n:
            raise ValueError(f"indices: expected values in [0, {n}), got range [{lo}, {hi}]")
    return getitem(weight, idx)
