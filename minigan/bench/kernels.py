"""``minigan bench kernels``: every benchmark-sized row of the parity table
(:mod:`minigan.kernels.table`) per CPU backend, each backend in a process of its own: median
time over repeats after warm-up, GFLOP/s (or GB/s for memory-bound kernels), the speed-up against
the ``numpy`` reference measured in the same run, and the largest error against the reference
computed in float64. A backend without its own kernel for a row is listed as a fallback."""

from __future__ import annotations

import copy
import statistics
from typing import Any

import numpy as np

from .. import backends
from .runner import (
    _cpu_backends,
    _max_err,
    _upcast,
    in_child,
    machine_info,
    time_call,
    time_interleaved,
)


def _rate(entry: dict[str, Any], case: Any, dtype: np.dtype) -> None:
    med = entry["median_s"]
    if case.flops:
        entry["gflops"] = case.flops / med / 1e9
    elif case.bytes:
        entry["gbps"] = case.bytes * dtype.itemsize / 4 / med / 1e9


def _rows(only: str | None, bench_rows: bool) -> list:
    from ..kernels import table

    return [c for c in table.rows(bench=bench_rows, device="cpu") if not only or only in c.name]


def kernel_entries(backend: str, dtype_name: str, only: str | None, bench_rows: bool,
                   repeats: int, warmup: int) -> list[dict[str, Any]]:
    """One backend's entry per row (run in a process of its own by :func:`bench_kernels`):
    status, max error against the float64 reference, median and fastest seconds."""
    from ..kernels import registry

    backends.use(backend)  # its thread settings too (BLAS on every thread for numpy)
    dtype = np.dtype(dtype_name)
    out = []
    for case in _rows(only, bench_rows):
        fn = registry.get(case.kernel, "cpu", backend=backend)
        entry: dict[str, Any] = {"kernel": case.kernel, "shape": case.label,
                                 "backend": backend, "dtype": dtype.name}
        if backend != "numpy" and fn is registry.reference(case.kernel):
            entry["status"] = "fallback"
        else:
            args, kwargs = case.arguments(dtype)
            ref = case.run(registry.reference(case.kernel), _upcast(args, dtype),
                           _upcast(kwargs, dtype))
            entry.update(status="ok", max_err=_max_err(case.run(fn, args, kwargs), ref))
            a, k = copy.deepcopy(args), copy.deepcopy(kwargs)   # in-place kernels
            times = time_call(lambda: fn(*a, **k), repeats, warmup)
            entry.update(median_s=statistics.median(times), min_s=min(times), repeats=repeats)
            _rate(entry, case, dtype)
        out.append(entry)
    return out


def bench_kernels(backend_names: str | None = None, repeats: int = 10, warmup: int = 2,
                  dtype: Any = np.float32, only: str | None = None, bench_rows: bool = True,
                  progress: bool = True, isolate: bool = True) -> dict[str, Any]:
    """Time every benchmark row (or the test-sized rows with ``bench_rows=False``; ``only``
    keeps rows whose name contains it) on each CPU backend; returns a JSON-able dict.

    With ``isolate`` (the default) each backend runs in a process of its own (see
    :func:`in_child`); ``isolate=False`` times them in this process, taking turns per row."""
    from ..gan.progress import Progress

    names = _cpu_backends(backend_names)
    dtype = np.dtype(dtype)
    if isolate:
        bar = Progress(len(names), enabled=progress)
        per_backend = []
        for i, b in enumerate(names):
            per_backend.append(in_child("minigan.bench.kernels:kernel_entries", b, dtype.name,
                                        only, bench_rows, repeats, warmup))
            bar.update(i + 1, b)
        bar.close()
        results = [e for row in zip(*per_backend) for e in row]
    else:
        results = _kernels_same_process(names, dtype, only, bench_rows, repeats, warmup,
                                        progress)
    base = None
    for e in results:  # rows come numpy first, then the other backends
        if e["backend"] == "numpy":
            base = e.get("median_s")
        if e["status"] == "ok":
            e["speedup"] = base / e["median_s"] if base else None
    return {"kind": "kernels", "machine": machine_info(), "repeats": repeats, "warmup": warmup,
            "isolated_processes": isolate, "results": results}


def _kernels_same_process(names: list[str], dtype: np.dtype, only: str | None,
                          bench_rows: bool, repeats: int, warmup: int,
                          progress: bool) -> list[dict[str, Any]]:
    from ..gan.progress import Progress
    from ..kernels import registry

    rows = _rows(only, bench_rows)
    bar = Progress(len(rows) * len(names), enabled=progress)
    results = []
    for i, case in enumerate(rows):
        args, kwargs = case.arguments(dtype)
        ref = case.run(registry.reference(case.kernel), _upcast(args, dtype),
                       _upcast(kwargs, dtype))
        entries, fns = [], []
        for b in names:
            fn = registry.get(case.kernel, "cpu", backend=b)
            entry: dict[str, Any] = {"kernel": case.kernel, "shape": case.label, "backend": b,
                                     "dtype": dtype.name}
            if b != "numpy" and fn is registry.reference(case.kernel):
                entry["status"] = "fallback"
            else:
                entry.update(status="ok", max_err=_max_err(case.run(fn, args, kwargs), ref))
                a, k = copy.deepcopy(args), copy.deepcopy(kwargs)   # in-place kernels
                fns.append(lambda fn=fn, a=a, k=k: fn(*a, **k))
            entries.append(entry)
        timed = iter(time_interleaved(fns, repeats, warmup))
        for entry in entries:
            if entry["status"] == "ok":
                times = next(timed)
                entry.update(median_s=statistics.median(times), min_s=min(times),
                             repeats=repeats)
                _rate(entry, case, dtype)
            results.append(entry)
        bar.update((i + 1) * len(names), case.name)
    bar.close()
    return results


def format_kernels(report: dict[str, Any]) -> str:
    head = ("kernel", "shape", "backend", "median ms", "rate", "speed-up", "max err")
    lines = [head]
    for e in report["results"]:
        if e["status"] != "ok":
            lines.append((e["kernel"], e["shape"], e["backend"], "-", "-", "fallback", "-"))
            continue
        rate = (f"{e['gflops']:.1f} GFLOP/s" if "gflops" in e else
                f"{e['gbps']:.2f} GB/s" if "gbps" in e else "-")
        sp = f"{e['speedup']:.2f}x" if e.get("speedup") else "-"
        lines.append((e["kernel"], e["shape"], e["backend"], f"{e['median_s'] * 1e3:.3f}",
                      rate, sp, f"{e['max_err']:.1e}"))
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
