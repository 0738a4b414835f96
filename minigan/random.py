"""minigan's own random generator: init, dropout, noise and data order all draw from it, so one
``mg.manual_seed(s)`` reproduces a run."""

from __future__ import annotations

from typing import Any

import numpy as np

from .distributed.shard import full_shape
from .tensor import DEFAULT_DTYPE, Tensor, _xp_for

_STATE: dict[str, Any] = {"rng": np.random.default_rng(0), "cuda": None}


def manual_seed(seed: int) -> None:
    """Reseed every generator minigan uses (CPU, and CUDA when it is in use)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    _STATE["rng"] = np.random.default_rng(int(seed))
    _STATE["cuda"] = None
    _STATE["seed"] = int(seed)


def generator() -> np.random.Generator:
    """The CPU generator (a NumPy Generator)."""
    return _STATE["rng"]


def _cuda_generator() -> Any:
    if _STATE["cuda"] is None:
        import cupy

        seed = int(_STATE["rng"].integers(2**63 - 1))
        _STATE["cuda"] = cupy.random.default_rng(seed)
    return _STATE["cuda"]


def get_rng_state() -> dict:
    """A plain-data snapshot of the CPU generator (for checkpoints)."""
    return _STATE["rng"].bit_generator.state


def set_rng_state(state: dict) -> None:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    _STATE["rng"] = rng


def _draw(kind: str, shape: tuple, dtype: Any, device: str, **kw: Any) -> Any:
    dtype = np.dtype(dtype or DEFAULT_DTYPE)
    _xp_for(device)
    rng = _STATE["rng"] if device == "cpu" else _cuda_generator()
    # Data parallel: the whole global batch is drawn and this rank keeps its rows.
    shape, rows = full_shape(shape)
    if kind == "normal":
        out = rng.standard_normal(shape, dtype=dtype if dtype.kind == "f" else np.float64)
    elif kind == "uniform":
        out = rng.random(shape, dtype=dtype if dtype.kind == "f" else np.float64)
    else:
        raise ValueError(kind)
    return out.astype(dtype, copy=False) if rows is None else out[rows].astype(dtype, copy=False)


def _shape(shape: tuple) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def randn(*shape: Any, dtype: Any = None, device: str = "cpu",
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    t = Tensor(_draw("normal", _shape(shape), dtype, device))
    return t.requires_grad_() if requires_grad else t


def rand(*shape: Any, dtype: Any = None, device: str = "cpu",
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    t = Tensor(_draw("uniform", _shape(shape), dtype, device))
    return t.requires_grad_() if requires_grad else t


def randint(low: int, high: int, shape: Any, device: str = "cpu") -> Tensor:
    """Integers in [low, high) as int64."""
    rng = _STATE["rng"] if device == "cpu" else _cuda_generator()
    shape, rows = full_shape(tuple(shape) if isinstance(shape, (tuple, list)) else (shape,))
    out = rng.integers(low, high, size=shape, dtype=np.int64)
    return Tensor(out if rows is None else out[rows])


def permutation(n: int) -> np.ndarray:
    return _STATE["rng"].permutation(n)
