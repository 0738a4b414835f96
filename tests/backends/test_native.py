"""minigan._C (C++/OpenMP): im2col/col2im against the naive loop reference (conftest.py) and the
NumPy reference in minigan/kernels/conv/, adjointness, thread control, and clear errors for
bad input."""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

_C = importlib.import_module("minigan._C")  # always built: failing to import is a real failure

DTYPES = [np.float32, np.float64]
# col2im sums up to kh*kw overlapping entries in an order that may differ from the reference's.
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_im2col_matches_loop_reference(conv_case, dtype, loop_reference):
    shape, kh, kw, stride, padding, dilation = conv_case
    im2col_loop, _ = loop_reference
    x = _x(shape, dtype)
    cols = _C.im2col(x, kh, kw, stride, padding, dilation)
    assert cols.dtype == dtype
    # a pure copy: must be bit-exact
    np.testing.assert_array_equal(cols, im2col_loop(x, kh, kw, stride, padding, dilation))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_col2im_matches_loop_reference(conv_case, dtype, loop_reference):
    shape, kh, kw, stride, padding, dilation = conv_case
    im2col_loop, col2im_loop = loop_reference
    rows, width = im2col_loop(np.zeros(shape), kh, kw, stride, padding, dilation).shape
    cols = _x((rows, width), dtype, seed=1)
    x = _C.col2im(cols, shape, kh, kw, stride, padding, dilation)
    assert x.dtype == dtype and x.shape == shape
    np.testing.assert_allclose(
        x, col2im_loop(cols, shape, kh, kw, stride, padding, dilation), **TOL[dtype]
    )


def test_adjoint(conv_case):
    """<im2col(x), c> == <x, col2im(c)>: col2im is exactly the transpose of im2col."""
    shape, kh, kw, stride, padding, dilation = conv_case
    x = _x(shape, np.float64)
    cols = _C.im2col(x, kh, kw, stride, padding, dilation)
    c = _x(cols.shape, np.float64, seed=2)
    lhs = float(np.sum(cols * c))
    rhs = float(np.sum(x * _C.col2im(c, shape, kh, kw, stride, padding, dilation)))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_matches_numpy_reference_in_kernels_conv(conv_case, dtype):
    try:
        conv = importlib.import_module("minigan.kernels.conv")
    except ModuleNotFoundError:
        pytest.skip("minigan.kernels.conv does not exist yet (its NumPy reference is written "
                    "in another issue)")
    if not (hasattr(conv, "im2col") and hasattr(conv, "col2im")):
        pytest.skip("minigan.kernels.conv has no im2col/col2im yet")
    shape, kh, kw, stride, padding, dilation = conv_case
    x = _x(shape, dtype)
    cols = _C.im2col(x, kh, kw, stride, padding, dilation)
    np.testing.assert_array_equal(cols, conv.im2col(x, kh, kw, stride, padding, dilation))
    c = _x(cols.shape, dtype, seed=3)
    np.testing.assert_allclose(
        _C.col2im(c, shape, kh, kw, stride, padding, dilation),
        conv.col2im(c, shape, kh, kw, stride, padding, dilation),
        **TOL[dtype],
    )


def test_large_enough_to_run_in_parallel(loop_reference):
    """Big enough to cross the kernels' parallel grain; 1 and 2 threads must agree exactly."""
    im2col_loop, col2im_loop = loop_reference
    shape, args = (4, 8, 17, 19), (3, 3, (1, 1), (1, 1), (1, 1))
    x = _x(shape, np.float64)
    before = _C.num_threads()
    try:
        results = {}
        for n in (1, 2):
            _C.set_num_threads(n)
            assert _C.num_threads() == n
            cols = _C.im2col(x, *args)
            results[n] = (cols, _C.col2im(cols, shape, *args))
    finally:
        _C.set_num_threads(before)
    np.testing.assert_array_equal(results[1][0], results[2][0])
    np.testing.assert_array_equal(results[1][1], results[2][1])
    np.testing.assert_array_equal(results[2][0], im2col_loop(x, *args))
    np.testing.assert_allclose(results[2][1], col2im_loop(results[2][0], shape, *args), rtol=1e-12)


def test_concurrent_calls_release_the_gil_safely():
    xs = [_x((2, 3, 16, 16), np.float32, seed=s) for s in range(8)]
    expected = [_C.im2col(x, 3, 3, 1, 1, 1) for x in xs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda x: _C.im2col(x, 3, 3, 1, 1, 1), xs))
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_out_buffer_is_filled_and_returned():
    x = _x((1, 2, 5, 5), np.float32)
    out = np.full((25, 18), np.nan, dtype=np.float32)
    assert _C.im2col(x, 3, 3, 1, 1, 1, out=out) is out
    np.testing.assert_array_equal(out, _C.im2col(x, 3, 3, 1, 1, 1))
    back = np.full((1, 2, 5, 5), 7.0, dtype=np.float32)  # overwritten, not accumulated into
    assert _C.col2im(out, (1, 2, 5, 5), 3, 3, 1, 1, 1, out=back) is back
    np.testing.assert_array_equal(back, _C.col2im(out, (1, 2, 5, 5), 3, 3, 1, 1, 1))


