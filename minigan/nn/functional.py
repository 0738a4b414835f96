"""``mg.nn.functional`` (import as F): the stateless ops behind the layers, with PyTorch's names.

Most are re-exports of ``minigan.ops``; ``embedding``, ``pad`` (PyTorch's last-dim-first pad
spec, constant or by index), ``softmax``/``log_softmax`` (``dim``) and ``dropout2d`` are
defined here. Convolution and pooling resolve lazily, so this module
imports even where ``minigan.ops.conv`` / ``minigan.ops.pool`` are unavailable.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from typing import Any

from ..ops import padding as _padding
from ..ops import resample as _resample
from ..ops import activation as _act
from ..ops.activation import log_sigmoid, prelu, sigmoid, softplus_beta, tanh
from ..ops.dropout import dropout as _dropout
from ..ops.elementwise import abs as _abs
from ..ops.elementwise import maximum as _maximum
from ..ops.reduce import sum as _sum
from ..ops.elementwise import cast
from ..ops import loss as _loss
from ..ops.loss import log_softmax as _log_softmax
from ..ops.loss import softmax as _softmax
from ..ops.matmul import linear
from ..ops.norm import batch_norm, group_norm, instance_norm, layer_norm
from ..ops.resample import pixel_shuffle, pixel_unshuffle
from ..ops.shape import getitem
from ..ops.shape import pad as _np_pad
from ..tensor import Tensor, array_module, host_values

__all__ = [
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "celu", "conv2d", "conv_transpose2d",
    "cosine_similarity", "cross_entropy", "dropout", "dropout1d", "dropout2d", "elu",
    "embedding", "gelu", "group_norm", "hardsigmoid", "hardswish", "hardtanh", "instance_norm",
    "interpolate", "kl_div", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_sigmoid",
    "log_softmax", "max_pool2d", "mish", "mse_loss", "nll_loss", "normalize", "one_hot", "pad",
    "pairwise_distance", "pixel_shuffle", "pixel_unshuffle", "prelu", "relu", "relu6", "selu",
    "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus", "tanh", "threshold", "upsample",
    "upsample_nearest",
]


def _legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """PyTorch's deprecated (size_average, reduce) pair as a reduction: reduce=False gives
    'none', else size_average=False gives 'sum', else 'mean'; neither given: ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _with_legacy_reduction(fn: Any) -> Any:
    """The loss ``fn`` also taking ``size_average=``/``reduce=`` (old GAN code passes them)."""
    def loss(*args: Any, size_average: Any = None, reduce: Any = None, **kwargs: Any) -> Tensor:
        if size_average is not None or reduce is not None:
            kwargs["reduction"] = _legacy_reduction(size_average, reduce, "mean")
        return fn(*args, **kwargs)
    functools.update_wrapper(loss, fn)
    del loss.__wrapped__  # inspect.signature shows the loss's own arguments plus these two
    return loss


(binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, kl_div, l1_loss, mse_loss,
 nll_loss, smooth_l1_loss) = (_with_legacy_reduction(getattr(_loss, n)) for n in (
     "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "kl_div",
     "l1_loss", "mse_loss", "nll_loss", "smooth_l1_loss"))


# Activations and dropout with PyTorch's ``inplace`` flag: accepted, same result; a new tensor
# is returned and the input is left as it was (minigan's graph has no in-place rewrites).

def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return _act.relu(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    return _act.leaky_relu(x, negative_slope)


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return _act.elu(x, alpha)


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha), the self-normalizing constants."""
    return _act.selu(x)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x sigmoid(x)."""
    return _act.silu(x)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]."""
    return _act.hardtanh(x, min_val, max_val)


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    return _act.hardtanh(x, 0.0, 6.0)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x), or its tanh approximation."""
    return _act.gelu(x, approximate)


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    """x tanh(softplus(x))."""
    return _act.mish(x)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    """clip(x / 6 + 1/2, 0, 1)."""
    return _act.hardsigmoid(x)


