"""Helpers shared by the data tests: IDX files written byte by byte from the format's spec
(independently of minigan.data.idx), and a local HTTP server for download tests."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file: 00 00 <type> <ndim>, big-endian uint32 sizes, big-endian elements."""
    be = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=be[type_code]).tobytes()


@pytest.fixture
def write_idx(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, arr: np.ndarray, type_code: int = 0x08, gz: bool = False,
              raw: bytes | None = None) -> Path:
        data = idx_bytes(arr, type_code) if raw is None else raw
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write


@pytest.fixture
def mnist_like() -> tuple[np.ndarray, np.ndarray]:
    """Seven 5x4 uint8 'images' covering 0 and 255, and their labels."""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = np.array([3, 0, 9, 1, 1, 4, 7], dtype=np.uint8)
    return images, labels
