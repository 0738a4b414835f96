"""``minigan.utils.data``: PyTorch's Dataset, TensorDataset, Subset, random_split,
default_collate and DataLoader.

A DataLoader over a :class:`TensorDataset` (no ``collate_fn``) batches by fancy indexing of the
whole arrays (one copy per batch, no per-sample Python); any other dataset is read sample by
sample and collated. Shuffling draws each epoch's order from the ``generator`` given (a
:class:`minigan.Generator`), else from minigan's global stream, so ``mg.manual_seed`` or the
generator's seed reproduces it. :class:`minigan.data.DataLoader` (arrays, a seeded
checkpointable order) is this same loader with another constructor.
``num_workers``, ``pin_memory`` and the other process/memory options are accepted; loading runs
in the calling process.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..tensor import Tensor, tensor
from . import sampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)

# PyTorch's module path ``torch.utils.data.sampler``: ``from minigan.utils.data.sampler import
# RandomSampler`` finds the module here (this file is a module, not a package).
sys.modules[f"{__name__}.sampler"] = sampler

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "default_collate", "random_split"]


class Dataset:
    """Base class: subclasses define ``__getitem__`` (and ``__len__``)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor (all of one first dimension)."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("tensors: expected at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else tensor(t) for t in tensors)
        n = self.tensors[0].shape[0]
        for i, t in enumerate(self.tensors):
            if t.ndim == 0 or t.shape[0] != n:
                raise ValueError(f"tensors[{i}]: expected first dimension {n}, got {t.shape}")

    def __getitem__(self, index: Any) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class ConcatDataset(Dataset):
    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        self.ends = np.cumsum([len(d) for d in self.datasets])  # type: ignore[arg-type]

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += len(self)
        k = int(np.searchsorted(self.ends, index, side="right"))
        start = int(self.ends[k - 1]) if k else 0
        return self.datasets[k][index - start]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[Any], generator: Any = None) -> list:
    """Disjoint random subsets of the given lengths (ints adding up to len(dataset), or
    fractions adding up to 1: the remainder goes round-robin to the first ones, as in
    PyTorch)."""
    n = len(dataset)  # type: ignore[arg-type]
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"lengths: {lengths} do not add up to the dataset's {n} samples")
    perm = _random.permutation(n, generator).tolist()
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out


def default_collate(batch: list) -> Any:
    """Stack a list of samples: tensors and arrays along a new first axis, Python floats into a
    float64 tensor and ints into int64 (as PyTorch), tuples/lists/dicts element by element,
    strings into a list."""
    first = batch[0]
    if isinstance(first, Tensor):
        from ..ops import stack

        return stack(list(batch), 0)
    if isinstance(first, np.ndarray) and first.dtype.kind in "biuf":
        return Tensor(np.stack(batch))
    if isinstance(first, (bool, np.bool_)):
        return Tensor(np.asarray(batch, dtype=bool))
    if isinstance(first, (int, np.integer)):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(first, (float, np.floating)):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a namedtuple
        return type(first)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(first, Sequence):
        if any(len(b) != len(first) for b in batch):
            raise RuntimeError("default_collate: each element in the batch must be of one size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}")