def hardswish(x: Tensor, inplace: bool = False) -> Tensor:
    """x relu6(x + 3) / 6."""
    return _act.hardswish(x)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^(x / alpha) - 1) otherwise."""
    return _act.celu(x, alpha)


def threshold(x: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    return _act.threshold(x, threshold, value)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout; see ``minigan.ops.dropout``."""
    return _dropout(x, p, training)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows: y[..., k] = (tensor[...] == k), k < num_classes (-1: max + 1)."""
    idx = tensor.array if isinstance(tensor, Tensor) else array_module(tensor).asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"tensor: expected integer class values, got dtype {idx.dtype}")
    xp = array_module(idx)
    n = int(host_values(idx.max())[0]) + 1 if num_classes == -1 and idx.size else num_classes
    if idx.size and (int(host_values(idx.min())[0]) < 0 or int(host_values(idx.max())[0]) >= n):
        raise ValueError(f"tensor: class values must lie in [0, {n})")
    return Tensor((idx[..., None] == xp.arange(n)).astype(xp.int64))


def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_p, eps) along ``dim``."""
    norm = _sum(_abs(x) ** p, dim, keepdims=True) ** (1.0 / p)
    return x / _maximum(norm, eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum over ``dim`` of (x1 / max(||x1||, eps)) (x2 / max(||x2||, eps)) -- each norm clamped
    on its own, as PyTorch."""
    return _sum(normalize(x1, 2.0, dim, eps) * normalize(x2, 2.0, dim, eps), dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last axis."""
    from ..ops.reduce import norm

    return norm(x1 - x2 + eps, p, -1, keepdim)


def _conv_pads(padding: Any, padding_mode: str, kernel_size: Any, stride: Any,
               dilation: Any) -> tuple | None:
    """Conv2d's padding as (F.pad widths, F.pad mode) when the convolution cannot do it itself
    (a padding_mode other than 'zeros', or 'same', whose total dilation (k - 1) goes one more to
    the right/bottom when odd, as PyTorch); None otherwise ('valid' is padding 0)."""
    modes = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
             "circular": "circular"}
    if padding_mode not in modes:
        raise ValueError(f"padding_mode: expected one of {sorted(modes)}, got {padding_mode!r}")
    def pair(v: Any) -> tuple:
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    if padding == "valid":
        return None
    if padding == "same":
        if pair(stride) != (1, 1):
            raise ValueError("padding: 'same' needs stride 1, as in PyTorch")
        totals = [d * (k - 1) for d, k in zip(pair(dilation), pair(kernel_size))]
        (th, tw) = totals
        return (tw // 2, tw - tw // 2, th // 2, th - th // 2), modes[padding_mode]
    if isinstance(padding, str):
        raise ValueError(f"padding: expected an int, a pair, 'same' or 'valid', got {padding!r}")
    if padding_mode == "zeros":
        return None
    ph, pw = pair(padding)
    return (pw, pw, ph, ph), modes[padding_mode]


def _ops_module(name: str) -> Any:
    return importlib.import_module(f"minigan.ops.{name}")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation); see ``minigan.ops.conv.conv2d``. ``padding`` may
    also be 'same' or 'valid'."""
    if isinstance(padding, str):
        pads = _conv_pads(padding, "zeros", tuple(weight.shape[2:]), stride, dilation)
        if pads:
            x = pad(x, pads[0])
        padding = 0
    return _ops_module("conv").conv2d(x, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, dilation: Any = 1,
                     groups: int = 1) -> Tensor:
    """Transposed 2-D convolution; see ``minigan.ops.conv.conv_transpose2d``."""
    return _ops_module("conv").conv_transpose2d(x, weight, bias, stride, padding,
                                                output_padding, dilation, groups)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Average pooling (PyTorch's defaults only); see ``minigan.ops.pool.avg_pool2d``."""
    if ceil_mode or not count_include_pad or divisor_override is not None:
        raise NotImplementedError("ceil_mode, count_include_pad=False, divisor_override: "
                                  "not supported")
    return _ops_module("pool").avg_pool2d(x, kernel_size, stride, padding)


def upsample_nearest(x: Tensor, scale_factor: Any) -> Tensor:
    """Nearest-neighbour upsampling by integer factors; see ``minigan.ops.pool``."""
    return _ops_module("pool").upsample_nearest(x, scale_factor)


