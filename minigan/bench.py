"""``minigan bench``: kernels against their NumPy references, and one GAN training step.

``bench kernels`` takes every benchmark-sized row of the parity table
(:mod:`minigan.kernels.table`) and, per CPU backend (each in a process of its own), reports the
median time over repeats after warm-up, GFLOP/s (or GB/s for memory-bound kernels), the
speed-up against the ``numpy`` reference measured in the same run, and the largest error
against the reference computed in float64. A backend without its own kernel for a row is listed
as a fallback, not timed.

``bench step`` (:mod:`minigan.bench_step`) times one full training step (D step, then G step)
of the dcgan-mnist model per backend, and the same model in PyTorch CPU when PyTorch is
installed (each in processes of its own, taking turns), as a ratio (minigan / torch: below 1
means minigan is faster).

With ``--device cuda`` both run on the GPU instead (CUDA backends, CUDA-event timing, L2
flushed between kernel calls, rates as a fraction of the GPU's peak, PyTorch CUDA beside the
step): see :mod:`minigan.bench_gpu`.

Speed is never asserted anywhere: these are measurements, noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import backends

# ---- machinery ------------------------------------------------------------------------------


def time_call(fn: Callable[[], Any], repeats: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn``: ``warmup`` untimed calls (JIT, caches, thread pools), then
    ``repeats`` timed ones."""
    return time_interleaved([fn], repeats, warmup)[0]


def time_interleaved(fns: list[Callable[[], Any]], repeats: int, warmup: int,
                     tick: Callable[[], None] | None = None,
                     settle: int = 0) -> list[list[float]]:
    """Like :func:`time_call` for several functions, taking turns: round r times every function
    once, so a change of machine load in the middle hits them all alike and their ratios stay
    meaningful on a shared machine. With ``settle``, each timed call follows that many untimed
    calls of the same function: taking turns between implementations with their own thread
    pools (BLAS's, OpenMP's, PyTorch's), the pool just used keeps spinning for a while, and
    that belongs to neither."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            for _ in range(settle):
                fn()
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
            if tick is not None:
                tick()
    return times


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on (recorded with every --json)."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info: dict[str, Any] = {
        "cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "threads": backends.num_threads(), "backends": backends.available(),
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    for mod in ("numba", "torch", "threadpoolctl"):
        m = sys.modules.get(mod)
        info[mod] = getattr(m, "__version__", None) if m else None
    if "threadpoolctl" in sys.modules or backends._installed("threadpoolctl"):
        from threadpoolctl import threadpool_info

        info["blas"] = [{"library": p.get("internal_api"), "threads": p.get("num_threads")}
                        for p in threadpool_info() if p.get("user_api") == "blas"]
    return info


def _cpu_backends(names: str | None) -> list[str]:
    avail = [b for b in backends.available() if backends.DEVICE[b] == "cpu"]
    if not names:
        return avail
    chosen = [backends._checked(n.strip()) for n in names.split(",") if n.strip()]
    for b in chosen:
        if backends.DEVICE[b] != "cpu":
            raise ValueError(f"--backends: {b!r} is not a CPU backend; CPU backends here: "
                             f"{', '.join(avail)}")
    return ["numpy", *[b for b in chosen if b != "numpy"]]  # numpy: the speed-up's reference


def _upcast(obj: Any, dtype: np.dtype) -> Any:
    if isinstance(obj, np.ndarray) and obj.dtype == dtype:
        return obj.astype(np.float64)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_upcast(o, dtype) for o in obj)
    if isinstance(obj, dict):
        return {k: _upcast(v, dtype) for k, v in obj.items()}
    return obj


def _max_err(got: tuple, want: tuple) -> float:
    """max |got - want| / max(1, max |want|) over the outputs: the error on the scale that
    minigan.diagnostics.gradcheck.assert_close uses."""
    worst = 0.0
    for a, r in zip(got, want):
        if a is None or r is None:
            continue
        a, r = np.asarray(a, np.float64), np.asarray(r, np.float64)
        if r.size:
            scale = max(1.0, float(np.max(np.abs(r))))
            worst = max(worst, float(np.max(np.abs(a - r))) / scale)
    return worst


def in_child(func: str, *args: Any) -> Any:
    """``minigan.bench.<func>(*args)`` (or ``module:func``) in a fresh interpreter, its JSON
    result back. Why: the thread pools of one implementation -- OpenBLAS's, OpenMP's, Numba's,
    PyTorch's -- keep spinning or sleeping by their own policies after a call, and in one
    process that lands on whoever runs next (measured here: native's D.conv2 forward 14.5 ms
    timed in turns with numba and numpy in one process, 2.9 ms alone)."""
    module, _, name = func.rpartition(":")
    # The child must import this very minigan: `python -c` puts the working directory first on
    # sys.path, and in a source checkout that is the tree without the compiled _C.
    code = ("import importlib, json, sys; sys.path.insert(0, sys.argv[3]); "
            "fn = getattr(importlib.import_module(sys.argv[1]), sys.argv[2]); "
            "print(json.dumps(fn(*json.loads(sys.argv[4]))))")
    home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-c", code, module or __name__, name, home,
                          json.dumps(list(args))], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"bench: {name}{tuple(args)} failed in its process:\n"
                           f"{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---- bench kernels --------------------------------------------------------------------------


def _rate(entry: dict[str, Any], case: Any, dtype: np.dtype) -> None:
    med = entry["median_s"]
    if case.flops:
        entry["gflops"] = case.flops / med / 1e9
    elif case.bytes:
        entry["gbps"] = case.bytes * dtype.itemsize / 4 / med / 1e9


def _rows(only: str | None, bench_rows: bool) -> list:
    from .kernels import table

    return [c for c in table.rows(bench=bench_rows, device="cpu") if not only or only in c.name]


def kernel_entries(backend: str, dtype_name: str, only: str | None, bench_rows: bool,
                   repeats: int, warmup: int) -> list[dict[str, Any]]:
    """One backend's entry per row (run in a process of its own by :func:`bench_kernels`):
    status, max error against the float64 reference, median and fastest seconds."""
    from .kernels import registry

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
    from .gan.progress import Progress

    names = _cpu_backends(backend_names)
    dtype = np.dtype(dtype)
    if isolate:
        bar = Progress(len(names), enabled=progress)
        per_backend = []
        for i, b in enumerate(names):
            per_backend.append(in_child("kernel_entries", b, dtype.name, only, bench_rows,
                                        repeats, warmup))
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
    from .gan.progress import Progress
    from .kernels import registry

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


# ---- command line ---------------------------------------------------------------------------


def add_command(sub: Any) -> None:
    """Register ``minigan bench kernels|step`` on the CLI's subparsers."""
    bench = sub.add_parser("bench", help="benchmark kernels against NumPy, or a training step",
                           description=__doc__.split("\n\n")[1])
    what = bench.add_subparsers(dest="what", metavar="{kernels,step}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backends",
                        help="comma-separated backends of the device (default: all here)")
    common.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cpu (default) or cuda: the GPU backends, timed with CUDA events")
    common.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    common.add_argument("--repeats", type=int, help="timed runs per measurement")
    common.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    common.add_argument("--same-process", action="store_true",
                        help="time every backend in this process (default: each in a process "
                             "of its own, so one's thread pools cannot slow another)")
    k = what.add_parser("kernels", parents=[common], help="every kernel family x backend")
    k.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    k.add_argument("--only", help="rows whose name contains this text")
    k.add_argument("--small", action="store_true",
                   help="the test-sized rows instead (a smoke run: numbers are not data)")
    s = what.add_parser("step", parents=[common], help="one GAN training step, vs PyTorch")
    s.add_argument("--preset", default="dcgan-mnist")
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    bench.set_defaults(func=cmd_bench, what=None)
    _DEFAULT.append(k)


