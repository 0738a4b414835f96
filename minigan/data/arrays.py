"""Images stored in a NumPy ``.npz`` file (read with ``allow_pickle=False``: never runs code)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._common import DatasetError, ImageData, check_labels, scale_uint8
from .safe_npz import entry_names, read_npz

IMAGE_KEYS = ("images", "x", "x_train", "data", "arr_0")
LABEL_KEYS = ("labels", "y", "y_train", "arr_1")


def _pick(keys: list[str], wanted: str | None, candidates: tuple[str, ...], what: str,
          path: Path) -> str | None:
    if wanted is not None:
        if wanted not in keys:
            raise DatasetError(f"{path}: no array named {wanted!r} ({what}); "
                               f"it holds {', '.join(keys) or 'nothing'}")
        return wanted
    return next((k for k in candidates if k in keys), None)


def _to_nchw(x: np.ndarray, layout: str, path: Path) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise DatasetError(f"{path}: expected images (N, H, W), (N, C, H, W) or (N, H, W, C), "
                           f"got shape {x.shape}")
    if layout == "auto":
        first, last = x.shape[1] in (1, 3), x.shape[3] in (1, 3)
        if first == last:
            raise DatasetError(f"{path}: cannot tell channels from shape {x.shape}; "
                               f"pass layout='NCHW' or layout='NHWC'")
        layout = "NCHW" if first else "NHWC"
    if layout == "NHWC":
        return x.transpose(0, 3, 1, 2)
    if layout == "NCHW":
        return x
    raise ValueError(f"layout: expected 'auto', 'NCHW' or 'NHWC', got {layout!r}")


def to_unit_range(x: np.ndarray, value_range: tuple[float, float] | None,
                  source: str) -> np.ndarray:
    """``x`` as float32 in [-1, 1]: ``2 (x - lo) / (hi - lo) - 1`` for ``value_range=(lo, hi)``.

    Defaults: uint8 and other integers are taken as (0, 255); floats as already in (-1, 1).
    Values outside the range are an error rather than silently clipped.
    """
    if x.dtype == np.uint8 and value_range in (None, (0, 255)):
        return scale_uint8(x)
    if x.dtype.kind not in "iuf":
        raise DatasetError(f"{source}: expected numeric images, got dtype {x.dtype}")
    if value_range is None:
        value_range = (0.0, 255.0) if x.dtype.kind in "iu" else (-1.0, 1.0)
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"value_range: expected (low, high) with high > low, got {value_range}")
    if x.size:
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise DatasetError(f"{source}: images contain NaN or Inf")
        xmin, xmax = float(x.min()), float(x.max())
        if xmin < lo or xmax > hi:
            raise DatasetError(f"{source}: values span [{xmin:g}, {xmax:g}], outside the "
                               f"expected range [{lo:g}, {hi:g}]; pass value_range=(low, high) "
                               f"(e.g. (0, 1) or (0, 255))")
    out = x.astype(np.float64)  # the affine map in float64, then one rounding to float32
    return (2.0 * (out - lo) / (hi - lo) - 1.0).astype(np.float32)


def load_npz(path: str | os.PathLike, images_key: str | None = None,
             labels_key: str | None = None, layout: str = "auto",
             value_range: tuple[float, float] | None = None) -> ImageData:
    """Images ``(N, C, H, W)`` float32 in [-1, 1] (and int64 labels if present) from ``.npz``.

    The images are ``images_key`` or the first of ``images, x, x_train, data, arr_0`` (or the
    only array); labels ``labels_key`` or the first of ``labels, y, y_train, arr_1``.
    ``layout``: "auto" (channels are the axis of size 1 or 3), "NCHW" or "NHWC"; 3-D arrays are
    single-channel. ``value_range``: see :func:`to_unit_range`.
    """
    path = Path(path)
    keys = entry_names(path, DatasetError)
    ikey = _pick(keys, images_key, IMAGE_KEYS, "images", path)
    if ikey is None and len(keys) == 1:
        ikey = keys[0]
    if ikey is None:
        raise DatasetError(f"{path}: no images array; it holds {', '.join(keys) or 'nothing'}; "
                           f"pass images_key= (one of them)")
    lkey = _pick(keys, labels_key, LABEL_KEYS, "labels", path)
    if lkey == ikey:
        lkey = None
    # Bounded by the file's size, never pickle: see safe_npz.
    arrays = read_npz(path, DatasetError, names={ikey} | ({lkey} if lkey else set()))
    images, labels = arrays[ikey], arrays.get(lkey) if lkey else None
    source = f"{path}[{ikey}]"
    x = to_unit_range(_to_nchw(images, layout, path), value_range, source)
    y = None if labels is None else check_labels(labels, x.shape[0], f"{path}[{lkey}]")
    return ImageData(np.ascontiguousarray(x), y)
