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
import math
import os
import pathlib
import tempfile
from typing import Any

import numpy as np

from ..tensor import Tensor

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
    if isinstance(obj, Tensor):  # a state_dict's tensors: stored as their arrays (same bytes)
        obj = obj.array
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
            if not isinstance(obj["__array__"], str) or obj["__array__"] not in arrays:
                raise KeyError(f"array {obj['__array__']!r}")
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


def _meta_json(raw: np.ndarray, what: str, path: pathlib.Path) -> Any:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"checkpoint {str(path)!r}: {what} is not a byte string")
    try:
        return json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r}: {what} is not JSON ({e})") from None


def load(path: str | os.PathLike) -> dict:
    """Read and verify a checkpoint written by :func:`save`.

    Any file yields the state or a :class:`CheckpointError` naming it: the archive is read by
    :func:`minigan.data.safe_npz.read_npz` (memory bounded by the file's size), and the JSON
    structure is checked before use, so even a re-signed file with altered metadata is refused
    with a message rather than a KeyError deep in the trainer.
    """
    from ..data.safe_npz import read_npz

    path = pathlib.Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory, expected an .npz file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")

    def corrupt(msg: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {str(path)!r} is corrupt or unreadable: {msg}")

    class _Err(CheckpointError):
        def __init__(self, msg: str) -> None:
            super().__init__(f"checkpoint {str(path)!r} is corrupt or unreadable: {msg}")

    z = read_npz(path, _Err)
    if not {"__meta__", "__index__", "__digest__"} <= set(z):
        raise CheckpointError(f"checkpoint {str(path)!r} is not a minigan checkpoint")
    meta_text = z["__meta__"].tobytes().decode(errors="replace")
    index = _meta_json(z["__index__"], "its index", path)
    digest = z["__digest__"].tobytes().decode(errors="replace")
    if not isinstance(index, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k in z for k, v in index.items()):
        raise corrupt("its index does not name the arrays it holds")
    arrays = {index[k]: z[k] for k in index}
    if _digest(meta_text, arrays) != digest:
        raise CheckpointError(f"checkpoint {str(path)!r} failed its checksum: the file was "
                              "modified or damaged")
    meta = _meta_json(z["__meta__"], "its metadata", path)
    if not isinstance(meta, dict) or "state" not in meta:
        raise corrupt("its metadata is not a checkpoint's")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} has format {meta.get('format')!r}, "
                              f"expected {FORMAT!r}")
    try:
        state = _unflatten(meta["state"], arrays)
    except (KeyError, ValueError, TypeError, RecursionError) as e:
        raise corrupt(f"its metadata names an array it does not hold ({e})") from None
    if not isinstance(state, dict):
        raise corrupt("its state is not a dict")
    return state


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
        a = tensors[name]
        a = _contiguous(a.numpy() if isinstance(a, Tensor) else a)
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


_ST_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?", "BF16": "<u2"}
_ST_MAX_HEADER = 100 << 20  # the format's own limit on the JSON header: 100 MB


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: shift its 16 bits into place (exact)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a safetensors file written by :func:`save_safetensors` (or PyTorch).

    Everything is checked before use: the header size against the file, the header as a JSON
    object of ``{"dtype", "shape", "data_offsets": [begin, end]}`` entries, ``end - begin ==
    prod(shape) * itemsize``, offsets inside the data section, no two tensors overlapping and
    no bytes left over. BF16 tensors come back as float32 (exactly). Any violation is a
    :class:`CheckpointError` naming the file and the tensor.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"safetensors file {str(path)!r} does not exist") from None
    except OSError as e:
        raise CheckpointError(f"safetensors file {str(path)!r}: cannot read "
                              f"({e.strerror or e})") from None

    def bad(msg: str) -> CheckpointError:
        return CheckpointError(f"safetensors file {str(path)!r}: {msg}")

    if len(data) < 8:
        raise bad(f"{len(data)} bytes, shorter than the 8-byte header size")
    n = int.from_bytes(data[:8], "little")
    if n > min(len(data) - 8, _ST_MAX_HEADER):
        raise bad(f"the header size {n} exceeds the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    body = memoryview(data)[8 + n:]
    spans, out = [], {}
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise bad("__metadata__ must map strings to strings")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"tensor {name!r}: expected keys dtype, shape, data_offsets, got {info!r}")
        dt, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in _ST_DTYPES:
            raise bad(f"tensor {name!r}: unsupported dtype {dt!r} "
                      f"(supported: {', '.join(_ST_DTYPES)})")
        ints = lambda v: isinstance(v, list) and all(  # noqa: E731
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)
        if not ints(shape):
            raise bad(f"tensor {name!r}: shape must be a list of non-negative ints, got {shape!r}")
        if not ints(offs) or len(offs) != 2 or offs[0] > offs[1] or offs[1] > len(body):
            raise bad(f"tensor {name!r}: data_offsets {offs!r} are not [begin, end] inside the "
                      f"{len(body)}-byte data section")
        dtype = np.dtype(_ST_DTYPES[dt])
        nbytes = math.prod(shape) * dtype.itemsize
        if offs[1] - offs[0] != nbytes:
            raise bad(f"tensor {name!r}: shape {shape} of {dt} needs {nbytes} bytes, "
                      f"data_offsets {offs} span {offs[1] - offs[0]}")
        spans.append((offs[0], offs[1], name))
        arr = np.frombuffer(body[offs[0]:offs[1]], dtype=dtype).reshape(shape)
        out[name] = bf16_to_float32(arr) if dt == "BF16" else arr
    end = 0
    for lo, hi, name in sorted(spans):
        if lo < end:
            raise bad(f"tensor {name!r} overlaps another tensor's bytes")
        if lo > end:
            raise bad(f"{lo - end} bytes before tensor {name!r} belong to no tensor")
        end = hi
    if end != len(body):
        raise bad(f"{len(body) - end} trailing bytes after the last tensor")
    return out
