import os
import pickle
import struct

import numpy as np
import pytest

from minigan.data import DatasetError
from minigan.data.cifar import load_batch, load_cifar10, safe_load_pickle


def _batch(n, seed, keys_as_bytes=True):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    k = (lambda s: s.encode()) if keys_as_bytes else (lambda s: s)
    return {k("batch_label"): b"testing batch 1 of 1", k("labels"): labels, k("data"): data,
            k("filenames"): [b"x.png"] * n}


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("keys_as_bytes", [True, False])
def test_batch_loads_in_chw_order(tmp_path, protocol, keys_as_bytes):
    b = _batch(6, 1, keys_as_bytes)
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps(b, protocol=protocol))
    x, y = load_batch(p)
    data = b[b"data" if keys_as_bytes else "data"]
    labels = b[b"labels" if keys_as_bytes else "labels"]
    assert x.shape == (6, 3, 32, 32) and x.dtype == np.float32
    assert np.array_equal(y, labels) and y.dtype == np.int64
    # Row layout per the CIFAR-10 page: 1024 red (row-major 32x32), then green, then blue.
    img = 4
    red_row7_col5 = data[img, 7 * 32 + 5]
    blue_row31_col0 = data[img, 2048 + 31 * 32]
    assert x[img, 0, 7, 5] == np.float32(red_row7_col5) / np.float32(127.5) - 1
    assert x[img, 2, 31, 0] == np.float32(blue_row31_col0) / np.float32(127.5) - 1
    assert np.array_equal(np.rint((x.reshape(6, -1).astype(np.float64) + 1) * 127.5), data)


def test_folder_splits_and_subdir(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    for i in range(1, 6):
        (sub / f"data_batch_{i}").write_bytes(pickle.dumps(_batch(3, i), protocol=2))
    (sub / "test_batch").write_bytes(pickle.dumps(_batch(2, 9), protocol=2))
    train = load_cifar10(tmp_path, "train")  # the parent folder works too
    assert train.images.shape == (15, 3, 32, 32)
    assert np.array_equal(train.labels, np.concatenate([_batch(3, i)[b"labels"]
                                                        for i in range(1, 6)]))
    assert load_cifar10(sub, "test").images.shape == (2, 3, 32, 32)
    assert load_cifar10(sub, "all").labels.shape == (17,)
    (sub / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="missing CIFAR-10 batch files data_batch_3"):
        load_cifar10(sub)


def _py2_pickle(data, labels):
    """A batch as Python 2's cPickle wrote CIFAR-10 (protocol 2, numpy.core names, the pixel
    bytes as a py2 str), assembled opcode by opcode."""
    def s(x):
        return b"U" + bytes([len(x)]) + x  # SHORT_BINSTRING

    def i(v):
        return b"J" + struct.pack("<i", v)  # BININT

    p = b"\x80\x02}" + s(b"data")
    p += b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + i(0) + b"\x85"
    p += s(b"b") + b"\x87R" + b"(" + i(1) + i(data.shape[0]) + i(3072) + b"\x86"
    p += b"cnumpy\ndtype\n" + s(b"u1") + i(0) + i(1) + b"\x87R"
    p += b"(" + i(3) + s(b"|") + b"NNN" + i(-1) + i(-1) + i(0) + b"tb"
    p += b"\x89" + b"T" + struct.pack("<I", data.nbytes) + data.tobytes() + b"tbs"
    return p + s(b"labels") + b"](" + b"".join(i(int(v)) for v in labels) + b"es."


def test_python2_pickle_as_distributed(tmp_path):
    b = _batch(5, 3)
    p = tmp_path / "data_batch_1"
    p.write_bytes(_py2_pickle(b[b"data"], b[b"labels"]))
    assert pickle.loads(p.read_bytes(), encoding="bytes")[b"labels"] == b[b"labels"]
    x, y = load_batch(p)
    assert np.array_equal(y, b[b"labels"])
    assert np.array_equal(np.rint((x.reshape(5, -1).astype(np.float64) + 1) * 127.5), b[b"data"])


def test_numpy_scalar_labels(tmp_path):
    b = _batch(3, 2)
    b[b"labels"] = [np.int64(v) for v in b[b"labels"]]
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps(b, protocol=2))
    assert np.array_equal(load_batch(p).labels, b[b"labels"])


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_pickle_refused_without_running(tmp_path, protocol):
    marker = tmp_path / "pwned"
    # The attack first proves itself live: plain pickle.load runs the command.
    evil = pickle.dumps({b"data": _Evil(marker)}, protocol=protocol)
    pickle.loads(evil)
    assert marker.exists()
    marker.unlink()
    p = tmp_path / "data_batch_1"
    p.write_bytes(evil)
    with pytest.raises(DatasetError, match=r"unsafe pickle: refused to call (posix|os|nt)\.system"):
        load_batch(p)
    assert not marker.exists()


def test_other_callables_and_object_arrays_refused(tmp_path):
    p = tmp_path / "b"
    p.write_bytes(pickle.dumps({"data": np.array([1, "x"], dtype=object)}))
    with pytest.raises(DatasetError, match="object arrays"):
        safe_load_pickle(p)
    p.write_bytes(pickle.dumps({"x": np.float64}))  # a class reference, not an array
    with pytest.raises(DatasetError, match="refused to call numpy.float64"):
        safe_load_pickle(p)
    p.write_bytes(pickle.dumps(bytearray(b"abc"), protocol=2))  # builtins.bytearray
    with pytest.raises(DatasetError, match="refused to call (builtins|__builtin__).bytearray"):
        safe_load_pickle(p)


def test_bad_batches_are_clear_errors(tmp_path):
    p = tmp_path / "data_batch_1"
    p.write_bytes(b"not a pickle at all")
    with pytest.raises(DatasetError, match="not a readable pickle"):
        load_batch(p)
    p.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DatasetError, match="expected a pickled dict"):
        load_batch(p)
    b = _batch(4, 0)
    b[b"data"] = b[b"data"][:, :100]
    p.write_bytes(pickle.dumps(b))
    with pytest.raises(DatasetError, match=r"uint8 array \(N, 3072\)"):
        load_batch(p)
    b = _batch(4, 0)
    b[b"labels"] = b[b"labels"][:3]
    p.write_bytes(pickle.dumps(b))
    with pytest.raises(DatasetError, match="expected 4 labels"):
        load_batch(p)
    b = _batch(4, 0)
    b[b"labels"][0] = 10
    p.write_bytes(pickle.dumps(b))
    with pytest.raises(DatasetError, match="labels are 0..9"):
        load_batch(p)
    with pytest.raises(DatasetError, match="no such file"):
        load_batch(tmp_path / "absent")
