"""``minigan bench step``: one full training step (D step, then G step) of the dcgan-mnist
model per CPU backend, and the same model in PyTorch CPU when PyTorch is installed, as a ratio
(minigan / torch: below 1 means minigan is faster). The model code lives in
:mod:`minigan.bench.models` so the training-parity tests run it too; the timing machinery is
:mod:`minigan.bench.runner`'s, the command line :mod:`minigan.bench.cli`'s."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any

from .. import backends
from ..backends import allocator
from ..gan.progress import Progress
from . import grid25 as G25
from . import models as M
from .runner import _cpu_backends, in_child, machine_info, time_interleaved


def child_times(impl: str, preset: str, batch: int, repeats: int, warmup: int) -> list[float]:
    """In a fresh interpreter (see :func:`bench_step`): build one implementation's step, warm it
    up, and return the seconds of ``repeats`` timed steps. Every implementation's process
    keeps its freed memory (backends.allocator, as ``minigan train`` does): PyTorch's steps
    allocate through the same glibc malloc and are spared the same page faults."""
    allocator.retain_freed_memory()
    if impl == "torch":
        import torch

        torch.set_num_threads(backends.num_threads())
    else:
        backends.use(impl)
    return time_interleaved([_make_step(impl, preset, batch)], repeats, warmup)[0]


PRESETS = (*M.PRESETS, "grid25")
DEFAULT_BATCH = {"grid25": G25.BATCH}  # the others: 64


def _make_step(impl: str, preset: str, batch: int) -> Callable[[], Any]:
    """One implementation's step ("torch", or minigan on the backend in use)."""
    if preset == "grid25":
        return G25.make_step(impl, batch, seed=0)
    if impl == "torch":
        return M.make_torch_step(preset, batch=batch, seed=0)
    return M.make_minigan_step(preset, batch=batch, seed=0)


def bench_step(preset: str = "dcgan-mnist", backend_names: str | None = None, repeats: int = 5,
               warmup: int = 2, batch: int | None = None, use_torch: bool = True,
               progress: bool = True, isolate: bool = True) -> dict[str, Any]:
    """Median seconds of one D step + G step per CPU backend, and in PyTorch when present.
    ``preset``: dcgan-mnist (default), tiny, or grid25 (the default job's step, the trainer's
    own: see :mod:`minigan.bench.grid25`); ``batch`` defaults to 64 (grid25: 256).

    With ``isolate`` (the default) every implementation runs in processes of its own, in turns
    (up to 3 rounds of a process per implementation, the repeats split between them): thread
    pools of one implementation -- OpenBLAS's, OpenMP's, PyTorch's -- keep spinning or sleeping
    by their own policies after a call, and in one process that lands on whoever runs next
    (measured here: PyTorch's step 46-64 ms beside minigan's, depending on minigan's OpenMP wait
    policy, against 51 ms alone). ``isolate=False`` times all of them in this process, in turns,
    at the process's thread counts (the grid25 step's run threads are not applied there).
    """
    start_load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if preset not in PRESETS:
        raise ValueError(f"--preset: unknown {preset!r}; expected one of {', '.join(PRESETS)}")
    batch = batch or DEFAULT_BATCH.get(preset, 64)
    names = _cpu_backends(backend_names)
    torch_ok = use_torch and backends._installed("torch")
    n_impl = len(names) + torch_ok
    if isolate:
        return _bench_step_isolated(preset, names, torch_ok, repeats, warmup, batch, progress,
                                    start_load)
    bar = Progress(n_impl * (repeats + 1), enabled=progress)  # building, then timed steps
    impls, steps = [], []
    for b in names:
        with backends.use(b):
            step = _make_step(b, preset, batch)
        if hasattr(step, "close"):  # here every implementation runs at the process's threads
            step.close()
        # The backend is looked up per kernel call, so each step runs inside its own use().
        steps.append(lambda b=b, step=step: _run_with(b, step))
        impls.append({"impl": f"minigan/{b}", "backend": b})
        bar.update(len(steps), f"built {b}")
    if torch_ok:
        import torch

        torch.set_num_threads(backends.num_threads())
        steps.append(_make_step("torch", preset, batch))
        impls.append({"impl": "torch", "backend": "torch",
                      "torch_threads": torch.get_num_threads()})
        bar.update(len(steps), "built torch")
    count = [n_impl]

    def tick() -> None:
        count[0] += 1
        bar.update(count[0], "timing")

    timed = time_interleaved(steps, repeats, warmup, tick, settle=1)
    bar.close()
    return _step_report(preset, batch, repeats, warmup, impls, timed, False, start_load)


