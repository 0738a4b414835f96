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
    nonfinite: bool = False                       # NaN/inf inputs (see :func:`nonfinite`)

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


def rows(bench: bool = False, device: str | None = None,
         nonfinite: bool = False) -> list[KernelCase]:
    """Test-sized rows (or benchmark-sized ones, for ``device`` when given), after importing
    every kernel family; with ``nonfinite`` also the rows with NaN/inf inputs (checked on the
    CPU backends, and on the GPU backends under emulation: tests/kernels/cuda_emulator/)."""
    from .. import kernels  # noqa: F401  (imports every family, which adds its rows)

    return [c for c in CASES if c.bench == bench and (device is None or device in c.devices)
            and (nonfinite or not c.nonfinite)]


def nonfinite(case: KernelCase, *args: int | str) -> KernelCase:
    """``case`` with NaN, +inf and -inf in the arguments ``args`` (positions or keyword names):
    an array gets them at its first, middle and last element (the first catches a kernel that
    shifts its sums by the first value), a float argument becomes NaN. Accelerated kernels must
    propagate them exactly as the reference does, so that the NaN guard and the diagnosis see
    what happened; the comparison (:func:`minigan.diagnostics.gradcheck.assert_close`) wants
    NaN where the reference has NaN and the same infinities."""

    def poison(value: Any) -> Any:
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
            value = value.copy()
            flat = value.reshape(-1)
            for at, v in zip((0, flat.size // 2, flat.size - 1), (np.nan, np.inf, -np.inf)):
                flat[at] = v
            return value
        if isinstance(value, float):
            return float("nan")
        if isinstance(value, list):  # the optimizers' lists of arrays: poison each
            return [poison(v) for v in value]
        raise TypeError(f"nonfinite: {case.name}: cannot poison {type(value).__name__}")

    def make(rng: np.random.Generator, dtype: np.dtype) -> tuple[tuple, dict]:
        a, kw = case.make(rng, dtype)
        a = list(a)
        for which in args:
            if isinstance(which, int):
                a[which] = poison(a[which])
            else:
                kw = {**kw, which: poison(kw[which])}
        return tuple(a), kw

    where = ",".join(str(w) for w in args)
    return KernelCase(case.kernel, f"{case.label},nan/inf in {where}", make, case.outputs,
                      case.flops, case.bytes, case.tol, False, case.devices, True)
