"""Normalization layers: BatchNorm1d, BatchNorm2d, InstanceNorm1d/2d, GroupNorm, LayerNorm
(PyTorch names, buffers, state_dict keys and defaults)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor, no_grad, ones, zeros
from . import functional as F
from . import init as _init
from .module import Module, Parameter


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: weight (gamma, init 1) and bias (beta, init 0) when affine;
    buffers running_mean (0), running_var (1) and num_batches_tracked when tracking stats.

    ``momentum=None`` gives the cumulative average of all batches seen (factor
    1/num_batches_tracked), as in PyTorch."""

    _expected_dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype: Any = None,
                 device: str = "cpu") -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features: expected a positive int, got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum: expected a number in [0, 1] or None, got {momentum!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype, device=device))
            self.bias = Parameter(zeros(num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 zeros((), dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            _init.zeros_(self.running_mean)
            _init.ones_(self.running_var)
            _init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            _init.ones_(self.weight)
            _init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._expected_dims:
            raise ValueError(f"x: {type(self).__name__} expects "
                             f"{' or '.join(f'{d}-D' for d in self._expected_dims)} input "
                             f"(N, C, ...), got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"x: expected {self.num_features} channels (dim 1), "
                             f"got shape {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input, statistics per channel C."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, statistics per channel C."""

    _expected_dims = (4,)


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` dims; weight 1 and bias 0 of that shape
    when ``elementwise_affine``."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: Any = None,
                 device: str = "cpu") -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = Parameter(zeros(shape, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class _InstanceNorm(_BatchNorm):
    """Each (n, c) plane normalized by its own statistics. PyTorch's defaults differ from batch
    norm's: affine=False, track_running_stats=False. With running statistics they are updated
    in training (the batch average of the planes' statistics) and used in evaluation; the same
    keys as BatchNorm in state_dict."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, dtype: Any = None,
                 device: str = "cpu") -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, device)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._expected_dims:
            raise ValueError(f"x: {type(self).__name__} expects {self._expected_dims[0]}-D "
                             f"input (N, C, ...), got shape {x.shape}")
        if x.shape[1] != self.num_features and self.affine:
            raise ValueError(f"x: expected {self.num_features} channels (dim 1), "
                             f"got shape {x.shape}")
        use_input_stats = self.training or not self.track_running_stats
        # As PyTorch: num_batches_tracked is kept (state_dict) but never counted, and
        # momentum=None means no update at all (not a cumulative average).
        factor = 0.0 if self.momentum is None else self.momentum
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               use_input_stats, factor, self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) input."""

    _expected_dims = (3,)


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) input."""

    _expected_dims = (4,)


class GroupNorm(Module):
    """Normalize each group of num_channels/num_groups channels per sample; weight 1 and bias 0
    per channel when ``affine``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, dtype: Any = None, device: str = "cpu") -> None:
        super().__init__()
        if not isinstance(num_groups, int) or num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"num_groups: expected a positive divisor of num_channels "
                             f"({num_channels}), got {num_groups!r}")
        self.num_groups, self.num_channels, self.eps, self.affine = \
            num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(ones(num_channels, dtype=dtype, device=device))
            self.bias = Parameter(zeros(num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"x: expected {self.num_channels} channels (dim 1), "
                             f"got shape {x.shape}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
