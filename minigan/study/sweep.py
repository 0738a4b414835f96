"""``minigan study sweep``: a grid of training runs in parallel processes, tabulated.

    minigan study sweep --preset grid25 --set loss=ns,hinge,wgan-gp --set d_sn=on,off --seeds 3

Each ``--set key=v1,v2,...`` is an axis; the grid is the cartesian product of the axes, times
the seeds ``0 .. seeds-1``. Every run gets its own directory ``OUT/<key>-<value>_.../seed<s>``
(a complete ``minigan train`` run directory), and runs in a worker process of a
``ProcessPoolExecutor`` (``jobs``, default: the CPUs this process may use). Workers are started
with one BLAS/OpenMP/Numba thread each, so ``jobs`` processes use ``jobs`` cores rather than
``jobs x cores`` threads fighting over them.

Outputs in OUT: ``sweep.md`` and ``sweep.csv`` (per config: mean +- std over seeds of modes
covered, high-quality %, reverse KL, the diagnosis verdicts, seconds), ``runs.csv`` (one row per
run), ``sweep.json`` and ``sweep.png`` (a heatmap of modes covered). A finished run whose
directory already holds the same config is reused, an interrupted one resumes from its
checkpoint, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import re
import sys
import time
from typing import Any

from ..gan import config
from .sweep_report import describe, grid, markdown_table, summarize, write_outputs

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "MINIGAN_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


class SweepError(ValueError):
    """Bad sweep input (an axis, a value, an output directory); the message says what."""


def parse_axes(items: list[str]) -> dict[str, list[str]]:
    """``["loss=ns,hinge", "d_sn=on,off"]`` -> ``{"loss": ["ns", "hinge"], "d_sn": ["on",
    "off"]}``, each value checked against the config key's type (``config.parse_value``)."""
    axes: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise SweepError(f"--set: expected key=value[,value...], got {item!r}")
        key, _, text = item.partition("=")
        key = key.strip()
        if key in axes:
            raise SweepError(f"--set: key {key!r} given twice; list its values once, "
                             f"comma-separated")
        if key in ("seed", "steps"):
            flag = "--seeds" if key == "seed" else "--steps"
            raise SweepError(f"--set: {key!r} is not an axis; it is set by {flag}")
        values = [v.strip() for v in text.split(",")]
        if any(v == "" for v in values):
            raise SweepError(f"--set {key}: empty value in {text!r}")
        if len(set(values)) != len(values):
            raise SweepError(f"--set {key}: repeated value in {text!r}")
        try:
            for v in values:
                config.parse_value(key, v)
        except config.ConfigError as e:
            raise SweepError(f"--set {key}: {e}") from None
        axes[key] = values
    return axes


def run_name(point: dict[str, str]) -> str:
    """Directory name of a grid point: ``loss-ns__d_sn-on`` (other characters become '+')."""
    if not point:
        return "base"
    return "__".join(re.sub(r"[^A-Za-z0-9._-]", "+", f"{k}-{v}") for k, v in point.items())


