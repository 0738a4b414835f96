"""Activation layers beyond the basic ones in layers.py: ELU, SELU, SiLU, PReLU (learned
slope), Softplus, Hardtanh, ReLU6, Softmax, LogSoftmax, Mish, Hardsigmoid, Hardswish, CELU,
Threshold, GELU; and Dropout1d. PyTorch's names, arguments and
state_dict keys; ``inplace`` is accepted where PyTorch has it (same result, new tensor)."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor, full
from . import functional as F
from .layers import Dropout
from .module import Module, Parameter


class ELU(Module):
    """x for x > 0, alpha (e^x - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SELU(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.selu(x)


class SiLU(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class PReLU(Module):
    """x for x > 0, a x otherwise; ``weight`` holds ``num_parameters`` slopes (1 shared, or one
    per channel), initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = None,
                 device: str = "cpu") -> None:
        super().__init__()
        if not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(f"num_parameters: expected a positive int, got {num_parameters!r}")
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(full((num_parameters,), init, dtype=dtype, device=device))

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, x itself where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x clamped to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0,
                 inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"min_val: must not exceed max_val, got {min_val} > {max_val}")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)


class Softmax(Module):
    """softmax along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log softmax along ``dim``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)


def _simple(name: str, fn: Any, doc: str) -> type:
    """An activation module without parameters: forward is ``fn(x)`` (``inplace`` accepted)."""
    def __init__(self: Module, inplace: bool = False) -> None:
        Module.__init__(self)
        self.inplace = inplace

    def forward(self: Module, x: Tensor) -> Tensor:
        return fn(x)

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "__doc__": doc,
                                  "__module__": __name__})


Mish = _simple("Mish", F.mish, "x tanh(softplus(x)).")
Hardsigmoid = _simple("Hardsigmoid", F.hardsigmoid, "clip(x / 6 + 1/2, 0, 1).")
Hardswish = _simple("Hardswish", F.hardswish, "x relu6(x + 3) / 6.")


class CELU(Module):
    """x for x > 0, alpha (e^(x / alpha) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.celu(x, self.alpha)


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.threshold(x, self.threshold, self.value)


class Dropout1d(Dropout):
    """Zeroes whole channels of (N, C, L) input with probability p, survivors scaled by
    1/(1-p)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout1d(x, self.p, self.training)


class GELU(Module):
    """x Phi(x) (``approximate='tanh'``: the tanh form)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)
