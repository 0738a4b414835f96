"""Runs of a sweep spread over the processes of an MPI world (mpi4py.futures).

    mpiexec -n 9 minigan study sweep --preset grid25 --set loss=ns,hinge --seeds 4 --executor mpi

Rank 0 plans the sweep, hands one run at a time to each of the other ranks, and writes the
table; the other ranks only train (one thread each). The runs are independent, so a run that
fails is reported in the table and the others go on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .world import import_mpi


@contextlib.contextmanager
def mpi_pool() -> Iterator[Any]:
    """An executor on rank 0; None on the other ranks, after they have served runs until rank 0
    left the block."""
    MPI = import_mpi("--executor mpi")
    from mpi4py.futures import MPICommExecutor

    comm = MPI.COMM_WORLD
    if comm.Get_size() < 2:
        raise RuntimeError("--executor mpi: the sweep needs at least 2 MPI processes (rank 0 "
                           "hands out runs, the others train); start it with `mpiexec -n N "
                           "minigan study sweep ... --executor mpi`, N >= 2")
    with MPICommExecutor(comm, root=0) as pool:
        yield pool


def single_threaded(fn: Any, job: Any) -> Any:
    """``fn(job)`` with one CPU thread for minigan's kernels and the BLAS (the processes of the
    world share the machine's cores)."""
    from .. import backends

    backends.set_num_threads(1)
    return fn(job)
