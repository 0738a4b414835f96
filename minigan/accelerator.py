"""``minigan.accelerator``: PyTorch's device-agnostic accelerator questions, answered from
``minigan.cuda`` (the one accelerator minigan drives, through CuPy)."""

from __future__ import annotations

from . import cuda as _cuda
from ._device import device as _device_type


def is_available() -> bool:
    return _cuda.is_available()


def device_count() -> int:
    return _cuda.device_count()


def current_accelerator(check_available: bool = False) -> _device_type | None:
    """``device('cuda')`` when a GPU is usable, else None."""
    return _device_type("cuda") if _cuda.is_available() else None
