"""Module and Parameter: the PyTorch-shaped container for layers.

A Module keeps three ordered registries, filled by plain attribute assignment:
``_parameters`` (Parameter), ``_buffers`` (non-trainable state such as batch-norm running
statistics) and ``_modules`` (children). Names in ``state_dict`` are dotted paths through the
children, as in PyTorch (``0.weight``, ``block.bn.running_mean``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor, _xp_for, array_module, no_grad


class Parameter(Tensor):
    """A leaf tensor that a Module registers as trainable (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.array
        if not hasattr(data, "dtype"):
            data = np.asarray(data, dtype=np.float32)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"data: a trainable Parameter must be floating point, got {data.dtype}")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _Handle:
    """Returned by register_*_hook; ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: dict, key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class LoadResult(NamedTuple):
    missing_keys: list
    unexpected_keys: list


def _move_array(arr: Any, device: str | None, dtype: Any) -> Any:
    if device is not None:
        if device == "cpu" and array_module(arr) is not np:
            arr = arr.get()
        elif device == "cuda":
            arr = _xp_for("cuda").asarray(arr)
    if dtype is not None and arr.dtype.kind == "f":
        arr = arr.astype(dtype, copy=False)
    return arr


class Module:
    """Base class of layers and models; subclasses define ``forward``."""

    _next_hook_id = 0

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for hook in list(self._forward_pre_hooks.values()):
            new = hook(self, args)
            if new is not None:
                args = new if isinstance(new, tuple) else (new,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            new = hook(self, args, out)
            if new is not None:
                out = new
        return out

    # ---- registration ---------------------------------------------------------------------
    def _check_name(self, name: Any, what: str) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"name: a {what} name must be a non-empty string without '.', "
                             f"got {name!r}")
        if name not in getattr(self, f"_{what}s", {}) and name in self.__dict__:
            raise KeyError(f"name: attribute {name!r} already exists on {type(self).__name__}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"param: expected a Parameter or None for {name!r}, "
                            f"got {type(param).__name__}")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register non-trainable state; persistent buffers are saved in ``state_dict``."""
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"tensor: expected a Tensor or None for buffer {name!r}, "
                            f"got {type(tensor).__name__}")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"module: expected a Module or None for {name!r}, "
                            f"got {type(module).__name__}")
        if not isinstance(name, str) or "." in name or not name:
            raise ValueError(f"name: a module name must be a non-empty string without '.', "
                             f"got {name!r}")
        self._modules[name] = module

    def __setattr__(self, name: str, value: Any) -> None:
        params, bufs, mods = (self.__dict__.get(k) for k in ("_parameters", "_buffers",
                                                             "_modules"))
        if params is None:
            raise AttributeError("Module.__init__() must be called before assigning attributes")
        if isinstance(value, Parameter):
            for d in (bufs, mods, self.__dict__):
                d.pop(name, None)
            self.register_parameter(name, value)
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(a Parameter or None is expected)")
            params[name] = None
        elif isinstance(value, Module):
            for d in (params, bufs, self.__dict__):
                d.pop(name, None)
            mods[name] = value
        elif name in mods:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} "
                                "(a Module or None is expected)")
            mods[name] = None
        elif name in bufs:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                "(a Tensor or None is expected)")
            bufs[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            reg = d.get(key)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_buffers", "_modules"):
            reg = self.__dict__[key]
            if name in reg:
                del reg[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    # ---- hooks ------------------------------------------------------------------------------
    def _add_hook(self, hooks: dict, hook: Callable) -> _Handle:
        Module._next_hook_id += 1
        hooks[Module._next_hook_id] = hook
        return _Handle(hooks, Module._next_hook_id)

    def register_forward_pre_hook(self, hook: Callable) -> _Handle:
        """``hook(module, args)`` runs before forward; a returned value replaces args."""
        return self._add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable) -> _Handle:
        """``hook(module, args, output)`` runs after forward; a returned value replaces output."""
        return self._add_hook(self._forward_hooks, hook)

    # ---- traversal --------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo: set | None = None) -> Iterator[tuple]:
        """(dotted name, module) for this module and every descendant, each module once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple]:
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, t in getattr(m, registry).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple]:
        """(dotted name, Parameter) pairs; a parameter shared by two modules appears once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of parameter elements (shared parameters counted once)."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call fn on every child (recursively, children first) and then on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor(array_module(p.grad.array).zeros_like(p.grad.array))

    # ---- device and dtype -----------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move every parameter and buffer to a device (``"cpu"``/``"cuda"``) and/or cast the
        floating ones to a dtype, in place -- ``to(device)``, ``to(dtype)``, ``to(device,
        dtype)``, ``to(tensor)`` (its device and dtype), ``to(device=..., dtype=...)`` -- so
        Parameter objects keep their identity and an optimizer built before still holds them."""
        from .._device import normalize

        device, dtype = kwargs.get("device"), kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, str):
                device = a
            else:
                dtype = a
        device = None if device is None else normalize(device)
        dtype = None if dtype is None else np.dtype(dtype)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"dtype: expected a floating dtype, got {dtype}")
        for t in [*self.parameters(), *self.buffers()]:
            t.array = _move_array(t.array, device, dtype)
            t._version[0] += 1
            if t.grad is not None:
                t.grad = Tensor(_move_array(t.grad.array, device, dtype))
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def half(self) -> Module:
        return self.to(np.float16)

    def type(self, dst_type: Any) -> Module:  # noqa: A003 - PyTorch's name
        return self.to(dst_type)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        return self.to("cuda")

    def double(self) -> Module:
        return self.to(np.float64)

    # ---- state -------------------------------------------------------------------------------
    def _state_items(self) -> Iterator[tuple]:
        """(dotted name, tensor) of parameters and persistent buffers, module by module (each
        module's parameters, then its buffers), as PyTorch orders a state_dict."""
        seen: set[int] = set()
        for prefix, m in self.named_modules():
            items = list(m._parameters.items()) + [
                (k, b) for k, b in m._buffers.items() if k not in m._non_persistent]
            for name, t in items:
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    yield (f"{prefix}.{name}" if prefix else name), t

    def state_dict(self, *args: Any, destination: Any = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers by dotted name, as PyTorch's: detached tensors
        sharing the module's storage (``keep_vars=True``: the Parameters and buffers
        themselves), added to ``destination`` when given, each key after ``prefix``. Copy the
        values (``{k: v.clone() ...}``) to keep a snapshot while training goes on."""
        if args:  # PyTorch's deprecated positional form: (destination, prefix, keep_vars)
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        out = OrderedDict() if destination is None else destination
        for name, t in self._state_items():
            out[prefix + name] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> LoadResult:
        """Copy arrays (or tensors) from ``state_dict`` into the parameters and persistent
        buffers, converting device and dtype. Nothing is modified unless every key checks out:
        a shape mismatch is always an error; with ``strict``, so are missing and unexpected keys.
        Returns (missing_keys, unexpected_keys)."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched, values = [], {}
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            v = v.array if isinstance(v, Tensor) else v
            if hasattr(v, "detach") and hasattr(v, "numpy"):
                # A PyTorch tensor: its values on the host, without importing torch here.
                v = v.detach().cpu().numpy()
            if not hasattr(v, "shape"):
                v = np.asarray(v)
            if tuple(v.shape) != tuple(t.shape):
                mismatched.append(f"{k}: checkpoint {tuple(v.shape)}, model {tuple(t.shape)}")
            else:
                values[k] = v
        problems = []
        if mismatched:
            problems.append("shape mismatch for " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise ValueError(f"load_state_dict: error(s) loading into {type(self).__name__}: "
                             + " | ".join(problems))
        with no_grad():
            for k, v in values.items():
                t = own[k]
                t.copy_(_move_array(v, t.device, t.dtype))
        return LoadResult(missing, unexpected)

    # ---- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
