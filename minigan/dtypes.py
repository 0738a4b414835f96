"""PyTorch's dtype names over NumPy dtypes, and the default floating dtype.

``mg.float32`` *is* ``np.dtype("float32")``: every array minigan makes already carries one, so
``t.dtype == mg.float32`` and ``np.zeros(3, mg.float64)`` both work with no translation layer.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - PyTorch's names
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001

# Legacy type strings ("torch.FloatTensor") and the class names they stand for.
TYPE_NAMES = {"FloatTensor": float32, "DoubleTensor": float64, "HalfTensor": float16,
              "LongTensor": int64, "IntTensor": int32, "ShortTensor": int16,
              "CharTensor": int8, "ByteTensor": uint8, "BoolTensor": bool}
_NAME_OF = {v: k for k, v in TYPE_NAMES.items()}

_DEFAULT = [float32]


def get_default_dtype() -> np.dtype:
    """The dtype of floating tensors made from Python numbers (float32 unless changed)."""
    return _DEFAULT[0]


def set_default_dtype(d: Any) -> None:
    """Make ``d`` (float32 or float64, or float16) the default floating dtype."""
    dt = as_dtype(d)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _DEFAULT[0] = dt


def as_dtype(d: Any) -> np.dtype:
    """A NumPy dtype from a dtype, a NumPy type, a Python type, or a name ("torch.float64",
    "torch.cuda.FloatTensor", "float32")."""
    if isinstance(d, np.dtype):
        return d
    if d is builtins.float:  # PyTorch: Python float means the default dtype
        return _DEFAULT[0]
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool
    if isinstance(d, str):
        name = d.rsplit(".", 1)[-1]
        if name in TYPE_NAMES:
            return TYPE_NAMES[name]
        try:
            return np.dtype(name)
        except TypeError:
            raise TypeError(f"dtype: unknown dtype name {d!r}") from None
    try:
        return np.dtype(d)
    except TypeError:
        raise TypeError(f"dtype: expected a dtype such as mg.float32, got {d!r}") from None


def type_name(dt: np.dtype, cuda: bool = False) -> str:
    """PyTorch's legacy name of a tensor type: 'torch.FloatTensor', 'torch.cuda.LongTensor'."""
    base = _NAME_OF.get(np.dtype(dt), f"{np.dtype(dt).name}Tensor")
    return f"torch.{'cuda.' if cuda else ''}{base}"