def interpolate(x: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None) -> Tensor:
    """Resize (N, C, H, W) input, 'nearest' or 'bilinear'; see ``minigan.ops.resample``."""
    return _resample.interpolate(x, size, scale_factor, mode, align_corners,
                                 recompute_scale_factor)


def upsample(x: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """The deprecated alias of :func:`interpolate`."""
    return interpolate(x, size, scale_factor, mode, align_corners)


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """PyTorch-style padding: ``pad = (left, right, top, bottom, ...)`` pads the last dim by
    (left, right), the one before by (top, bottom), and so on. ``mode`` is 'constant' (with
    ``value``, default 0), 'reflect', 'replicate' or 'circular'."""
    if mode != "constant":
        return _padding.pad_by_index(x, pad, mode)
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of sizes, at most 2 per dim of a "
                         f"{x.ndim}-D input, got {pad}")
    if any(not isinstance(p, int) or p < 0 for p in pad):
        raise ValueError(f"pad: expected non-negative ints, got {pad}")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return _np_pad(x, widths, 0.0 if value is None else value)


def _dim(dim: int | None, x: Tensor) -> int:
    if dim is None:  # PyTorch's legacy implicit choice
        return 0 if x.ndim in (0, 1, 3) else 1
    return dim


def softmax(x: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """softmax along ``dim``; ``dtype`` casts the input first."""
    return _softmax(x if dtype is None else cast(x, dtype), _dim(dim, x))


def log_softmax(x: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    """log softmax along ``dim``; ``dtype`` casts the input first."""
    return _log_softmax(x if dtype is None else cast(x, dtype), _dim(dim, x))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, linear above ``threshold``."""
    return softplus_beta(x, beta, threshold)


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max pooling; see ``minigan.ops.pool.max_pool2d``."""
    return _ops_module("pool").max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode,
                                          return_indices)


def adaptive_avg_pool2d(x: Tensor, output_size: Any) -> Tensor:
    """Adaptive average pooling; see ``minigan.ops.pool.adaptive_avg_pool2d``."""
    return _ops_module("pool").adaptive_avg_pool2d(x, output_size)


def _channel_dropout(x: Tensor, p: float, training: bool, spatial: int, name: str) -> Tensor:
    """Zero whole channels: y[n, c] = x[n, c] m_nc / (1 - p), m_nc ~ Bernoulli(1 - p), over
    inputs with ``spatial`` trailing axes (with or without the batch axis)."""
    if not training or p == 0.0:
        return x
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"x: {name} expects {spatial + 2}-D (N, C, ...) or {spatial + 1}-D "
                         f"(C, ...) input, got shape {x.shape}")
    lead = x.shape[:-spatial]
    ones = Tensor(array_module(x.array).ones(lead, dtype=x.dtype))
    mask = _dropout(ones, p, True).array  # the channel mask, already scaled by 1/(1-p)
    return x * Tensor(mask.reshape(lead + (1,) * spatial))


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) or (C, H, W) input."""
    return _channel_dropout(x, p, training, 2, "dropout2d")


def dropout1d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) input."""
    return _channel_dropout(x, p, training, 1, "dropout1d")


def embedding(indices: Any, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Row gather y[..., :] = weight[indices[...], :] (shape indices.shape + (dim,)). The
    backward scatters the gradient back to the rows, summing over repeated indices; the
    ``padding_idx`` row gets no gradient. ``max_norm``: the looked-up rows whose norm exceeds
    it are first rescaled in place to that norm (outside the graph, as PyTorch)."""
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
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("scale_grad_by_freq, sparse: not supported")
    xp = array_module(weight.array)
    if max_norm is not None:
        rows = xp.unique(idx)
        norms = (xp.abs(weight.array[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight.array[rows] *= scale[:, None].astype(weight.dtype)
    y = getitem(weight, idx)
    if padding_idx is not None and weight.requires_grad:
        # Same values; the mask stops the gradient into the padding row.
        keep = (idx != padding_idx % n)[..., None].astype(weight.dtype)
        y = y * Tensor(keep) + Tensor(weight.array[padding_idx] * (1 - keep))
    return y
