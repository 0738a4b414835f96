"""Autograd per-op overhead and DCGAN-shaped convolutions, minigan beside PyTorch CPU.

    python benchmarks/bench_ops.py [--json FILE] [--threads N] [--repeats R] [--quick]

Section 1 -- per-op overhead: a chain of ``--chain`` small ops (add, mul, matmul, relu, sum) on
4x4 float32 tensors, timed forward only (graph recorded) and forward + backward; reported in
microseconds per op, next to the bare NumPy array op (what the engine adds is the difference).

Section 2 -- conv2d / conv_transpose2d forward and forward + backward on the DCGAN layer shapes
(input, weight and bias all require grad), in GFLOP/s counting 2 flops per multiply-add
(backward = data gradient + weight gradient = 2x the forward's flops).

Every figure is the median over ``--repeats`` timed runs after ``--warmup`` untimed ones.
PyTorch (optional) runs in the same process with the same thread count as NumPy's BLAS, and
the ratio minigan/torch is printed (> 1: minigan is slower).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for BLAS, minigan and torch (default: what BLAS uses)")
    ap.add_argument("--repeats", type=int, default=15, help="timed runs per measurement")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    ap.add_argument("--chain", type=int, default=200, help="ops per chain in the overhead test")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--quick", action="store_true", help="few repeats: a smoke test, not data")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.chain = 3, 1, 20
    for name in ("repeats", "chain"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}: expected a positive integer")
    return args


ARGS = parse_args()
if ARGS.threads is not None:
    # Before NumPy loads: OpenBLAS/MKL/OpenMP read these once, at import.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

try:
    import minigan as mg
except ImportError:  # running from a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import minigan as mg

try:
    import minigan.backends as mg_backends
except ImportError:  # an older tree without backends: BLAS threads via threadpoolctl only
    mg_backends = None

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None


def load_torch() -> Any:
    if ARGS.no_torch:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---- timing -----------------------------------------------------------------------------------

BEST: dict[str, float] = {}  # label -> fastest repeat, kept beside the medians in the JSON


def measure(fn: Callable[[], Any], warmup: int, repeats: int, label: str = "") -> float:
    """Median wall time of fn() in seconds; gc is off while timing, run between repeats. The
    fastest repeat goes to BEST[label]: on a loaded machine it is the less disturbed figure."""
    for _ in range(warmup):
        fn()
    times = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            gc.collect()
    finally:
        gc.enable()
    BEST[label] = min(times)
    return statistics.median(times)


# ---- machine and threads ----------------------------------------------------------------------

def blas_threads() -> tuple[int | None, list]:
    if threadpoolctl is None:
        return None, []
    info = threadpoolctl.threadpool_info()
    blas = [i for i in info if i.get("user_api") == "blas"]
    return (blas[0]["num_threads"] if blas else None), info


def set_threads(n: int, torch: Any) -> None:
    if mg_backends is not None and hasattr(mg_backends, "set_num_threads"):
        mg_backends.set_num_threads(n)  # minigan's own pool, and BLAS through threadpoolctl
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(n, user_api="blas")
    if torch is not None:
        torch.set_num_threads(n)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def machine_info(torch: Any, threads: int) -> dict:
    try:
        blas_cfg = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    except TypeError:  # NumPy < 1.25 has no mode="dicts"
        blas_cfg = {}
    _, pools = blas_threads()
    backend = mg_backends.current() if hasattr(mg_backends, "current") else None
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(), "numpy": np.__version__,
        "blas": {k: blas_cfg.get(k) for k in ("name", "version", "openblas configuration")
                 if k in blas_cfg},
        "threadpools": [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads",
                                               "version", "architecture")} for p in pools],
        "threads": threads, "torch": getattr(torch, "__version__", None),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "minigan": mg.__version__, "minigan_backend": backend,
        # Other processes compete for the same cores: a high load makes the medians noisy.
        "loadavg_1min_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


# ---- section 1: per-op autograd overhead ------------------------------------------------------

def _chains(lib: Any, torch: Any) -> dict:
    """op -> (leaf maker, one chain link). Constants keep values bounded (no denormals)."""
    if lib == "numpy":
        return {"add": lambda y, c: y + c, "mul": lambda y, c: y * c,
                "matmul": lambda y, c: y @ c, "relu": lambda y, c: np.maximum(y, 0),
                "sum": lambda y, c: y.sum(axis=0, keepdims=True)}
    if lib == "minigan":
        return {"add": lambda y, c: y + c, "mul": lambda y, c: y * c,
                "matmul": lambda y, c: y @ c, "relu": lambda y, c: mg.relu(y),
                "sum": lambda y, c: y.sum(axis=0, keepdims=True)}
    return {"add": lambda y, c: y + c, "mul": lambda y, c: y * c,
            "matmul": lambda y, c: y @ c, "relu": lambda y, c: torch.relu(y),
            "sum": lambda y, c: y.sum(dim=0, keepdim=True)}


def _constant(op: str) -> np.ndarray:
    return {"add": np.full((4, 4), 1e-3), "mul": np.ones((4, 4)),
            "matmul": np.eye(4)}.get(op, np.ones((4, 4))).astype(np.float32)


def bench_overhead(torch: Any, n: int, warmup: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 4)).astype(np.float32)
    rows = []
    for op in ("add", "mul", "matmul", "relu", "sum"):
        row: dict[str, Any] = {"op": op, "shape": [4, 4], "chain": n}
        link = _chains("numpy", None)[op]
        c = _constant(op)

        def run_np(link=link, c=c):
            y = x0
            for _ in range(n):
                y = link(y, c)
        row["numpy_us"] = measure(run_np, warmup, repeats, "numpy") / n * 1e6

        link = _chains("minigan", None)[op]
        x, cm = mg.tensor(x0, requires_grad=True), mg.tensor(c, requires_grad=True)

        def run_mg(link=link, x=x, cm=cm, bwd=False):
            y = x
            for _ in range(n):
                y = link(y, cm)
            if bwd:
                y.sum().backward()
                x.grad = cm.grad = None
        row["minigan_fwd_us"] = measure(run_mg, warmup, repeats, "minigan_fwd") / n * 1e6
        row["minigan_fwdbwd_us"] = measure(lambda: run_mg(bwd=True), warmup, repeats,
                                           "minigan_fwdbwd") / n * 1e6

        if torch is not None:
            link = _chains("torch", torch)[op]
            xt = torch.tensor(x0, requires_grad=True)
            ct = torch.tensor(c, requires_grad=True)

            def run_t(link=link, xt=xt, ct=ct, bwd=False):
                y = xt
                for _ in range(n):
                    y = link(y, ct)
                if bwd:
                    y.sum().backward()
                    xt.grad = ct.grad = None
            row["torch_fwd_us"] = measure(run_t, warmup, repeats, "torch_fwd") / n * 1e6
            row["torch_fwdbwd_us"] = measure(lambda: run_t(bwd=True), warmup, repeats,
                                             "torch_fwdbwd") / n * 1e6
            row["ratio_fwd"] = row["minigan_fwd_us"] / row["torch_fwd_us"]
            row["ratio_fwdbwd"] = row["minigan_fwdbwd_us"] / row["torch_fwdbwd_us"]
        row["best_us"] = {k: v / n * 1e6 for k, v in BEST.items()}
        BEST.clear()
        rows.append(row)
    return rows


# ---- section 2: DCGAN convolutions ------------------------------------------------------------

# (name, kind, input NCHW, in channels -> out channels); all 4x4 kernels, stride 2, padding 1.
CONV_LAYERS = [
    ("D.conv1", "conv2d", (64, 1, 28, 28), 64),
    ("D.conv2", "conv2d", (64, 64, 14, 14), 128),
    ("G.deconv1", "conv_transpose2d", (64, 128, 7, 7), 64),
    ("G.deconv2", "conv_transpose2d", (64, 64, 14, 14), 1),
]


def conv_flops(kind: str, x_shape: tuple, cout: int, y_shape: tuple, k: int = 4) -> int:
    """Forward flops (2 per multiply-add). conv2d: 2 N O OH OW C k^2 (one dot product of length
    C k^2 per output); conv_transpose2d: 2 N C H W O k^2 (each input pixel scatters a k x k x O
    patch), i.e. the flops of the conv2d it is the adjoint of."""
    n, c, h, w = x_shape
    if kind == "conv2d":
        return 2 * n * cout * y_shape[2] * y_shape[3] * c * k * k
    return 2 * n * c * h * w * cout * k * k


def bench_conv(torch: Any, warmup: int, repeats: int) -> list[dict] | str:
    try:
        from minigan.ops import conv as mconv
    except ImportError as e:
        return f"minigan.ops.conv is not available ({e}); conv section skipped"
    rng = np.random.default_rng(1)
    rows = []
    for name, kind, xs, cout in CONV_LAYERS:
        cin = xs[1]
        wshape = (cout, cin, 4, 4) if kind == "conv2d" else (cin, cout, 4, 4)
        x0 = rng.standard_normal(xs).astype(np.float32)
        w0 = (rng.standard_normal(wshape) * 0.02).astype(np.float32)
        b0 = np.zeros(cout, np.float32)
        x, w, b = (mg.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        f = getattr(mconv, kind)
        y_shape = f(x, w, b, stride=2, padding=1).shape
        g0 = rng.standard_normal(y_shape).astype(np.float32)
        g = mg.tensor(g0)
        flops = conv_flops(kind, xs, cout, y_shape)
        row: dict[str, Any] = {"layer": name, "op": kind, "input": list(xs),
                               "weight": list(wshape), "output": list(y_shape),
                               "fwd_gflop": flops / 1e9}

        def mg_fwd(f=f, x=x, w=w, b=b):
            with mg.no_grad():
                f(x, w, b, stride=2, padding=1)

        def mg_fwdbwd(f=f, x=x, w=w, b=b, g=g):
            f(x, w, b, stride=2, padding=1).backward(g)
            x.grad = w.grad = b.grad = None
        row["minigan_fwd_ms"] = measure(mg_fwd, warmup, repeats, "minigan_fwd") * 1e3
        row["minigan_fwdbwd_ms"] = measure(mg_fwdbwd, warmup, repeats, "minigan_fwdbwd") * 1e3
        if torch is not None:
            tf = getattr(torch.nn.functional, kind)
            xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x0, w0, b0))
            gt = torch.tensor(g0)

            def t_fwd(tf=tf, xt=xt, wt=wt, bt=bt):
                with torch.no_grad():
                    tf(xt, wt, bt, stride=2, padding=1)

            def t_fwdbwd(tf=tf, xt=xt, wt=wt, bt=bt, gt=gt):
                tf(xt, wt, bt, stride=2, padding=1).backward(gt)
                xt.grad = wt.grad = bt.grad = None
            row["torch_fwd_ms"] = measure(t_fwd, warmup, repeats, "torch_fwd") * 1e3
            row["torch_fwdbwd_ms"] = measure(t_fwdbwd, warmup, repeats, "torch_fwdbwd") * 1e3
            # Same answer, or the timing compares different work.
            with mg.no_grad(), torch.no_grad():
                ym = f(x, w, b, stride=2, padding=1).array
                yt = tf(xt, wt, bt, stride=2, padding=1).numpy()
            row["max_abs_diff_vs_torch"] = float(np.max(np.abs(ym - yt)))
        for lib in ("minigan", "torch"):
            if f"{lib}_fwd_ms" in row:
                row[f"{lib}_fwd_gflops"] = flops / (row[f"{lib}_fwd_ms"] * 1e-3) / 1e9
                row[f"{lib}_fwdbwd_gflops"] = 3 * flops / (row[f"{lib}_fwdbwd_ms"] * 1e-3) / 1e9
        if torch is not None:
            row["ratio_fwd"] = row["minigan_fwd_ms"] / row["torch_fwd_ms"]
            row["ratio_fwdbwd"] = row["minigan_fwdbwd_ms"] / row["torch_fwdbwd_ms"]
        row["best_ms"] = {k: v * 1e3 for k, v in BEST.items()}
        BEST.clear()
        rows.append(row)
    return rows


# ---- report -----------------------------------------------------------------------------------

def _fmt(v: Any, spec: str) -> str:
    return "-".rjust(int(spec.split(".")[0])) if v is None else format(v, spec)


def print_report(info: dict, overhead: list[dict], conv: list[dict] | str) -> None:
    print(f"# {info['cpu']}, {info['usable_cpus']} usable CPUs, {info['threads']} threads "
          f"(BLAS and torch), numpy {info['numpy']}, torch {info['torch'] or 'not installed'}")
    print("\n## per-op overhead, us/op (4x4 float32, median)")
    print(f"{'op':8} {'numpy':>7} {'mg fwd':>8} {'mg f+b':>8} {'torch fwd':>10} "
          f"{'torch f+b':>10} {'ratio fwd':>10} {'ratio f+b':>10}")
    for r in overhead:
        print(f"{r['op']:8} {r['numpy_us']:7.2f} {r['minigan_fwd_us']:8.2f} "
              f"{r['minigan_fwdbwd_us']:8.2f} {_fmt(r.get('torch_fwd_us'), '10.2f')} "
              f"{_fmt(r.get('torch_fwdbwd_us'), '10.2f')} {_fmt(r.get('ratio_fwd'), '10.2f')} "
              f"{_fmt(r.get('ratio_fwdbwd'), '10.2f')}")
    print("\n## DCGAN convolutions, 4x4 kernel, stride 2, padding 1 (ms, GFLOP/s, median)")
    if isinstance(conv, str):
        print(conv)
        return
    print(f"{'layer':10} {'input':>16} {'mg fwd':>14} {'mg f+b':>14} {'torch fwd':>14} "
          f"{'torch f+b':>14} {'ratio fwd':>9} {'ratio f+b':>9}")
    for r in conv:
        def cell(lib: str, part: str) -> str:
            ms = r.get(f"{lib}_{part}_ms")
            return "-" if ms is None else f"{ms:6.2f} ({r[f'{lib}_{part}_gflops']:5.1f})"
        print(f"{r['layer']:10} {str(tuple(r['input'])):>16} {cell('minigan', 'fwd'):>14} "
              f"{cell('minigan', 'fwdbwd'):>14} {cell('torch', 'fwd'):>14} "
              f"{cell('torch', 'fwdbwd'):>14} {_fmt(r.get('ratio_fwd'), '9.2f')} "
              f"{_fmt(r.get('ratio_fwdbwd'), '9.2f')}")
    print("\nfastest repeat, ms (less disturbed by other load than the median):")
    for r in conv:
        print(f"{r['layer']:10} " + "  ".join(f"{k} {v:.2f}" for k, v in r["best_ms"].items()))


def main() -> int:
    torch = load_torch()
    threads = ARGS.threads
    if threads is None:
        threads = blas_threads()[0] or (len(os.sched_getaffinity(0))
                                        if hasattr(os, "sched_getaffinity") else os.cpu_count())
    set_threads(threads, torch)
    info = machine_info(torch, threads)
    overhead = bench_overhead(torch, ARGS.chain, ARGS.warmup, ARGS.repeats)
    conv = bench_conv(torch, ARGS.warmup, ARGS.repeats)
    if hasattr(os, "getloadavg"):
        info["loadavg_1min_at_end"] = os.getloadavg()[0]
    print_report(info, overhead, conv)
    if ARGS.json:
        out = {"machine": info, "settings": {k: getattr(ARGS, k) for k in
                                             ("repeats", "warmup", "chain", "quick")},
               "overhead": overhead, "conv": conv if isinstance(conv, list) else [],
               "notes": [] if isinstance(conv, list) else [conv]}
        Path(ARGS.json).parent.mkdir(parents=True, exist_ok=True)
        Path(ARGS.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {ARGS.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