class DataLoader:
    """Batches of ``dataset``: ``batch_size`` samples, a fresh order each epoch when
    ``shuffle`` (drawn from ``generator``, a :class:`minigan.Generator`, else from minigan's
    global stream), the last short batch dropped with ``drop_last``, samples combined by
    ``collate_fn`` (default :func:`default_collate`). A ``sampler`` (an iterable of indices) or
    ``batch_sampler`` (of index lists) replaces the built-in order.

    Each ``iter(loader)`` is one epoch from its start, as in PyTorch; the loader also keeps its
    place (``epoch``, ``position`` in samples) for step-based loops -- :meth:`next_batch`,
    :meth:`forever` -- and checkpoints (:meth:`state_dict`, :meth:`load_state_dict`: the next
    iteration resumes there). :class:`minigan.data.DataLoader` is this loader over arrays."""

    # PyTorch: a loop left before its epoch ended does not resume; the next one starts anew.
    _restart_after_break = True

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool = False,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Any = None, pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0, worker_init_fn: Any = None, generator: Any = None,
                 prefetch_factor: Any = None, persistent_workers: bool = False, **kwargs: Any
                 ) -> None:
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers: expected a non-negative integer, got {num_workers!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler: cannot be given together with shuffle=True")
        if generator is not None and not isinstance(generator, _random.Generator):
            raise TypeError(f"generator: expected a minigan.Generator, got "
                            f"{type(generator).__name__}")
        self.dataset, self.shuffle = dataset, bool(shuffle)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.drop_last, self.collate_fn = bool(drop_last), collate_fn
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.worker_init_fn, self.generator = worker_init_fn, generator
        self.epoch, self.position = 0, 0
        self._perm: Any = None  # this epoch's sample order, drawn at its first batch
        self._batches: list | None = None
        self._k: int | None = 0  # the batch at ``position`` (None: find it from position)

    # ---- the order --------------------------------------------------------------------------
    def permutation(self, epoch: int) -> np.ndarray:
        """A shuffled epoch's sample order (int64), drawn from ``generator`` (else minigan's
        global stream), which it advances: one seed, the same orders run to run."""
        return _random.permutation(len(self.dataset), self.generator).astype(np.int64)

    def _order(self) -> Any:
        if self._perm is None:
            if self.sampler is not None:
                self._perm = list(self.sampler)
            elif self.shuffle:
                self._perm = self.permutation(self.epoch)
            else:
                self._perm = np.arange(len(self.dataset), dtype=np.int64)
        return self._perm

    def _epoch_batches(self) -> list:
        """This epoch's batches of indices (single indices when ``batch_size`` is None)."""
        if self._batches is None:
            if self.batch_sampler is not None:
                self._batches = [list(b) for b in self.batch_sampler]
            else:
                order, bs = self._order(), self.batch_size
                if bs is None:
                    self._batches = list(order)
                else:
                    stop = len(order) - len(order) % bs if self.drop_last else len(order)
                    self._batches = [order[i:i + bs] for i in range(0, stop, bs)]
        return self._batches

    def _batch_index(self) -> int:
        """The batch that starts at ``position`` (samples into the epoch)."""
        if self._k is not None:
            return self._k
        seen = 0
        for k, idx in enumerate(self._epoch_batches()):
            if seen == self.position:
                self._k = k
                return k
            seen += 1 if self.batch_size is None and self.batch_sampler is None else len(idx)
        if seen == self.position:
            self._k = len(self._batches)
            return self._k
        raise ValueError(f"position: {self.position} is not at a batch boundary")

    def _end_epoch(self) -> None:
        self.epoch, self.position, self._perm, self._batches = self.epoch + 1, 0, None, None
        self._k = 0

    # ---- batches ----------------------------------------------------------------------------
    def _fetch(self, idx: Any) -> Any:
        """The batch of samples ``idx``."""
        if self.batch_size is None and self.batch_sampler is None:
            sample = self.dataset[int(idx)]
            return sample if self.collate_fn is None else self.collate_fn(sample)
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is None:
            # The array way: one fancy-index copy per tensor, no per-sample Python.
            arr = np.asarray(idx, dtype=np.int64)
            return [Tensor(t.array[arr if not t.is_cuda else _cuda_index(arr)])
                    for t in self.dataset.tensors]
        collate = self.collate_fn or default_collate
        return collate([self.dataset[int(i)] for i in idx])

    def next_batch(self) -> Any:
        """The batch at the loader's place, moving on to the next epoch when one ends."""
        batches = self._epoch_batches()
        k = self._batch_index()
        if k == len(batches):  # an empty epoch (drop_last with too few samples)
            self._end_epoch()
            raise StopIteration
        idx = batches[k]
        # Advance before handing the batch out: a state_dict() taken now resumes after it.
        if k + 1 == len(batches):
            self._end_epoch()
        else:
            self.position += 1 if self.batch_size is None and self.batch_sampler is None \
                else len(idx)
            self._k = k + 1
        return self._fetch(idx)

    def __iter__(self) -> Iterator[Any]:
        """One epoch: the rest of the current one (all of it for a fresh loader)."""
        if self.num_workers > 0 and self.worker_init_fn is not None:
            # Loading runs in this process, as one worker: PyTorch calls worker_init_fn(id) in
            # each worker at the start of an epoch (only when num_workers > 0).
            self.worker_init_fn(0)
        epoch = self.epoch
        try:
            while self.epoch == epoch:
                try:
                    batch = self.next_batch()
                except StopIteration:
                    return
                yield batch
        finally:
            if self.epoch == epoch and self._restart_after_break:
                self._end_epoch()

    def forever(self) -> Iterator[Any]:
        """Batches without end, epoch after epoch: for step-based training loops."""
        while True:
            try:
                yield self.next_batch()
            except StopIteration:
                raise ValueError("forever: an epoch of this loader has no batch") from None

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    # ---- checkpoints ------------------------------------------------------------------------
    def _checked(self) -> dict:
        return {"n": len(self.dataset), "batch_size": self.batch_size, "shuffle": self.shuffle,
                "drop_last": self.drop_last}

    def state_dict(self) -> dict:
        """Plain data: ints and bools, and the current epoch's order as an int64 array (later
        epochs are drawn from ``generator``, whose state the caller saves)."""
        return {**self._checked(), "epoch": self.epoch, "position": self.position,
                "permutation": np.asarray(self._order(), dtype=np.int64).copy()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` (from :meth:`state_dict` of a loader over the same data):
        the next batch is the one after those already handed out."""
        for key, value in self._checked().items():
            if key in state and state[key] != value:
                raise ValueError(f"state: {key}={state[key]!r} was saved, but this loader has "
                                 f"{key}={value!r}")
        n = len(self.dataset)
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position < max(n, 1):
            raise ValueError(f"state: epoch {epoch}, position {position} out of range for "
                             f"{n} samples")
        perm = state.get("permutation")
        if perm is not None:
            perm = np.asarray(perm, dtype=np.int64)
            if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
                raise ValueError(f"state: 'permutation' is not a permutation of {n} samples")
        self.epoch, self.position, self._batches, self._k = epoch, position, None, None
        self._perm = perm
        if perm is None and not self._seeded_order():
            raise ValueError("state: 'permutation' is needed to resume this loader's order")

    def _seeded_order(self) -> bool:
        """Whether an epoch's order can be recomputed from the epoch alone."""
        return not self.shuffle and self.sampler is None


def _cuda_index(idx: np.ndarray) -> Any:
    import cupy

    return cupy.asarray(idx)