_DEFAULT: list = []  # the `bench kernels` parser: a bare `minigan bench` means its defaults


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what is None:
        args = _DEFAULT[0].parse_args([])
        args.what = "kernels"
    what = args.what
    if args.device == "cuda":
        return _cmd_bench_cuda(args)
    if what == "kernels":
        report = bench_kernels(args.backends, args.repeats or 10, args.warmup, args.dtype,
                               args.only, not args.small, not args.quiet,
                               isolate=not args.same_process)
        text = format_kernels(report)
    else:
        from .bench_step import bench_step, format_step

        report = bench_step(args.preset, args.backends, args.repeats or 5, args.warmup,
                            args.batch, not args.no_torch, not args.quiet,
                            isolate=not args.same_process)
        text = format_step(report)
    return _finish(args, report, text)


def _finish(args: argparse.Namespace, report: dict[str, Any], text: str) -> int:
    report["machine"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _cmd_bench_cuda(args: argparse.Namespace) -> int:
    from . import bench_gpu

    try:
        backends.require_cupy()
        if args.what == "kernels":
            report = bench_gpu.bench_kernels(args.backends, args.repeats or 10, args.warmup,
                                             args.dtype, args.only, not args.small,
                                             not args.quiet)
            text = bench_gpu.format_kernels(report)
        else:
            report = bench_gpu.bench_step(args.preset, args.backends, args.repeats or 5,
                                          args.warmup, args.batch, not args.no_torch,
                                          not args.quiet)
            text = bench_gpu.format_step(report)
    except (RuntimeError, ValueError) as exc:  # no CuPy/driver/GPU, or a bad --backends
        print(f"minigan bench: error: {exc}", file=sys.stderr)
        return 2
    return _finish(args, report, text)
