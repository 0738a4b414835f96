"""Layers against NumPy definitions: Linear/Conv2d/ConvTranspose2d wiring (layouts, stride,
padding, bias), batch norm train/eval and running statistics in closed form, LayerNorm, Dropout,
Embedding, shape layers, Upsample; default initialisation bounds; dtype argument."""

import math

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn
from minigan.diagnostics.gradcheck import assert_close


def np_conv2d(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    return y + b[None, :, None, None]


def np_conv_transpose2d(x, w, b, stride, pad):
    # scatter each input pixel times the kernel into the (uncropped) output, then crop the padding
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    full = np.zeros((n, o, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], w)
    return full[:, :, pad:full.shape[2] - pad, pad:full.shape[3] - pad] + b[None, :, None, None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_forward_and_layout(dtype):
    m = nn.Linear(5, 3, dtype=dtype)
    assert m.weight.shape == (3, 5) and m.bias.shape == (3,) and m.weight.dtype == dtype
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(dtype)
    y = m(mg.tensor(x))
    assert y.dtype == dtype
    assert_close(y, x.astype(np.float64) @ m.weight.numpy().T.astype(np.float64)
                 + m.bias.numpy())


def test_conv2d_layer_matches_loop_reference():
    m = nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=np.float64)
    assert m.weight.shape == (4, 3, 3, 3)
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 6))
    ref = np_conv2d(x, m.weight.numpy(), m.bias.numpy(), 2, 1)
    assert_close(m(mg.tensor(x)), ref)


def test_conv_transpose2d_layer_matches_scatter_reference():
    m = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1, dtype=np.float64)
    assert m.weight.shape == (3, 2, 4, 4)
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 4))
    y = m(mg.tensor(x))
    assert y.shape == (2, 2, 10, 8)  # (H-1)*2 - 2 + 4
    assert_close(y, np_conv_transpose2d(x, m.weight.numpy(), m.bias.numpy(), 2, 1))


def test_grouped_conv_weight_layouts():
    assert nn.Conv2d(6, 4, 3, groups=2).weight.shape == (4, 3, 3, 3)
    assert nn.ConvTranspose2d(6, 4, 3, groups=2).weight.shape == (6, 2, 3, 3)
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(5, 4, 3, groups=2)


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(300, 200), 300),
    (lambda: nn.Conv2d(16, 32, 3), 16 * 9),
    (lambda: nn.Conv2d(16, 32, 3, groups=4), 4 * 9),
    # PyTorch computes the transposed conv's fan_in from weight.shape[1] = out/groups
    (lambda: nn.ConvTranspose2d(32, 16, 4), 16 * 16),
])
def test_default_init_is_uniform_with_pytorch_bounds(make, fan_in):
    mg.manual_seed(0)
    m = make()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)): sqrt(1/3) * sqrt(3 / fan_in)
    for p in (m.weight, m.bias):
        a = p.numpy().astype(np.float64).ravel()
        assert np.abs(a).max() <= bound
        # U(-b, b) has E[x^2] = b^2/3 and Var[x^2] = 4 b^4 / 45: five standard errors
        se = math.sqrt(4 / 45 / a.size) * bound ** 2
        assert abs(np.mean(a * a) - bound ** 2 / 3) < 5 * se
    assert np.abs(m.weight.numpy()).max() > 0.99 * bound  # fills the interval


