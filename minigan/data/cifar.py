"""CIFAR-10 "python version" batches, read without trusting pickle.

The batches (``data_batch_1`` .. ``data_batch_5``, ``test_batch``) are pickled dicts:
``data`` a uint8 array ``(10000, 3072)`` (each row 1024 red, 1024 green, 1024 blue values of a
32x32 image, row-major -- so it is already CHW), ``labels`` a list of ints 0..9. A pickle is a
program: ``pickle.load`` calls whatever callables the file names (``os.system`` included). We
load it with an Unpickler whose ``find_class`` -- the one door through which a pickle reaches
any callable -- hands out only what rebuilding NumPy arrays needs, each wrapped to refuse
object arrays (whose elements would be more pickled objects). Anything else is refused before
it runs, with a DatasetError naming the file and the callable it asked for.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ._common import DatasetError, ImageData, check_labels, scale_uint8

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
_SUBDIR = "cifar-10-batches-py"  # what cifar-10-python.tar.gz unpacks to


class _Refused(pickle.UnpicklingError):
    pass


def _numpy_internal(module: str, name: str) -> Any:
    # NumPy 2 moved numpy.core to numpy._core; pickles name either, depending on who wrote them.
    import importlib

    for mod in (module.replace("numpy.core", "numpy._core"), module):
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise _Refused(f"{module}.{name} is not available in this NumPy")


def _plain_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise _Refused(f"object arrays ({dtype}) are refused: their elements are arbitrary "
                       f"pickled objects")
    return dtype


def _dtype(*args: Any) -> np.dtype:
    return _plain_dtype(np.dtype(*args))


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise _Refused(f"only plain numpy.ndarray may be rebuilt, not {subtype!r}")
    return _numpy_internal("numpy.core.multiarray", "_reconstruct")(subtype, shape, dtype)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    return _numpy_internal("numpy.core.numeric", "_frombuffer")(
        buf, _plain_dtype(dtype), shape, order)


def _scalar(dtype: Any, *args: Any) -> Any:
    return _numpy_internal("numpy.core.multiarray", "scalar")(_plain_dtype(dtype), *args)


def _encode(text: Any, encoding: str = "utf-8") -> bytes:
    # Python 3 pickles bytes for protocol < 3 as _codecs.encode(str, "latin1"); no other codec.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode is allowed only on str with latin1, "
                       f"got {type(text).__name__} with {encoding!r}")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _reconstruct
    _ALLOWED[(_mod, "scalar")] = _scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_mod, "_frombuffer")] = _frombuffer


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that rebuilds dicts, lists, tuples, str, bytes, numbers and NumPy arrays of
    plain dtypes, and refuses every other callable a pickle names."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"refused to call {module}.{name}: only NumPy array reconstruction "
                           f"is allowed (loading an arbitrary pickle could run code)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("refused a persistent id: not part of the CIFAR-10 format")


def safe_load_pickle(path: str | os.PathLike) -> Any:
    """The object pickled in ``path``, rebuilt by :class:`SafeUnpickler` (Python 2 str are read
    as bytes, as the CIFAR-10 page prescribes); a DatasetError for refused or corrupt data."""
    path = Path(path)
    try:
        # From memory, not the file: a pickle opcode declaring a 2**40-byte string would make
        # a file's read(n) allocate n bytes first; BytesIO returns only what is there, so
        # memory stays bounded by the file's size.
        data = path.read_bytes()
        return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except _Refused as exc:
        raise DatasetError(f"{path}: unsafe pickle: {exc}") from None
    except Exception as exc:  # pickle raises many types (EOFError, ValueError, ...) on garbage
        raise DatasetError(f"{path}: not a readable pickle "
                           f"({type(exc).__name__}: {exc})") from None


def _get(batch: dict, key: str) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DatasetError(f"no {key!r} entry")


def load_batch(path: str | os.PathLike) -> ImageData:
    """One CIFAR-10 batch file: images ``(N, 3, 32, 32)`` float32 in [-1, 1] and int64 labels."""
    batch = safe_load_pickle(path)
    try:
        if not isinstance(batch, dict):
            raise DatasetError(f"expected a pickled dict, got {type(batch).__name__}")
        data = _get(batch, "data")
        labels = np.asarray(_get(batch, "labels"))
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3 * 32 * 32:
            raise DatasetError(f"expected 'data' a uint8 array (N, 3072), got "
                               f"{type(data).__name__} {getattr(data, 'dtype', '')} "
                               f"{getattr(data, 'shape', '')}")
        labels = check_labels(labels, data.shape[0], "labels")
        if labels.size and labels.max() > 9:
            raise DatasetError(f"CIFAR-10 labels are 0..9, found {int(labels.max())}")
    except DatasetError as exc:
        raise DatasetError(f"{path}: not a CIFAR-10 batch: {exc}") from None
    return ImageData(scale_uint8(data.reshape(-1, 3, 32, 32)), labels)


def load_cifar10(directory: str | os.PathLike, split: str = "train") -> ImageData:
    """CIFAR-10 from the folder ``cifar-10-python.tar.gz`` unpacks to (or its parent):
    ``split`` "train" (50,000 images), "test" (10,000) or "all"."""
    names = {"train": TRAIN_BATCHES, "test": TEST_BATCHES,
             "all": TRAIN_BATCHES + TEST_BATCHES}
    if split not in names:
        raise ValueError(f"split: expected one of {', '.join(names)}, got {split!r}")
    directory = Path(directory)
    if not (directory / names[split][0]).exists() and (directory / _SUBDIR).is_dir():
        directory = directory / _SUBDIR
    if not directory.is_dir():
        raise DatasetError(f"{directory}: no such directory")
    missing = [n for n in names[split] if not (directory / n).is_file()]
    if missing:
        raise DatasetError(f"{directory}: missing CIFAR-10 batch files {', '.join(missing)} "
                           f"(unpack cifar-10-python.tar.gz from "
                           f"https://www.cs.toronto.edu/~kriz/cifar.html here)")
    parts = [load_batch(directory / n) for n in names[split]]
    return ImageData(np.concatenate([p.images for p in parts]),
                     np.concatenate([p.labels for p in parts]))
