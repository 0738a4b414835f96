"""Checkpoints that hold only arrays and plain metadata, written atomically, verified on load.

A checkpoint is a nested structure of dicts, lists, numbers, strings, booleans, None and arrays
(model and optimizer state dicts, RNG states, the config). It is stored as an uncompressed
``.npz``: every array under its path (``"G/net.0.weight"``), and the rest as JSON in which each
array is replaced by ``{"__array__": path}``. Loading uses ``allow_pickle=False``, so a
checkpoint from a stranger can never run code. A SHA-256 digest over the JSON and every array
(name, dtype, shape, bytes) is stored beside them and checked on load, so a truncated or edited
file is refused. Writing goes to a temporary file in the same directory, then ``os.replace``:
a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
import zipfile
from typing import Any

import numpy as np

FORMAT = "minigan-checkpoint-1"


def _publish(tmp: str, path: pathlib.Path) -> None:
    """Give the temporary file ordinary permissions (mkstemp makes it private), then rename it
    over ``path`` in one step."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def _contiguous(a: np.ndarray) -> np.ndarray:
    # Not np.ascontiguousarray: it turns 0-d arrays (BatchNorm's num_batches_tracked) into 1-d.
    return a if a.flags.c_contiguous else a.copy(order="C")


class CheckpointError(ValueError):
    """A missing, corrupt or mismatched checkpoint; the message names the file."""


def _flatten(obj: Any, path: str, arrays: dict) -> Any:
    if isinstance(obj, np.ndarray) or type(obj).__module__.startswith("cupy"):
        arr = obj.get() if hasattr(obj, "get") else obj
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"checkpoint: array at {path!r} has unsupported dtype {arr.dtype}")
        arrays[path] = _contiguous(arr)
        return {"__array__": path}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint: key {k!r} at {path!r} must be a str or int")
            # JSON keys are strings: remember int keys so they come back as ints.
            key = k if isinstance(k, str) else f"__int__{k}"
            out[key] = _flatten(v, f"{path}/{k}", arrays)
        return out
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, f"{path}/{i}", arrays) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store {type(obj).__name__} at {path!r}")


def _unflatten(obj: Any, arrays: dict) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {(int(k[7:]) if k.startswith("__int__") else k): _unflatten(v, arrays)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, arrays) for v in obj]
    return obj


def _digest(meta_text: str, arrays: dict) -> str:
    h = hashlib.sha256(meta_text.encode())
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        h.update(memoryview(_contiguous(a)).cast("B"))
    return h.hexdigest()


def save(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, then rename)."""
    path = pathlib.Path(path)
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "state": _flatten(state, "", arrays)}
    meta_text = json.dumps(meta, sort_keys=True, allow_nan=True)
    entries = {f"a{i}": arrays[k] for i, k in enumerate(sorted(arrays))}
    names = sorted(arrays)
    index = json.dumps({f"a{i}": k for i, k in enumerate(names)})
    payload = {
        **entries,
        "__meta__": np.frombuffer(meta_text.encode(), dtype=np.uint8),
        "__index__": np.frombuffer(index.encode(), dtype=np.uint8),
        "__digest__": np.frombuffer(_digest(meta_text, arrays).encode(), dtype=np.uint8),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str | os.PathLike) -> dict:
    """Read and verify a checkpoint written by :func:`save`."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            if not {"__meta__", "__index__", "__digest__"} <= files:
                raise CheckpointError(f"checkpoint {str(path)!r} is not a minigan checkpoint")
            meta_text = z["__meta__"].tobytes().decode()
            index = json.loads(z["__index__"].tobytes().decode())
            digest = z["__digest__"].tobytes().decode()
            arrays = {index[k]: z[k] for k in index}
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError,
            json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or unreadable: {e}") from None
    if _digest(meta_text, arrays) != digest:
        raise CheckpointError(f"checkpoint {str(path)!r} failed its checksum: the file was "
                              "modified or damaged")
    meta = json.loads(meta_text)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {meta.get('format')!r}, "
                              f"expected {FORMAT!r}")
    return _unflatten(meta["state"], arrays)


def save_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                     metadata: dict[str, str] | None = None) -> None:
    """Write arrays in the safetensors format (8-byte little-endian header size, a JSON header
    of dtype/shape/byte offsets per name, then the raw little-endian bytes), atomically."""
    codes = {"float32": "F32", "float64": "F64", "float16": "F16", "int64": "I64",
             "int32": "I32", "uint8": "U8", "bool": "BOOL"}
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name in sorted(tensors):
        a = _contiguous(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        if a.dtype.name not in codes:
            raise TypeError(f"safetensors: {name!r} has unsupported dtype {a.dtype}")
        header[name] = {"dtype": codes[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # align the data section to 8 bytes
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(len(head).to_bytes(8, "little"))
            f.write(head)
            for b in blobs:
                f.write(b)
        _publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a safetensors file written by :func:`save_safetensors` (or PyTorch)."""
    codes = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1",
             "BOOL": "?"}
    data = pathlib.Path(path).read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(data[base + lo:base + hi],
                                  dtype=codes[info["dtype"]]).reshape(info["shape"])
    return out
