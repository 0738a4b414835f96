"""``minigan.cuda``: PyTorch's CUDA namespace over CuPy. Without a usable GPU the queries answer
(``is_available()`` is False, ``device_count()`` 0), seeding is a no-op as in PyTorch, and
anything that would put data on a GPU raises an error saying why (no CuPy, no device)."""

from __future__ import annotations

from typing import Any

from . import legacy
from . import random as _random


def _reason() -> str | None:
    from .backends import unavailable_reason

    return unavailable_reason("cupy")


def is_available() -> bool:
    """True when CuPy is installed and sees a GPU."""
    return _reason() is None


def device_count() -> int:
    if not is_available():
        return 0
    import cupy

    return int(cupy.cuda.runtime.getDeviceCount())


def current_device() -> int:
    _require()
    return 0


def get_device_name(device: Any = None) -> str:
    _require()
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def _require() -> None:
    reason = _reason()
    if reason is not None:
        raise RuntimeError(f"minigan.cuda: no usable GPU: {reason}")


def manual_seed(seed: int) -> None:
    """Reseed the GPU generator. As in PyTorch, this is silently ignored without a GPU (and
    minigan's one ``mg.manual_seed`` already reseeds both)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    if is_available():
        import cupy

        _random._STATE["cuda"] = cupy.random.default_rng(seed)


manual_seed_all = manual_seed


def synchronize(device: Any = None) -> None:
    """Wait for the GPU's queued work (a no-op without a GPU in use)."""
    if is_available():
        import cupy

        cupy.cuda.Device().synchronize()


def empty_cache() -> None:
    if is_available():
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()


_TYPES = legacy.make("cuda")
FloatTensor = _TYPES["FloatTensor"]
DoubleTensor = _TYPES["DoubleTensor"]
HalfTensor = _TYPES["HalfTensor"]
LongTensor = _TYPES["LongTensor"]
IntTensor = _TYPES["IntTensor"]
ByteTensor = _TYPES["ByteTensor"]
BoolTensor = _TYPES["BoolTensor"]
