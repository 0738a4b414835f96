"""One full GAN training step per CPU backend, and PyTorch CPU side by side: `minigan bench
step` as a script, plus the measurement that picks minigan's default CPU backend.

    python benchmarks/bench_step.py                             # dcgan-mnist, batch 64
    python benchmarks/bench_step.py --json results/$(date +%F)-step-cpu-2core.json
    python benchmarks/bench_step.py --choose-default            # also say which backend wins

--choose-default prints the backend with the lowest median step time (ties within 5% go to the
one earlier in numpy < native < numba: fewer moving parts). The result of the last recorded run
is what minigan.backends.DEFAULT_CPU_ORDER encodes; re-run it on the machine that matters.
"""

from __future__ import annotations

import json
import sys

from minigan.bench.step import bench_step, format_step


def choose(report: dict) -> str:
    rank = {"numpy": 0, "native": 1, "numba": 2}
    runs = [r for r in report["results"] if r["backend"] in rank]
    best = min(r["median_s"] for r in runs)
    close = [r for r in runs if r["median_s"] <= best * 1.05]
    return min(close, key=lambda r: rank[r["backend"]])["backend"]


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--choose-default" not in args:
        from minigan.cli import main

        sys.exit(main(["bench", "step", *args]))
    # Without torch: Numba's OpenMP pool and PyTorch's in one process slow each other down
    # (seen: torch 94 ms alone -> 1.6 s next to numba), which would not be minigan's number.
    report = bench_step(repeats=10, use_torch=False)
    print(format_step(report))
    print(json.dumps({"fastest_cpu_backend": choose(report)}))
