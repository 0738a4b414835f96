"""``minigan.save`` / ``minigan.load``: state dicts and other plain data, never pickle.

minigan's format is a zip archive holding ``minigan.json`` -- the object's structure, with
tensors and arrays replaced by ``{"tensor": k}`` / ``{"ndarray": k}`` -- and ``k.npy`` for each
array, read back with ``allow_pickle=False``. Structures: dict (any JSON-able keys, kept as the
type they were: optimizer state is keyed by int), list, tuple, str, int, float, bool, None.

``load`` also reads PyTorch's own ``.pt``/``.pth`` files (a zip with ``data.pkl`` and
``data/<key>`` storages) through a restricted unpickler that admits only tensor rebuilds,
storage types and ``OrderedDict`` -- PyTorch's ``weights_only=True`` set -- and whose
``find_class`` hands out minigan's own functions, never the named ones: loading runs no code
from the file. Anything else is refused with :class:`UnpicklingError` naming it.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from .data.safe_npz import READ_ERRORS, check_entry, read_entry
from .tensor import Tensor, tensor

FORMAT = "minigan.save/1"


class UnpicklingError(pickle.UnpicklingError):
    """A PyTorch file that needs more than tensors and plain containers to load."""


# ---- minigan's own format ----------------------------------------------------------------------

def _encode(obj: Any, arrays: list) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return {"float": repr(float(obj))}  # repr keeps every bit, and inf/nan
    if isinstance(obj, Tensor):
        arrays.append(obj.numpy())
        return {"tensor": len(arrays) - 1, "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"save: arrays of dtype {obj.dtype} are not supported")
        arrays.append(obj)
        return {"ndarray": len(arrays) - 1}
    if isinstance(obj, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()],
                "ordered": isinstance(obj, collections.OrderedDict)}
    if isinstance(obj, (list, tuple)):
        return {"tuple" if isinstance(obj, tuple) else "list": [_encode(v, arrays) for v in obj]}
    raise TypeError(f"save: cannot save an object of type {type(obj).__name__} (supported: "
                    "dicts, lists, tuples, tensors, arrays, numbers, strings, None)")


def _decode(obj: Any, arrays: dict, device: Any) -> Any:
    if not isinstance(obj, (dict, list)):
        return obj
    if isinstance(obj, list):
        raise ValueError("load: malformed file (bare list in structure)")
    if "float" in obj:
        return float(obj["float"])
    if "tensor" in obj:
        t = tensor(arrays[obj["tensor"]], dtype=arrays[obj["tensor"]].dtype, device=device)
        return t.requires_grad_() if obj.get("requires_grad") else t
    if "ndarray" in obj:
        return arrays[obj["ndarray"]]
    if "dict" in obj:
        cls = collections.OrderedDict if obj.get("ordered") else dict
        return cls((_hashable(_decode(k, arrays, device)), _decode(v, arrays, device))
                   for k, v in obj["dict"])
    if "list" in obj:
        return [_decode(v, arrays, device) for v in obj["list"]]
    if "tuple" in obj:
        return tuple(_decode(v, arrays, device) for v in obj["tuple"])
    raise ValueError(f"load: malformed file (unknown entry {sorted(obj)})")


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def save(obj: Any, f: Any, **kwargs: Any) -> None:
    """Write ``obj`` (a state dict, or any nest of dicts/lists/tuples/tensors/numbers/strings)
    to the path or binary file ``f``; a path is written to a temporary file then renamed."""
    arrays: list = []
    meta = json.dumps({"format": FORMAT, "obj": _encode(obj, arrays)})
    if hasattr(f, "write"):
        _write(f, meta, arrays)
        return
    path = os.fspath(f)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        _write(fh, meta, arrays)
    os.replace(tmp, path)


def _write(fh: Any, meta: str, arrays: list) -> None:
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as z:
        z.writestr("minigan.json", meta)
        for i, a in enumerate(arrays):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
            z.writestr(f"{i}.npy", buf.getvalue())


def _device_for(map_location: Any) -> Any:
    if map_location is None or callable(map_location) or isinstance(map_location, dict):
        return "cpu"  # a callable/dict map (torch's storage remapping) lands on the CPU
    from ._device import normalize

    return normalize(map_location)


def load(f: Any, map_location: Any = None, weights_only: Any = None, **kwargs: Any) -> Any:
    """Read what :func:`save` wrote, or a PyTorch ``.pt``/``.pth`` file of tensors and plain
    containers. ``map_location`` ("cpu", "cuda", a device) says where tensors go (CPU when
    not given); ``weights_only`` is accepted -- loading is always weights-only here."""
    device = _device_for(map_location)
    try:
        z = zipfile.ZipFile(f)
    except READ_ERRORS as e:
        raise ValueError(f"load: {f!r} is not a minigan or PyTorch (zip) file: {e}") from None
    with z:
        try:
            return _load_zip(z, f, device)
        except (UnpicklingError, LoadError):
            raise
        except (*READ_ERRORS, AttributeError, RecursionError) as e:  # damaged or hostile
            raise LoadError(f"load: {f!r}: damaged file ({type(e).__name__}: {e})") from None
        except MemoryError:
            raise LoadError(f"load: {f!r}: not enough memory to read it") from None


class LoadError(ValueError):
    """A file ``load`` cannot read: damaged, hostile, or of another kind."""


def _size_of(f: Any) -> int:
    if isinstance(f, (str, os.PathLike)):
        return os.path.getsize(f)
    pos = f.tell()
    size = f.seek(0, os.SEEK_END)
    f.seek(pos)
    return size


def _load_zip(z: zipfile.ZipFile, f: Any, device: Any) -> Any:
    # Every entry checked before any is read, as minigan.data.safe_npz does for .npz files:
    # no encrypted or exotic entries, no zip bombs; arrays of plain dtypes whose headers match
    # their bytes. So memory stays bounded by the file's size.
    size = _size_of(f)
    for info in z.infolist():
        check_entry(info, size, f"load: {f!r}[{info.filename}]", LoadError)
    names = z.namelist()
    if "minigan.json" in names:
        meta = json.loads(z.read("minigan.json"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise LoadError(f"load: unknown format {got!r}")
        arrays = {int(n[:-4]): read_entry(z, z.getinfo(n), f"load: {f!r}[{n}]", LoadError)
                  for n in names if n.endswith(".npy")}
        return _decode(meta["obj"], arrays, device)
    pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkl) != 1:
        raise LoadError("load: neither a minigan file (minigan.json) nor a PyTorch file "
                        "(data.pkl)")
    from .torch_pickle import read_torch_zip

    return read_torch_zip(z, pkl[0], device)
