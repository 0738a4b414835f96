"""``minigan bench``: kernels against their NumPy references, and one GAN training step.

``bench kernels`` takes every benchmark-sized row of the parity table
(:mod:`minigan.kernels.table`) and, per CPU backend (each in a process of its own), reports the
median time over repeats after warm-up, GFLOP/s (or GB/s for memory-bound kernels), the
speed-up against the ``numpy`` reference measured in the same run, and the largest error
against the reference computed in float64. A backend without its own kernel for a row is listed
as a fallback, not timed.

``bench step`` (:mod:`minigan.bench.step`) times one full training step (D step, then G step)
of the dcgan-mnist model per backend, and the same model in PyTorch CPU when PyTorch is
installed (each in processes of its own, taking turns), as a ratio (minigan / torch: below 1
means minigan is faster).

With ``--device cuda`` both run on the GPU instead (CUDA backends, CUDA-event timing, L2
flushed between kernel calls, rates as a fraction of the GPU's peak, PyTorch CUDA beside the
step): see :mod:`minigan.bench.gpu`.

Speed is never asserted anywhere: these are measurements, noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .. import backends
from .kernels import bench_kernels, format_kernels


# The --help texts: plain sentences (argparse prints them as they are, so no reST markup).
_BENCH = ("Measure minigan's speed: each kernel against its NumPy reference (kernels), one GAN "
          "training step against PyTorch (step), or data-parallel scaling over MPI ranks "
          "(scale). A bare 'minigan bench' runs 'minigan bench kernels'. Speed is measured, "
          "never asserted: the numbers are noisy on a shared machine.")
_KERNELS = ("Time every benchmark-sized row of the parity table on each backend (each backend "
            "in a process of its own): the median time over repeats after warm-up, GFLOP/s "
            "(GB/s for memory-bound kernels), the speed-up against the numpy reference "
            "measured in the same run, and the largest error against the reference computed "
            "in float64. A backend without its own kernel for a row is listed as a fallback, "
            "not timed. With --device cuda: the GPU backends, timed with CUDA events, the L2 "
            "cache flushed between calls.")
_STEP = ("Time one full training step (D step, then G step) of a preset's model per backend, "
         "beside the same model in PyTorch when it is installed (each in processes of its own, "
         "taking turns), as a ratio minigan / torch: below 1 means minigan is faster. With "
         "--device cuda the step runs on the GPU, beside PyTorch CUDA.")
_SCALE = ("Measure the training samples per second of a preset's step as 1 process with N "
          "threads and as N MPI ranks with 1 thread each (needs mpi4py and mpiexec), count "
          "the bytes all-reduced per step, and project the scaling efficiency of N GPUs from "
          "an assumed compute time per step (--step-ms).")

def add_command(sub: Any) -> None:
    """Register ``minigan bench kernels|step`` on the CLI's subparsers."""
    bench = sub.add_parser("bench", help="benchmark kernels against NumPy, or a training step",
                           description=_BENCH)
    what = bench.add_subparsers(dest="what", metavar="{kernels,step,scale}")
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
    k = what.add_parser("kernels", parents=[common], help="every kernel family x backend",
                        description=_KERNELS)
    k.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    k.add_argument("--only", help="rows whose name contains this text")
    k.add_argument("--small", action="store_true",
                   help="the test-sized rows instead (a smoke run: numbers are not data)")
    s = what.add_parser("step", parents=[common], help="one GAN training step, vs PyTorch",
                        description=_STEP)
    s.add_argument("--preset", default="dcgan-mnist",
                   help="dcgan-mnist (default), tiny, or grid25 (the default job of minigan train)")
    s.add_argument("--batch", type=int, help="batch size (default 64; grid25: 256)")
    s.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    sc = what.add_parser("scale", help="1 process x N threads vs N MPI ranks x 1 thread, "
                         "bytes all-reduced, projected multi-GPU efficiency",
                         description=_SCALE)
    sc.add_argument("--preset", default="grid25", help="grid25 (default) or dcgan-mnist")
    sc.add_argument("--batch", type=int, help="global batch size (default: 256 / 64)")
    sc.add_argument("--ranks", type=int, default=2, help="ranks (and threads of the 1 process)")
    sc.add_argument("--steps", type=int, default=20, help="timed steps")
    sc.add_argument("--step-ms", type=float, default=5.0,
                    help="compute time of one step per GPU, assumed by the projection")
    sc.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    bench.set_defaults(func=cmd_bench, what=None)
    _DEFAULT.append(k)


_DEFAULT: list = []  # the `bench kernels` parser: a bare `minigan bench` means its defaults


def _usage_error(args: argparse.Namespace) -> str | None:
    """A bad number or an unwritable --json, found before any measurement starts."""
    for name in ("repeats", "warmup", "batch", "ranks", "steps"):
        v = getattr(args, name, None)
        if v is not None and v < (0 if name == "warmup" else 1):
            return f"--{name}: expected a {'non-negative' if name == 'warmup' else 'positive'} " \
                   f"integer, got {v}"
    step_ms = getattr(args, "step_ms", None)
    if step_ms is not None and not step_ms > 0:
        return f"--step-ms: expected a positive time, got {step_ms}"
    if args.json:
        path = os.path.abspath(args.json)
        if os.path.isdir(path) or not os.path.isdir(os.path.dirname(path)):
            return f"--json {args.json!r}: cannot write a file there"
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what is None:
        args = _DEFAULT[0].parse_args([])
        args.what = "kernels"
    msg = _usage_error(args)
    if msg is not None:
        print(f"minigan bench: error: {msg}", file=sys.stderr)
        return 2
    try:
        return _cmd_bench(args)
    except ValueError as exc:  # an unknown backend or preset, named by the code that found it
        print(f"minigan bench: error: {exc}", file=sys.stderr)
        return 2


def _cmd_bench(args: argparse.Namespace) -> int:
    what = args.what
    if what == "scale":
        from .scale import bench_scale, format_scale

        try:
            report = bench_scale(args.preset, args.batch, args.ranks, args.steps,
                                 step_ms=args.step_ms)
        except RuntimeError as exc:  # no mpi4py / mpiexec, or a failed run
            print(f"minigan bench: error: {exc}", file=sys.stderr)
            return 2
        return _finish(args, report, format_scale(report))
    if args.device == "cuda":
        return _cmd_bench_cuda(args)
    if what == "kernels":
        report = bench_kernels(args.backends, args.repeats or 10, args.warmup, args.dtype,
                               args.only, not args.small, not args.quiet,
                               isolate=not args.same_process)
        text = format_kernels(report)
    else:
        from .step import bench_step, format_step

        report = bench_step(args.preset, args.backends, args.repeats or 5, args.warmup,
                            args.batch, not args.no_torch, not args.quiet,
                            isolate=not args.same_process)
        text = format_step(report)
    return _finish(args, report, text)


def _finish(args: argparse.Namespace, report: dict[str, Any], text: str) -> int:
    report["machine"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(text)
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=2)
        except OSError as e:  # read-only, full disk: the measurements are printed above
            print(f"minigan bench: error: --json {args.json!r}: cannot write ({e.strerror or e})",
                  file=sys.stderr)
            return 2
        print(f"wrote {args.json}")
    return 0


def _cmd_bench_cuda(args: argparse.Namespace) -> int:
    from . import gpu as bench_gpu

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
