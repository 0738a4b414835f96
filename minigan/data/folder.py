"""A folder of image files (PNG, JPEG, ...) read with Pillow, an optional dependency.

Two layouts: images directly in the folder (no labels), or one subfolder per class with the
images inside (labels 0..K-1 in sorted subfolder-name order, as torchvision's ImageFolder).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._common import DatasetError, ImageData, scale_uint8

MAX_RATIO = 1032  # DEFLATE's largest expansion; see _check_declared_size
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError("reading a folder of images needs Pillow: pip install pillow") from None
    return Image


def _images_in(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir()
                      if p.is_file() and p.suffix.lower() in EXTENSIONS)
    except OSError as exc:  # an unreadable (sub)folder: permission denied, I/O error
        raise DatasetError(f"{directory}: cannot list the folder ({exc.strerror or exc})") \
            from None


def _subfolders(directory: Path) -> list[Path]:
    try:
        return [d for d in directory.iterdir() if d.is_dir()]
    except OSError as exc:
        raise DatasetError(f"{directory}: cannot list the folder ({exc.strerror or exc})") \
            from None


def folder_classes(directory: str | os.PathLike) -> list[str]:
    """The class names (sorted subfolders holding images) of a folder; [] for a flat folder."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"{directory}: no such directory")
    if _images_in(directory):
        return []
    return sorted(d.name for d in _subfolders(directory) if _images_in(d))


def _size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    hw = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in hw):
        raise ValueError(f"size: expected a positive int or (height, width), got {size!r}")
    return int(hw[0]), int(hw[1])


def _check_declared_size(path: Path, im: Any) -> None:
    """Refuse an image whose declared pixels its file's size cannot justify, before decoding:
    a few hundred bytes of TIFF or PNG can declare 100M pixels. The bound is DEFLATE's 1032:1
    expansion plus 64 MiB (far more than any data set image needs)."""
    w, h = im.size
    declared = w * h * max(len(im.getbands()), 1)
    limit = MAX_RATIO * path.stat().st_size + (64 << 20)
    if declared > limit:
        raise DatasetError(f"{path}: declares {w}x{h} pixels ({declared} bytes decoded), more "
                           f"than a {path.stat().st_size}-byte file can hold; refused")


def _read(path: Path, Image: Any, grayscale: bool, hw: tuple[int, int] | None) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow warns above 89M pixels; _check_declared_size decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            _check_declared_size(path, im)
            im = im.convert("L" if grayscale else "RGB")
            if hw is not None and im.size != (hw[1], hw[0]):
                # LANCZOS: the antialiasing filter; downscaling by large factors stays clean.
                resampling = getattr(Image, "Resampling", Image)  # Pillow < 9.1: Image.LANCZOS
                im = im.resize((hw[1], hw[0]), resampling.LANCZOS)
            arr = np.asarray(im, dtype=np.uint8)
    except DatasetError:
        raise
    except MemoryError:
        raise DatasetError(f"{path}: not enough memory to decode it") from None
    except Exception as exc:  # Pillow's decoders raise many types on hostile input (OSError,
        # ValueError, SyntaxError, DecompressionBombError, struct.error, EOFError, ...)
        raise DatasetError(f"{path}: cannot read as an image "
                           f"({type(exc).__name__}: {exc})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def load_folder(directory: str | os.PathLike, size: int | tuple[int, int] | None = None,
                grayscale: bool = False, limit: int | None = None) -> ImageData:
    """Every image in ``directory`` as ``(N, C, H, W)`` float32 in [-1, 1] (``x / 127.5 - 1``),
    C = 1 with ``grayscale`` else 3 (alpha dropped, palettes expanded).

    ``size``: resize each image to ``size`` x ``size`` or ``(height, width)``; without it all
    images must share one size. Labels when the images sit in per-class subfolders, else None.
    ``limit``: read at most this many files (in sorted order).
    """
    Image = _pillow()
    directory = Path(directory)
    hw = _size(size)
    classes = folder_classes(directory)
    if classes:
        files = [(p, k) for k, c in enumerate(classes) for p in _images_in(directory / c)]
    else:
        files = [(p, -1) for p in _images_in(directory)]
    if not files:
        raise DatasetError(f"{directory}: no images (looked for {', '.join(EXTENSIONS)} files "
                           f"here and in its subfolders)")
    if limit is not None:
        files = files[:limit]
    arrays = []
    for path, _ in files:
        arr = _read(path, Image, grayscale, hw)
        if arrays and arr.shape != arrays[0].shape:
            raise DatasetError(f"{path}: size {arr.shape[2]}x{arr.shape[1]} differs from "
                               f"{files[0][0].name}'s {arrays[0].shape[2]}x{arrays[0].shape[1]}; "
                               f"pass size= to resize every image")
        arrays.append(arr)
    labels = np.array([k for _, k in files], dtype=np.int64) if classes else None
    return ImageData(scale_uint8(np.stack(arrays)), labels)
