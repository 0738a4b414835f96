"""PyTorch's remaining top-level factories and queries: arange, linspace, eye, from_numpy,
as_tensor, is_tensor, numel, set_printoptions."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from . import dtypes
from .tensor import Tensor, _xp_for, tensor


def _made(arr: Any, requires_grad: bool) -> Tensor:
    t = Tensor(arr)
    return t.requires_grad_() if requires_grad else t


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None,
           device: Any = "cpu", requires_grad: bool = False) -> Tensor:
    """start, start + step, ... below end (``arange(n)``: 0..n-1). As in PyTorch the dtype is
    int64 when every bound is an int, else the default floating dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (builtins.int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if ints else dtypes.get_default_dtype()
    # Counted in float64 then cast: float32 steps accumulate no error this way.
    arr = np.arange(start, end, step, dtype=np.float64 if dtypes.as_dtype(dtype).kind == "f"
                    else None).astype(dtypes.as_dtype(dtype))
    return _made(_xp_for(device).asarray(arr), requires_grad)


def linspace(start: float, end: float, steps: builtins.int, *, dtype: Any = None,
             device: Any = "cpu", requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive."""
    dt = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    arr = np.linspace(start, end, steps, dtype=np.float64).astype(dt)
    return _made(_xp_for(device).asarray(arr), requires_grad)


def eye(n: builtins.int, m: Any = None, *, dtype: Any = None, device: Any = "cpu",
        requires_grad: bool = False) -> Tensor:
    dt = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    return _made(_xp_for(device).eye(n, m, dtype=dt), requires_grad)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing ``arr``'s memory (writes through either show in both)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(arr).__name__}")
    return Tensor(arr)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like :func:`tensor`, but shares memory with a tensor or array that already has the
    requested dtype and device."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    if isinstance(data, np.ndarray) and (device is None or device == "cpu") and (
            dtype is None or np.dtype(dtypes.as_dtype(dtype)) == data.dtype):
        return Tensor(data)
    return tensor(data, dtype=dtype, device="cpu" if device is None else device)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(t: Tensor) -> bool:
    return t.dtype.kind == "f"


def numel(t: Tensor) -> builtins.int:
    return t.numel()


def set_printoptions(precision: Any = None, threshold: Any = None, edgeitems: Any = None,
                     linewidth: Any = None, profile: Any = None, sci_mode: Any = None) -> None:
    """Passed to NumPy's print options, which minigan's tensor repr uses."""
    opts = {k: v for k, v in (("precision", precision), ("threshold", threshold),
                              ("edgeitems", edgeitems), ("linewidth", linewidth)) if v is not None}
    if sci_mode is not None:
        opts["suppress"] = not sci_mode
    np.set_printoptions(**opts)
