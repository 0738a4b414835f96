"""Mini-batches over in-memory arrays, in a reproducible order that survives a checkpoint.

This is :class:`minigan.utils.data.DataLoader` -- one implementation of batching, order and
state -- built from arrays: a :class:`~minigan.utils.data.TensorDataset` over them, placed on
the device once. Epoch ``e``'s order is ``default_rng([seed, e]).permutation(N)``: a function of
(seed, epoch) alone, so the loader's whole state is (epoch, position) -- no generator state to
carry -- and an interrupted run resumed from ``state_dict()`` sees exactly the batches it would
have seen. The loader owns that order: model initialization and noise draws never shift it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..tensor import Tensor, tensor
from ..utils import data as _data


class DataLoader(_data.DataLoader):
    """Iterate ``arrays`` (equal first dimension) in batches of ``batch_size`` rows.

    ``shuffle``: a fresh seeded permutation each epoch (else file order). ``drop_last``: skip
    the final short batch, so every batch has exactly ``batch_size`` rows. ``device``: where the
    batches live ("cpu" or "cuda"); the arrays are copied there once, at construction.
    ``dtype``: cast floating arrays (e.g. float64 for gradient checks); integer arrays (labels)
    keep theirs. Each batch is a tuple of Tensors, one per array (a Tensor for one array).
    ``iter(loader)`` yields the rest of the current epoch (a stream: a loop left early resumes
    where it stopped).
    """

    _restart_after_break = False

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
        self.n, self.seed, self.device = n, int(seed), device
        self.arrays = [self._place(a, dtype) for a in host]
        super().__init__(_data.TensorDataset(*(Tensor(a) for a in self.arrays)),
                         batch_size=int(batch_size), shuffle=shuffle, drop_last=drop_last)

    def _place(self, a: np.ndarray, dtype: Any) -> Any:
        if dtype is not None and a.dtype.kind == "f":
            a = a.astype(dtype, copy=False)
        # tensor() picks the array module for the device and fails clearly without CuPy.
        return tensor(a, device=self.device).array

    def permutation(self, epoch: int) -> np.ndarray:
        """The row order of ``epoch`` (int64): ``default_rng([seed, epoch]).permutation(N)``."""
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        return np.random.default_rng([self.seed, epoch]).permutation(self.n).astype(np.int64)

    def _seeded_order(self) -> bool:
        return True

    def _fetch(self, idx: Any) -> Any:
        # Fancy indexing copies: a batch never aliases the dataset.
        out = tuple(super()._fetch(idx))
        return out[0] if len(out) == 1 else out

    def _checked(self) -> dict:
        return {"seed": self.seed, **super()._checked()}


def infinite(loader: DataLoader) -> Iterator[Any]:
    """``loader.forever()``: batches without end, for step-based training."""
    return loader.forever()
