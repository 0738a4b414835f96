"""Bad input reaching the compiled kernels is a clear Python error naming the argument, never a
crash: wrong dtype, non-contiguous arrays, mismatched shapes, a wrong type. The registered
wrappers keep the reference's semantics (any strided input works; they hand _C contiguous
copies), so non-contiguous input is an error only at the raw _C entry points."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backends
from minigan.kernels import bias_act as BA
from minigan.kernels import conv as K
from minigan.kernels import registry

_C = backends.native()
FAST = [b for b in backends.available() if b in ("numba", "native")]
S, P, D = (2, 2), (1, 1), (1, 1)


def _x(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- raw minigan._C -----------------------------------------------------------------------

needs_c = pytest.mark.skipif(_C is None, reason="minigan._C is not built")


@needs_c
def test_c_bias_act_rejects_bad_arrays():
    x = _x(2, 3, 4)
    with pytest.raises(TypeError, match="x: expected .*float32 or float64"):
        _C.bias_act(x.astype(np.float16), None, "relu", 0.0)
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray"):
        _C.bias_act([[[1.0]]], None, "relu", 0.0)
    with pytest.raises(ValueError, match="x: expected a C-contiguous array"):
        _C.bias_act(x.transpose(2, 1, 0), None, "relu", 0.0)
    with pytest.raises(ValueError, match="x: expected a 3-d array"):
        _C.bias_act(x[0], None, "relu", 0.0)
    with pytest.raises(ValueError, match=r"bias: expected shape \(3,\), got \(4,\)"):
        _C.bias_act(x, np.zeros(4, np.float32), "relu", 0.0)
    with pytest.raises(TypeError, match="bias: expected dtype float32"):
        _C.bias_act(x, np.zeros(3, np.float64), "relu", 0.0)
    with pytest.raises(ValueError, match="bias: expected a C-contiguous"):
        _C.bias_act(x, np.zeros(6, np.float32)[::2], "relu", 0.0)
    with pytest.raises(ValueError, match="act: expected one of none, relu"):
        _C.bias_act(x, None, "gelu", 0.0)
    with pytest.raises(TypeError, match="act: expected a str"):
        _C.bias_act(x, None, 3, 0.0)


@needs_c
def test_c_bias_act_backward_rejects_bad_arrays():
    g, y = _x(2, 3, 4), _x(2, 3, 4, seed=1)
    with pytest.raises(ValueError, match=r"y: expected shape \(2, 3, 4\)"):
        _C.bias_act_backward(g, y[:, :2].copy(), "tanh", 0.0)
    with pytest.raises(TypeError, match="y: expected dtype float32"):
        _C.bias_act_backward(g, y.astype(np.float64), "tanh", 0.0)
    with pytest.raises(ValueError, match="grad_output: expected a C-contiguous"):
        _C.bias_act_backward(np.asfortranarray(_x(2, 3, 4)), y, "tanh", 0.0)
    with pytest.raises(TypeError, match="grad_output: expected .*float32 or float64"):
        _C.bias_act_backward(g.astype(np.int32), y, "tanh", 0.0)


@needs_c
def test_c_conv_helpers_reject_bad_arrays():
    x = _x(2, 3, 8, 8)
    with pytest.raises(ValueError, match="x: expected a C-contiguous"):
        _C.im2col(x.transpose(0, 1, 3, 2), 3, 3, S, P, D)
    with pytest.raises(TypeError, match="x: expected .*float32 or float64"):
        _C.im2col(x.astype(np.int64), 3, 3, S, P, D)
    cols = _C.im2col(x, 3, 3, S, P, D)
    with pytest.raises(ValueError, match="cols: expected shape"):
        _C.col2im(cols[:-1].copy(), x.shape, 3, 3, S, P, D)


# ---- the registered wrappers (numba and native) -------------------------------------------

@pytest.mark.parametrize("backend", FAST)
def test_wrappers_give_clear_errors(backend):
    conv2d = registry.get("conv2d_forward", "cpu", backend=backend)
    bwd_data = registry.get("conv2d_backward_data", "cpu", backend=backend)
    bias_act = registry.get("bias_act", "cpu", backend=backend)
    bias_act_bwd = registry.get("bias_act_backward", "cpu", backend=backend)
    x, w = _x(2, 4, 8, 8), _x(6, 4, 3, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        conv2d(x.astype(np.int32), w.astype(np.int32), S, P, D)
    with pytest.raises(TypeError, match="one floating dtype"):
        conv2d(x, w.astype(np.float64), S, P, D)
    with pytest.raises(ValueError, match="weight: input has 4 channels"):
        conv2d(x, _x(6, 3, 3, 3), S, P, D)
    with pytest.raises(ValueError, match="grad_output: expected shape"):
        bwd_data(_x(2, 6, 5, 5), w, x.shape, S, P, D)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(_x(1, 4, 2, 2), w, (1, 1), (0, 0), (1, 1))
    with pytest.raises(TypeError, match="float32 or float64"):
        bias_act(x.astype(np.float16), None, "relu")
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray"):
        bias_act([1.0, 2.0], None, "relu")
    with pytest.raises(ValueError, match=r"bias: expected shape \(4,\)"):
        bias_act(x, _x(5), "relu")
    with pytest.raises(ValueError, match="act: expected one of"):
        bias_act(x, None, "swish")
    with pytest.raises(ValueError, match="alpha: expected >= 0"):
        bias_act(x, None, "leaky_relu", -0.1)
    with pytest.raises(ValueError, match="channel_axis"):
        bias_act(x, None, "relu", 0.2, 4)
    with pytest.raises(ValueError, match="grad_output: expected the shape of y"):
        bias_act_bwd(x, x[:1], "relu")


@pytest.mark.parametrize("backend", FAST)
def test_wrappers_accept_strided_input_like_the_reference(backend):
    x = _x(2, 8, 9, 4).transpose(0, 3, 1, 2)            # (2, 4, 8, 9), not contiguous
    w = _x(6, 3, 3, 4, seed=1).transpose(0, 3, 1, 2)     # (6, 4, 3, 3)
    got = registry.get("conv2d_forward", "cpu", backend=backend)(x, w, S, P, D)
    np.testing.assert_allclose(got, K.conv2d_forward(x, w, S, P, D), rtol=1e-5, atol=1e-5)
    b = _x(8, seed=2)[::2]
    got = registry.get("bias_act", "cpu", backend=backend)(x, b, "tanh", 0.2, 1)
    np.testing.assert_allclose(got, BA.bias_act(x, b, "tanh", 0.2, 1), rtol=1e-6, atol=1e-6)
