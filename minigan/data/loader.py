"""Mini-batches over in-memory arrays, in a reproducible order that survives a checkpoint.

Epoch ``e``'s order is ``default_rng([seed, e]).permutation(N)``: a function of (seed, epoch)
alone, so the loader's whole state is (epoch, position) -- no generator state to carry -- and
an interrupted run resumed from ``state_dict()`` sees exactly the batches it would have seen.
The loader owns that generator: model initialization and noise draws never shift data order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..tensor import Tensor, tensor


class DataLoader:
    """Iterate ``arrays`` (equal first dimension) in batches of ``batch_size`` rows.

    ``shuffle``: a fresh seeded permutation each epoch (else file order). ``drop_last``: skip
    the final short batch, so every batch has exactly ``batch_size`` rows. ``device``: where the
    batches live ("cpu" or "cuda"); the arrays are copied there once, at construction.
    ``dtype``: cast floating arrays (e.g. float64 for gradient checks); integer arrays (labels)
    keep theirs. Each batch is a tuple of Tensors, one per array (a Tensor for one array).
    """

    def __init__(self, *arrays: Any, batch_size: int, shuffle: bool = True,
                 drop_last: bool = True, seed: int = 0, device: str = "cpu",
                 dtype: Any = None) -> None:
        if not arrays:
            raise ValueError("arrays: expected at least one array")
        host = [np.asarray(a.numpy() if isinstance(a, Tensor) else a) for a in arrays]
        n = host[0].shape[0] if host[0].ndim else 0
        for i, a in enumerate(host):
            if a.ndim == 0 or a.shape[0] != n:
                raise ValueError(f"arrays[{i}]: expected first dimension {n} (that of "
                                 f"arrays[0]), got shape {a.shape}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if n == 0 or (drop_last and batch_size > n):
            raise ValueError(f"batch_size: {batch_size} leaves no batch in {n} rows"
                             + (" with drop_last=True" if n else ""))
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
        self.n, self.batch_size = n, int(batch_size)
        self.shuffle, self.drop_last, self.seed = bool(shuffle), bool(drop_last), int(seed)
        self.device = device
        self.arrays = [self._place(a, dtype) for a in host]
        self.epoch, self.position = 0, 0
        self._perm: np.ndarray | None = None

    def _place(self, a: np.ndarray, dtype: Any) -> Any:
        if dtype is not None and a.dtype.kind == "f":
            a = a.astype(dtype, copy=False)
        # tensor() picks the array module for the device and fails clearly without CuPy.
        return tensor(a, device=self.device).array

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def permutation(self, epoch: int) -> np.ndarray:
        """The row order of ``epoch`` (int64): ``default_rng([seed, epoch]).permutation(N)``."""
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        return np.random.default_rng([self.seed, epoch]).permutation(self.n).astype(np.int64)

    def _order(self) -> np.ndarray:
        if self._perm is None:
            self._perm = self.permutation(self.epoch)
        return self._perm

    def _batch(self, idx: np.ndarray) -> Any:
        if self.device != "cpu":
            import cupy

            idx = cupy.asarray(idx)
        # Fancy indexing copies: a batch never aliases the dataset.
        out = tuple(Tensor(a[idx]) for a in self.arrays)
        return out[0] if len(out) == 1 else out

    def next_batch(self) -> Any:
        """The next batch, moving on to the next epoch (and its permutation) when one ends."""
        perm = self._order()
        start = self.position
        stop = min(start + self.batch_size, self.n)
        idx = perm[start:stop]
        # Advance before handing the batch out: a state_dict() taken now resumes after it.
        remaining = self.n - stop
        if remaining == 0 or (self.drop_last and remaining < self.batch_size):
            self.epoch, self.position, self._perm = self.epoch + 1, 0, None
        else:
            self.position = stop
        return self._batch(idx)

    def __iter__(self) -> Iterator[Any]:
        """The rest of the current epoch (all of it for a fresh loader)."""
        epoch = self.epoch
        while self.epoch == epoch:
            yield self.next_batch()

    def forever(self) -> Iterator[Any]:
        """Batches without end, epoch after epoch: for step-based training loops."""
        while True:
            yield self.next_batch()

    # ---- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Plain data: ints, and the current epoch's order as an int64 array."""
        return {"seed": self.seed, "n": self.n, "batch_size": self.batch_size,
                "shuffle": self.shuffle, "drop_last": self.drop_last,
                "epoch": self.epoch, "position": self.position,
                "permutation": self._order().copy()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` (from :meth:`state_dict` of a loader over the same data)."""
        for key in ("seed", "n", "batch_size", "shuffle", "drop_last"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(f"state: {key}={state[key]!r} was saved, but this loader has "
                                 f"{key}={getattr(self, key)!r}")
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position < self.n:
            raise ValueError(f"state: epoch {epoch}, position {position} out of range for "
                             f"{self.n} rows")
        perm = state.get("permutation")
        if perm is not None:
            perm = np.asarray(perm, dtype=np.int64)
            if perm.shape != (self.n,) or not np.array_equal(np.sort(perm),
                                                            np.arange(self.n)):
                raise ValueError(f"state: 'permutation' is not a permutation of {self.n} rows")
        self.epoch, self.position = epoch, position
        self._perm = perm if perm is not None else None


def infinite(loader: DataLoader) -> Iterator[Any]:
    """``loader.forever()``: batches without end, for step-based training."""
    return loader.forever()
