"""Every reader turns any byte string into data or a DatasetError naming the file, with memory
bounded by the file's size: fuzzed bytes (hypothesis, a bounded number of cases) and the
hostile files found by hand (zip bombs, encrypted entries, huge declared shapes)."""

import gzip
import io
import os
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan.data import DatasetError
from minigan.data.arrays import load_npz
from minigan.data.cifar import load_batch
from minigan.data.idx import read_idx
from minigan.data.safe_npz import read_npz

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _mutations(seed_bytes):
    """Random byte strings plus seeds damaged in place, truncated or extended."""
    return st.one_of(
        st.binary(max_size=600),
        st.tuples(st.integers(0, len(seed_bytes) - 1), st.integers(0, 255)).map(
            lambda iv: seed_bytes[:iv[0]] + bytes([iv[1]]) + seed_bytes[iv[0] + 1:]),
        st.lists(st.tuples(st.integers(0, len(seed_bytes) - 1), st.integers(0, 255)),
                 min_size=1, max_size=8).map(lambda muts: _apply(seed_bytes, muts)),
        st.integers(0, len(seed_bytes)).map(lambda n: seed_bytes[:n]),
        st.binary(min_size=1, max_size=64).map(lambda tail: seed_bytes + tail),
    )


def _apply(data, muts):
    b = bytearray(data)
    for i, v in muts:
        b[i] = v
    return bytes(b)


def _reads_or_refuses(fn, path, data):
    path.write_bytes(data)
    try:
        fn(path)
    except DatasetError as e:
        assert str(path) in str(e)


NPZ_SEED = _npz_bytes(images=np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4),
                      labels=np.array([0, 1]))
_buf = io.BytesIO()
np.savez_compressed(_buf, images=np.zeros((2, 4, 4), np.uint8))
NPZ_DEFLATED_SEED = _buf.getvalue()
IDX_SEED = struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 3, 3) + bytes(range(18))
CIFAR_SEED = __import__("pickle").dumps(
    {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, protocol=2)


@FUZZ
@given(data=_mutations(NPZ_SEED))
def test_fuzz_npz_stored(tmp_path, data):
    _reads_or_refuses(load_npz, tmp_path / "f.npz", data)


@FUZZ
@given(data=_mutations(NPZ_DEFLATED_SEED))
def test_fuzz_npz_deflated(tmp_path, data):
    _reads_or_refuses(load_npz, tmp_path / "f.npz", data)


@FUZZ
@given(data=_mutations(IDX_SEED) | _mutations(gzip.compress(IDX_SEED, mtime=0)))
def test_fuzz_idx(tmp_path, data):
    _reads_or_refuses(read_idx, tmp_path / "f-idx3-ubyte", data)


@FUZZ
@given(data=_mutations(CIFAR_SEED))
def test_fuzz_cifar_batch(tmp_path, data):
    _reads_or_refuses(load_batch, tmp_path / "data_batch_1", data)


def test_npy_header_declaring_2_40_elements_is_refused_before_allocating(tmp_path):
    arr_bytes = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        arr_bytes, {"descr": "<f4", "fortran_order": False, "shape": (2**20, 2**20)})
    arr_bytes.write(b"\0" * 64)
    p = tmp_path / "big.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("images.npy", arr_bytes.getvalue())
    with pytest.raises(DatasetError, match=r"declares shape \(1048576, 1048576\).*holds 64"):
        load_npz(p)


def test_zip_bomb_is_refused_before_decompressing(tmp_path):
    # A real archive of 64 MiB of zeros deflates to ~64 KiB (about 1000:1, inside DEFLATE's
    # bound): fine. The same entry declaring 26 GiB is refused from its directory alone.
    p = tmp_path / "bomb.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (26 << 30,)})
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("images.npy", header.getvalue() + b"\0" * 4096)
    data = bytearray(p.read_bytes())
    size = (26 << 30) + len(header.getvalue())
    # Patch the uncompressed size in the local header (offset 22) and central directory (24).
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    data[local + 22:local + 26] = struct.pack("<I", size & 0xFFFFFFFF)
    data[central + 24:central + 28] = struct.pack("<I", size & 0xFFFFFFFF)
    p.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="bomb.npz"):
        load_npz(p)
    big = tmp_path / "ok.npz"
    np.savez_compressed(big, images=np.zeros((1024, 64, 64), np.uint8))
    assert big.stat().st_size < 4 << 20
    assert load_npz(big).images.shape == (1024, 1, 64, 64)


