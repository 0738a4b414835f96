"""The timing machinery every ``minigan bench`` command shares: timed calls taking turns, what
machine the numbers come from, and :func:`in_child`, which runs one measurement in a fresh
interpreter so one implementation's thread pools cannot slow the next."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backends


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
    C = backends.native()  # the ISA variants of minigan._C: compiled, run here, in use
    info["isa"] = C.isa_info() if C is not None else None
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
    """``module:func(*args)`` in a fresh interpreter, its JSON
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
    home = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run = subprocess.run([sys.executable, "-c", code, module, name, home,
                          json.dumps(list(args))], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"bench: {name}{tuple(args)} failed in its process:\n"
                           f"{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])
