"""Weight initialisation, in place and outside the graph, drawn from minigan's generator (so
``mg.manual_seed`` reproduces every model). Formulas follow PyTorch's ``torch.nn.init``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import random as _random
from ..tensor import Tensor, no_grad

_LINEAR_LIKE = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance stable through ``nonlinearity``: 1 for linear
    maps and sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu
    (slope 0.01 unless ``param``), 3/4 for selu."""
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"param: expected a number for the leaky_relu slope, got {slope!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"nonlinearity: unsupported {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field, where the
    receptive field is the product of the dims after the first two (PyTorch's convention, also
    for ConvTranspose weights laid out (in, out, kh, kw))."""
    if tensor.ndim < 2:
        raise ValueError(f"tensor: fan in/out needs at least 2 dims, got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"tensor: expected a Tensor, got {type(tensor).__name__}")
    with no_grad():
        return tensor.copy_(values)


def _draw(kind: str, tensor: Tensor, generator: Any = None) -> Any:
    draw = _random.randn if kind == "normal" else _random.rand
    return draw(*tensor.shape, dtype=tensor.dtype, device=tensor.device,
                generator=generator).array


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with U(a, b)."""
    return _fill(tensor, a + (b - a) * _draw("uniform", tensor, generator))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Any = None) -> Tensor:
    """Fill with N(mean, std^2)."""
    return _fill(tensor, mean + std * _draw("normal", tensor, generator))


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: Any = None) -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al. 2015); gain from ``nonlinearity``
    (``a`` is the leaky_relu slope). PyTorch's Linear/Conv default is a = sqrt(5), which gives
    b = 1 / sqrt(fan_in)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: Any = None) -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """A (semi-)orthogonal matrix (Saxe et al. 2013) for the tensor viewed as (shape[0], rest):
    the QR factor of a Gaussian matrix, signs fixed by diag(R) so the result is Haar-uniform.
    Rows are orthonormal when rows <= cols, columns otherwise; then scaled by gain."""
    if tensor.ndim < 2:
        raise ValueError(f"tensor: orthogonal_ needs at least 2 dims, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    # QR in float64 on the CPU (small matrices), the Gaussian drawn from minigan's generator.
    flat = _random.randn(rows, cols, dtype=np.float64, generator=generator).array
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    values = (gain * q).reshape(tensor.shape).astype(tensor.dtype)
    if tensor.device == "cuda":
        values = Tensor(values).to("cuda").array
    return _fill(tensor, values)


def dcgan_init(module: Any) -> Any:
    """DCGAN initialisation (Radford et al. 2016) applied to every submodule: conv, transposed
    conv and linear weights ~ N(0, 0.02^2), batch-norm weights ~ N(1, 0.02^2), biases 0. A
    spectrally normalized layer's ``weight_orig`` is the weight it initialises."""
    from .layers import Conv2d, ConvTranspose2d, Linear
    from .normalization import BatchNorm1d, BatchNorm2d

    def init(m: Any) -> None:
        params = m._parameters
        weight = params.get("weight_orig", params.get("weight"))
        if isinstance(m, (Conv2d, ConvTranspose2d, Linear)):
            normal_(weight, 0.0, 0.02)
        elif isinstance(m, (BatchNorm1d, BatchNorm2d)) and weight is not None:
            normal_(weight, 1.0, 0.02)
        else:
            return
        if params.get("bias") is not None:
            zeros_(params["bias"])

    return module.apply(init)
