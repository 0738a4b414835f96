"""Tensor, grad mode, and the reverse-mode engine (backward and grad).

A Tensor wraps a NumPy (or CuPy) array. A tensor produced by a Function while grad mode is on
points at the graph ``Node`` that made it; backward walks those nodes in reverse topological
order (iteratively: deep graphs hit no recursion limit), calling each Function's backward and
accumulating gradients with ``+``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import _device, dtypes

_GRAD_ENABLED = [True]


def is_grad_enabled() -> bool:
    return _GRAD_ENABLED[0]


@contextlib.contextmanager
def set_grad_enabled(mode: bool) -> Iterator[None]:
    prev = _GRAD_ENABLED[0]
    _GRAD_ENABLED[0] = bool(mode)
    try:
        yield
    finally:
        _GRAD_ENABLED[0] = prev


def no_grad() -> contextlib.AbstractContextManager:
    """``with mg.no_grad():`` runs ops without recording a graph."""
    return set_grad_enabled(False)


def enable_grad() -> contextlib.AbstractContextManager:
    return set_grad_enabled(True)


def array_module(x: Any) -> Any:
    """NumPy, or CuPy for a CuPy array -- without importing CuPy when it is not in use."""
    if type(x) is np.ndarray:  # the common case first: this runs several times per op
        return np
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def host_values(*values: Any) -> list[float]:
    """Scalars (Python numbers, 0-d or size-1 NumPy/CuPy arrays) as Python floats, with ONE
    device-to-host copy for all the CuPy ones: each ``float()`` of a device scalar would be a
    copy and a synchronization of its own."""
    out: list[Any] = list(values)
    dev = [i for i, v in enumerate(values) if type(v).__module__.startswith("cupy")]
    if dev:
        import cupy

        host = cupy.stack([values[i].astype(cupy.float64).reshape(()) for i in dev]).get()
        for j, i in enumerate(dev):
            out[i] = host[j]
    return [float(v if np.ndim(v) == 0 else np.reshape(v, ())) for v in out]


def _device_of(arr: Any) -> str:
    return "cuda" if type(arr).__module__.startswith("cupy") else "cpu"


def _legacy_data(data: Any, sizes: tuple) -> Any:
    """What ``Tensor(...)`` wraps when not handed a NumPy array (the engine's own case):
    PyTorch's legacy constructor -- ``Tensor(2, 3)`` an uninitialized default-dtype tensor of
    that shape, ``Tensor([1, 2])`` default-dtype data, ``Tensor()`` an empty one, ``Tensor(t)``
    an alias of t. CuPy arrays, NumPy array subclasses and scalars are wrapped as they are."""
    if not sizes:
        if type(data).__module__.startswith("cupy") or isinstance(data, np.ndarray):
            return data
        if isinstance(data, np.generic):
            return np.asarray(data)
        if isinstance(data, Tensor):
            return data.array
        if data is None:
            return np.empty((0,), dtypes.get_default_dtype())
    if isinstance(data, (int, np.integer)) and not isinstance(data, bool):
        for i, n in enumerate(sizes):
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
                raise TypeError(f"Tensor: sizes[{i + 1}]: expected an int, got {n!r}")
        return np.empty((data, *sizes), dtypes.get_default_dtype())
    if sizes:
        raise TypeError(f"Tensor: expected sizes (ints) or one sequence of data, got "
                        f"{type(data).__name__} and {len(sizes)} more arguments")
    return np.asarray(data, dtypes.get_default_dtype())


class Tensor:
    """An n-dimensional array that records the operations applied to it."""

    __slots__ = ("array", "grad", "requires_grad", "_node", "_out_index", "_version", "_hooks",
                 "__weakref__")
    # Make ``numpy_scalar * tensor`` call Tensor.__rmul__ instead of NumPy broadcasting.
    __array_priority__ = 1000

    def __init__(self, data: Any = None, *sizes: int, requires_grad: bool = False) -> None:
        # The engine always passes a NumPy (or CuPy) array: one type check on the hot path.
        self.array = data if type(data) is np.ndarray and not sizes else _legacy_data(data, sizes)
        self.grad: Tensor | None = None
        self.requires_grad = requires_grad
        self._node = None
        self._out_index = 0
        self._version = [0]  # a list so that views can share one counter
        self._hooks: list[Callable] | None = None  # made by the first register_hook

    # ---- properties -------------------------------------------------------------------------
    # ``array`` is the NumPy/CuPy array itself (what kernels take); ``data`` is PyTorch's
    # ``.data``: a tensor sharing that storage, cut from the graph, whose in-place changes
    # autograd does not track (its own version counter, as in PyTorch).
    @property
    def data(self) -> Tensor:
        return Tensor(self.array)

    @data.setter
    def data(self, value: Any) -> None:
        arr = value.array if isinstance(value, Tensor) else value
        if not hasattr(arr, "shape"):
            raise TypeError(f"data: expected a Tensor or an array, got {type(value).__name__}")
        self.array = arr

    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def device(self) -> _device.device:
        """A ``mg.device``: equal to "cpu" / "cuda" / "cuda:0" as PyTorch code compares it."""
        return _device.CUDA if type(self.array).__module__.startswith("cupy") else _device.CPU

    @property
    def is_cuda(self) -> bool:
        return type(self.array).__module__.startswith("cupy")

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> Any:
        return self._node

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)

    def numel(self) -> int:
        return int(self.array.size)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def __len__(self) -> int:
        return len(self.array)

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.array)

    def __repr__(self) -> str:
        extra = f", grad_fn={self._node!r}" if self._node is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        dev = "" if self.device == "cpu" else ", device='cuda'"
        body = np.array2string(self.numpy(), precision=4, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{extra})"

    # ---- conversion ---------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        return self.array.get() if self.is_cuda else self.array

    def item(self) -> Any:
        return self.array.item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(t)``, as for a PyTorch tensor: the values on the host, no graph."""
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """A tensor sharing this one's data (and version counter) but cut from the graph."""
        t = Tensor(self.array)
        t._version = self._version
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.array.dtype.kind != "f":
            raise TypeError(
                f"requires_grad_: only floating tensors can require grad, got {self.dtype}")
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad; "
                               "use .detach() first")
        self.requires_grad = requires_grad
        return self

    def to(self, *args: Any, device: Any = None, dtype: Any = None, non_blocking: bool = False,
           copy: bool = False) -> Tensor:
        """PyTorch's ``to``: ``t.to("cuda")``, ``t.to(mg.float64)``, ``t.to("cuda", mg.float64)``,
        ``t.to(other)`` (other's device and dtype), ``t.to(device=..., dtype=...)``. Moves and
        casts are differentiable; ``non_blocking`` is accepted (transfers are synchronous)."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, _device.device)) and not _is_dtype_name(a):
                device = a
            elif a is not None:
                dtype = a
        out = self
        if dtype is not None:
            out = _ops.cast(out, dtypes.as_dtype(dtype))
        if device is not None:
            out = _ops.to_device(out, _device.normalize(device))
        return out.clone() if copy and out is self else out

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def clone(self) -> Tensor:
        return _ops.clone(self)

    # ---- autograd ---------------------------------------------------------------------------
    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Callable[[], None]:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces
        the gradient. Returns a function that removes the hook."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad")
        if self._node is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            if self._node.out_hooks is None:
                self._node.out_hooks = {}
            hooks = self._node.out_hooks.setdefault(self._out_index, [])
        hooks.append(hook)
        return lambda: hooks.remove(hook) if hook in hooks else None

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        backward([self], None if gradient is None else [gradient], retain_graph, create_graph)

    # ---- in-place (bump the version counter so saved-tensor checks catch misuse) --------------
    def _check_inplace(self, op: str) -> None:
        if is_grad_enabled() and self.requires_grad:
            what = "a leaf tensor that requires grad" if self.is_leaf else "a tensor in a graph"
            raise RuntimeError(f"{op}: in-place modification of {what}; wrap it in mg.no_grad() "
                               "or use an out-of-place op")

    def _inplace(self, op: str, value: Any) -> Tensor:
        self._check_inplace(op)
        self.array[...] = value
        self._version[0] += 1
        return self

    def _val(self, other: Any) -> Any:
        return other.array if isinstance(other, Tensor) else other

    # Element-wise, as in PyTorch (``t == None`` is False, as there). Hashing stays by identity.
    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        return False if o is None else Tensor(self.array == self._val(o))

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        return True if o is None else Tensor(self.array != self._val(o))

    def copy_(self, src: Any) -> Tensor:
        return self._inplace("copy_", self._val(src))

    def fill_(self, value: float) -> Tensor:
        return self._inplace("fill_", value)

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0)

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        return self._inplace("add_", self.array + alpha * self._val(other))

    def sub_(self, other: Any) -> Tensor:
        return self._inplace("sub_", self.array - self._val(other))

    def mul_(self, other: Any) -> Tensor:
        return self._inplace("mul_", self.array * self._val(other))

    def div_(self, other: Any) -> Tensor:
        return self._inplace("div_", self.array / self._val(other))

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        return self._inplace("clamp_", array_module(self.array).clip(self.array, min, max))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        self.array[_ops.shape._index_key(key)] = self._val(value)
        self._version[0] += 1

    # ---- operators (all differentiable, defined in minigan.ops) -------------------------------
    def __add__(self, o: Any) -> Tensor: return _ops.add(self, o)
    def __radd__(self, o: Any) -> Tensor: return _ops.add(o, self)
    def __sub__(self, o: Any) -> Tensor: return _ops.sub(self, o)
    def __rsub__(self, o: Any) -> Tensor: return _ops.sub(o, self)
    def __mul__(self, o: Any) -> Tensor: return _ops.mul(self, o)
    def __rmul__(self, o: Any) -> Tensor: return _ops.mul(o, self)
    def __truediv__(self, o: Any) -> Tensor: return _ops.div(self, o)
    def __rtruediv__(self, o: Any) -> Tensor: return _ops.div(o, self)
    def __pow__(self, o: Any) -> Tensor: return _ops.pow(self, o)
    def __rpow__(self, o: Any) -> Tensor: return _ops.pow(o, self)
    def __neg__(self) -> Tensor: return _ops.neg(self)
    def __abs__(self) -> Tensor: return _ops.abs(self)
    def __matmul__(self, o: Any) -> Tensor: return _ops.matmul(self, o)
    def __rmatmul__(self, o: Any) -> Tensor: return _ops.matmul(o, self)
    def __getitem__(self, key: Any) -> Tensor: return _ops.getitem(self, key)

    # Comparisons give plain boolean tensors: they have no gradient.
    def __lt__(self, o: Any) -> Tensor: return Tensor(self.array < self._val(o))
    def __le__(self, o: Any) -> Tensor: return Tensor(self.array <= self._val(o))
    def __gt__(self, o: Any) -> Tensor: return Tensor(self.array > self._val(o))
    def __ge__(self, o: Any) -> Tensor: return Tensor(self.array >= self._val(o))
    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        # t.exp(), t.sum(axis=1), t.reshape(...) ... : every op taking a tensor first is a method.
        fn = _ops.METHODS.get(name)
        if fn is None:
            raise AttributeError(f"'Tensor' object has no attribute {name!r}")
        return lambda *args, **kwargs: fn(self, *args, **kwargs)


# ---- the engine -------------------------------------------------------------------------------

def _topo_order(roots: Sequence[Tensor]) -> list:
    """Graph nodes reachable from roots, each after all nodes it depends on (post-order)."""
    order, seen = [], set()
    for r in roots:
        if r._node is None or id(r._node) in seen:
            continue
        seen.add(id(r._node))
        stack = [(r._node, 0)]
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                t = node.inputs[i]
                if t is not None and t._node is not None and id(t._node) not in seen:
                    seen.add(id(t._node))
                    stack.append((t._node, 0))
            else:
                stack.pop()
                order.append(node)
    return order


def _run(roots: Sequence[Tensor], root_grads: Sequence[Tensor], retain_graph: bool,
         create_graph: bool, targets: Sequence[Tensor] | None) -> dict:
    order = _topo_order(roots)
    # With targets (mg.grad), only walk edges that lead to one of them.
    target_ids = {id(t) for t in targets} if targets is not None else None
    needed: dict[int, bool] = {}

    def leads(t: Tensor | None) -> bool:
        """t is a target, or its node has a path to one (nodes come in dependency order)."""
        return t is not None and (id(t) in target_ids or (
            t._node is not None and needed.get(id(t._node), False)))

    if targets is not None:
        for node in order:
            needed[id(node)] = any(leads(t) for t in node.inputs)

    def wanted(t: Tensor | None) -> bool:
        if t is None or not t.requires_grad:
            return False
        return target_ids is None or leads(t)

    grads: dict[int, list] = {}
    leaf: dict[int, list] = {}  # id -> [tensor, grad]
    # Storage the leaves' new .grad must not share: the root gradients (the caller's tensors).
    owners = {_storage(g.array) for g in root_grads}
    captured: dict[int, Tensor] = {}

    def add(a: Tensor, b: Tensor) -> Tensor:
        # Without a graph of the gradient, sum the arrays: an Add op costs ~5x the NumPy add on
        # small tensors, and a chain reusing one parameter accumulates once per use. Out of
        # place: either array may be referenced elsewhere (a gradient passed through unchanged).
        return a + b if create_graph else Tensor(a.array + b.array)

    def accumulate(t: Tensor, g: Tensor) -> None:
        if t._node is None:
            slot = leaf.setdefault(id(t), [t, None])
            slot[1] = g if slot[1] is None else add(slot[1], g)
        else:
            gs = grads.setdefault(id(t._node), [None] * len(t._node.out_meta))
            i = t._out_index
            gs[i] = g if gs[i] is None else add(gs[i], g)

    with set_grad_enabled(create_graph):
        for r, g in zip(roots, root_grads):
            if r._node is None:
                if r.requires_grad:
                    accumulate(r, g)
            else:
                accumulate(r, g)
        for node in reversed(order):
            gs = grads.pop(id(node), None)
            if gs is None:
                continue
            if node.out_hooks:
                for i, hooks in node.out_hooks.items():
                    for h in hooks:
                        new = h(gs[i]) if gs[i] is not None else None
                        gs[i] = new if new is not None else gs[i]
            if target_ids is not None:
                for t in targets:
                    if t._node is node:
                        captured[id(t)] = gs[t._out_index]
                if not needed.get(id(node), False):
                    continue
            if len(gs) > 1 and any(g is None for g in gs):  # (`in` would call Tensor.__eq__)
                gs = [g if g is not None else Tensor(xp.zeros(shape, dtype))
                      for g, (shape, dtype, xp) in zip(gs, node.out_meta)]
            ctx = node.ctx
            if target_ids is None:
                ctx.needs_input_grad = tuple([t is not None and t.requires_grad
                                              for t in node.inputs])
            else:
                ctx.needs_input_grad = tuple([wanted(t) for t in node.inputs])
            in_grads = node.fn.backward(ctx, *gs)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if not retain_graph:
                ctx._release()
            for t, g, want in zip(node.inputs, in_grads, ctx.needs_input_grad):
                if g is None or not want:
                    continue
                gd, td = g.array, t.array
                if gd.shape != td.shape or gd.dtype != td.dtype:
                    raise RuntimeError(
                        f"{node.name}.backward returned a gradient of shape {g.shape} "
                        f"{g.dtype} for an input of shape {t.shape} {t.dtype}")
                accumulate(t, g)
        for t, g in leaf.values():
            for h in t._hooks or ():
                new = h(g)
                g = new if new is not None else g
            if target_ids is not None:
                captured[id(t)] = g
            elif t.grad is None:
                t.grad = _own(g, owners, create_graph)
            else:
                t.grad = t.grad + g
    return captured


def _storage(arr: Any) -> int:
    while getattr(arr, "base", None) is not None:  # a view: the object that owns the memory
        arr = arr.base
    return id(arr)


def _own(g: Tensor, owners: set, create_graph: bool) -> Tensor:
    """The gradient as a leaf's own ``.grad``: writable and sharing memory with no other leaf's
    gradient or a caller's tensor, as PyTorch's (``p.grad.mul_(...)``, ``p.grad.data.clamp_``
    change that parameter's gradient alone). A gradient passed through unchanged (``a + b``
    hands one tensor to a and b; ``sum`` a read-only broadcast view) is copied; the common
    fresh array from a kernel is kept as it is."""
    arr = g.array
    key = _storage(arr)
    if key in owners or not getattr(arr.flags, "writeable", True):
        g = _ops.clone(g) if create_graph else Tensor(arr.copy())
        key = _storage(g.array)
    owners.add(key)
    return g


def _root_grads(outputs: Sequence[Tensor], grad_outputs: Sequence[Any] | None) -> list:
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    out = []
    for o, g in zip(outputs, grad_outputs):
        if g is None:
            if o.array.size != 1:
                raise RuntimeError(f"backward: grad can be implied only for a scalar output; got "
                                   f"shape {o.shape}, pass grad_outputs/gradient")
            g = Tensor(array_module(o.array).ones_like(o.array))
        elif not isinstance(g, Tensor):
            g = Tensor(array_module(o.array).asarray(g, dtype=o.dtype))
        if g.shape != o.shape:
            raise ValueError(f"grad_outputs: expected shape {o.shape}, got {g.shape}")
        out.append(g)
    return out


def backward(outputs: Sequence[Tensor], grad_outputs: Sequence[Any] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False) -> None:
    for o in outputs:
        if not o.requires_grad:
            raise RuntimeError("backward: tensor does not require grad and has no graph")
    retain = create_graph if retain_graph is None else retain_graph
    _run(outputs, _root_grads(outputs, grad_outputs), retain, create_graph, None)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, create_graph: bool = False, retain_graph: bool | None = None,
         allow_unused: bool = False) -> list:
    """d(outputs)/d(inputs) as a list of tensors, without touching any ``.grad``.

    With ``create_graph=True`` the returned gradients carry a graph, so a penalty built from them
    (WGAN-GP's (||grad D||-1)^2, R1's ||grad D||^2) can itself be backpropagated.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is not None and not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: inputs[{i}] does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    captured = _run(outputs, _root_grads(outputs, grad_outputs), retain, create_graph, inputs)
    result = []
    for i, t in enumerate(inputs):
        g = captured.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: inputs[{i}] is not used to compute the outputs "
                               "(pass allow_unused=True to get None)")
        result.append(g)
    return result


