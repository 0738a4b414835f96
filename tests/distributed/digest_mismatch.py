"""Run under ``mpiexec -n 2``: rank 1's copy of one tensor differs in its last bit; the digest
check must name it on every rank."""

import numpy as np

from minigan import distributed
from minigan.distributed.data_parallel import DigestMismatch


class FakeTrainer:
    step = 7

    def __init__(self, rank: int) -> None:
        w = np.linspace(0, 1, 5)
        if rank == 1:
            w[3] = np.nextafter(w[3], 2.0)
        self.st = {"G": {"net.0.weight": np.ones(3), "net.2.weight": w},
                   "D": {"net.0.weight": np.zeros(2)}, "config": {}}

    def state(self) -> dict:
        return self.st


dp = distributed.for_training("cpu")
try:
    dp.check_digest(FakeTrainer(dp.rank))
except DigestMismatch as e:
    print(f"rank {dp.rank}: {e}", flush=True)
else:
    print(f"rank {dp.rank}: no mismatch found", flush=True)
