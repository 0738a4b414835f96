"""backends.allocator: freed arrays' pages stay in the process (glibc), so a loop that allocates
and frees the same arrays stops faulting in fresh pages."""

import subprocess
import sys

import pytest

from minigan.backends import allocator

# One "step": 30 arrays of 256 x 128 float32 (128 KiB each, the default job's usual size),
# written, then all freed; page faults counted over 20 steps after 3 warm-up ones.
SCRIPT = """
import resource, sys
import numpy as np
if sys.argv[1] == "retain":
    from minigan.backends import allocator
    assert allocator.retain_freed_memory()
def step():
    arrays = [np.ones((256, 128), np.float32) for _ in range(30)]
    del arrays
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""

glibc = pytest.mark.skipif(allocator._glibc() is None, reason="not glibc: mallopt is glibc's")


def _faults_per_step(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.split()[-1])


@glibc
def test_retained_memory_serves_the_next_steps_arrays_without_page_faults():
    default, retained = _faults_per_step("default"), _faults_per_step("retain")
    # 30 arrays of 32 pages each: with glibc's defaults most come back as fresh pages
    # (928 faults a step measured); retained, the pages are reused.
    assert default > 100
    assert retained < 1


@glibc
def test_retain_is_once_per_process_and_reports_the_first_result():
    first = allocator.retain_freed_memory()
    assert first is True
    assert allocator.retain_freed_memory() is first
    assert allocator._done == [True]
