import gzip
import struct

import numpy as np
import pytest

from minigan.data import DatasetError
from minigan.data.idx import load_idx, load_idx_dir, read_idx, read_images, read_labels


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(write_idx, mnist_like, gz):
    images, labels = mnist_like
    ip = write_idx("imgs" + (".gz" if gz else ""), images, gz=gz)
    lp = write_idx("lbls" + (".gz" if gz else ""), labels, gz=gz)
    assert np.array_equal(read_images(ip), images) and read_images(ip).dtype == np.uint8
    assert np.array_equal(read_labels(lp), labels)
    x, y = load_idx(ip, lp)
    assert x.shape == (7, 1, 5, 4) and x.dtype == np.float32
    assert y.dtype == np.int64 and np.array_equal(y, labels)
    # x = p / 127.5 - 1 exactly invertible back to the bytes; 0 -> -1 and 255 -> 1 exactly.
    assert np.array_equal(np.rint((x[:, 0].astype(np.float64) + 1) * 127.5), images)
    np.testing.assert_allclose(x[:, 0], images / 127.5 - 1, rtol=0, atol=2e-7)
    assert x[0, 0, 0, 0] == -1.0 and x[0, 0, 0, 1] == 1.0
    assert load_idx(ip).labels is None


def test_gzip_detected_by_content_not_name(write_idx, mnist_like):
    images, _ = mnist_like
    p = write_idx("no-extension", images, gz=True)
    assert np.array_equal(read_images(p), images)


@pytest.mark.parametrize("code,dtype", [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                                        (0x0D, np.float32), (0x0E, np.float64)])
def test_other_element_types_big_endian(write_idx, code, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) * (-3 if code != 0x09 else -1)).astype(dtype)
    got = read_idx(write_idx("a.idx", arr, type_code=code))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and np.array_equal(got, arr)


def test_folder_names_and_splits(tmp_path, write_idx, mnist_like):
    images, labels = mnist_like
    write_idx("train-images-idx3-ubyte.gz", images[:5], gz=True)
    write_idx("train-labels-idx1-ubyte.gz", labels[:5], gz=True)
    write_idx("t10k-images.idx3-ubyte", images[5:])  # the dotted name some archives use
    write_idx("t10k-labels.idx1-ubyte", labels[5:])
    assert np.array_equal(load_idx_dir(tmp_path, "train").labels, labels[:5])
    assert np.array_equal(load_idx_dir(tmp_path, "test").labels, labels[5:])
    both = load_idx_dir(tmp_path, "all")
    assert both.images.shape == (7, 1, 5, 4) and np.array_equal(both.labels, labels)
    with pytest.raises(ValueError, match="split"):
        load_idx_dir(tmp_path, "validation")


def test_missing_files_name_what_was_looked_for(tmp_path):
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.*minigan data download"):
        load_idx_dir(tmp_path)
    with pytest.raises(DatasetError, match="no such directory"):
        load_idx_dir(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no such file"):
        read_images(tmp_path / "absent.gz")


def _err(path, reader=read_images):
    with pytest.raises(DatasetError) as info:
        reader(path)
    msg = str(info.value)
    assert str(path) in msg  # every error names the file
    return msg


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_body(write_idx, mnist_like, gz):
    images, _ = mnist_like
    data = struct.pack(">BBBBIII", 0, 0, 8, 3, 7, 5, 4) + images.tobytes()[:-1]
    msg = _err(write_idx("cut", None, raw=data, gz=gz))
    assert "truncated" in msg and "140 bytes" in msg and "only 139" in msg


def test_truncated_header_and_magic(write_idx):
    assert "truncated header" in _err(write_idx("h", None, raw=bytes([0, 0, 8, 3, 0, 0, 0, 7])))
    assert "shorter than the 4-byte" in _err(write_idx("m", None, raw=b"\0\0"))
    assert "shorter than the 4-byte" in _err(write_idx("e", None, raw=b""))


def test_truncated_gzip_stream(write_idx, mnist_like):
    images, _ = mnist_like
    whole = gzip.compress(b"".join([struct.pack(">BBBBIII", 0, 0, 8, 3, 7, 5, 4),
                                    images.tobytes()]))
    assert "truncated gzip stream" in _err(write_idx("t.gz", None, raw=whole[:len(whole) // 2]))


def test_corrupt_gzip_crc(write_idx, mnist_like):
    images, _ = mnist_like
    whole = bytearray(gzip.compress(struct.pack(">BBBBIII", 0, 0, 8, 3, 7, 5, 4)
                                    + images.tobytes()))
    whole[-8] ^= 0xFF  # the CRC-32 trailer: the data decompresses but fails its check
    assert "corrupt gzip" in _err(write_idx("c.gz", None, raw=bytes(whole)))


def test_bad_magic(write_idx, mnist_like):
    images, labels = mnist_like
    lp = write_idx("labels", labels)
    msg = _err(lp)  # a label file passed as images
    assert "bad magic number 0x00000801 (an IDX label file), expected 0x00000803" in msg
    assert "expected 0x00000801" in _err(write_idx("images", images), read_labels)
    assert "not an IDX file" in _err(write_idx("png", None, raw=b"\x89PNG\r\n\x1a\n" + b"0" * 20))
    assert "not an IDX file" in _err(write_idx("dt", None, raw=bytes([0, 0, 7, 1, 0, 0, 0, 1, 5])))
    assert "not an IDX file" in _err(write_idx("d0", None, raw=bytes([0, 0, 8, 0])), read_idx)


def test_trailing_bytes(write_idx, mnist_like):
    _, labels = mnist_like
    data = struct.pack(">BBBBI", 0, 0, 8, 1, 7) + labels.tobytes() + b"xyz"
    assert "3 more bytes follow" in _err(write_idx("l", None, raw=data), read_labels)


def test_absurd_header_is_truncation_not_allocation(write_idx):
    # Claims 2^32-1 images of 65535x65535: the reader must notice the missing data, not
    # try to allocate 1.8e19 bytes.
    data = struct.pack(">BBBBIII", 0, 0, 8, 3, 2**32 - 1, 65535, 65535) + b"\0" * 100
    assert "truncated" in _err(write_idx("huge", None, raw=data))


def test_label_image_count_mismatch(write_idx, mnist_like):
    images, labels = mnist_like
    ip, lp = write_idx("i", images), write_idx("l", labels[:6])
    with pytest.raises(DatasetError, match=r"count mismatch: .*holds 7 images but .*6 labels"):
        load_idx(ip, lp)
