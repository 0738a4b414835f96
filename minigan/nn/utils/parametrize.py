"""``minigan.nn.utils.parametrize``: a tensor of a module computed from other tensors, as
PyTorch's ``torch.nn.utils.parametrize``.

``register_parametrization(module, "weight", P)`` moves the parameter (or buffer) ``weight`` to
``module.parametrizations.weight.original`` and makes ``module.weight`` a property that returns
``P(original)`` each time it is read (the module's class is swapped for a subclass
``Parametrized<Class>`` that holds the property). More parametrizations on the same name chain:
``Pk(...P1(P0(original)))``. Assigning ``module.weight = X`` stores ``right_inverse(X)`` in
``original``. A ``right_inverse`` that returns a sequence makes ``original0``, ``original1``, ...
and ``P0`` receives them all. state_dict keys are PyTorch's (``parametrizations.weight.original``,
``parametrizations.weight.0.<buffer>``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ...tensor import Tensor, no_grad
from ..container import ModuleDict, ModuleList
from ..module import Module, Parameter

__all__ = ["ParametrizationList", "cached", "is_parametrized", "register_parametrization",
           "remove_parametrizations", "type_before_parametrizations"]

_cache: dict = {}
_cache_depth = 0


@contextmanager
def cached() -> Iterator[None]:
    """Inside the block each parametrized tensor is computed once, at its first read, and
    reused (for a weight read several times in one forward); the values are dropped on exit."""
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache.clear()


def _set_in_place(dest: Tensor, src: Any) -> None:
    """Give ``dest`` the values (and shape) of ``src`` keeping its identity, so that an optimizer
    that holds ``dest`` still sees it (PyTorch's ``set_``)."""
    dest.array = src.array if isinstance(src, Tensor) else src
    dest._version[0] += 1


def _register(module: Module, name: str, t: Tensor) -> None:
    if isinstance(t, Parameter):
        module.register_parameter(name, t)
    else:
        module.register_buffer(name, t)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor ("0", "1", ...) and its ``original`` (or
    ``original0``, ``original1``, ... when the first ``right_inverse`` returns a sequence)."""

    def __init__(self, modules: Sequence[Module], original: Tensor,
                 unsafe: bool = False) -> None:
        if not modules:
            raise ValueError("modules: expected at least one parametrization")
        super().__init__(modules)
        self.unsafe = unsafe
        with no_grad():
            new = original
            for m in reversed(list(self)):
                if hasattr(m, "right_inverse"):
                    new = m.right_inverse(new)
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if not unsafe and (new.dtype != original.dtype or new.shape != original.shape):
                raise ValueError(f"right_inverse: must keep the tensor's dtype and shape "
                                 f"({original.dtype}, {tuple(original.shape)}), got "
                                 f"({new.dtype}, {tuple(new.shape)})")
            with no_grad():
                _set_in_place(original, new)  # the same object: optimizers stay valid
            _register(self, "original", original)
        else:
            for i, t in enumerate(new):
                if not isinstance(t, Tensor):
                    raise ValueError(f"right_inverse: element {i} is a {type(t).__name__}, "
                                     "expected a Tensor")
                if isinstance(original, Parameter):
                    t = Parameter(t.detach(), original.requires_grad)
                _register(self, f"original{i}", t)
        if not unsafe:
            with no_grad():
                z = self()
            if not isinstance(z, Tensor) or z.dtype != original.dtype or (
                    z.shape != original.shape):
                raise ValueError("parametrization: its forward must return a tensor of the "
                                 f"original's dtype and shape ({original.dtype}, "
                                 f"{tuple(original.shape)}); pass unsafe=True to allow another")

    def right_inverse(self, value: Tensor) -> None:
        """Store ``value`` as the parametrized tensor: the right inverses in reverse order,
        the result copied into ``original`` (``original0``, ... for a sequence)."""
        with no_grad():
            for m in reversed(list(self)):
                if not hasattr(m, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(m).__name__} does not implement "
                                       "right_inverse")
                value = m.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor) or value.dtype != self.original.dtype:
                    raise ValueError("right_inverse: must return a tensor of dtype "
                                     f"{self.original.dtype}")
                _set_in_place(self.original, value)
            else:
                if len(value) != self.ntensors:
                    raise ValueError(f"right_inverse: must return {self.ntensors} tensors, "
                                     f"got {len(value)}")
                for i, t in enumerate(value):
                    _set_in_place(getattr(self, f"original{i}"), t)

    def forward(self) -> Tensor:
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in list(self)[1:]:
            x = m(x)
        return x


def _parametrized_class(cls: type) -> type:
    def __getstate__(self: Module) -> Any:
        raise RuntimeError("a parametrized module cannot be pickled; save its state_dict()")

    def __deepcopy__(self: Module, memo: dict) -> Module:
        # copy.deepcopy would go through __getstate__; copy the attributes instead.
        if id(self) in memo:
            return memo[id(self)]
        replica = type(self).__new__(type(self))
        memo[id(self)] = replica
        object.__setattr__(replica, "__dict__", copy.deepcopy(self.__dict__, memo))
        return replica

    attrs: dict = {"__getstate__": __getstate__}
    if not hasattr(cls, "__deepcopy__"):
        attrs["__deepcopy__"] = __deepcopy__
    return type(f"Parametrized{cls.__name__}", (cls,), attrs)


def _add_property(module: Module, name: str) -> None:
    def get(self: Module) -> Tensor:
        plist = self.parametrizations[name]
        if not _cache_depth:
            return plist()
        key = (id(self), name)
        if key not in _cache:
            _cache[key] = plist()
        return _cache[key]

    def set_(self: Module, value: Tensor) -> None:
        self.parametrizations[name].right_inverse(value)

    setattr(type(module), name, property(get, set_))


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` read as ``parametrization(original)`` (see the module
    docstring); a second call on the same name appends to the chain. Returns the module."""
    if not isinstance(parametrization, Module):
        raise TypeError(f"parametrization: expected a Module, got "
                        f"{type(parametrization).__name__}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        if not unsafe:
            with no_grad():
                x = plist()
                y = parametrization(x)
            if not isinstance(y, Tensor) or y.dtype != x.dtype or y.shape != x.shape:
                raise ValueError("parametrization: must keep the dtype and shape "
                                 f"({x.dtype}, {tuple(x.shape)}); pass unsafe=True to allow "
                                 "another")
        plist.append(parametrization)
        plist.unsafe = plist.unsafe or unsafe
        return module
    if tensor_name not in module._parameters and tensor_name not in module._buffers:
        raise ValueError(f"tensor_name: {type(module).__name__} has no parameter or buffer "
                         f"{tensor_name!r}")
    original = getattr(module, tensor_name)
    if original is None:
        raise ValueError(f"tensor_name: {tensor_name!r} of {type(module).__name__} is None")
    plist = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        module.__class__ = _parametrized_class(type(module))
        module.parametrizations = ModuleDict()
    _add_property(module, tensor_name)
    module.parametrizations[tensor_name] = plist
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has any parametrization (or one on ``tensor_name``)."""
    plists = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(plists, ModuleDict):
        return False
    return len(plists) > 0 if tensor_name is None else tensor_name in plists


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Undo the parametrizations of ``tensor_name``: it becomes a plain parameter (or buffer)
    again -- the same object as ``original`` -- holding the parametrized value
    (``leave_parametrized=True``, computed as a read would, so a spectral norm in training mode
    runs its power iteration once more, as in PyTorch) or the original's."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"tensor_name: {type(module).__name__} has no parametrization on "
                         f"{tensor_name!r}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                value = getattr(module, tensor_name)
                _set_in_place(original, value)
    else:
        if not leave_parametrized:
            raise ValueError("leave_parametrized: must be True for a parametrization whose "
                             "right_inverse returns several tensors")
        with no_grad():
            value = getattr(module, tensor_name)
        original0 = plist.original0
        original = (Parameter(value.detach(), original0.requires_grad)
                    if isinstance(original0, Parameter) else value.detach())
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _register(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class as it was before any parametrization was registered."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)