def test_int_means_same_value_for_h_and_w():
    x = _x((1, 2, 7, 7), np.float64)
    np.testing.assert_array_equal(
        _C.im2col(x, 3, 3, 2, 1, 2), _C.im2col(x, 3, 3, (2, 2), (1, 1), (2, 2))
    )


def test_empty_batch():
    cols = _C.im2col(np.zeros((0, 2, 4, 4), np.float32), 3, 3, 1, 1, 1)
    assert cols.shape == (0, 18)
    assert _C.col2im(cols, (0, 2, 4, 4), 3, 3, 1, 1, 1).shape == (0, 2, 4, 4)


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match=r"n: expected a thread count in \[1, 4096\], got 0"):
        _C.set_num_threads(0)


X = np.zeros((1, 2, 5, 5), np.float32)
GOOD = (3, 3, (1, 1), (1, 1), (1, 1))


def _bad(id_: str, call, error: type[Exception], message: str):
    return pytest.param(call, error, message, id=id_)


@pytest.mark.parametrize(
    "call, error, message",
    [
        _bad("list", lambda: _C.im2col(X.tolist(), *GOOD), TypeError, r"^x: expected a numpy"),
        _bad("int32", lambda: _C.im2col(X.astype(np.int32), *GOOD), TypeError,
             r"^x: expected dtype float32 or float64, got int32"),
        _bad("big-endian", lambda: _C.im2col(X.astype(">f4"), *GOOD), TypeError,
             r"^x: expected dtype float32 or float64"),
        _bad("strided", lambda: _C.im2col(X[..., ::2], *GOOD), ValueError,
             r"^x: expected a C-contiguous"),
        _bad("3-d", lambda: _C.im2col(X[0], *GOOD), ValueError, r"^x: expected a 4-d array"),
        _bad("kernel-too-big", lambda: _C.im2col(X, 7, 7, 1, 0, 1), ValueError,
             r"^kernel: dilated kernel \(7, 7\) is larger than the padded input \(5, 5\)"),
        _bad("stride-0", lambda: _C.im2col(X, 3, 3, 0, 1, 1), ValueError,
             r"^stride: expected \(h, w\) >= 1"),
        _bad("padding-neg", lambda: _C.im2col(X, 3, 3, 1, -1, 1), ValueError,
             r"^padding: expected \(h, w\) >= 0"),
        _bad("dilation-0", lambda: _C.im2col(X, 3, 3, 1, 1, 0), ValueError,
             r"^dilation: expected \(h, w\) >= 1"),
        _bad("stride-triple", lambda: _C.im2col(X, 3, 3, (1, 1, 1), 1, 1), ValueError,
             r"^stride: expected a pair of ints \(h, w\), got 3 values"),
        _bad("kh-float", lambda: _C.im2col(X, 3.0, 3, 1, 1, 1), TypeError,
             r"^kh: expected an int, got float"),
        _bad("stride-str", lambda: _C.im2col(X, 3, 3, "1", 1, 1), TypeError,
             r"^stride: expected an int or a pair"),
        _bad("out-dtype", lambda: _C.im2col(X, *GOOD, out=np.zeros((25, 18))), TypeError,
             r"^out: expected dtype float32 to match x, got float64"),
        _bad("out-shape", lambda: _C.im2col(X, *GOOD, out=np.zeros((25, 17), np.float32)),
             ValueError, r"^out: expected shape \(25, 18\), got \(25, 17\)"),
        _bad("out-strided", lambda: _C.im2col(X, *GOOD, out=np.zeros((18, 25), np.float32).T),
             ValueError, r"^out: expected a C-contiguous"),
        _bad("out-readonly", lambda: _C.im2col(X, *GOOD, out=_readonly((25, 18))), ValueError,
             r"^out: expected a writeable array"),
        _bad("cols-shape", lambda: _C.col2im(np.zeros((25, 17), np.float32), X.shape, *GOOD),
             ValueError, r"^cols: expected shape \(25, 18\), got \(25, 17\)"),
        _bad("x_shape-3", lambda: _C.col2im(np.zeros((25, 18), np.float32), (2, 5, 5), *GOOD),
             ValueError, r"^x_shape: expected a shape \(N, C, H, W\) of 4 ints"),
        _bad("cols-1-d", lambda: _C.col2im(np.zeros(3, np.float32), X.shape, *GOOD), ValueError,
             r"^cols: expected a 2-d array"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_output_may_not_alias_input():
    buf = np.zeros(2 * 25 * 18 + 50, np.float32)
    x = buf[:50].reshape(1, 2, 5, 5)
    out = buf[40 : 40 + 25 * 18].reshape(25, 18)  # overlaps x's tail
    with pytest.raises(ValueError, match="^out: must not share memory with x"):
        _C.im2col(x, *GOOD, out=out)


def _readonly(shape):
    a = np.zeros(shape, np.float32)
    a.flags.writeable = False
    return a
