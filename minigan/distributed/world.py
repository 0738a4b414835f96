"""The MPI world: which process this is, how many there are, and what to install when MPI is
missing.

minigan does not start processes itself: ``mpiexec -n N minigan ...`` (or Slurm's ``srun``)
does, and every process asks MPI (through mpi4py) for its rank. Importing minigan never imports
mpi4py; :func:`world` does, the first time a command needs it.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

INSTALL_HINT = ("pip install 'minigan[mpi]' (mpi4py plus the mpich wheel, which brings an MPI "
                "library and mpiexec), or on a cluster `pip install mpi4py` built against the "
                "cluster's own MPI")

# Set by the launchers we know in every process they start: MPICH/Intel MPI's Hydra and Slurm's
# PMI (PMI_SIZE), Open MPI (OMPI_COMM_WORLD_SIZE), PMIx launchers (PMIX_SIZE is not standard;
# PMIX_RANK is).
ABORT_DRAIN_S = 0.5  # seconds the launcher gets to forward the abort message
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


class MPIUnavailable(RuntimeError):
    """MPI was asked for (a launch under mpiexec, ``--executor mpi``) and mpi4py is missing."""


def launched_size() -> int:
    """The number of processes a launcher says it started, from its environment; 1 when the
    process was not started by mpiexec/srun (checked without importing mpi4py)."""
    for var in _SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 1


def import_mpi(what: str) -> Any:
    """mpi4py's ``MPI`` module, or :class:`MPIUnavailable` naming ``what`` needed it and what to
    install."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise MPIUnavailable(f"{what} needs MPI for Python, which is not installed ({e}); "
                             f"{INSTALL_HINT}") from None
    except RuntimeError as e:  # mpi4py present, but no MPI library for it to load
        raise MPIUnavailable(f"{what}: mpi4py found no MPI library ({e}); {INSTALL_HINT}") \
            from None
    return MPI


class World:
    """The processes of ``MPI.COMM_WORLD`` (or any communicator): rank, size, and the rank within
    this machine (``local_rank``, which picks the GPU)."""

    def __init__(self, comm: Any) -> None:
        MPI = import_mpi("minigan.distributed")
        self.MPI = MPI
        self.comm = comm
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()
        local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank: int = local.Get_rank()
        self.local_size: int = local.Get_size()
        local.Free()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def abort(self, message: str, code: int = 1) -> None:
        """Print ``message`` (naming this rank) and stop every process of the world: an error on
        one rank must not leave the others waiting in a collective for ever."""
        print(f"[rank {self.rank}/{self.size}] {message}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # The launcher forwards our output asynchronously and stops forwarding once Abort
        # kills the job: on a busy machine the last lines written (this message) were lost
        # while the traceback before them arrived (seen once in CI). A moment for it to
        # drain the pipe costs nothing on a path that ends the job anyway.
        time.sleep(ABORT_DRAIN_S)
        self.comm.Abort(code)

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size}, local_rank={self.local_rank})"


_WORLD: dict[str, World] = {}


def world(what: str = "a launch under mpiexec") -> World:
    """The world of ``MPI.COMM_WORLD`` (MPI is initialised on the first call)."""
    if "world" not in _WORLD:
        MPI = import_mpi(what)
        _WORLD["world"] = World(MPI.COMM_WORLD)
    return _WORLD["world"]


def install_abort_hook(w: World) -> None:
    """An uncaught exception on any rank prints its traceback, then aborts the whole world (the
    default hook would exit this rank alone and leave the others blocked)."""
    previous = sys.excepthook

    def hook(kind: type, value: BaseException, tb: Any) -> None:
        previous(kind, value, tb)
        w.abort(f"{kind.__name__}: {value}; stopping all {w.size} ranks")

    if w.size > 1:
        sys.excepthook = hook