# ---- construction -----------------------------------------------------------------------------

DEFAULT_DTYPE = np.dtype(np.float32)  # the initial default; mg.get_default_dtype() is the live one


def _is_dtype_name(s: Any) -> bool:
    return isinstance(s, str) and not isinstance(s, _device.device) and (
        s.startswith("torch.") or s.rsplit(".", 1)[-1] in dtypes.TYPE_NAMES)


def _xp_for(device: Any) -> Any:
    if device == "cpu" or device is None:
        return np
    if _device.normalize(device) == "cuda":
        from .backends import require_cupy

        return require_cupy()
    raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")


def _dt(dtype: Any) -> Any:
    return dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)


def _size(shape: tuple) -> tuple:
    """``zeros(2, 3)``, ``zeros((2, 3))``, ``zeros([2, 3])`` and ``zeros(size=(2, 3))``."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           device: str = "cpu") -> Tensor:
    """A new leaf tensor. Python floats become float32; NumPy arrays keep their dtype."""
    xp = _xp_for(device)
    if isinstance(data, Tensor):
        data = data.array
    if device == "cpu" and _device_of(data) == "cuda":
        data = data.get()  # NumPy refuses an implicit device-to-host copy; this one is asked for
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    elif not hasattr(data, "dtype"):
        if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
            data = [d.numpy() if isinstance(d, Tensor) else d for d in data]
        arr = np.asarray(data)
        dtype = dtypes.get_default_dtype() if arr.dtype.kind == "f" else arr.dtype
        data = arr
    arr = xp.array(data, dtype=dtype)
    t = Tensor(arr)
    if requires_grad:
        t.requires_grad_()
    return t


def _made(arr: Any, requires_grad: bool) -> Tensor:
    t = Tensor(arr)
    return t.requires_grad_() if requires_grad else t


def zeros(*shape: Any, size: Any = None, dtype: Any = None, device: Any = "cpu",
          requires_grad: bool = False, out: Any = None) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    shape = _size(shape) if size is None else tuple(size)
    return _made(_xp_for(device).zeros(shape, dtype=_dt(dtype)), requires_grad)


def ones(*shape: Any, size: Any = None, dtype: Any = None, device: Any = "cpu",
         requires_grad: bool = False, out: Any = None) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    shape = _size(shape) if size is None else tuple(size)
    return _made(_xp_for(device).ones(shape, dtype=_dt(dtype)), requires_grad)


def empty(*shape: Any, size: Any = None, dtype: Any = None, device: Any = "cpu",
          requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor (NumPy's empty)."""
    shape = _size(shape) if size is None else tuple(size)
    return _made(_xp_for(device).empty(shape, dtype=_dt(dtype)), requires_grad)


