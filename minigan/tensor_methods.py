"""PyTorch's Tensor methods that are not ops of their own: conversions (``type``, ``cpu``,
``cuda``, ``long``), ``*_as`` shapes, ``new_*`` factories, the in-place random fills GAN code
uses (``normal_``, ``uniform_``, ``random_``, ...), in-place writes (``scatter_``,
``masked_fill_``), and comparison methods. Installed on :class:`Tensor` at import."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from . import ops as _ops
from . import random as _random
from .tensor import Tensor, _xp_for, array_module, tensor


def _dim(self: Tensor) -> int:
    return self.array.ndim


def _type(self: Tensor, dtype: Any = None, non_blocking: bool = False) -> Any:
    """``t.type()`` names the type ('torch.FloatTensor'); ``t.type(mg.float64)``,
    ``t.type('torch.DoubleTensor')`` or ``t.type(mg.cuda.FloatTensor)`` converts."""
    if dtype is None:
        return dtypes.type_name(self.dtype, self.is_cuda)
    legacy = getattr(dtype, "_legacy_dtype", None)
    if legacy is not None:
        return self.to(dtype._legacy_device, legacy)
    if isinstance(dtype, str) and ".cuda." in dtype:
        return self.to("cuda", dtype)
    return self.to(dtypes.as_dtype(dtype))


def _cuda(self: Tensor, device: Any = None, non_blocking: bool = False) -> Tensor:
    return self.to("cuda")


def _cpu(self: Tensor) -> Tensor:
    return self.to("cpu")


def _as(dt: Any) -> Any:
    def conv(self: Tensor, memory_format: Any = None) -> Tensor:
        return self.to(dt)
    conv.__name__ = dt.name
    return conv


def _new(fill: str) -> Any:
    def make(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        xp = _xp_for(self.device if device is None else device)
        dt = self.dtype if dtype is None else dtypes.as_dtype(dtype)
        t = Tensor(getattr(xp, fill)(shape, dtype=dt))
        return t.requires_grad_() if requires_grad else t
    return make


def _new_full(self: Tensor, size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    xp = _xp_for(self.device if device is None else device)
    t = Tensor(xp.full(tuple(size), fill_value,
                       dtype=self.dtype if dtype is None else dtypes.as_dtype(dtype)))
    return t.requires_grad_() if requires_grad else t


def _new_tensor(self: Tensor, data: Any, dtype: Any = None, device: Any = None,
                requires_grad: bool = False) -> Tensor:
    return tensor(data, dtype=self.dtype if dtype is None else dtype,
                  device=self.device if device is None else device, requires_grad=requires_grad)


def _new_legacy(self: Tensor, *args: Any) -> Tensor:
    """PyTorch's legacy ``t.new(...)``: sizes (ints, or one tuple) give an uninitialized tensor
    of t's dtype and device, anything else is data; ``t.new()`` is empty."""
    if all(isinstance(a, int) for a in args) or (len(args) == 1 and isinstance(args[0], tuple)):
        return _new("empty")(self, *args) if args else _new("empty")(self, 0)
    return _new_tensor(self, args[0])


# ---- in-place fills: no graph, the version counter bumps (saved-tensor checks see them) -----

def _fill_random(self: Tensor, op: str, kind: str, loc: float, scale: float,
                 generator: Any) -> Tensor:
    draw = _random._draw(kind, self.shape, self.dtype if self.dtype.kind == "f" else None,
                         self.device, generator)
    return self._inplace(op, draw * scale + loc)


def _normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Any = None
             ) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    return _fill_random(self, "normal_", "normal", mean, std, generator)


