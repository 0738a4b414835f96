"""``minigan.utils``: torchvision's image helpers ``make_grid`` and ``save_image`` (same
arguments), and :mod:`minigan.utils.data` (Dataset, DataLoader, ...)."""

from __future__ import annotations

import math
import os
import struct
import zlib
from typing import Any

import numpy as np

from ..tensor import Tensor

__all__ = ["make_grid", "save_image"]


def _images(tensor: Any) -> np.ndarray:
    """(B, C, H, W) float array from a tensor / array / list of (C, H, W) images; one channel
    becomes three, as torchvision does."""
    if isinstance(tensor, (list, tuple)):
        x = np.stack([t.numpy() if isinstance(t, Tensor) else np.asarray(t) for t in tensor])
    else:
        x = tensor.numpy() if isinstance(tensor, Tensor) else np.asarray(tensor)
    x = np.array(x, dtype=np.float64 if x.dtype == np.float64 else np.float32)  # a copy
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = np.concatenate([x] * 3, 0) if x.shape[0] == 1 else x
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"tensor: expected a 2-, 3- or 4-d image batch, got shape {x.shape}")
    if x.shape[1] == 1:
        x = np.concatenate([x] * 3, 1)
    return x


def _rescale(x: np.ndarray, value_range: Any) -> np.ndarray:
    """Clamp to [low, high] and map it onto [0, 1] (low/high: the range, else x's min/max)."""
    low, high = (float(x.min()), float(x.max())) if value_range is None else value_range
    return (np.clip(x, low, high) - low) / max(high - low, 1e-5)


def make_grid(tensor: Any, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple | None = None, scale_each: bool = False,
              pad_value: float = 0.0, **kwargs: Any) -> Tensor:
    """Tile a batch (B, C, H, W) into one image (C, rows*(H+p)+p, nrow*(W+p)+p), ``nrow`` images
    per row, ``padding`` pixels of ``pad_value`` between and around them. ``normalize``: map
    ``value_range`` (default: the batch's, or each image's with ``scale_each``) onto [0, 1]."""
    if "range" in kwargs:  # torchvision's old name
        value_range = kwargs.pop("range")
    if kwargs:
        raise TypeError(f"make_grid: unexpected arguments {sorted(kwargs)}")
    x = _images(tensor)
    if normalize:
        if scale_each:
            x = np.stack([_rescale(im, value_range) for im in x])
        else:
            x = _rescale(x, value_range)
    if x.shape[0] == 1:
        return Tensor(x[0])
    return Tensor(tile(x, min(nrow, x.shape[0]), padding, pad_value))


def tile(x: np.ndarray, cols: int, padding: int, pad_value: float) -> np.ndarray:
    """(B, C, H, W) -> (C, rows*(H+p)+p, cols*(W+p)+p): image k at row k // cols, column
    k % cols, ``padding`` pixels of ``pad_value`` between and around them."""
    b, c, h, w = x.shape
    rows = math.ceil(b / cols)
    hp, wp = h + padding, w + padding
    grid = np.full((c, rows * hp + padding, cols * wp + padding), pad_value, dtype=x.dtype)
    for k in range(b):
        r, col = divmod(k, cols)
        grid[:, r * hp + padding:r * hp + padding + h, col * wp + padding:col * wp + padding + w] \
            = x[k]
    return grid


def _png(path: Any, rgb: np.ndarray) -> None:
    """A minimal PNG (8-bit RGB, no filtering): signature, IHDR, IDAT, IEND."""
    h, w, _ = rgb.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    if hasattr(path, "write"):
        path.write(data)
        return
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def save_image(tensor: Any, fp: Any, nrow: int = 8, padding: int = 2, normalize: bool = False,
               value_range: tuple | None = None, scale_each: bool = False,
               pad_value: float = 0.0, format: str | None = None, **kwargs: Any) -> None:
    """Write ``make_grid(tensor, ...)`` as a PNG: values in [0, 1] become round(255 v), clamped.
    ``.npy`` paths get the float grid itself."""
    grid = make_grid(tensor, nrow=nrow, padding=padding, normalize=normalize,
                     value_range=value_range, scale_each=scale_each, pad_value=pad_value,
                     **kwargs).numpy()
    if isinstance(fp, (str, os.PathLike)) and os.fspath(fp).endswith(".npy"):
        np.save(fp, grid)
        return
    fmt = (format or (os.fspath(fp).rsplit(".", 1)[-1] if isinstance(fp, (str, os.PathLike))
                      else "png")).lower()
    if fmt != "png":
        raise ValueError(f"fp: only PNG (and .npy) is written, got format {fmt!r}")
    # torchvision's rounding: mul(255).add_(0.5).clamp_(0, 255) then truncation to uint8.
    img = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    _png(fp, np.ascontiguousarray(img[..., :3]))
