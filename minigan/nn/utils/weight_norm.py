"""PyTorch's older ``torch.nn.utils.weight_norm`` / ``remove_weight_norm`` (Salimans & Kingma
2016), a forward pre-hook like ``spectral_norm``: the parameter ``<name>`` is replaced by
``<name>_g`` (its norm over every axis but ``dim``; ``dim=None``: over all) and ``<name>_v``
(its direction), and each forward recomputes

    <name> = <name>_v * (<name>_g / ||<name>_v||)

(the newer form is ``parametrizations.weight_norm``)."""

from __future__ import annotations

from ...tensor import Tensor, no_grad
from ..module import Module, Parameter
from ..spectral_norm import unhook
from .parametrizations import _norm_except_dim


class WeightNorm:
    """The forward pre-hook that sets ``module.<name>`` from ``<name>_g`` and ``<name>_v``."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def compute_weight(self, module: Module) -> Tensor:
        g, v = getattr(module, self.name + "_g"), getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    def __call__(self, module: Module, args: tuple) -> None:
        object.__setattr__(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize ``module.<name>`` as g * v / ||v|| and return the module."""
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, WeightNorm) and hook.name == name:
            raise RuntimeError(f"weight_norm: {name!r} of {type(module).__name__} is already "
                               "weight-normalized")
    weight = module._parameters.get(name)
    if not isinstance(weight, Parameter):
        raise ValueError(f"name: {type(module).__name__} has no parameter {name!r}")
    fn = WeightNorm(name, -1 if dim is None else dim)  # -1: every axis, as PyTorch
    del module._parameters[name]
    with no_grad():
        module.register_parameter(name + "_g", Parameter(_norm_except_dim(weight, fn.dim)))
    module.register_parameter(name + "_v", Parameter(weight.array))
    object.__setattr__(module, name, fn.compute_weight(module))
    module.register_forward_pre_hook(fn)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``weight_norm``: ``<name>`` becomes a Parameter holding g * v / ||v|| again."""
    return unhook(module, WeightNorm, name, ("_g", "_v"), "weight_norm")
