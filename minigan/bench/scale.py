"""``minigan bench scale``: data-parallel throughput here, and a projection to many GPUs.

Measured on this machine, the same global batch and model either way:

* 1 process x T threads (``MINIGAN_NUM_THREADS=T``), the ordinary ``minigan train`` step;
* T ranks x 1 thread under ``mpiexec -n T``, each on batch/T rows, gradients all-reduced.

Reported: training samples per second of each, and the bytes all-reduced per step per model
(one bucket per model per update: D's after each of its ``n_critic`` updates, G's once).

Projection (:func:`project`): a ring all-reduce of M bytes over N GPUs sends 2 (N-1)/N M bytes
per GPU in 2 (N-1) latency-bound hops, so with bus bandwidth W and per-hop latency a,

    t_ar(M, N) = 2 (N-1)/N * M / W + 2 (N-1) a

and with a per-GPU compute time t_c per step (weak scaling: the per-GPU batch stays the same),
nothing overlapped (minigan reduces after each backward), the scaling efficiency is

    E(N) = t_c / (t_c + n_critic t_ar(M_D, N) + t_ar(M_G, N)).

The numbers assumed for W and a (NCCL on NVLink inside a node, InfiniBand between nodes) are
parameters; benchmarks/README.md shows the table for the dcgan-mnist and grid25 models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

# (GPUs, bus bandwidth in GB/s, per-hop latency in us): NVLink/NVSwitch within one 8-GPU node,
# 400 Gb/s InfiniBand (about 45 GB/s of NCCL bus bandwidth) across nodes.
LINKS = {"nvlink": (350.0, 5.0), "infiniband": (45.0, 8.0)}


def ring_allreduce_seconds(nbytes: float, n: int, bus_gbps: float, latency_us: float) -> float:
    """t_ar = 2 (n-1)/n * nbytes / W + 2 (n-1) a (0 for one GPU)."""
    if n <= 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes / (bus_gbps * 1e9) + 2 * (n - 1) * latency_us * 1e-6


def project(bytes_g: int, bytes_d: int, n_critic: int, step_ms: float,
            gpus: tuple = (8, 16, 32, 64, 128, 256)) -> list[dict]:
    """Scaling efficiency per world size (8 GPUs: one NVLink node; more: InfiniBand)."""
    rows = []
    for n in gpus:
        bw, lat = LINKS["nvlink" if n <= 8 else "infiniband"]
        t = (n_critic * ring_allreduce_seconds(bytes_d, n, bw, lat)
             + ring_allreduce_seconds(bytes_g, n, bw, lat))
        rows.append({"gpus": n, "allreduce_ms": 1e3 * t,
                     "efficiency": step_ms / (step_ms + 1e3 * t)})
    return rows


def _child(preset: str, batch: int, steps: int, warmup: int) -> None:
    """Time ``steps`` training steps (after ``warmup``) in this process or this MPI rank; rank 0
    prints one JSON line."""
    from ..distributed import for_training
    from ..gan import config
    from ..gan.trainer import Trainer

    cfg = config.resolve(preset, None, [f"batch_size={batch}", "telemetry=false",
                                        f"steps={steps + warmup}"])
    dist = for_training("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, tmp, progress=False, dist=dist)
        for _ in range(warmup):
            tr.train_step()
        comm = getattr(getattr(dist, "world", None), "comm", None)
        if comm is not None:
            comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            tr.train_step()
        if comm is not None:
            comm.Barrier()
        seconds = time.perf_counter() - t0
        sizes = {name: sum(p.array.nbytes for p in m.parameters())
                 for name, m in (("G", tr.G), ("D", tr.D))}
    if dist.is_main:
        print(json.dumps({"seconds": seconds, "steps": steps, "batch": batch,
                          "ranks": dist.size, "bytes": sizes, "n_critic": cfg["n_critic"],
                          "bytes_per_step": getattr(dist, "bytes_per_step", {})}), flush=True)


def _run(cmd: list[str], threads: int) -> dict:
    env = {**os.environ, "MINIGAN_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-600:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def bench_scale(preset: str = "grid25", batch: int | None = None, ranks: int = 2,
                steps: int = 20, warmup: int = 3, step_ms: float = 5.0) -> dict:
    """1 process x ``ranks`` threads against ``ranks`` ranks x 1 thread, and the projection."""
    import importlib.util

    from ..distributed.world import INSTALL_HINT

    # Checked without importing mpi4py: that would start MPI in this (launching) process.
    if importlib.util.find_spec("mpi4py") is None:
        raise RuntimeError(f"minigan bench scale needs MPI for Python; {INSTALL_HINT}")
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = here if os.path.exists(here) else "mpiexec"
    batch = batch or (256 if preset == "grid25" else 64)
    child = [sys.executable, "-m", "minigan.bench.scale", preset, str(batch), str(steps),
             str(warmup)]
    try:
        one = _run(child, ranks)
        many = _run([mpiexec, "-n", str(ranks), *child], 1)
    except FileNotFoundError:
        raise RuntimeError(f"minigan bench scale: no mpiexec; {INSTALL_HINT}") from None
    for r in (one, many):
        r["samples_per_s"] = r["steps"] * r["batch"] / r["seconds"]
    b = one["bytes"]
    return {"preset": preset, "batch": batch, "ranks": ranks,
            "one_process": one, "mpi": many, "speedup": many["samples_per_s"] /
            one["samples_per_s"], "projection": project(b["G"], b["D"], one["n_critic"], step_ms),
            "step_ms_assumed": step_ms,
            "machine": {"cpus": os.cpu_count(), "platform": sys.platform,
                        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None}}


def format_scale(r: dict) -> str:
    one, many, n = r["one_process"], r["mpi"], r["ranks"]
    lines = [f"{r['preset']}, global batch {r['batch']}:",
             f"  1 process x {n} threads: {one['samples_per_s']:10.0f} samples/s",
             f"  {n} ranks x 1 thread:    {many['samples_per_s']:10.0f} samples/s "
             f"({r['speedup']:.2f}x)",
             "  all-reduced per step: " + ", ".join(
                 f"{k} {v / 1024:.1f} KiB" for k, v in sorted(many["bytes_per_step"].items()))
             + f" (D {one['n_critic']}x per step)",
             f"projected efficiency at {r['step_ms_assumed']} ms of compute per GPU step:"]
    lines += [f"  {p['gpus']:4d} GPUs: all-reduce {p['allreduce_ms']:.3f} ms, "
              f"efficiency {100 * p['efficiency']:.1f}%" for p in r["projection"]]
    return "\n".join(lines)


if __name__ == "__main__":  # the timed child: preset batch steps warmup
    _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
