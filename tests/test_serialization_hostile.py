"""``minigan.load`` turns any byte string into the data or its own error (ValueError: LoadError,
or UnpicklingError for a PyTorch pickle asking for more than tensors), with memory bounded by
the file's size: fuzzed bytes (hypothesis, a bounded number of cases) around files written by
minigan.save and torch.save, and the hostile files found by hand (a header declaring 2^40
elements, a zip bomb, encrypted and exotic entries, JSON that is not an object)."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan
from minigan.serialization import LoadError

FUZZ = settings(max_examples=200, deadline=None, database=None)


def _saved(obj) -> bytes:
    buf = io.BytesIO()
    minigan.save(obj, buf)
    return buf.getvalue()


SEED = _saved({"w": minigan.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)), "n": 3,
               "t": (1, 2.5)})


def _torch_seed() -> bytes | None:
    try:
        import torch
    except ImportError:
        return None
    buf = io.BytesIO()
    torch.save({"w": torch.arange(12.0).reshape(3, 4), "b": torch.ones(2, dtype=torch.bfloat16)},
               buf)
    return buf.getvalue()


TORCH_SEED = _torch_seed()


def _mutations(seed: bytes):
    return st.one_of(
        st.binary(max_size=400),
        st.integers(0, len(seed)).map(lambda n: seed[:n]),
        st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), min_size=1,
                 max_size=8).map(lambda muts: _apply(seed, muts)),
    )


def _apply(data: bytes, muts) -> bytes:
    b = bytearray(data)
    for i, v in muts:
        b[i] = v
    return bytes(b)


def _loads_or_refuses(data: bytes) -> None:
    try:
        minigan.load(io.BytesIO(data))
    except (ValueError, pickle.UnpicklingError) as e:
        assert str(e).startswith("load: "), e


@FUZZ
@given(data=_mutations(SEED))
def test_fuzz_minigan_file(data):
    _loads_or_refuses(data)


@pytest.mark.skipif(TORCH_SEED is None, reason="needs torch to write the seed file")
@FUZZ
@given(data=_mutations(TORCH_SEED or b"x"))
def test_fuzz_pytorch_file(data):
    _loads_or_refuses(data)


def _archive(entries: dict, compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, blob in entries.items():
            z.writestr(name, blob)
    return buf.getvalue()


META = json.dumps({"format": "minigan.save/1", "obj": {"ndarray": 0}}).encode()


def _npy(shape, descr="<f4", data=b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + data


def test_the_seed_loads():
    assert minigan.load(io.BytesIO(_archive({"minigan.json": META,
                                             "0.npy": _npy((2,), data=bytes(8))}))).shape == (2,)


@pytest.mark.parametrize("entries,match", [
    ({"minigan.json": META, "0.npy": _npy((2**20, 2**20), data=bytes(64))},
     r"declares shape \(1048576, 1048576\).*holds 64 bytes"),
    ({"minigan.json": META, "0.npy": _npy((3,), "|O", data=bytes(24))},
     r"not a plain numeric type"),
    ({"minigan.json": b"[1, 2]"}, r"unknown format 'list'"),
    ({"minigan.json": b"{" * 5000}, r"damaged file"),
    ({"minigan.json": json.dumps({"format": "minigan.save/1", "obj": {"ndarray": 7}}).encode()},
     r"damaged file \(KeyError"),
    ({"other.txt": b"x"}, r"neither a minigan file"),
])
def test_hostile_archives_are_refused(entries, match):
    with pytest.raises(LoadError, match=match):
        minigan.load(io.BytesIO(_archive(entries)))


def test_zip_bomb_is_refused_before_decompressing():
    # 26 GiB declared by a few KiB of DEFLATE: refused from the zip directory alone.
    data = bytearray(_archive({"minigan.json": META, "0.npy": _npy((4096,), "|u1", bytes(4096))},
                              zipfile.ZIP_DEFLATED))
    size = (26 << 30) & 0xFFFFFFFF
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("0.npy").header_offset
    central = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 1)  # the second entry
    for at, off in ((local, 22), (central, 24)):  # uncompressed size, in both headers
        data[at + off:at + off + 4] = size.to_bytes(4, "little")
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("0.npy").file_size == size
    with pytest.raises(LoadError, match="more than DEFLATE can expand to"):
        minigan.load(io.BytesIO(bytes(data)))


def test_encrypted_entry_is_refused():
    data = bytearray(_archive({"minigan.json": META}))
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # general purpose flag bit 0
        at = data.index(sig)
        data[at + off] |= 1
    with pytest.raises(LoadError, match="encrypted"):
        minigan.load(io.BytesIO(bytes(data)))