def _bench_step_isolated(preset: str, names: list[str], torch_ok: bool, repeats: int,
                         warmup: int, batch: int, progress: bool,
                         start_load: Any = None) -> dict[str, Any]:
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
            timed[i] += in_child("minigan.bench.step:child_times", entry["backend"], preset,
                                 batch, n, warmup)
            bar.update(r * len(impls) + i + 1, f"round {r + 1}: {entry['impl']}")
    bar.close()
    return _step_report(preset, batch, repeats, warmup, impls, timed, True, start_load)


def _step_report(preset: str, batch: int, repeats: int, warmup: int, impls: list[dict],
                 timed: list[list[float]], isolated: bool, start_load: Any) -> dict[str, Any]:
    # grid25's step functions run one period of the lazy-R1 schedule per call: per step here.
    per_call = G25.steps_per_call() if preset == "grid25" else 1
    timed = [[t / per_call for t in times] for times in timed]
    results = []
    for entry, times in zip(impls, timed):
        results.append({**entry, "median_s": statistics.median(times), "min_s": min(times),
                        "repeats": repeats})
    torch_t = next((r["median_s"] for r in results if r["impl"] == "torch"), None)
    numpy_t = results[0]["median_s"]
    for r in results:
        r["vs_numpy"] = numpy_t / r["median_s"]
        r["ratio_to_torch"] = r["median_s"] / torch_t if torch_t else None
    machine = machine_info()
    # (the start's load is the report's; this one closes the measurement)
    machine["loadavg_start"] = start_load
    machine["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"kind": "step", "preset": preset, "batch": batch, "machine": machine,
            "repeats": repeats, "warmup": warmup, "isolated_processes": isolated,
            "steps_per_call": per_call, "results": results}


def _run_with(backend: str, step: Callable[[], Any]) -> Any:
    with backends.use(backend):
        return step()


def format_step(report: dict[str, Any]) -> str:
    where = ("each in processes of its own" if report.get("isolated_processes")
             else "all in one process")
    lines = [f"one training step (D then G), preset {report['preset']}, batch {report['batch']}"
             f" ({where})",
             f"{'impl':<16}{'median ms':>11}{'speed-up vs numpy':>19}{'ratio to torch':>16}"]
    if report.get("steps_per_call", 1) > 1:
        lines.insert(1, f"(each timed call runs {report['steps_per_call']} steps, one period of "
                        "the lazy R1 schedule; times are per step)")
    for r in report["results"]:
        ratio = f"{r['ratio_to_torch']:.2f}" if r["ratio_to_torch"] else "-"
        lines.append(f"{r['impl']:<16}{r['median_s'] * 1e3:>11.1f}{r['vs_numpy']:>18.2f}x"
                     f"{ratio:>16}")
    if not any(r["impl"] == "torch" for r in report["results"]):
        lines.append("(PyTorch not installed or --no-torch: no torch column)")
    m = report.get("machine", {})
    if m.get("loadavg_start") and m.get("loadavg_end"):
        lines.append(f"load average (1/5/15 min) at start {_load(m['loadavg_start'])}, "
                     f"at end {_load(m['loadavg_end'])}; {m.get('cpu')}, "
                     f"{m.get('threads')} thread(s)")
    return "\n".join(lines)


def _load(avg: Any) -> str:
    return "/".join(f"{v:.1f}" for v in avg)
