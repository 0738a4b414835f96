"""``minigan bench kernels|step --device cuda``: the GPU side of :mod:`minigan.bench`.

Timing: CUDA events recorded on CuPy's current stream around each call, after ``warmup``
untimed calls (compilation, cuBLAS handles, memory pool). Before every timed kernel call a
buffer twice the size of the L2 cache is overwritten, so no call finds its inputs cached by the
previous one (the cold-cache number a training step sees for large tensors). Backends take
turns call by call, as on the CPU, so their ratios come from one run.

Rates are reported against the GPU's peak: memory bandwidth (GB/s of the row's bytes) for
memory-bound kernels, FP32/FP64 (non-tensor-core) TFLOP/s for the GEMM-bound ones. The peaks
come from a table of published numbers for the H100 and H200 (matched by device name), else
from device attributes: 2 x memory clock x bus width, and SMs x FP32 lanes x 2 x SM clock.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backends

# name fragment -> (bytes/s, FP32 FLOP/s, FP64 FLOP/s), NVIDIA's published peaks (non-tensor).
PEAKS = {
    "H200": (4.8e12, 67e12, 34e12),
    "H100 NVL": (3.9e12, 60e12, 30e12),
    "H100 PCIe": (2.0e12, 51e12, 26e12),
    "H100": (3.35e12, 67e12, 34e12),        # SXM5 ("NVIDIA H100 80GB HBM3")
}
_FP32_LANES = {70: 64, 75: 64, 80: 64, 86: 128, 87: 128, 89: 128, 90: 128, 100: 128, 120: 128}
_FP64_SHARE = {60: 0.5, 70: 0.5, 80: 0.5, 90: 0.5, 100: 0.5}  # else 1/64 (consumer parts)


def gpu_info() -> dict[str, Any]:
    """The GPU the numbers were measured on, and its peaks (recorded with every --json)."""
    cp = backends.require_cupy()
    rt = cp.cuda.runtime
    dev = cp.cuda.Device()
    attr = lambda a: int(rt.deviceGetAttribute(a, dev.id))  # noqa: E731
    name = rt.getDeviceProperties(dev.id)["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    cc = int(dev.compute_capability)
    sms, clock_khz = attr(rt.cudaDevAttrMultiProcessorCount), attr(rt.cudaDevAttrClockRate)
    mem_khz = attr(rt.cudaDevAttrMemoryClockRate)
    bus_bits = attr(rt.cudaDevAttrGlobalMemoryBusWidth)
    bw = 2.0 * mem_khz * 1e3 * bus_bits / 8
    fp32 = sms * _FP32_LANES.get(cc, 128) * 2.0 * clock_khz * 1e3
    peaks, source = (bw, fp32, fp32 * _FP64_SHARE.get(cc, 1 / 64)), "device attributes"
    for fragment, table in PEAKS.items():
        if fragment in name:
            peaks, source = table, f"published peaks of the {fragment}"
            break
    return {"name": name, "compute_capability": cc, "sms": sms,
            "memory_bytes": int(dev.mem_info[1]), "l2_bytes": attr(rt.cudaDevAttrL2CacheSize),
            "peak_bandwidth": peaks[0], "peak_flops": {"float32": peaks[1], "float64": peaks[2]},
            "peak_source": source, "cupy": cp.__version__,
            "cuda_runtime": rt.runtimeGetVersion(), "cuda_driver": rt.driverGetVersion()}


def cuda_backends(names: str | None) -> list[str]:
    """The CUDA backends to time: those named (checked), else every one available."""
    backends.require_cupy()
    avail = [b for b in backends.available() if backends.DEVICE[b] == "cuda"]
    if not names:
        return avail
    chosen = [backends._checked(n.strip()) for n in names.split(",") if n.strip()]
    for b in chosen:
        if backends.DEVICE[b] != "cuda":
            raise ValueError(f"--backends: {b!r} is not a CUDA backend; CUDA backends here: "
                             f"{', '.join(avail)}")
    return ["cupy", *[b for b in chosen if b != "cupy"]]  # cupy: the speed-up's reference


def time_events(fns: list[Callable[[], Any]], repeats: int, warmup: int,
                flush_l2: bool = True, tick: Callable[[], None] | None = None
                ) -> list[list[float]]:
    """Seconds per call of each fn from CUDA events, taking turns; with ``flush_l2`` a buffer of
    twice the L2 size is overwritten before every timed call (outside the events)."""
    cp = backends.require_cupy()
    l2 = int(cp.cuda.runtime.deviceGetAttribute(cp.cuda.runtime.cudaDevAttrL2CacheSize,
                                                cp.cuda.Device().id))
    flush = cp.empty(max(2 * l2, 1 << 20) // 4, dtype=np.float32) if flush_l2 else None
    for fn in fns:
        for _ in range(warmup):
            fn()
    cp.cuda.get_current_stream().synchronize()
    events: list[list[tuple]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, evs in zip(fns, events):
            if flush is not None:
                flush.fill(0)
            start, end = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            fn()
            end.record()
            evs.append((start, end))
            if tick is not None:
                tick()
    cp.cuda.get_current_stream().synchronize()
    return [[cp.cuda.get_elapsed_time(s, e) / 1e3 for s, e in evs] for evs in events]


def _to_device(obj: Any) -> Any:
    cp = backends.require_cupy()
    if isinstance(obj, np.ndarray):
        return cp.asarray(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_device(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v) for k, v in obj.items()}
    return obj


def _to_host(obj: Any) -> Any:
    if type(obj).__module__.startswith("cupy"):
        return obj.get()
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_host(o) for o in obj)
    return obj


def bench_kernels(backend_names: str | None = None, repeats: int = 10, warmup: int = 2,
                  dtype: Any = np.float32, only: str | None = None, bench_rows: bool = True,
                  progress: bool = True) -> dict[str, Any]:
    """Every benchmark row of the parity table on each CUDA backend: median seconds from CUDA
    events, TFLOP/s or GB/s and their fraction of the GPU's peak, the speed-up against the
    ``cupy`` backend, and the largest error against the float64 NumPy reference."""
    import copy

    from ..gan.progress import Progress
    from ..kernels import registry, table
    from .runner import _max_err, _upcast, machine_info

    names = cuda_backends(backend_names)
    gpu = gpu_info()
    dtype = np.dtype(dtype)
    rows = [c for c in table.rows(bench=bench_rows, device="cuda")
            if not only or only in c.name]
    bar = Progress(len(rows) * len(names), enabled=progress)
    results, done = [], 0
    for case in rows:
        args, kwargs = case.arguments(dtype)
        ref = case.run(registry.reference(case.kernel), _upcast(args, dtype),
                       _upcast(kwargs, dtype))
        dargs, dkwargs = _to_device(args), _to_device(kwargs)
        entries, fns = [], []
        for b in names:
            fn = registry.get(case.kernel, "cuda", backend=b)
            entry: dict[str, Any] = {"kernel": case.kernel, "shape": case.label, "backend": b,
                                     "dtype": dtype.name, "device": "cuda"}
            if b != "cupy" and fn is registry.get(case.kernel, "cuda", backend="cupy"):
                entry["status"] = "fallback"
            else:
                got = _to_host(case.run(fn, dargs, dkwargs))
                entry.update(status="ok", max_err=_max_err(got, ref))
                a, k = copy.deepcopy(dargs), copy.deepcopy(dkwargs)   # in-place kernels
                fns.append(lambda fn=fn, a=a, k=k: fn(*a, **k))
            entries.append(entry)
        timed = iter(time_events(fns, repeats, warmup))
        base = None
        for entry in entries:
            if entry["status"] == "ok":
                times = next(timed)
                med = statistics.median(times)
                entry.update(median_s=med, min_s=min(times), repeats=repeats)
                if case.flops:
                    entry["tflops"] = case.flops / med / 1e12
                    entry["peak_fraction"] = case.flops / med / gpu["peak_flops"][dtype.name]
                elif case.bytes:
                    rate = case.bytes * dtype.itemsize / 4 / med
                    entry["gbps"] = rate / 1e9
                    entry["peak_fraction"] = rate / gpu["peak_bandwidth"]
                if entry["backend"] == "cupy":
                    base = med
                entry["speedup"] = base / med if base else None
            results.append(entry)
        done += len(names)
        bar.update(done, case.name)
    bar.close()
    return {"kind": "kernels", "device": "cuda", "machine": {**machine_info(), "gpu": gpu},
            "repeats": repeats, "warmup": warmup, "l2_flush": True, "results": results}


def format_kernels(report: dict[str, Any]) -> str:
    gpu = report["machine"]["gpu"]
    head = ("kernel", "shape", "backend", "median ms", "rate", "% peak", "vs cupy", "max err")
    lines = [head]
    for e in report["results"]:
        if e["status"] != "ok":
            lines.append((e["kernel"], e["shape"], e["backend"], "-", "-", "-", "fallback", "-"))
            continue
        rate = (f"{e['tflops']:.2f} TFLOP/s" if "tflops" in e else
                f"{e['gbps']:.0f} GB/s" if "gbps" in e else "-")
        peak = f"{100 * e['peak_fraction']:.0f}%" if "peak_fraction" in e else "-"
        sp = f"{e['speedup']:.2f}x" if e.get("speedup") else "-"
        lines.append((e["kernel"], e["shape"], e["backend"], f"{e['median_s'] * 1e3:.4f}",
                      rate, peak, sp, f"{e['max_err']:.1e}"))
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    fp32 = gpu["peak_flops"]["float32"] / 1e12
    title = (f"{gpu['name']} (sm {gpu['compute_capability']}): peak "
             f"{gpu['peak_bandwidth'] / 1e9:.0f} GB/s, FP32 {fp32:.1f} TFLOP/s "
             f"({gpu['peak_source']}); CUDA events, L2 flushed before every call")
    return title + "\n" + "\n".join(out)


def bench_step(preset: str = "dcgan-mnist", backend_names: str | None = None,
               repeats: int = 5, warmup: int = 2, batch: int | None = 64, use_torch: bool = True,
               progress: bool = True) -> dict[str, Any]:
    """Median seconds (CUDA events) of one D step + G step per CUDA backend, and of the same
    model in PyTorch CUDA when PyTorch with CUDA is installed; latents drawn on the GPU
    (``batch`` None: 64). The dcgan-mnist and tiny presets only."""
    from ..gan.progress import Progress
    from . import models as M
    from .runner import machine_info
    from .step import _run_with

    if preset not in M.PRESETS:
        raise ValueError(f"--preset: unknown {preset!r}; expected one of {', '.join(M.PRESETS)}")
    batch = batch or 64
    names = cuda_backends(backend_names)
    torch_ok = use_torch and backends._installed("torch") and _torch_cuda()
    n_impl = len(names) + torch_ok
    bar = Progress(n_impl * (repeats + 1), enabled=progress)
    impls, steps = [], []
    for b in names:
        with backends.use(b):
            step = M.make_minigan_step(preset, batch=batch, seed=0, device="cuda",
                                       host_noise=False)
        steps.append(lambda b=b, step=step: _run_with(b, step))
        impls.append({"impl": f"minigan/{b}", "backend": b})
        bar.update(len(steps), f"built {b}")
    if torch_ok:
        steps.append(M.make_torch_step(preset, batch=batch, seed=0, device="cuda"))
        impls.append({"impl": "torch-cuda", "backend": "torch"})
        bar.update(len(steps), "built torch")
    count = [n_impl]

    def tick() -> None:
        count[0] += 1
        bar.update(count[0], "timing")

    # No L2 flush: training steps run back to back, each finding what the last one left.
    timed = time_events(steps, repeats, warmup, flush_l2=False, tick=tick)
    bar.close()
    results = [{**entry, "median_s": statistics.median(t), "min_s": min(t), "repeats": repeats}
               for entry, t in zip(impls, timed)]
    torch_t = next((r["median_s"] for r in results if r["backend"] == "torch"), None)
    cupy_t = results[0]["median_s"]
    for r in results:
        r["vs_cupy"] = cupy_t / r["median_s"]
        r["ratio_to_torch"] = r["median_s"] / torch_t if torch_t else None
    return {"kind": "step", "device": "cuda", "preset": preset, "batch": batch,
            "machine": {**machine_info(), "gpu": gpu_info()}, "repeats": repeats,
            "warmup": warmup, "results": results}


def _torch_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def format_step(report: dict[str, Any]) -> str:
    lines = [f"one training step (D then G) on {report['machine']['gpu']['name']}, preset "
             f"{report['preset']}, batch {report['batch']} (CUDA events)",
             f"{'impl':<20}{'median ms':>11}{'vs cupy':>10}{'ratio to torch':>16}"]
    for r in report["results"]:
        ratio = f"{r['ratio_to_torch']:.2f}" if r["ratio_to_torch"] else "-"
        lines.append(f"{r['impl']:<20}{r['median_s'] * 1e3:>11.2f}{r['vs_cupy']:>9.2f}x"
                     f"{ratio:>16}")
    if not any(r["backend"] == "torch" for r in report["results"]):
        lines.append("(PyTorch with CUDA not installed, or --no-torch: no torch column)")
    return "\n".join(lines)
