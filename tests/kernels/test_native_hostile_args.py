"""No minigan._C entry point crashes for any argument values: each is called with hostile values
in one argument at a time (huge and negative ints, int64 overflow in the geometry, NaN/inf
floats, wrong types, shapes and dtypes, empty, non-contiguous and read-only arrays) and must
return or raise the project's ValueError/TypeError/RuntimeError (an OverflowError where Python
ints do not fit a C++ integer). The calls run in a child process, so a segfault fails this test
with the signal instead of killing the test run; the optimizers refuse aliased buffers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from minigan import backends

_C = backends.native()
pytestmark = pytest.mark.skipif(_C is None, reason="needs minigan._C")

# In the child: every entry point with a valid call, then one argument at a time replaced.
_CHILD = textwrap.dedent('''
    import itertools, sys
    import numpy as np
    import minigan._C as C

    f4 = lambda *s: np.ones(s, np.float32)
    BAD = [-1, 0, 2**31, 2**62 + 1, -2**63, 2**63 - 1, 2**64, float("nan"), float("inf"),
           None, "x", (2**62, 2**62), (-1, 1), (1, 2, 3), [], f4(0), f4(2, 2)[:, ::2],
           np.ones((2, 3), np.int64), np.ones((1, 1, 4, 4), np.float16), f4(1, 1, 1, 1, 1)]
    x, w = f4(2, 3, 6, 6), f4(4, 3, 3, 3)
    gy, x3 = f4(2, 4, 6, 6), f4(2, 3, 36)
    p, g, m, v = f4(5), f4(5), np.zeros(5, np.float32), np.zeros(5, np.float32)
    CALLS = {
        "im2col": (C.im2col, [x, 3, 3, (1, 1), (1, 1), (1, 1)]),
        "col2im": (C.col2im, [f4(72, 27), (2, 3, 6, 6), 3, 3, (1, 1), (1, 1), (1, 1)]),
        "conv2d_forward_f32": (C.conv2d_forward_f32, [x, w, (1, 1), (1, 1), (1, 1)]),
        "conv2d_backward_data_f32": (C.conv2d_backward_data_f32,
                                     [gy, w, (2, 3, 6, 6), (1, 1), (1, 1), (1, 1)]),
        "conv2d_backward_weight_f32": (C.conv2d_backward_weight_f32,
                                       [gy, x, (4, 3, 3, 3), (1, 1), (1, 1), (1, 1)]),
        "bias_act": (C.bias_act, [x3, f4(3), "relu", 0.2]),
        "bias_act_backward": (C.bias_act_backward, [x3, x3, "relu", 0.2]),
        "gan_loss": (C.gan_loss, [3, f4(7)]),
        "sn_power_iteration": (C.sn_power_iteration, [f4(4, 6), f4(4), 2, 1e-12]),
        "sn_normalize": (C.sn_normalize, [f4(4, 6), f4(4), f4(6)]),
        "sn_backward": (C.sn_backward, [f4(4, 6), f4(4, 6), f4(4), f4(6), np.float32(2)]),
        "batch_norm_forward": (C.batch_norm_forward,
                               [x, f4(3), f4(3), f4(3), f4(3), True, 0.1, 1e-5]),
        "batch_norm_backward": (C.batch_norm_backward, [x, x, f4(3), f4(3), f4(3)]),
        "adam_step": (C.adam_step, [[p], [g], [m], [v], None, [1], 1e-3, 0.9, 0.999, 1e-8, 0.0]),
        "sgd_step": (C.sgd_step, [[p], [g], [None], [True], 0.1, 0.0, 0.0, False, 0.0]),
        "set_num_threads": (C.set_num_threads, [1]),
        "set_isa": (C.set_isa, ["generic"]),
    }
    OK = (ValueError, TypeError, RuntimeError, OverflowError)
    calls = 0
    for name, (fn, args) in CALLS.items():
        fn(*args)  # the valid call works
        for k, bad in itertools.product(range(len(args)), BAD):
            if name == "sn_power_iteration" and k == 2 and isinstance(bad, int) and bad > 9:
                continue  # valid, only years of work: n_iter is the caller's to choose
            trial = list(args)
            trial[k] = bad
            try:
                fn(*trial)
            except OK:
                pass
            except Exception as exc:
                print(f"{name} arg {k} = {bad!r}: {type(exc).__name__}: {exc}")
                sys.exit(1)
            calls += 1
    C.set_num_threads(1)
    print("calls", calls)
''')


def test_no_entry_point_crashes_or_leaks_another_exception(tmp_path):
    result = subprocess.run([sys.executable, "-c", _CHILD], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, (result.returncode, result.stdout[-2000:],
                                    result.stderr[-2000:])
    assert int(result.stdout.split()[-1]) > 1000


def test_geometry_overflow_is_a_value_error_not_a_segfault():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="dilation: sizes too large"):
        _C.im2col(x, 2**62 + 1, 4, 1, 0, (4, 1))
    with pytest.raises(ValueError, match="padding: sizes too large"):
        _C.im2col(x, 4, 2, 1, (0, 2**62), 1)
    with pytest.raises(ValueError, match="x_shape: sizes too large"):
        _C.col2im(np.zeros((1, 1), np.float32), (2**62, 2**62, 4, 4), 1, 1, 1, 0, 1)
    with pytest.raises(ValueError, match="weight: sizes too large"):
        _C.conv2d_backward_weight_f32(np.zeros((2, 4, 3, 3), np.float32),
                                      np.zeros((2, 3, 5, 5), np.float32), (2**62, 3, 3, 3),
                                      1, 0, 1)


def _adam(params, grads, m, v):
    _C.adam_step(params, grads, m, v, None, [1] * len(params), 1e-3, 0.9, 0.999, 1e-8, 0.0)


def test_optimizers_refuse_aliased_buffers():
    p, g = np.zeros(4, np.float32), np.ones(4, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"grads\[0\]: shares memory with params\[0\]"):
        _adam([p], [p], [m], [v])
    with pytest.raises(ValueError, match=r"exp_avg_sqs\[0\]: shares memory with exp_avgs\[0\]"):
        _adam([p], [g], [m], [m])
    buf = np.zeros(8, np.float32)  # overlapping views of one buffer
    with pytest.raises(ValueError, match="shares memory"):
        _adam([p], [g], [buf[:4]], [buf[3:7]])
    with pytest.raises(ValueError, match=r"params\[1\]: shares memory with params\[0\]"):
        _adam([p, p], [g, g.copy()], [m, m.copy()], [v, v.copy()])
    with pytest.raises(ValueError, match=r"momentum_buffers\[0\]: shares memory with params"):
        _C.sgd_step([p], [g], [p], [False], 0.1, 0.9, 0.0, False, 0.0)
    assert not p.any() and not m.any()  # refused before any update
    # one gradient array read by two parameters is fine (nothing writes it); so are adjacent
    # views of one buffer
    q = np.zeros(4, np.float32)
    _adam([p, q], [g, g], [buf[:4], m], [buf[4:], v])
    np.testing.assert_array_equal(p, q)
    assert np.all(p < 0)
