"""minigan's own random generator: init, dropout, noise and data order all draw from it, so one
``mg.manual_seed(s)`` reproduces a run."""

from __future__ import annotations

import json
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


class Generator:
    """PyTorch's ``torch.Generator``: a random stream of its own, for the ``generator=``
    argument of the random functions, the in-place fills, DataLoader and random_split. The
    numbers are NumPy's PCG64 (CuPy's on ``device="cuda"``), not PyTorch's Mersenne Twister: one
    seed gives the same draws run to run, not PyTorch's draws."""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = normalize(device)
        self.manual_seed(67280421310721)  # PyTorch's default initial seed

    def manual_seed(self, seed: int) -> Generator:
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
        self._seed = int(seed)
        if self.device == "cpu":
            self._rng = np.random.default_rng(self._seed)
        else:
            self._rng = _xp_for("cuda").random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the seed."""
        s = int(np.random.SeedSequence().entropy % (2**63))
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        """The state as a uint8 tensor (the JSON of the bit generator's state), for set_state."""
        if self.device != "cpu":
            raise NotImplementedError("get_state: only a CPU generator's state can be read")
        raw = json.dumps(self._rng.bit_generator.state).encode()
        return Tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        if self.device != "cpu":
            raise NotImplementedError("set_state: only a CPU generator's state can be set")
        raw = np.asarray(new_state.numpy() if isinstance(new_state, Tensor) else new_state,
                         dtype=np.uint8)
        self._rng.bit_generator.state = json.loads(raw.tobytes().decode())
        return self


def _rng(generator: Any, device: str) -> Any:
    """The stream to draw from: ``generator``'s, else minigan's global one for the device."""
    if generator is None:
        return _STATE["rng"] if device == "cpu" else _cuda_generator()
    if not isinstance(generator, Generator):
        raise TypeError(f"generator: expected a minigan.Generator, got "
                        f"{type(generator).__name__}")
    if generator.device != device:
        raise ValueError(f"generator: a {generator.device} generator cannot draw numbers for "
                         f"device {device!r}")
    return generator._rng


def get_rng_state() -> dict:
    """A plain-data snapshot of the CPU generator (for checkpoints)."""
    return _STATE["rng"].bit_generator.state


def set_rng_state(state: dict) -> None:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    _STATE["rng"] = rng


def _draw(kind: str, shape: tuple, dtype: Any, device: str, generator: Any = None) -> Any:
    dtype = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    device = normalize(device)
    _xp_for(device)
    rng = _rng(generator, device)
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
    t = Tensor(_draw("normal", _shape(shape) if size is None else tuple(size), dtype, device,
                     generator))
    return t.requires_grad_() if requires_grad else t


def rand(*shape: Any, size: Any = None, dtype: Any = None, device: Any = "cpu",
         requires_grad: bool = False, generator: Any = None, out: Any = None) -> Tensor:
    """Uniform samples in [0, 1)."""
    t = Tensor(_draw("uniform", _shape(shape) if size is None else tuple(size), dtype, device,
                     generator))
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
    rng = _rng(generator, device)
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
    out = _rng(generator, "cpu").permutation(n).astype(dtypes.as_dtype(dtype or dtypes.int64))
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
    return Tensor(_draw("normal", shape, dtype, device, generator) * s + m)


def bernoulli(p: Tensor, generator: Any = None) -> Tensor:
    """1 with probability p, else 0, elementwise (p's dtype and shape)."""
    u = _draw("uniform", p.shape, p.dtype, p.device, generator)
    return Tensor((u < p.array).astype(p.dtype))


def multinomial(probs: Tensor, num_samples: int, replacement: bool = False,
                generator: Any = None) -> Tensor:
    """Indices drawn with probability proportional to ``probs`` (1-d, or one row per draw)."""
    p = np.asarray(probs.numpy(), dtype=np.float64)
    rows = p.reshape(-1, p.shape[-1])
    if not replacement and num_samples > rows.shape[1]:
        raise ValueError(f"num_samples: {num_samples} > {rows.shape[1]} categories without "
                         "replacement")
    rng = _rng(generator, "cpu")
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


def permutation(n: int, generator: Any = None) -> np.ndarray:
    return _rng(generator, "cpu").permutation(n)
