"""All-reduce over the ranks: MPI for host (NumPy) arrays, NCCL through CuPy for GPU arrays.

Gradients are *bucketed*: a model's gradients are copied into one flat buffer, reduced in one
call, and copied back, because one call per tensor pays the network's latency once per tensor
(a DCGAN has 18 of them) and a ring all-reduce of one large message runs at bus bandwidth.
The average of the per-rank gradients of per-rank mean losses is the gradient of the global
mean loss: (1/N) sum_r (1/b) sum_{i in r} dl_i = (1/B) sum_i dl_i with B = N b.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, array_module
from .world import World


class MPIReducer:
    """Sums of host arrays over the world with ``MPI_Allreduce`` (in place)."""

    device = "cpu"

    def __init__(self, world: World) -> None:
        self.world = world
        self.size = world.size
        self.bytes_reduced = 0  # running total, for `minigan bench scale`

    def sum_(self, buf: np.ndarray) -> np.ndarray:
        """buf <- sum over the ranks of buf (a contiguous NumPy array), in place."""
        if self.size > 1:
            self.world.comm.Allreduce(self.world.MPI.IN_PLACE, buf, op=self.world.MPI.SUM)
        self.bytes_reduced += buf.nbytes
        return buf

    def sum_scalars(self, values: list) -> np.ndarray:
        """The sums over the ranks of a few scalars, in one call."""
        return self.sum_(np.array([float(v) for v in values], dtype=np.float64))

    def broadcast_(self, buf: np.ndarray, root: int = 0) -> np.ndarray:
        if self.size > 1:
            self.world.comm.Bcast(buf, root=root)
        return buf


def _nccl() -> Any:
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as e:
        raise RuntimeError("data-parallel training on cuda needs NCCL through CuPy, which is "
                           f"not available ({e}); pip install 'minigan[cuda]' (CuPy wheels "
                           "bring NCCL) on a machine with NVIDIA GPUs") from None
    if not getattr(nccl, "available", True):
        raise RuntimeError("data-parallel training on cuda: this CuPy was built without NCCL; "
                           "install a CuPy wheel (pip install 'minigan[cuda]')")
    return cupy, nccl


class NCCLReducer:
    """Sums of CuPy arrays over the world with NCCL; rank 0 makes the NCCL unique id and MPI
    carries it to the others (NCCL has no launcher of its own)."""

    device = "cuda"

    def __init__(self, world: World) -> None:
        cupy, nccl = _nccl()
        self.cupy, self.nccl = cupy, nccl
        self.world = world
        self.size = world.size
        uid = nccl.get_unique_id() if world.rank == 0 else None
        uid = world.comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(world.size, uid, world.rank)
        self.bytes_reduced = 0
        self._types = {np.dtype(np.float32): nccl.NCCL_FLOAT32,
                       np.dtype(np.float64): nccl.NCCL_FLOAT64}

    def _type(self, buf: Any) -> Any:
        if buf.dtype not in self._types:
            raise TypeError(f"buf: expected float32 or float64, got {buf.dtype}")
        return self._types[buf.dtype]

    def sum_(self, buf: Any) -> Any:
        if self.size > 1:
            stream = self.cupy.cuda.get_current_stream().ptr
            self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._type(buf),
                                self.nccl.NCCL_SUM, stream)
        self.bytes_reduced += buf.nbytes
        return buf

    def sum_scalars(self, values: list) -> Any:
        xp = self.cupy
        return self.sum_(xp.stack([xp.asarray(v, dtype=xp.float64).reshape(()) for v in values]))

    def broadcast_(self, buf: Any, root: int = 0) -> Any:
        if self.size > 1:
            stream = self.cupy.cuda.get_current_stream().ptr
            self.comm.bcast(buf.data.ptr, buf.size, self._type(buf), root, stream)
        return buf


def make_reducer(world: World, device: str) -> Any:
    """The reducer for tensors on ``device``: MPI on "cpu", NCCL on "cuda"."""
    if device == "cuda":
        return NCCLReducer(world)
    if device != "cpu":
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    return MPIReducer(world)


def average_gradients(reducer: Any, params: list) -> int:
    """p.grad <- mean over the ranks of p.grad for every parameter with a gradient, through one
    flat buffer and ONE all-reduce. Returns the bytes reduced. A parameter without a gradient
    has none on every rank (the graphs are the same), so it is skipped everywhere alike."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0
    xp = array_module(grads[0].grad.array)
    dtype = np.result_type(*[p.grad.array.dtype for p in grads])
    flat = xp.empty(sum(p.grad.array.size for p in grads), dtype=dtype)
    offset = 0
    for p in grads:
        n = p.grad.array.size
        flat[offset:offset + n] = p.grad.array.reshape(-1)
        offset += n
    reducer.sum_(flat)
    flat /= reducer.size
    offset = 0
    for p in grads:
        g = p.grad.array
        # Each gradient becomes a view of the fresh buffer: no second copy.
        p.grad = Tensor(flat[offset:offset + g.size].reshape(g.shape).astype(g.dtype, copy=False))
        offset += g.size
    return flat.nbytes


def broadcast_module(reducer: Any, module: Any, root: int = 0) -> None:
    """Every floating parameter and buffer of ``module`` <- rank ``root``'s, in one call."""
    tensors = [t for t in [*module.parameters(), *module.buffers()]
               if t is not None and t.array.dtype.kind == "f"]
    if not tensors or reducer.size == 1:
        return
    xp = array_module(tensors[0].array)
    dtype = np.result_type(*[t.array.dtype for t in tensors])
    flat = xp.concatenate([t.array.reshape(-1).astype(dtype) for t in tensors])
    reducer.broadcast_(flat, root)
    offset = 0
    for t in tensors:
        n = t.array.size
        t.array[...] = flat[offset:offset + n].reshape(t.array.shape)
        offset += n