def test_init_is_reproducible_from_manual_seed():
    mg.manual_seed(5)
    a = nn.Conv2d(3, 4, 3)
    mg.manual_seed(5)
    b = nn.Conv2d(3, 4, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    c = nn.Conv2d(3, 4, 3)
    assert not np.array_equal(a.weight.numpy(), c.weight.numpy())


def bn_ref(x, mean, var, w, b, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) \
        + b.reshape(shape)


def test_batchnorm2d_training_uses_batch_stats_and_updates_running_stats():
    rng = np.random.default_rng(3)
    bn = nn.BatchNorm2d(3, momentum=0.25, dtype=np.float64)
    with mg.no_grad():
        bn.weight.copy_(rng.uniform(0.5, 2, 3))
        bn.bias.copy_(rng.standard_normal(3))
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        x = rng.standard_normal((4, 3, 2, 5)) * (step + 1) + step
        y = bn(mg.tensor(x))
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        assert_close(y, bn_ref(x, mean, var, bn.weight.numpy(), bn.bias.numpy()))
        n = 4 * 2 * 5
        rm = 0.75 * rm + 0.25 * mean
        rv = 0.75 * rv + 0.25 * var * n / (n - 1)  # running variance is unbiased
        assert_close(bn.running_mean, rm)
        assert_close(bn.running_var, rv)
        assert bn.num_batches_tracked.item() == step + 1
    # evaluation: running statistics, no update
    bn.eval()
    x = rng.standard_normal((2, 3, 2, 2))
    assert_close(bn(mg.tensor(x)), bn_ref(x, rm, rv, bn.weight.numpy(), bn.bias.numpy()))
    assert_close(bn.running_mean, rm)
    assert bn.num_batches_tracked.item() == 3


def test_batchnorm1d_cumulative_average_and_untracked_stats():
    rng = np.random.default_rng(4)
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [rng.standard_normal((5, 2)) * (k + 1) for k in range(3)]
    for x in batches:
        bn(mg.tensor(x))
    assert_close(bn.running_mean, np.mean([x.mean(0) for x in batches], axis=0))
    assert_close(bn.running_var, np.mean([x.var(0, ddof=1) for x in batches], axis=0))
    free = nn.BatchNorm1d(2, track_running_stats=False, affine=False, dtype=np.float64).eval()
    assert free.running_mean is None and list(free.state_dict()) == []
    x = batches[0]
    assert_close(free(mg.tensor(x)), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))


def test_batchnorm_input_checks():
    with pytest.raises(ValueError, match="expects 4-D"):
        nn.BatchNorm2d(3)(mg.randn(2, 3))
    with pytest.raises(ValueError, match="expected 3 channels"):
        nn.BatchNorm1d(3)(mg.randn(2, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(mg.randn(1, 3))


def test_layernorm_layer():
    ln = nn.LayerNorm((2, 3), dtype=np.float64)
    with mg.no_grad():
        ln.weight.copy_(np.arange(1.0, 7.0).reshape(2, 3))
        ln.bias.fill_(0.5)
    x = np.random.default_rng(5).standard_normal((4, 2, 3))
    mu = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    assert_close(ln(mg.tensor(x)), (x - mu) / np.sqrt(var + 1e-5) * ln.weight.numpy() + 0.5)
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]


def test_dropout_layer_train_and_eval():
    d = nn.Dropout(0.4)
    x = mg.ones(200, 50)
    mg.manual_seed(3)
    y = d(x).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.6, rtol=1e-6)
    # Bernoulli(0.6) over 10,000 entries: five standard errors
    assert abs(kept.mean() - 0.6) < 5 * math.sqrt(0.24 / kept.size)
    mg.manual_seed(3)
    np.testing.assert_array_equal(d(x).numpy(), y)  # the seed reproduces the mask
    d.eval()
    assert d(x) is x


def test_embedding_gathers_rows_and_accumulates_repeated_gradients():
    emb = nn.Embedding(5, 3, dtype=np.float64)
    idx = np.array([[0, 2], [2, 4]])
    out = emb(mg.tensor(idx))
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[idx])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [1, 0, 2, 0, 1])
    with pytest.raises(ValueError, match=r"indices: expected values in \[0, 5\)"):
        emb(np.array([5]))
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([0.0]))


def test_shape_layers_and_activations():
    x = mg.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Unflatten(1, (3, 4, 5))(nn.Flatten()(x)).shape == (2, 3, 4, 5)
    with pytest.raises(ValueError, match="cannot be unflattened"):
        nn.Unflatten(1, (7, 7))(mg.randn(2, 48))
    a = x.numpy()
    assert_close(nn.ReLU()(x), np.maximum(a, 0))
    assert_close(nn.LeakyReLU(0.2)(x), np.where(a > 0, a, 0.2 * a))
    assert_close(nn.Tanh()(x), np.tanh(a.astype(np.float64)))
    assert_close(nn.Sigmoid()(x), 1 / (1 + np.exp(-a.astype(np.float64))))


def test_upsample_nearest_layer():
    x = mg.tensor(np.arange(6.0).reshape(1, 1, 2, 3))
    y = nn.Upsample(scale_factor=2)(x)
    np.testing.assert_array_equal(y.numpy(), np.repeat(np.repeat(x.numpy(), 2, 2), 2, 3))
    np.testing.assert_array_equal(nn.Upsample(size=(4, 6))(x).numpy(), y.numpy())
    with pytest.raises(ValueError, match="mode"):
        nn.Upsample(scale_factor=2, mode="area")
