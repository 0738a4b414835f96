"""Read a NumPy ``.npz`` archive without trusting it: bounded memory, never pickle.

``np.load`` believes what an archive says: an ``.npy`` header declaring 2**40 elements makes it
allocate terabytes before finding out the data is not there; a few kilobytes of DEFLATE can
declare gigabytes; damaged zips raise half a dozen exception types (zlib.error,
NotImplementedError, EOFError, ...). Here every entry is checked before anything is allocated:

- the entry is neither encrypted nor compressed with anything but STORED or DEFLATE;
- its declared uncompressed size is at most what its compressed size can hold (DEFLATE expands
  at most ~1032:1, so ``size <= 1032 * compressed + 1 KiB``; STORED: ``size == compressed``),
  and the compressed sizes fit in the file -- so memory stays bounded by the file's size;
- its ``.npy`` header (versions 1.0 and 2.0) declares a plain numeric dtype, and
  ``prod(shape) * itemsize`` equals the bytes that follow the header exactly.

The bytes are then read in chunks into one buffer of that size, and the zip's CRC is checked.
Every failure is ``error(f"{path}: ...")``, the caller's exception class.
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

# DEFLATE's largest expansion is 1032:1 (a 258-byte match in ~2 bits); 1 KiB covers the headers.
MAX_DEFLATE_RATIO = 1032
_SLACK = 1024
_CHUNK = 1 << 22
# What a damaged zip or npy header raises from zipfile, zlib and numpy.lib.format.
READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError,
                OSError, EOFError, ValueError, RuntimeError, struct.error, OverflowError,
                UnicodeDecodeError, KeyError, IndexError, TypeError, SyntaxError)


def _header(f: object, where: str, error: type[Exception]) -> tuple[tuple[int, ...], bool,
                                                                      np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
        raise error(f"{where}: npy format version {version} is not supported (1.0 or 2.0)")
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
        raise error(f"{where}: dtype {dtype} is not a plain numeric type (bool, int, float)")
    if not all(isinstance(s, int) and s >= 0 for s in shape):
        raise error(f"{where}: bad shape {shape}")
    return tuple(shape), bool(fortran), dtype


def check_entry(info: zipfile.ZipInfo, file_size: int, where: str,
                error: type[Exception]) -> None:
    """Refuse (``error(where: ...)``) an entry that is encrypted, compressed with anything but
    STORED or DEFLATE, declares more bytes than its compressed size can hold, or claims more
    compressed bytes than the file of ``file_size`` bytes has; before anything is read."""
    if info.flag_bits & 0x1:
        raise error(f"{where}: the entry is encrypted; only plain .npz archives are read")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise error(f"{where}: a stored entry of {info.compress_size} bytes declares "
                        f"{info.file_size} bytes")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > MAX_DEFLATE_RATIO * info.compress_size + _SLACK:
            raise error(f"{where}: {info.compress_size} compressed bytes declare "
                        f"{info.file_size} bytes, more than DEFLATE can expand to (a zip bomb "
                        f"or a damaged archive)")
    else:
        raise error(f"{where}: compression method {info.compress_type} is not supported "
                    f"(only stored or deflated entries)")
    if info.compress_size > file_size:
        raise error(f"{where}: the entry claims {info.compress_size} compressed bytes, more "
                    f"than the whole file ({file_size})")


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str,
               error: type[Exception]) -> np.ndarray:
    """The ``.npy`` array of an entry that passed :func:`check_entry`: a plain numeric dtype,
    and exactly as many bytes as its header declares, read in chunks (memory bounded)."""
    with zf.open(info) as f:
        shape, fortran, dtype = _header(f, where, error)
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        left = info.file_size - f.tell()
        if nbytes != left:
            raise error(f"{where}: the header declares shape {shape} of {dtype} "
                        f"({nbytes} bytes) but the entry holds {left} bytes of data")
        buf = np.empty(nbytes, dtype=np.uint8)  # bounded: nbytes <= file_size, checked above
        view, got = memoryview(buf), 0
        while got < nbytes:
            n = f.readinto(view[got:got + _CHUNK])
            if not n:
                raise error(f"{where}: truncated: {got} of {nbytes} bytes of data")
            got += n
        if f.read(1):
            raise error(f"{where}: more data than its header declares")
    arr = buf.view(dtype)
    return arr.reshape(shape, order="F" if fortran else "C")


def read_npz(path: str | os.PathLike, error: type[Exception] = ValueError,
             names: set[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` at ``path`` by name (``"x"`` for the entry ``x.npy``).

    ``names``: read only these entries (the others are still checked to be well-formed zip
    members). Any damage or hostile content raises ``error`` naming the file and the entry;
    memory used is at most about 1032 times the file's size, and only when the file is a
    legitimate highly compressed archive.
    """
    path = Path(path)
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            seen: set[str] = set()
            for info in infos:
                if info.filename in seen:
                    raise error(f"{path}: the archive holds {info.filename!r} twice")
                seen.add(info.filename)
                check_entry(info, file_size, f"{path}[{info.filename}]", error)
            if sum(i.compress_size for i in infos) > file_size:
                raise error(f"{path}: the entries claim more compressed bytes than the file has")
            out = {}
            for info in infos:
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if names is None or name in names:
                    out[name] = read_entry(zf, info, f"{path}[{info.filename}]", error)
            return out
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected an .npz file") from None
    except PermissionError:
        raise error(f"{path}: permission denied") from None
    except READ_ERRORS as exc:
        if isinstance(exc, error):
            raise
        raise error(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc})") \
            from None
    except MemoryError:
        raise error(f"{path}: not enough memory to read it") from None


def entry_names(path: str | os.PathLike, error: type[Exception] = ValueError) -> list[str]:
    """The array names in the archive, in order, without reading any data."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(6) == b"\x93NUMPY":
                raise error(f"{path}: a single .npy array, expected an .npz archive")
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            return [n[:-4] if n.endswith(".npy") else n for n in zf.namelist()]
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected an .npz file") from None
    except READ_ERRORS as exc:
        if isinstance(exc, error):
            raise
        raise error(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc})") \
            from None
