"""``minigan.utils.data``: PyTorch's Dataset, TensorDataset, Subset, random_split,
default_collate and DataLoader.

A DataLoader over a :class:`TensorDataset` (no ``collate_fn``) batches by fancy indexing of the
whole arrays, the way :class:`minigan.data.loader.DataLoader` does (one copy per batch, no
per-sample Python); any other dataset is read sample by sample and collated. Shuffling draws
each epoch's order from minigan's generator, so ``mg.manual_seed`` reproduces it.
``num_workers``, ``pin_memory`` and the other process/memory options are accepted; loading runs
in the calling process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..tensor import Tensor, tensor

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate",
           "random_split"]


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
    perm = _random.permutation(n).tolist()
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
    ``shuffle``, the last short batch dropped with ``drop_last``, samples combined by
    ``collate_fn`` (default :func:`default_collate`). A ``sampler`` (an iterable of indices) or
    ``batch_sampler`` (of index lists) replaces the built-in order."""

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool = False,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Any = None, pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0, worker_init_fn: Any = None, generator: Any = None,
                 prefetch_factor: Any = None, persistent_workers: bool = False, **kwargs: Any
                 ) -> None:
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers: expected a non-negative integer, got {num_workers!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler: cannot be given together with shuffle=True")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, bool(shuffle)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.drop_last, self.collate_fn = bool(drop_last), collate_fn
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.worker_init_fn, self.generator = worker_init_fn, generator

    def _order(self) -> Any:
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        return _random.permutation(n) if self.shuffle else np.arange(n)

    def _index_batches(self) -> Iterator[Any]:
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self._order()
        if self.batch_size is None:
            yield from order
            return
        bs = self.batch_size
        stop = len(order) - len(order) % bs if self.drop_last else len(order)
        for start in range(0, stop, bs):
            yield order[start:start + bs]

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers > 0 and self.worker_init_fn is not None:
            # Loading runs in this process, as one worker: PyTorch calls worker_init_fn(id) in
            # each worker at the start of an epoch (only when num_workers > 0).
            self.worker_init_fn(0)
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None \
            and self.batch_size is not None
        for idx in self._index_batches():
            if fast:
                # The array loader's way: one fancy-index copy per tensor, no per-sample work.
                arr = np.asarray(idx, dtype=np.int64)
                yield [Tensor(t.array[arr if not t.is_cuda else _cuda_index(arr)])
                       for t in self.dataset.tensors]
            elif self.batch_size is None:
                sample = self.dataset[int(idx)]
                yield sample if self.collate_fn is None else self.collate_fn(sample)
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[int(i)] for i in idx])

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _cuda_index(idx: np.ndarray) -> Any:
    import cupy

    return cupy.asarray(idx)
