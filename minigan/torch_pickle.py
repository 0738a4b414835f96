"""Reading PyTorch's zip checkpoints without PyTorch and without running their pickle's code.

``data.pkl`` is unpickled by :class:`RestrictedUnpickler`: ``find_class`` answers only for the
names a weights-only state dict uses and returns minigan's own stand-ins (a storage-type marker,
a tensor rebuilder, ``OrderedDict``); every other global -- ``os.system``, ``builtins.eval``,
any class -- is refused before anything is called. Storages are read from ``data/<key>``
entries as raw little-endian bytes.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from typing import Any

import numpy as np

from .gan.checkpoint import bf16_to_float32
from .serialization import UnpicklingError
from .tensor import tensor

_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
             "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
             "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
             "BoolStorage": np.bool_, "BFloat16Storage": "bfloat16"}


class _StorageType:
    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple,
                    requires_grad: bool = False, hooks: Any = None, metadata: Any = None) -> Any:
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    n = storage.size
    if any(s < 0 for s in size) or any(s < 0 for s in stride) or offset < 0:
        raise UnpicklingError("load: a tensor with negative size, stride or offset")
    last = offset + sum((d - 1) * s for d, s in zip(size, stride)) if all(size) else offset - 1
    if last >= n:
        raise UnpicklingError(f"load: a tensor of size {size} reaches past its storage of {n}")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=tuple(s * item for s in stride))
    return np.array(view)  # own the memory


def _rebuild_parameter(data: Any, requires_grad: bool = False, hooks: Any = None) -> Any:
    return data


_ALLOWED = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("collections", "OrderedDict"): collections.OrderedDict}


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, z: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self.z, self.prefix = z, prefix
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        fn = _ALLOWED.get((module, name))
        if fn is None:
            raise UnpicklingError(
                f"load: refusing {module}.{name}: only tensors and plain containers are read "
                "from PyTorch files (as weights_only=True); nothing in the file is executed")
        return fn

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnpicklingError(f"load: unexpected persistent id {str(pid)[:80]}")
        _, typ, key, _location, numel = pid
        if key not in self.storages:
            raw = self.z.read(f"{self.prefix}data/{key}")
            if typ.dtype == "bfloat16":
                arr = bf16_to_float32(np.frombuffer(raw, dtype="<u2"))
            else:
                arr = np.frombuffer(raw, dtype=np.dtype(typ.dtype).newbyteorder("<")).copy()
            if arr.size < int(numel):
                raise UnpicklingError(f"load: storage {key} holds {arr.size} of {numel} items")
            self.storages[key] = arr
        return self.storages[key]


def _to_tensors(obj: Any, device: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return tensor(obj, dtype=obj.dtype, device=device)
    if isinstance(obj, dict):
        return type(obj)((k, _to_tensors(v, device)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_to_tensors(v, device) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_tensors(v, device) for v in obj)
    return obj


def read_torch_zip(z: zipfile.ZipFile, pkl_name: str, device: Any) -> Any:
    prefix = pkl_name[: -len("data.pkl")]
    try:
        obj = RestrictedUnpickler(z.read(pkl_name), z, prefix).load()
    except UnpicklingError:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
        raise UnpicklingError(f"load: malformed PyTorch file: {e}") from None
    return _to_tensors(obj, device)
