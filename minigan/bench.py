"""``minigan bench``: kernels against their NumPy references, and one GAN training step.

``bench kernels`` takes every benchmark-sized row of the parity table
(:mod:`minigan.kernels.table`) and, per CPU backend, reports the median time over repeats after
warm-up, GFLOP/s (or GB/s for memory-bound kernels), the speed-up against the ``numpy``
reference measured in the same run, and the largest error against the reference computed in
float64. A backend without its own kernel for a row is listed as a fallback, not timed.

``bench step`` times one full training step (D step, then G step) of the dcgan-mnist model per
backend, and the same model in PyTorch CPU when PyTorch is installed (each in processes of its
own, taking turns), as a ratio (minigan / torch: below 1 means minigan is faster). The model
code lives in :mod:`minigan.bench_models` so the training-parity tests run it too.

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


# ---- bench kernels --------------------------------------------------------------------------


def bench_kernels(backend_names: str | None = None, repeats: int = 10, warmup: int = 2,
                  dtype: Any = np.float32, only: str | None = None, bench_rows: bool = True,
                  progress: bool = True) -> dict[str, Any]:
    """Time every benchmark row (or the test-sized rows with ``bench_rows=False``; ``only``
    keeps rows whose name contains it) on each CPU backend; returns a JSON-able dict."""
    from .gan.progress import Progress
    from .kernels import registry, table

    names = _cpu_backends(backend_names)
    dtype = np.dtype(dtype)
    rows = [c for c in table.rows(bench=bench_rows) if not only or only in c.name]
    bar = Progress(len(rows) * len(names), enabled=progress)
    results = []
    done = 0
    for case in rows:
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
        base = None
        for entry in entries:
            if entry["status"] == "ok":
                times = next(timed)
                med = statistics.median(times)
                entry.update(median_s=med, min_s=min(times), repeats=repeats)
                if case.flops:
                    entry["gflops"] = case.flops / med / 1e9
                elif case.bytes:
                    entry["gbps"] = case.bytes * dtype.itemsize / 4 / med / 1e9
                if entry["backend"] == "numpy":
                    base = med
                entry["speedup"] = base / med if base else None
            results.append(entry)
        done += len(names)
        bar.update(done, case.name)
    bar.close()
    return {"kind": "kernels", "machine": machine_info(), "repeats": repeats, "warmup": warmup,
            "results": results}


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


# ---- bench step -----------------------------------------------------------------------------


def _child_times(impl: str, preset: str, batch: int, repeats: int, warmup: int) -> list[float]:
    """In a fresh interpreter (see :func:`bench_step`): build one implementation's step, warm it
    up, and return the seconds of ``repeats`` timed steps."""
    from . import bench_models as M

    if impl == "torch":
        import torch

        torch.set_num_threads(backends.num_threads())
        step = M.make_torch_step(preset, batch=batch, seed=0)
    else:
        backends.use(impl)
        step = M.make_minigan_step(preset, batch=batch, seed=0)
    return time_interleaved([step], repeats, warmup)[0]


def _times_in_child(impl: str, preset: str, batch: int, repeats: int, warmup: int) -> list[float]:
    # The child must import this very minigan: `python -c` puts the working directory first on
    # sys.path, and in a source checkout that is the tree without the compiled _C.
    code = ("import json, sys; sys.path.insert(0, sys.argv[2]); "
            "from minigan.bench import _child_times; "
            "print(json.dumps(_child_times(*json.loads(sys.argv[1]))))")
    arg = json.dumps([impl, preset, batch, repeats, warmup])
    home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-c", code, arg, home], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"bench step: the {impl} run failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def bench_step(preset: str = "dcgan-mnist", backend_names: str | None = None, repeats: int = 5,
               warmup: int = 2, batch: int = 64, use_torch: bool = True,
               progress: bool = True, isolate: bool = True) -> dict[str, Any]:
    """Median seconds of one D step + G step per CPU backend, and in PyTorch when present.

    With ``isolate`` (the default) every implementation runs in processes of its own, in turns
    (up to 3 rounds of a process per implementation, the repeats split between them): thread
    pools of one implementation -- OpenBLAS's, OpenMP's, PyTorch's -- keep spinning or sleeping
    by their own policies after a call, and in one process that lands on whoever runs next
    (measured here: PyTorch's step 46-64 ms beside minigan's, depending on minigan's OpenMP wait
    policy, against 51 ms alone). ``isolate=False`` times all of them in this process, in turns.
    """
    from . import bench_models as M
    from .gan.progress import Progress

    if preset not in M.PRESETS:
        raise ValueError(f"--preset: unknown {preset!r}; expected one of {', '.join(M.PRESETS)}")
    names = _cpu_backends(backend_names)
    torch_ok = use_torch and backends._installed("torch")
    n_impl = len(names) + torch_ok
    if isolate:
        return _bench_step_isolated(preset, names, torch_ok, repeats, warmup, batch, progress)
    bar = Progress(n_impl * (repeats + 1), enabled=progress)  # building, then timed steps
    impls, steps = [], []
    for b in names:
        with backends.use(b):
            step = M.make_minigan_step(preset, batch=batch, seed=0)
        # The backend is looked up per kernel call, so each step runs inside its own use().
        steps.append(lambda b=b, step=step: _run_with(b, step))
        impls.append({"impl": f"minigan/{b}", "backend": b})
        bar.update(len(steps), f"built {b}")
    if torch_ok:
        import torch

        torch.set_num_threads(backends.num_threads())
        steps.append(M.make_torch_step(preset, batch=batch, seed=0))
        impls.append({"impl": "torch", "backend": "torch",
                      "torch_threads": torch.get_num_threads()})
        bar.update(len(steps), "built torch")
    count = [n_impl]

    def tick() -> None:
        count[0] += 1
        bar.update(count[0], "timing")

    timed = time_interleaved(steps, repeats, warmup, tick, settle=1)
    bar.close()
    return _step_report(preset, batch, repeats, warmup, impls, timed, isolated=False)


def _bench_step_isolated(preset: str, names: list[str], torch_ok: bool, repeats: int,
                         warmup: int, batch: int, progress: bool) -> dict[str, Any]:
    from .gan.progress import Progress

    impls = [{"impl": f"minigan/{b}", "backend": b} for b in names]
    if torch_ok:
        impls.append({"impl": "torch", "backend": "torch",
                      "torch_threads": backends.num_threads()})
    rounds = max(1, min(3, repeats))
    per_round = [repeats // rounds + (r < repeats % rounds) for r in range(rounds)]
    bar = Progress(rounds * len(impls), enabled=progress)
    timed: list[list[float]] = [[] for _ in impls]
    for r, n in enumerate(per_round):
        for i, entry in enumerate(impls):
            timed[i] += _times_in_child(entry["backend"], preset, batch, n, warmup)
            bar.update(r * len(impls) + i + 1, f"round {r + 1}: {entry['impl']}")
    bar.close()
    return _step_report(preset, batch, repeats, warmup, impls, timed, isolated=True)


def _step_report(preset: str, batch: int, repeats: int, warmup: int, impls: list[dict],
                 timed: list[list[float]], isolated: bool) -> dict[str, Any]:
    results = []
    for entry, times in zip(impls, timed):
        results.append({**entry, "median_s": statistics.median(times), "min_s": min(times),
                        "repeats": repeats})
    torch_t = next((r["median_s"] for r in results if r["impl"] == "torch"), None)
    numpy_t = results[0]["median_s"]
    for r in results:
        r["vs_numpy"] = numpy_t / r["median_s"]
        r["ratio_to_torch"] = r["median_s"] / torch_t if torch_t else None
    return {"kind": "step", "preset": preset, "batch": batch, "machine": machine_info(),
            "repeats": repeats, "warmup": warmup, "isolated_processes": isolated,
            "results": results}


def _run_with(backend: str, step: Callable[[], Any]) -> Any:
    with backends.use(backend):
        return step()


def format_step(report: dict[str, Any]) -> str:
    where = ("each in processes of its own" if report.get("isolated_processes")
             else "all in one process")
    lines = [f"one training step (D then G), preset {report['preset']}, batch {report['batch']}"
             f" ({where})",
             f"{'impl':<16}{'median ms':>11}{'speed-up vs numpy':>19}{'ratio to torch':>16}"]
    for r in report["results"]:
        ratio = f"{r['ratio_to_torch']:.2f}" if r["ratio_to_torch"] else "-"
        lines.append(f"{r['impl']:<16}{r['median_s'] * 1e3:>11.1f}{r['vs_numpy']:>18.2f}x"
                     f"{ratio:>16}")
    if not any(r["impl"] == "torch" for r in report["results"]):
        lines.append("(PyTorch not installed or --no-torch: no torch column)")
    return "\n".join(lines)


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
    k = what.add_parser("kernels", parents=[common], help="every kernel family x backend")
    k.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    k.add_argument("--only", help="rows whose name contains this text")
    k.add_argument("--small", action="store_true",
                   help="the test-sized rows instead (a smoke run: numbers are not data)")
    s = what.add_parser("step", parents=[common], help="one GAN training step, vs PyTorch")
    s.add_argument("--preset", default="dcgan-mnist")
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    s.add_argument("--same-process", action="store_true",
                   help="time every implementation in this process (default: each in processes "
                        "of its own, so one's thread pools cannot slow another)")
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
                               args.only, not args.small, not args.quiet)
        text = format_kernels(report)
    else:
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