def full(shape: Any, value: float, dtype: Any = None, device: Any = "cpu",
         requires_grad: bool = False, fill_value: Any = None) -> Tensor:
    """A tensor of ``value``; as in PyTorch, the dtype follows the value when not given
    (bool -> bool, int -> int64, float -> the default dtype)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is None:
        dtype = (dtypes.bool if isinstance(value, bool) else dtypes.int64
                 if isinstance(value, int) else None)
    return _made(_xp_for(device).full(shape, value, dtype=_dt(dtype)), requires_grad)


def _like(t: Tensor, dtype: Any, device: Any) -> tuple:
    dev = t.device if device is None else device
    return _xp_for(dev), t.dtype if dtype is None else dtypes.as_dtype(dtype)


def zeros_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    xp, dt = _like(t, dtype, device)
    return _made(xp.zeros(t.shape, dt), requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    xp, dt = _like(t, dtype, device)
    return _made(xp.ones(t.shape, dt), requires_grad)


def empty_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    xp, dt = _like(t, dtype, device)
    return _made(xp.empty(t.shape, dt), requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    xp, dt = _like(t, dtype, device)
    return _made(xp.full(t.shape, fill_value, dt), requires_grad)


from . import ops as _ops  # noqa: E402  (ops build on Tensor, so they load after it)