def _uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill with samples of U[a, b)."""
    return _fill_random(self, "uniform_", "uniform", a, b - a, generator)


def _random_(self: Tensor, from_: int = 0, to: Any = None, *, generator: Any = None) -> Tensor:
    """Fill with integers in [from, to) (``random_(to)`` alone: [0, to))."""
    if to is None:
        if from_ == 0:
            raise ValueError("random_: expected an upper bound, random_(to) or random_(from, to)")
        from_, to = 0, from_
    draw = _random.randint(from_, to, self.shape, device=self.device, generator=generator).array
    return self._inplace("random_", draw)


def _bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Any = None) -> Tensor:
    pv = p.array if isinstance(p, Tensor) else p
    u = _random._draw("uniform", self.shape, None, self.device, generator)
    return self._inplace("bernoulli_", u < pv)


def _exponential_(self: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    u = _random._draw("uniform", self.shape, np.float64, self.device, generator)
    return self._inplace("exponential_", -array_module(u).log1p(-u) / lambd)


def _scatter_(self: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None,
              reduce: Any = None) -> Tensor:
    """In place: self[i][index[i][j]] = src[i][j] for dim=1 (a number src writes that number)."""
    if reduce is not None:
        raise NotImplementedError("scatter_: reduce= is not supported")
    from .ops.shape import _along

    src = value if src is None else src
    key, _ = _along(self, index, dim)
    self._check_inplace("scatter_")
    if isinstance(src, Tensor):
        self.array[key] = src.array[tuple(slice(0, n) for n in key[0].shape)]
    else:
        self.array[key] = src
    self._version[0] += 1
    return self


def _masked_fill_(self: Tensor, mask: Any, value: Any) -> Tensor:
    m = mask.array if isinstance(mask, Tensor) else mask
    xp = array_module(self.array)
    v = value.array if isinstance(value, Tensor) else value
    return self._inplace("masked_fill_", xp.where(m, v, self.array))


def _index_fill_(self: Tensor, dim: int, index: Any, value: Any) -> Tensor:
    idx = index.array if isinstance(index, Tensor) else index
    self._check_inplace("index_fill_")
    self.array[(slice(None),) * (dim % self.ndim) + (idx,)] = value
    self._version[0] += 1
    return self


def _detach_(self: Tensor) -> Tensor:
    self._node, self.requires_grad = None, False
    return self


def _retain_grad(self: Tensor) -> None:
    """Keep this non-leaf tensor's gradient in ``.grad`` after backward (PyTorch's
    retain_grad); a leaf keeps its own anyway."""
    if self.is_leaf:
        return

    def keep(g: Tensor) -> None:
        self.grad = g.detach() if self.grad is None else self.grad + g.detach()

    self.register_hook(keep)


def _where(self: Tensor, condition: Any, other: Any) -> Tensor:
    return _ops.where(condition, self, other)


def _data_ptr(self: Tensor) -> int:
    """The address of the first element (tensors sharing storage from its start agree)."""
    a = self.array
    return int(a.__array_interface__["data"][0] if hasattr(a, "__array_interface__")
               else a.data.ptr)


def _std_var_mean(stat: str) -> Any:
    def fn(a: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
           correction: Any = None) -> tuple:
        kw = {} if unbiased is None else {"unbiased": unbiased}
        if correction is not None:
            kw["correction"] = correction
        return (getattr(_ops, stat)(a, dim, keepdim=keepdim, **kw),
                _ops.mean(a, dim, keepdim=keepdim))
    fn.__name__ = f"{stat}_mean"
    fn.__doc__ = f"({stat}, mean) over ``dim`` (PyTorch's {stat}_mean)."
    return fn


std_mean, var_mean = _std_var_mean("std"), _std_var_mean("var")


def _inplace_op(name: str, op: Any) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return self._inplace(name, op(self.detach(), *args, **kwargs).array)
    method.__name__ = name
    return method


METHODS: dict[str, Any] = {
    "dim": _dim, "ndimension": _dim, "nelement": Tensor.numel, "type": _type, "cuda": _cuda,
    "cpu": _cpu, "long": _as(dtypes.int64), "int": _as(dtypes.int32),
    "short": _as(dtypes.int16), "half": _as(dtypes.float16), "bool": _as(dtypes.bool),
    "byte": _as(dtypes.uint8), "char": _as(dtypes.int8),
    "view_as": lambda self, other: _ops.reshape(self, other.shape),
    "reshape_as": lambda self, other: _ops.reshape(self, other.shape),
    "expand_as": lambda self, other: _ops.expand(self, other.shape),
    "type_as": lambda self, other: self.to(other.dtype),
    "contiguous": lambda self, memory_format=None: self,
    "is_contiguous": lambda self, memory_format=None: bool(self.array.flags.c_contiguous),
    "is_floating_point": lambda self: self.dtype.kind == "f",
    "element_size": lambda self: self.dtype.itemsize,
    "new_zeros": _new("zeros"), "new_ones": _new("ones"), "new_empty": _new("empty"),
    "new_full": _new_full, "new_tensor": _new_tensor, "new": _new_legacy,
    "normal_": _normal_, "uniform_": _uniform_, "random_": _random_,
    "bernoulli_": _bernoulli_, "exponential_": _exponential_,
    "scatter_": _scatter_, "masked_fill_": _masked_fill_, "index_fill_": _index_fill_,
    "detach_": _detach_, "retain_grad": _retain_grad, "where": _where,
    "data_ptr": _data_ptr, "mT": property(lambda self: _ops.transpose(self, -2, -1)),
    "__mod__": _ops.remainder, "__rmod__": lambda self, o: _ops.remainder(o, self),
    "__floordiv__": _ops.floor_divide,
    "__rfloordiv__": lambda self, o: _ops.floor_divide(o, self),
    "lerp_": _inplace_op("lerp_", _ops.lerp), "addcmul_": _inplace_op("addcmul_", _ops.addcmul),
    "addcdiv_": _inplace_op("addcdiv_", _ops.addcdiv),
    "floor_": _inplace_op("floor_", _ops.floor), "round_": _inplace_op("round_", _ops.round),
    "sign_": _inplace_op("sign_", _ops.sign), "square_": _inplace_op("square_", _ops.square),
    "reciprocal_": _inplace_op("reciprocal_", _ops.reciprocal),
    "rsqrt_": _inplace_op("rsqrt_", _ops.rsqrt),
    "remainder_": _inplace_op("remainder_", _ops.remainder),
    "tril_": _inplace_op("tril_", _ops.tril), "triu_": _inplace_op("triu_", _ops.triu),
    "abs_": _inplace_op("abs_", _ops.abs), "neg_": _inplace_op("neg_", _ops.neg),
    "exp_": _inplace_op("exp_", _ops.exp), "sqrt_": _inplace_op("sqrt_", _ops.sqrt),
    "pow_": _inplace_op("pow_", _ops.pow), "log_": _inplace_op("log_", _ops.log),
    "tanh_": _inplace_op("tanh_", _ops.tanh), "sigmoid_": _inplace_op("sigmoid_", _ops.sigmoid),
    "relu_": _inplace_op("relu_", _ops.relu),
    "__and__": lambda self, o: Tensor(self.array & (o.array if isinstance(o, Tensor) else o)),
    "__or__": lambda self, o: Tensor(self.array | (o.array if isinstance(o, Tensor) else o)),
    "__xor__": lambda self, o: Tensor(self.array ^ (o.array if isinstance(o, Tensor) else o)),
    "__invert__": lambda self: Tensor(~self.array),
    "__float__": lambda self: float(self.item()),
    "__int__": lambda self: int(self.item()),
}


def install() -> None:
    for name, fn in METHODS.items():
        if name not in Tensor.__dict__:
            setattr(Tensor, name, fn)
