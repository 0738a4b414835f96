"""``minigan plot RUN_DIR``: telemetry pictures of a run, and its diagnosis.

Exit codes: 0 done; 2 bad input (no such run directory, no metrics rows, a file that is not JSON).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any


def _fail(msg: str) -> int:
    print(f"minigan plot: error: {msg}", file=sys.stderr)
    return 2


def cmd_plot(args: argparse.Namespace) -> int:
    from . import diagnosis
    from .plot import plot_run

    run = pathlib.Path(args.run_dir)
    if not run.is_dir():
        return _fail(f"RUN_DIR: {str(run)!r} is not a directory")
    summary: dict = {}
    try:
        if (run / "summary.json").is_file():
            summary = json.loads((run / "summary.json").read_text())
        title = f"{run.name}" + (f" ({summary['preset']})" if summary.get("preset") else "")
        paths = plot_run(run, args.out, title=title)
        rows = diagnosis.read_rows(run / "metrics.jsonl")
    except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
        return _fail(str(e))
    for name, path in paths.items():
        print(f"{name + ':':18s}{path}")
    # A finished run carries its diagnosis; an unfinished one is judged on the rows so far.
    diag = summary.get("diagnosis") or diagnosis.diagnose(rows, summary.get("metrics"))
    print(diagnosis.format_diagnosis(diag))
    return 0


def add_commands(sub: Any) -> None:
    plot = sub.add_parser(
        "plot", help="draw a run's telemetry (losses, D outputs, gradient and spectral norms)",
        description="Draw the telemetry in RUN_DIR/metrics.jsonl as PNGs in RUN_DIR/plots: "
        "losses; D(x) and D(G(z)) with std bands; total gradient norms of G and D and their "
        "ratio; per-layer gradient norms, spectral norm estimates and weight norms; learning "
        "rates. Then print the run's diagnosis.")
    plot.add_argument("run_dir", metavar="RUN_DIR", help="a `minigan train` run directory")
    plot.add_argument("--out", help="output directory (default RUN_DIR/plots)")
    plot.set_defaults(func=cmd_plot)
