"""The ``minigan`` command. Each subcommand is a parser built in :func:`build_parser` plus a
``cmd_<name>(args) -> int`` function; ``main`` dispatches to it and returns the exit code."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _version() -> str:
    import minigan

    version = getattr(minigan, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version("minigan")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return str(version)


def _dist_version(import_name: str) -> str | None:
    """Installed version of the distribution providing ``import_name``, without importing it
    (several distributions provide ``cupy``: cupy-cuda12x, cupy-cuda13x, ...)."""
    dists = importlib.metadata.packages_distributions().get(import_name, [])
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _try(fn: Callable[[], Any]) -> Any:
    """fn() or, when it raises, the error as text: `info` must report a bad setting, not die."""
    try:
        return fn()
    except Exception as exc:  # reported to the user, who can fix the setting it names
        return f"error: {exc}"


def collect_info() -> dict[str, Any]:
    """Everything ``minigan info`` reports, as a JSON-able dict."""
    import minigan
    from minigan import backends

    C = backends.native()
    cu = backends.cuda_module()
    info: dict[str, Any] = {
        "minigan": {"version": _version(), "location": str(Path(minigan.__file__).parent)},
        "python": {
            "version": platform.python_version(),
            "executable": sys.executable,
            "platform": platform.platform(),
        },
        "numpy": np.__version__,
        "native": {
            "built": C is not None,
            "path": getattr(C, "__file__", None),
            "error": backends.import_error("minigan._C"),
            "build": C.build_info() if C is not None else None,
            # compiled/supported/active ISA variants and each kernel family's (MINIGAN_ISA)
            "isa": C.isa_info() if C is not None else None,
        },
        "cuda": {
            "built": cu is not None,
            "path": getattr(cu, "__file__", None),
            "error": backends.import_error("minigan._cuda"),
            "runtime": cu.runtime_info() if cu is not None else None,
        },
        "backends": {
            "available": backends.available(),
            "current": _try(backends.current),
            "unavailable": {
                name: reason
                for name in backends.ALL_BACKENDS
                if (reason := backends.unavailable_reason(name)) is not None
            },
        },
        "threads": {
            "minigan": _try(backends.num_threads),
            "MINIGAN_NUM_THREADS": os.environ.get("MINIGAN_NUM_THREADS"),
            "openmp": C.num_threads() if C is not None else None,
            "cpu_count": os.cpu_count(),
            "blas": _blas_threads(),
        },
        "optional": {
            name: _dist_version(name)
            for name in ("numba", "numba_cuda", "cupy", "threadpoolctl", "torch")
        },
        "kernels": _kernel_providers(),
    }
    return info


def _kernel_providers() -> dict[str, dict[str, list[str]]]:
    """family -> kernel -> the backends with their own implementation (numpy: the reference;
    any other backend falls back to it on the CPU, or to cupy on CUDA)."""
    from minigan.kernels import registry, table

    table.rows()  # imports every kernel family, which registers its kernels (nothing compiles)
    return {family: {name: registry.providers(name) for name in names}
            for family, names in sorted(registry.kernels().items())}


def _blas_threads() -> Any:
    if _dist_version("threadpoolctl") is None:
        return "unknown (pip install threadpoolctl to see)"
    from threadpoolctl import threadpool_info

    return [
        {"library": p.get("internal_api"), "threads": p.get("num_threads")}
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    ]


def _format_info(info: dict[str, Any]) -> str:
    native, cuda, bk, th = info["native"], info["cuda"], info["backends"], info["threads"]
    rows = [
        ("minigan", f"{info['minigan']['version']}  ({info['minigan']['location']})"),
        ("python", f"{info['python']['version']}  ({info['python']['platform']})"),
        ("numpy", info["numpy"]),
    ]
    if native["built"]:
        b = native["build"]
        openmp = f"OpenMP {b['openmp']}" if b["openmp"] else "no OpenMP"
        rows.append(("native (_C)", f"built, {openmp}, {b['compiler']}  ({native['path']})"))
        isa = native["isa"]
        forced = os.environ.get("MINIGAN_ISA")
        rows.append(("  ISA variant", f"{isa['active']}{' (MINIGAN_ISA)' if forced else ''}; "
                     f"compiled: {', '.join(isa['compiled'])}; "
                     f"this CPU runs: {', '.join(isa['supported'])}"))
        rows.append(("  per family", ", ".join(f"{k} {v}" for k, v in isa["families"].items())))
    else:
        rows.append(("native (_C)", f"not built: {native['error']}"))
    if cuda["built"]:
        rt = cuda["runtime"]
        rows.append(("cuda (_cuda)", f"built for sm {rt['compiled_archs']}  ({cuda['path']})"))
        detail = f"runtime {rt['runtime_version']}, driver {rt['driver']}"
        if rt["error"]:
            detail += f"; {rt['error']}"
        rows.append(("cuda runtime", f"{rt['status']}  ({detail})"))
        gpus = [f"{d['index']}: {d['name']} (sm {d['compute_capability']})" for d in rt["devices"]]
        rows.append(("gpus", "; ".join(gpus) or "none"))
    else:
        rows.append(("cuda (_cuda)", f"not built: {cuda['error']}"))
    rows.append(("backends", f"{', '.join(bk['available'])}  (current: {bk['current']})"))
    for name, reason in bk["unavailable"].items():
        rows.append((f"  no {name}", reason))
    blas = th["blas"]
    if isinstance(blas, list):
        blas = ", ".join(f"{b['library']} {b['threads']}" for b in blas) or "none found"
    rows.append(
        (
            "threads",
            f"minigan {th['minigan']}, OpenMP {th['openmp']}, CPUs {th['cpu_count']}, "
            f"BLAS {blas}",
        )
    )
    optional = [f"{k} {v or '-'}" for k, v in info["optional"].items()]
    rows.append(("optional", ", ".join(optional)))
    rows.append(("kernels", "backends with their own implementation (the rest use numpy's "
                            "reference on the CPU, cupy's on CUDA)"))
    for family, kernels in info["kernels"].items():
        groups: dict[tuple, list[str]] = {}  # kernels of a family that share their providers
        for name, providers in kernels.items():
            groups.setdefault(tuple(p for p in providers if p != "numpy"), []).append(name)
        for i, (providers, names) in enumerate(groups.items()):
            rows.append((f"  {family}" if i == 0 else "",
                         f"{', '.join(names)}: {' '.join(providers) or '(reference only)'}"))
    width = max(len(k) for k, _ in rows) + 2
    return "\n".join(f"{k:<{width}}{v}" for k, v in rows)


def cmd_info(args: argparse.Namespace) -> int:
    info = collect_info()
    print(json.dumps(info, indent=2) if args.json else _format_info(info))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minigan",
        description="minigan: a GAN engine written from scratch.",
    )
    parser.add_argument("--version", action="version", version=f"minigan {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser(
        "info",
        help="show versions, compiled modules, backends, CUDA status and thread counts",
        description="Show what minigan found on this machine: versions, whether the native "
        "(_C) and CUDA (_cuda) modules were built, the CUDA runtime status, the backends "
        "available, thread counts, and which backends implement each kernel.",
    )
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=cmd_info)

    from .data.cli import add_data_parser

    add_data_parser(sub)

    from .bench.cli import add_command as add_bench

    add_bench(sub)

    from .gan.commands import add_commands

    add_commands(sub)

    from .gan.apps.commands import add_commands as add_app_commands

    add_app_commands(sub)

    from .metrics.commands import add_commands as add_metrics_commands

    add_metrics_commands(sub)

    from .study.commands import add_commands as add_study

    add_study(sub)

    from .diagnostics.commands import add_commands as add_plot

    add_plot(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``minigan`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `minigan`: list the commands rather than one terse line
        parser.print_help(sys.stderr)
        return 2
    if args.command != "info":  # info reports a bad setting among the rest rather than stop
        from minigan import backends

        try:
            backends.check_environment()
        except ValueError as exc:  # a mistyped variable: one line, exit 2, before any work
            print(f"minigan {args.command}: error: {exc}", file=sys.stderr)
            return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