def test_zip_bomb_bound_is_deflates_own_ratio(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": (1 << 30,)})
    p = tmp_path / "b.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("images.npy", buf.getvalue() + b"\0" * 100)
    raw = bytearray(p.read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = raw.index(sig)
        raw[i + off:i + off + 4] = struct.pack("<I", (1 << 30) + len(buf.getvalue()))
    p.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="more than DEFLATE can expand to"):
        read_npz(p, DatasetError)


def test_encrypted_entry_is_refused(tmp_path):
    p = tmp_path / "enc.npz"
    p.write_bytes(NPZ_SEED)
    raw = bytearray(p.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # general purpose flag bit 0
        i = raw.index(sig)
        raw[i + off] |= 1
    p.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="encrypted"):
        load_npz(p)


def test_unsupported_compression_and_duplicates_are_refused(tmp_path):
    p = tmp_path / "bz.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_BZIP2) as z:
        z.writestr("images.npy", NPZ_SEED[:10])
    with pytest.raises(DatasetError, match="compression method 12"):
        read_npz(p, DatasetError)
    d = tmp_path / "dup.npz"
    with zipfile.ZipFile(d, "w") as z, pytest.warns(UserWarning):
        z.writestr("images.npy", b"x")
        z.writestr("images.npy", b"y")
    with pytest.raises(DatasetError, match="twice"):
        read_npz(d, DatasetError)


def test_damaged_deflate_stream_and_crc(tmp_path):
    p = tmp_path / "c.npz"
    p.write_bytes(NPZ_DEFLATED_SEED)
    raw = bytearray(NPZ_DEFLATED_SEED)
    local = raw.index(b"PK\x03\x04")
    name_len, extra_len = struct.unpack("<HH", raw[local + 26:local + 30])
    raw[local + 30 + name_len + extra_len + 10] ^= 0xFF  # inside the DEFLATE stream
    p.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="c.npz"):
        load_npz(p)


def test_round_trip_of_every_plain_dtype_and_fortran_order(tmp_path):
    arrays = {f"a{i}": np.arange(12).reshape(3, 4).astype(dt)
              for i, dt in enumerate(["u1", "<i2", ">i4", "<i8", "<f4", ">f8", "?"])}
    arrays["f"] = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    arrays["s"] = np.float32(3.5)
    p = tmp_path / "all.npz"
    np.savez_compressed(p, **arrays)
    back = read_npz(p, DatasetError)
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == np.asarray(v).dtype and np.array_equal(back[k], v)


def test_idx_gzip_bomb_header_is_refused(tmp_path):
    data = struct.pack(">BBBBIII", 0, 0, 8, 3, 10**6, 1000, 1000)  # 1e12 bytes declared
    p = tmp_path / "g-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(data + b"\0" * 1000))
    with pytest.raises(DatasetError, match="more than this"):
        read_idx(p)


def test_cifar_pickle_declaring_a_huge_string_is_bounded(tmp_path):
    # BINBYTES8 with a 2**40 length: read from memory, never a 1 TiB read buffer.
    p = tmp_path / "data_batch_1"
    p.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc")
    with pytest.raises(DatasetError, match="not a readable pickle"):
        load_batch(p)


def _write_png(path, size=(4, 4)):
    from PIL import Image

    Image.new("L", size).save(path)


def test_image_folder_hostile_files(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    from minigan.data.folder import load_folder

    d = tmp_path / "imgs"
    d.mkdir()
    # A TIFF of a few hundred bytes declaring 133M pixels: refused before decoding.
    im = Image.new("1", (11547, 11547))
    im.save(d / "a.tif", compression="group4")
    assert (d / "a.tif").stat().st_size < 50_000
    with pytest.raises(DatasetError, match=r"a\.tif: declares 11547x11547"):
        load_folder(d)
    (d / "a.tif").unlink()
    # Pillow's DecompressionBombError (over twice MAX_IMAGE_PIXELS) becomes a DatasetError.
    _write_png(d / "b.png", (64, 64))
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 100
    try:
        with pytest.raises(DatasetError, match=r"b\.png: cannot read as an image"):
            load_folder(d)
    finally:
        Image.MAX_IMAGE_PIXELS = old
    (d / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(DatasetError, match=r"c\.png: cannot read"):
        load_folder(d)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable folders")
def test_unreadable_subfolder_is_a_dataset_error(tmp_path):
    from minigan.data.folder import load_folder

    pytest.importorskip("PIL")
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        _write_png(tmp_path / c / "x.png")
    (tmp_path / "dog").chmod(0)
    try:
        with pytest.raises(DatasetError, match="dog: cannot list the folder"):
            load_folder(tmp_path)
    finally:
        (tmp_path / "dog").chmod(0o755)


def test_unlistable_folder_is_a_dataset_error(tmp_path, monkeypatch):
    # The same path for root, who can list anything: a listing that fails with EACCES.
    pytest.importorskip("PIL")
    from pathlib import Path

    from minigan.data.folder import load_folder

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        _write_png(tmp_path / c / "x.png")
    real = Path.iterdir

    def iterdir(self):
        if self.name == "dog":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(DatasetError, match="dog: cannot list the folder .Permission denied"):
        load_folder(tmp_path)


@FUZZ
@given(data=st.binary(max_size=300) | _mutations(b"\x89PNG\r\n\x1a\n" + bytes(60)))
def test_fuzz_image_file(tmp_path, data):
    pytest.importorskip("PIL")
    from minigan.data.folder import load_folder

    d = tmp_path / "f"
    d.mkdir(exist_ok=True)
    (d / "x.png").write_bytes(data)
    try:
        load_folder(d)
    except DatasetError as e:
        assert "x.png" in str(e)
