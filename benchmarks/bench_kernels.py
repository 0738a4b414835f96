"""Kernels vs their NumPy references, every CPU backend: `minigan bench kernels` as a script.

    python benchmarks/bench_kernels.py                          # table on stdout
    python benchmarks/bench_kernels.py --json results/$(date +%F)-kernels-cpu-2core.json
    python benchmarks/bench_kernels.py --backends native --only conv2d --repeats 20

Every option of `minigan bench kernels` is accepted (see --help). Rows come from the parity
table's benchmark-sized entries (minigan/kernels/*/__init__.py, bench=True); each backend is
timed in turns with the others on the same arrays, so the speed-up column is a same-run ratio.
"""

from __future__ import annotations

import sys

from minigan.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "kernels", *sys.argv[1:]]))
