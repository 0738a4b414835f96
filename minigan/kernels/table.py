"""The parity table: one row per (kernel, input shape) that drives the parity tests on every
backend present, and ``minigan bench kernels``.

A row says how to build the kernel's arguments for a dtype, which arrays to compare (the result,
or buffers a kernel updates in place), and how much work one call does (FLOPs and bytes moved),
so the same row gives a pass/fail against the NumPy reference and a GFLOP/s or GB/s figure.
Tolerances come from :data:`minigan.diagnostics.gradcheck.TOLERANCE` (scaled by the dtype and
the reference's magnitude) unless a row states its own with the reason.

Family modules add their rows with :func:`add` at import time.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class KernelCase:
    kernel: str                                   # registry name, e.g. "conv2d_forward"
    label: str                                    # shape description shown in tables
    make: Callable[[np.random.Generator, np.dtype], tuple[tuple, dict]]  # -> (args, kwargs)
    outputs: Callable[[tuple, Any], tuple] | None = None  # (args, result) -> arrays to compare
    flops: float = 0.0                            # per call, for GFLOP/s (0: report GB/s)
    bytes: float = 0.0                            # per call (float32), for GB/s
    tol: dict = field(default_factory=dict)       # dtype -> (rtol, atol) overrides, with reason
    bench: bool = False                           # a benchmark-sized row (skipped by tests)
    devices: tuple[str, ...] = ("cpu", "cuda")    # where its benchmark runs (GPU-sized rows)

    @property
    def name(self) -> str:
        return f"{self.kernel}[{self.label}]"

    def arguments(self, dtype: Any, seed: int = 0) -> tuple[tuple, dict]:
        return self.make(np.random.default_rng(seed), np.dtype(dtype))

    def run(self, fn: Callable, args: tuple, kwargs: dict) -> tuple:
        """Call fn on a deep copy of the arguments (kernels may update buffers in place) and
        return the arrays to compare."""
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        result = fn(*args, **kwargs)
        if self.outputs is not None:
            return tuple(self.outputs(args, result))
        return tuple(result) if isinstance(result, tuple) else (result,)


CASES: list[KernelCase] = []


def add(*cases: KernelCase) -> None:
    names = {c.name for c in CASES}
    for c in cases:
        if c.name in names:
            raise ValueError(f"parity table: duplicate row {c.name}")
        CASES.append(c)
        names.add(c.name)


def rows(bench: bool = False, device: str | None = None) -> list[KernelCase]:
    """Test-sized rows (or benchmark-sized ones, for ``device`` when given), after importing
    every kernel family."""
    from .. import kernels  # noqa: F401  (imports every family, which adds its rows)

    return [c for c in CASES if c.bench == bench and (device is None or device in c.devices)]