def plan(preset: str, axes: dict[str, list[str]], seeds: int, steps: int | None,
         out: pathlib.Path) -> list[dict]:
    """One job per (grid point, seed): its resolved config and directory. The point names
    only the axes with several values (one-valued axes are fixed settings). Every config is
    resolved here, so a bad combination fails before any run starts."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise SweepError(f"--seeds: expected a positive number of seeds, got {seeds!r}")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise SweepError(f"--steps: expected a positive number of steps, got {steps!r}")
    jobs = []
    swept = [k for k, v in axes.items() if len(v) > 1]
    for full in grid(axes):
        point = {k: full[k] for k in swept}  # one-valued axes are fixed settings, not names
        for seed in range(seeds):
            overrides = [f"{k}={v}" for k, v in full.items()] + [f"seed={seed}"]
            if steps is not None:
                overrides.append(f"steps={steps}")
            try:
                cfg = config.resolve(preset, overrides=overrides)
            except config.ConfigError as e:
                raise SweepError(str(e)) from None
            run_dir = out / run_name(point) / f"seed{seed}"
            toml = run_dir / "config.toml"
            if toml.is_file() and toml.read_text() != config.to_toml(cfg):
                raise SweepError(f"--out: {str(run_dir)!r} holds a run with another config; "
                                 "choose another --out")
            jobs.append({"point": point, "seed": seed, "cfg": cfg, "dir": str(run_dir)})
    return jobs


def _init_worker() -> None:
    for var in THREAD_VARS:
        os.environ[var] = "1"
    from .. import backends

    backends.set_num_threads(1)


def run_job(job: dict) -> dict:
    """Train one grid point (or reuse / resume it); returns its result row."""
    from ..diagnostics.diagnosis import diagnose, read_rows
    from ..gan.trainer import Trainer, TrainingError

    out = pathlib.Path(job["dir"])
    res: dict[str, Any] = {"point": job["point"], "seed": job["seed"], "dir": job["dir"],
                           "modes_covered": math.nan, "n_modes": math.nan,
                           "high_quality": math.nan, "reverse_kl": math.nan, "error": None,
                           "reused": False}
    t0 = time.perf_counter()
    summary = None
    if (out / "summary.json").is_file():
        summary = json.loads((out / "summary.json").read_text())
        res["reused"] = True
    else:
        resume = (out / "checkpoints" / "latest.npz").is_file()
        if not resume and (out / "metrics.jsonl").exists():
            (out / "metrics.jsonl").unlink()  # rows of a run that never reached a checkpoint
        out.mkdir(parents=True, exist_ok=True)
        try:
            summary = Trainer(job["cfg"], out, progress=False).run(resume=resume)
        except TrainingError as e:
            rows = read_rows(out / "metrics.jsonl") if (out / "metrics.jsonl").exists() else []
            res.update(error=str(e), seconds=time.perf_counter() - t0,
                       diagnosis=diagnose(rows, None, error=str(e)))
    if summary is not None:
        m = summary.get("metrics", {})
        for k in ("modes_covered", "n_modes", "high_quality", "reverse_kl"):
            if k in m:
                res[k] = float(m[k])
        res["seconds"] = float(summary.get("train_seconds", time.perf_counter() - t0))
        res["diagnosis"] = summary.get("diagnosis") or diagnose(
            read_rows(out / "metrics.jsonl"), m)
    res["verdict"] = res["diagnosis"]["verdict"]
    return res


def _failed(job: dict, err: BaseException) -> dict:
    """The row of a run whose process raised (not a NaN stop, which run_job reports itself)."""
    from ..diagnostics.diagnosis import diagnose

    msg = f"{type(err).__name__}: {err}"
    # Not a training instability: the run never produced numbers to diagnose.
    diag = {**diagnose([], None, error=msg), "verdict": "failed"}
    return {"point": job["point"], "seed": job["seed"], "dir": job["dir"], "error": msg,
            "modes_covered": math.nan, "n_modes": math.nan, "high_quality": math.nan,
            "reverse_kl": math.nan, "reused": False, "seconds": math.nan, "diagnosis": diag,
            "verdict": diag["verdict"]}


def run_sweep(jobs_list: list[dict], jobs: int | None = None, log: Any = print,
              pool: Any = None) -> list[dict]:
    """Run every job, ``jobs`` at a time in worker processes (1: in this process), or on the
    executor ``pool`` (``--executor mpi``: minigan.distributed.executor); returns the results in
    the order of ``jobs_list``."""
    n = jobs
    if n is None:
        n = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count() or 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SweepError(f"--jobs: expected a positive number of processes, got {jobs!r}")
    results: list[dict | None] = [None] * len(jobs_list)

    def report(i: int, res: dict) -> None:
        results[i] = res
        done = sum(r is not None for r in results)
        log(f"[{done}/{len(jobs_list)}] {describe(res)}")

    if pool is not None:  # MPI: one run per worker rank at a time; a failed run is a row
        from concurrent.futures import as_completed
        from functools import partial

        from ..distributed.executor import single_threaded

        futures = {pool.submit(partial(single_threaded, run_job), job): i
                   for i, job in enumerate(jobs_list)}
        for fut in as_completed(futures):
            i = futures[fut]
            err = fut.exception()
            report(i, fut.result() if err is None else _failed(jobs_list[i], err))
        return results  # type: ignore[return-value]
    if n == 1:
        for i, job in enumerate(jobs_list):
            report(i, run_job(job))
        return results  # type: ignore[return-value]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # 'spawn': a fresh interpreter imports NumPy after seeing one BLAS thread in its
    # environment (a forked child would inherit the parent's thread pools).
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    os.environ.update({v: "1" for v in THREAD_VARS})
    try:
        with ProcessPoolExecutor(max_workers=min(n, len(jobs_list)),
                                 mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker) as pool:
            futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs_list)}
            try:
                for fut in as_completed(futures):
                    report(futures[fut], fut.result())
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
    return results  # type: ignore[return-value]


def cmd_sweep(args: argparse.Namespace) -> int:
    if getattr(args, "executor", "local") != "mpi":
        return _sweep(args)
    from ..distributed.executor import mpi_pool

    try:
        with mpi_pool() as pool:
            # The other ranks train the runs rank 0 hands them, then return here.
            return 0 if pool is None else _sweep(args, pool)
    except RuntimeError as e:  # no mpi4py, or a world of one process
        print(f"minigan study sweep: error: {e}", file=sys.stderr)
        return 2


def _sweep(args: argparse.Namespace, pool: Any = None) -> int:
    def fail(msg: str) -> int:
        print(f"minigan study sweep: error: {msg}", file=sys.stderr)
        return 2

    preset = args.preset or config.DEFAULT_PRESET
    out = pathlib.Path(args.out or f"runs/sweep-{preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        axes = parse_axes(args.set or [])
        jobs_list = plan(preset, axes, args.seeds, args.steps, out)
    except SweepError as e:
        return fail(str(e))
    cfg0 = jobs_list[0]["cfg"]
    swept = {k: v for k, v in axes.items() if len(v) > 1}
    fixed = ", ".join(f"{k}={v[0]}" for k, v in axes.items() if len(v) == 1)
    print(f"{len(jobs_list)} runs ({len(grid(axes))} configs x {args.seeds} seeds) of "
          f"{preset}, {cfg0['steps']} steps each, into {out}", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        results = run_sweep(jobs_list, args.jobs, log=lambda s: print(s, file=sys.stderr),
                            pool=pool)
    except SweepError as e:
        return fail(str(e))
    wall = time.perf_counter() - t0
    settings = {"preset": preset, "steps": cfg0["steps"], "seeds": args.seeds,
                "fixed": fixed, "eval_samples": cfg0["eval_samples"],
                "jobs": args.jobs, "wall_seconds": round(wall, 1)}
    paths = write_outputs(out, results, swept, settings)
    print(markdown_table(summarize(results, swept), list(swept)))
    print(f"\nwall time {wall:.0f}s")
    for kind, path in paths.items():
        print(f"{kind + ':':10s}{path}")
    return 0


def add_sweep_parser(study_subparsers: Any) -> None:
    """Register ``sweep`` under ``minigan study``."""
    p = study_subparsers.add_parser(
        "sweep", help="a grid of training runs in parallel: modes, HQ, KL, verdict, time",
        description="Train every combination of the --set values (times --seeds seeds) in "
        "parallel worker processes, each in its own run directory; write a Markdown/CSV table "
        "(mean ± std over seeds of modes covered, high-quality %, reverse KL, the diagnosis "
        "verdict, time) and a heatmap PNG. Rerunning with the same --out reuses finished runs.")
    p.add_argument("--preset", help=f"preset name (default {config.DEFAULT_PRESET})")
    p.add_argument("--set", action="append", metavar="KEY=V1,V2,...",
                   help="an axis of the grid (one value: a fixed override); repeatable")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per config (1)")
    p.add_argument("--steps", type=int, help="generator steps per run (default: the preset's)")
    p.add_argument("--jobs", type=int, help="worker processes (default: the CPUs available)")
    p.add_argument("--executor", choices=["local", "mpi"], default="local",
                   help="local: a process pool on this machine; mpi: the ranks of `mpiexec -n "
                   "N` (rank 0 hands out runs, N-1 train; needs minigan[mpi])")
    p.add_argument("--out", help="output directory (default runs/sweep-<preset>-<time>)")
    p.set_defaults(func=cmd_sweep)
