"""Data-parallel training: the hooks the GAN trainer calls at each point of a step.

The trainer (minigan.gan.trainer) holds one of two objects with the same methods:

* :class:`Local` -- one process; every hook does nothing (or what the trainer did before);
* :class:`DataParallel` -- rank r of N under mpiexec/srun.

What DataParallel guarantees, step by step (B = batch_size, b = B/N):

1. the same initial weights everywhere (broadcast from rank 0);
2. rank r sees rows [r b, (r+1) b) of the global batch of data, latents and all other random
   draws (:mod:`.shard`), so the generators stay identical on every rank;
3. after each backward, the gradients of the model being updated are averaged over the ranks in
   one bucketed all-reduce (:mod:`.allreduce`) -- the gradient of the global mean loss, since
   each rank's loss is a mean over its rows and every penalty is a mean too;
4. optimizers, EMA, spectral-norm vectors therefore evolve identically; per-rank BatchNorm
   statistics (the default) leave the running statistics to rank 0's, broadcast each step,
   while ``sync_bn`` normalizes with global-batch statistics (:mod:`.sync_bn`);
5. at each checkpoint step a digest of every tensor of the training state is compared across
   ranks; a mismatch stops the run naming the tensor;
6. a stop request (Ctrl-C, SIGTERM) on any rank stops every rank after the same step.

Only rank 0 writes (metrics, pictures, checkpoints); the others run :meth:`DataParallel.follow`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..tensor import Tensor, array_module
from . import allreduce, shard, sync_bn
from .world import World


class DigestMismatch(RuntimeError):
    """The training state differs across ranks (it must not); names the first tensor."""


class Local:
    """One process: the trainer's hooks leave everything as it was."""

    rank, size, is_main = 0, 1, True

    def attach(self, trainer: Any) -> None:
        pass

    def shard(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def local_batch(self, batch: tuple) -> tuple:
        return batch

    def average_gradients(self, module: Any) -> None:
        pass

    def logit_stats(self, r: Any, f: Any) -> dict:
        return {"d_real": r.mean(), "d_fake": f.mean(), "d_real_std": r.std(),
                "d_fake_std": f.std()}

    def average_record(self, rec: dict) -> dict:
        return rec

    def after_step(self, trainer: Any) -> None:
        pass

    def agree(self, should_stop: Callable[[], bool] | None) -> Callable[[], bool] | None:
        return should_stop


# Loss terms are means over this rank's rows: their mean over the ranks is the global mean.
MEAN_KEYS = ("d_loss", "penalty", "g_loss")


def _flat_state(prefix: str, obj: Any, out: list) -> None:
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            _flat_state(f"{prefix}.{k}" if prefix else str(k), obj[k], out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _flat_state(f"{prefix}[{i}]", v, out)
    else:
        obj = obj.array if isinstance(obj, Tensor) else obj  # state_dict values are tensors
        a = obj.get() if hasattr(obj, "get") and not isinstance(obj, dict) else obj
        out.append((prefix, np.ascontiguousarray(np.asarray(a)).tobytes()
                    if isinstance(a, (np.ndarray, np.generic)) else repr(a).encode()))


def state_digest(state: dict) -> list[tuple[str, str]]:
    """(name, hash) of every tensor and value of a training state (models, EMA, optimizers,
    generators, data order)."""
    items: list = []
    # Telemetry (the spectral-norm trackers) is rank 0's own observation, recorded only where
    # metrics are written: not training state, so the ranks need not agree on it.
    _flat_state("", {k: v for k, v in state.items()
                     if k not in ("config", "model_config", "telemetry")}, items)
    return [(name, hashlib.blake2b(data, digest_size=16).hexdigest()) for name, data in items]


class DataParallel:
    """Rank ``world.rank`` of a data-parallel run (see the module docstring)."""

    def __init__(self, world: World, device: str = "cpu") -> None:
        self.world = world
        self.rank, self.size, self.is_main = world.rank, world.size, world.is_main
        self.device = device
        self.reducer = allreduce.make_reducer(world, device)
        self.bytes_per_step: dict[str, int] = {}
        self._stop = False

    # ---- setup ----------------------------------------------------------------------------------
    def attach(self, trainer: Any) -> None:
        cfg = trainer.cfg
        B = cfg["batch_size"]
        if B % self.size:
            raise ValueError(f"batch_size: the global batch {B} must split evenly over the "
                             f"{self.size} ranks (a multiple of {self.size})")
        self.b = B // self.size
        self.lo, self.hi, self.B = self.rank * self.b, (self.rank + 1) * self.b, B
        self.sync_bn = bool(cfg.get("sync_bn", False))
        if self.sync_bn:
            for m in (trainer.G, trainer.D):
                sync_bn.convert(m, self.reducer)
        for m in (trainer.G, trainer.D, trainer.G_ema):
            if m is not None:
                allreduce.broadcast_module(self.reducer, m)
        self._names = {id(trainer.G): "G", id(trainer.D): "D"}
        self._trainer = trainer

    # ---- inside a step -------------------------------------------------------------------------
    def shard(self) -> contextlib.AbstractContextManager:
        return shard.batch_rows(self.lo, self.hi, self.B, self.reducer)

    def local_batch(self, batch: tuple) -> tuple:
        """This rank's rows of a global batch (x, cond); cond may be None or a tuple."""
        return tuple(self._rows(v) for v in batch)

    def _rows(self, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, tuple):
            return tuple(self._rows(u) for u in v)
        if v.shape[0] != self.B:
            raise ValueError(f"batch: expected {self.B} rows (the global batch), got {v.shape}")
        return Tensor(v.array[self.lo:self.hi])

    def average_gradients(self, module: Any) -> None:
        name = self._names.get(id(module), type(module).__name__)
        self.bytes_per_step[name] = allreduce.average_gradients(self.reducer,
                                                                list(module.parameters()))

    def logit_stats(self, r: Any, f: Any) -> dict:
        """Mean and std of D's logits over the global batch, from all-reduced sums."""
        n = r.size * self.size
        s = self.reducer.sum_scalars([r.sum(), f.sum()])
        mr, mf = s[0] / n, s[1] / n
        q = self.reducer.sum_scalars([((r - mr) ** 2).sum(), ((f - mf) ** 2).sum()])
        return {"d_real": mr, "d_fake": mf, "d_real_std": (q[0] / n) ** 0.5,
                "d_fake_std": (q[1] / n) ** 0.5}

    def average_record(self, rec: dict) -> dict:
        keys = [k for k in MEAN_KEYS if k in rec]
        sums = self.reducer.sum_scalars([rec[k] for k in keys])
        return {**rec, **{k: float(s) / self.size for k, s in zip(keys, sums)}}

    def after_step(self, trainer: Any) -> None:
        if not self.sync_bn:  # per-rank statistics: keep rank 0's running averages everywhere
            for m in (trainer.G, trainer.D, trainer.G_ema):
                if m is not None:
                    self._broadcast_buffers(m)
        cfg, step = trainer.cfg, trainer.step
        every = cfg["checkpoint_every"]
        if (every and step % every == 0) or step == cfg["steps"]:
            self.check_digest(trainer)

    def _broadcast_buffers(self, m: Any) -> None:
        bufs = [t for t in m.buffers() if t is not None and t.array.dtype.kind == "f"]
        if bufs:
            xp = array_module(bufs[0].array)
            flat = xp.concatenate([t.array.reshape(-1) for t in bufs])
            self.reducer.broadcast_(flat)
            off = 0
            for t in bufs:
                t.array[...] = flat[off:off + t.array.size].reshape(t.array.shape)
                off += t.array.size

    # ---- agreement between the ranks ------------------------------------------------------------
    def check_digest(self, trainer: Any) -> None:
        """Compare a digest of the whole training state across the ranks; on a mismatch every
        rank raises :class:`DigestMismatch` naming the first tensor that differs."""
        mine = state_digest(trainer.state())
        everyone = self.world.comm.allgather(mine)
        for r, theirs in enumerate(everyone):
            if theirs == everyone[0]:
                continue
            names0 = dict(everyone[0])
            for name, h in theirs:
                if names0.get(name) != h:
                    raise DigestMismatch(f"step {trainer.step}: {name} differs between rank 0 "
                                         f"and rank {r} (data-parallel state out of sync)")
            raise DigestMismatch(f"step {trainer.step}: the training state of rank {r} has "
                                 "other entries than rank 0's")

    def agree(self, should_stop: Callable[[], bool] | None) -> Callable[[], bool]:
        """A stop test all ranks answer alike: True once any rank was asked to stop."""

        def agreed() -> bool:
            mine = bool(should_stop()) if should_stop is not None else False
            self._stop = bool(self.world.comm.allreduce(int(mine), op=self.world.MPI.MAX))
            if self._stop:  # the state about to be checkpointed must be the same everywhere
                self.check_digest(self._trainer)
            return self._stop

        return agreed

    # ---- the other ranks' loop -------------------------------------------------------------------
    def follow(self, trainer: Any, resume: bool,
               should_stop: Callable[[], bool] | None) -> dict | None:
        """What ranks other than 0 run instead of ``Trainer.run``: the same steps and the same
        collectives, writing nothing."""
        from ..gan import checkpoint

        if resume:
            trainer.load_state(checkpoint.load(trainer.out / "checkpoints" / "latest.npz"))
        stop = self.agree(should_stop)
        while trainer.step < trainer.cfg["steps"]:
            trainer.last = trainer.train_step(record=False)
            if stop():
                return None
        return {"steps": trainer.step, "rank": self.rank, "final_losses": trainer.last,
                "metrics": {}, "pictures": {"samples": "(rank 0)", "loss_curves": "(rank 0)"},
                "train_seconds": 0.0}

