"""Run under ``mpiexec -n 2``: rank 1 raises while rank 0 waits in a collective. The abort hook
that minigan.distributed installs must stop rank 0 too (the test waits for the job to end)."""

from minigan import distributed

dp = distributed.for_training("cpu")
if dp.rank == 1:
    raise RuntimeError("rank 1 fails on purpose")
dp.world.comm.barrier()  # without the abort, rank 0 would wait here for ever
print("rank 0 passed the barrier: the failure did not stop it")
