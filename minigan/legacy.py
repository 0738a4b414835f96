"""PyTorch's legacy typed constructors: ``FloatTensor(2, 3)`` (uninitialized),
``FloatTensor([1, 2])`` (data), ``LongTensor(labels)``; ``mg.cuda.FloatTensor`` makes them on
the GPU. Each is also a type: ``t.type(FloatTensor)`` converts, ``isinstance(t, FloatTensor)``
checks dtype and device."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .tensor import Tensor, _xp_for


class LegacyType:
    """A callable standing for one (dtype, device) tensor type."""

    def __init__(self, name: str, dtype: np.dtype, device: str) -> None:
        self.__name__ = self.__qualname__ = name
        self._legacy_dtype, self._legacy_device = dtype, device

    def __call__(self, *args: Any) -> Tensor:
        xp = _xp_for(self._legacy_device)
        if args and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                        for a in args):
            return Tensor(xp.empty(tuple(int(a) for a in args), dtype=self._legacy_dtype))
        if len(args) > 1:
            raise TypeError(f"{self.__name__}: expected sizes (ints) or one sequence of data, "
                            f"got {len(args)} arguments")
        data = args[0] if args else []
        if isinstance(data, Tensor):
            data = data.numpy()
        elif type(data).__module__.startswith("cupy"):
            data = data.get()
        return Tensor(xp.asarray(np.asarray(data, dtype=self._legacy_dtype)))

    def __instancecheck__(self, obj: Any) -> bool:
        return (isinstance(obj, Tensor) and obj.dtype == self._legacy_dtype
                and obj.device == self._legacy_device)

    def __repr__(self) -> str:
        cuda = "cuda." if self._legacy_device == "cuda" else ""
        return f"<class 'minigan.{cuda}{self.__name__}'>"


def make(device: str) -> dict[str, LegacyType]:
    return {name: LegacyType(name, dt, device) for name, dt in dtypes.TYPE_NAMES.items()}
