"""Reader for IDX files, the format of MNIST, Fashion-MNIST and KMNIST (gzipped or raw).

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT the element type, DD the number of
dimensions), then DD big-endian uint32 sizes, then the elements in C order, big-endian. The
MNIST family uses TT = 0x08 (unsigned byte): images are ``0x00000803`` (N, rows, cols), labels
``0x00000801`` (N,). Every size is checked against the bytes actually present, so a truncated
download or a label file passed as images is a clear error naming the file, never a silent
misread.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ._common import DatasetError, ImageData, check_labels, scale_uint8

# IDX element types (the third magic byte) as big-endian NumPy dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22

# File names of the split in the MNIST-family distributions (KMNIST uses the same), raw first.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it starts with the gzip magic (whatever its name)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open ({exc.strerror or exc})") from None
    with f:
        head = f.read(2)
    if head == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _read_upto(f: BinaryIO, n: int) -> bytearray:
    """Up to ``n`` bytes, in chunks: a header that claims absurd sizes must not make us
    allocate them before we find out the data is not there."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(n - len(buf), _CHUNK))
        if not chunk:
            break
        buf += chunk
    return buf


def _describe(magic: int) -> str:
    kind = {IMAGES_MAGIC: " (an IDX image file)", LABELS_MAGIC: " (an IDX label file)"}
    return f"0x{magic:08X}{kind.get(magic, '')}"


def read_idx(path: str | os.PathLike, expect_magic: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (raw or gzipped), in native byte order.

    ``expect_magic``: refuse any other magic number (``IMAGES_MAGIC`` / ``LABELS_MAGIC``).
    Raises DatasetError naming the file for a bad magic number, an unknown element type, a
    truncated header or body, trailing bytes, or a corrupt gzip stream.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            # What the file can hold: its size, or DEFLATE's 1032:1 expansion of it if gzipped.
            size = path.stat().st_size
            limit = size if isinstance(f, io.BufferedReader) else 1032 * size + 1024
            return _read(f, path, expect_magic, limit)
    except EOFError:  # gzip: the stream ended before its end-of-stream marker
        raise DatasetError(f"{path}: truncated gzip stream (the download is incomplete; "
                           f"delete the file and fetch it again)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(f"{path}: corrupt gzip data ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read(f: BinaryIO, path: Path, expect_magic: int | None, limit: int) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4:
        raise DatasetError(f"{path}: truncated: {len(head)} bytes, shorter than the 4-byte "
                           f"IDX magic number")
    magic = struct.unpack(">I", head)[0]
    if head[:2] != b"\0\0" or head[2] not in IDX_DTYPES or head[3] == 0:
        raise DatasetError(f"{path}: bad magic number 0x{magic:08X}: not an IDX file "
                           f"(expected 00 00, an element type in "
                           f"{', '.join(f'0x{t:02X}' for t in IDX_DTYPES)}, and >= 1 dimension)")
    if expect_magic is not None and magic != expect_magic:
        raise DatasetError(f"{path}: bad magic number {_describe(magic)}, expected "
                           f"{_describe(expect_magic)}")
    ndim = head[3]
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(f"{path}: truncated header: {ndim} dimension sizes need "
                           f"{4 * ndim} bytes, found {len(raw_dims)}")
    shape = struct.unpack(f">{ndim}I", raw_dims)
    dtype = np.dtype(IDX_DTYPES[head[2]])
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on a bogus header
    what = f"shape {shape} of {dtype.name} needs {nbytes} bytes of data"
    if nbytes > limit:
        raise DatasetError(f"{path}: truncated or corrupt: the header says {what}, more than "
                           f"this {path.stat().st_size}-byte file can hold")
    body = _read_upto(f, nbytes)
    what = f"shape {shape} of {dtype.name} needs {nbytes} bytes of data"
    if len(body) < nbytes:
        raise DatasetError(f"{path}: truncated: the header says {what}, the file holds only "
                           f"{len(body)} (an incomplete download? delete it and fetch it again)")
    extra = len(_read_upto(f, _CHUNK))
    if extra:
        more = "+" if extra == _CHUNK else ""
        raise DatasetError(f"{path}: the header says {what}, but {extra}{more} more bytes "
                           f"follow: not a well-formed IDX file")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def read_images(path: str | os.PathLike) -> np.ndarray:
    """uint8 images ``(N, rows, cols)`` from an IDX image file (magic 0x00000803)."""
    return read_idx(path, IMAGES_MAGIC)


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """uint8 labels ``(N,)`` from an IDX label file (magic 0x00000801)."""
    return read_idx(path, LABELS_MAGIC)


def load_idx(images: str | os.PathLike, labels: str | os.PathLike | None = None) -> ImageData:
    """Images ``(N, 1, rows, cols)`` float32 in [-1, 1] (``x / 127.5 - 1``) and, given a label
    file, its int64 labels; a DatasetError if the two files disagree on N."""
    pixels = read_images(images)
    ys = None
    if labels is not None:
        raw = read_labels(labels)
        if raw.shape[0] != pixels.shape[0]:
            raise DatasetError(f"label/image count mismatch: {images} holds {pixels.shape[0]} "
                               f"images but {labels} holds {raw.shape[0]} labels")
        ys = check_labels(raw, pixels.shape[0], str(labels))
    return ImageData(scale_uint8(pixels)[:, None], ys)


def _find(directory: Path, stem: str) -> Path:
    # Distributions differ: "train-images-idx3-ubyte.gz", unpacked "train-images-idx3-ubyte",
    # and the "train-images.idx3-ubyte" some archives unpack to.
    dotted = stem.replace("-idx", ".idx")
    candidates = [directory / n for n in (stem, stem + ".gz", dotted, dotted + ".gz")]
    for c in candidates:
        if c.is_file():
            return c
    raise DatasetError(f"{directory}: no {stem}[.gz] here (looked for "
                       f"{', '.join(c.name for c in candidates)}); "
                       f"`minigan data download mnist --out {directory}` fetches MNIST")


def idx_files(directory: str | os.PathLike, split: str = "train") -> tuple[Path, Path]:
    """The (images, labels) files of ``split`` ("train" or "test") in an MNIST-family folder."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split: expected one of {', '.join(SPLIT_FILES)} or 'all', "
                         f"got {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"{directory}: no such directory")
    images, labels = SPLIT_FILES[split]
    return _find(directory, images), _find(directory, labels)


def load_idx_dir(directory: str | os.PathLike, split: str = "train") -> ImageData:
    """An MNIST / Fashion-MNIST / KMNIST folder as ``ImageData``: ``split`` is "train"
    (60,000 images in MNIST), "test" (10,000) or "all" (train then test)."""
    if split == "all":
        parts = [load_idx(*idx_files(directory, s)) for s in ("train", "test")]
        return ImageData(np.concatenate([p.images for p in parts]),
                         np.concatenate([p.labels for p in parts]))
    return load_idx(*idx_files(directory, split))
