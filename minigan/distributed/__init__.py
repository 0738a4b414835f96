"""Data parallel over MPI (mpi4py), NCCL between GPUs; no home-made cluster layer.

``mpiexec -n N minigan train ...`` starts N processes; each calls :func:`for_training`, which
gives the trainer its hooks: :class:`Local` (no-ops) in a single process, :class:`DataParallel`
under a launcher. Importing this package does not import mpi4py (see :mod:`.world`).

Layout: ``world`` (ranks, what to install), ``shard`` (each rank's rows of the global batch),
``allreduce`` (bucketed gradient averaging: MPI on host arrays, NCCL via CuPy on GPU arrays),
``sync_bn`` (global-batch BatchNorm), ``data_parallel`` (the trainer's hooks, the state digest).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .world import INSTALL_HINT, MPIUnavailable, launched_size, world

__all__ = ["INSTALL_HINT", "MPIUnavailable", "for_training", "finish_command", "launched_size",
           "world"]

_STARTED: dict[str, Any] = {}


def _use_local_gpu(local_rank: int, local_size: int) -> None:
    """One GPU per rank, chosen by the rank's index on its machine."""
    from ..backends import require_cupy

    cupy = require_cupy()
    count = cupy.cuda.runtime.getDeviceCount()
    if local_size > count:
        raise RuntimeError(f"--device cuda: {local_size} ranks on this machine but {count} "
                           "GPU(s); start at most one rank per GPU")
    cupy.cuda.Device(local_rank).use()


def for_training(device: str = "cpu") -> Any:
    """The trainer's data-parallel hooks for this process: a no-op :class:`Local` when not
    launched by mpiexec/srun (or launched as 1 process), else this rank's
    :class:`DataParallel` (on "cuda": this rank's GPU selected, NCCL set up)."""
    from .data_parallel import DataParallel, Local

    if launched_size() <= 1:
        return Local()
    w = world("`mpiexec -n N minigan train` (data-parallel training)")
    if w.size <= 1:
        return Local()
    from .world import install_abort_hook

    install_abort_hook(w)
    _STARTED["world"] = w
    if not w.is_main:  # rank 0 reports; the others' errors still reach stderr
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    if device == "cuda":
        _use_local_gpu(w.local_rank, w.local_size)
    return DataParallel(w, device)


def finish_command(code: int) -> int:
    """Called with a command's exit code: under a data-parallel world, a failure on this rank
    aborts every rank, so none is left waiting in a collective for a rank that has gone. Not
    0, nor 130 / 143 (SIGINT / SIGTERM): all ranks agreed on that stop, and rank 0 may still be
    writing its checkpoint, which an abort would cut short."""
    w = _STARTED.get("world")
    if w is not None and code not in (0, 130, 143):
        w.abort(f"exited with status {code}; stopping all {w.size} ranks", code)
    return code
