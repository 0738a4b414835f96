"""minigan's own random generator: init, dropout, noise and data order all draw from it, so one
``mg.manual_seed(s)`` reproduces a run."""

from __future__ import annotations

from typing import Any

import numpy as np

from .distributed.shard import full_shape
from . import dtypes
from ._device import normalize
from .tensor import Tensor, _xp_for

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
    dtype = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    device = normalize(device)
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


def randn(*shape: Any, size: Any = None, dtype: Any = None, device: Any = "cpu",
          requires_grad: bool = False, generator: Any = None, out: Any = None) -> Tensor:
    """Standard normal samples: ``randn(2, 3)``, ``randn((2, 3))`` or ``randn(size=(2, 3))``."""
    t = Tensor(_draw("normal", _shape(shape) if size is None else tuple(size), dtype, device))
    return t.requires_grad_() if requires_grad else t


def rand(*shape: Any, size: Any = None, dtype: Any = None, device: Any = "cpu",
         requires_grad: bool = False, generator: Any = None, out: Any = None) -> Tensor:
    """Uniform samples in [0, 1)."""
    t = Tensor(_draw("uniform", _shape(shape) if size is None else tuple(size), dtype, device))
    return t.requires_grad_() if requires_grad else t


def randint(*args: Any, size: Any = None, dtype: Any = None, device: Any = "cpu",
            generator: Any = None, requires_grad: bool = False) -> Tensor:
    """Integers in [low, high) as int64, PyTorch's argument order: ``randint(high, size)`` or
    ``randint(low, high, size)`` (size a tuple; an int is taken as a 1-d length)."""
    if size is not None:
        args = (*args, size)
    if len(args) == 2:
        low, (high, shape) = 0, args
    elif len(args) == 3:
        low, high, shape = args
    else:
        raise TypeError("randint: expected (high, size) or (low, high, size)")
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    device = normalize(device)
    rng = _STATE["rng"] if device == "cpu" else _cuda_generator()
    shape, rows = full_shape(tuple(shape) if isinstance(shape, (tuple, list)) else (shape,))
    out = rng.integers(low, high, size=shape, dtype=np.int64)
    if dtype is not None:
        out = out.astype(dtypes.as_dtype(dtype))
    return Tensor(out if rows is None else out[rows])


def randn_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    return randn(t.shape, dtype=t.dtype if dtype is None else dtype,
                 device=t.device if device is None else device, requires_grad=requires_grad)


def rand_like(t: Tensor, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    return rand(t.shape, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device, requires_grad=requires_grad)


def randint_like(t: Tensor, low: int, high: Any = None, dtype: Any = None,
                 device: Any = None) -> Tensor:
    low, high = (0, low) if high is None else (low, high)
    return randint(low, high, t.shape, dtype=t.dtype if dtype is None else dtype,
                   device=t.device if device is None else device)


def randperm(n: int, dtype: Any = None, device: Any = "cpu", generator: Any = None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    out = _STATE["rng"].permutation(n).astype(dtypes.as_dtype(dtype or dtypes.int64))
    return Tensor(_xp_for(normalize(device)).asarray(out))


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, dtype: Any = None,
           device: Any = "cpu", generator: Any = None) -> Tensor:
    """Samples of N(mean, std^2); mean/std numbers (then ``size`` is required) or tensors
    (broadcast together, the result has their shape)."""
    m = mean.array if isinstance(mean, Tensor) else mean
    s = std.array if isinstance(std, Tensor) else std
    like = next((x for x in (mean, std) if isinstance(x, Tensor)), None)
    if like is not None:
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        dtype, device = like.dtype, like.device
    elif size is None:
        raise TypeError("normal: with number mean and std, size= is required")
    else:
        shape = (size,) if isinstance(size, int) else tuple(size)
    return Tensor(_draw("normal", shape, dtype, device) * s + m)


def bernoulli(p: Tensor, generator: Any = None) -> Tensor:
    """1 with probability p, else 0, elementwise (p's dtype and shape)."""
    u = _draw("uniform", p.shape, p.dtype, p.device)
    return Tensor((u < p.array).astype(p.dtype))


def multinomial(probs: Tensor, num_samples: int, replacement: bool = False,
                generator: Any = None) -> Tensor:
    """Indices drawn with probability proportional to ``probs`` (1-d, or one row per draw)."""
    p = np.asarray(probs.numpy(), dtype=np.float64)
    rows = p.reshape(-1, p.shape[-1])
    if not replacement and num_samples > rows.shape[1]:
        raise ValueError(f"num_samples: {num_samples} > {rows.shape[1]} categories without "
                         "replacement")
    rng = _STATE["rng"]
    out = np.stack([rng.choice(r.size, num_samples, replace=replacement, p=r / r.sum())
                    for r in rows]).astype(np.int64)
    return Tensor(_xp_for(probs.device).asarray(out.reshape(*p.shape[:-1], num_samples)))


def seed() -> int:
    """Reseed from the operating system's entropy; returns the seed."""
    s = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(s)
    return s


def initial_seed() -> int:
    return int(_STATE.get("seed", 0))


def permutation(n: int) -> np.ndarray:
    return _STATE["rng"].permutation(n)
