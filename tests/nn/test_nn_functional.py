"""mg.nn.functional: loss stability at huge logits, PyTorch-style pad and interpolate, argument
errors, dropout/eval behaviour."""

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F
from minigan.diagnostics.gradcheck import assert_close


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_exact_at_logit_1e4(dtype):
    z = mg.tensor(np.array([1e4, 1e4, -1e4, -1e4, 1e4, -1e4]), dtype=dtype, requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.25], dtype=dtype)
    loss = F.binary_cross_entropy_with_logits(z, mg.tensor(t), reduction="none")
    assert loss.dtype == dtype
    # softplus(z) - t z: 0 when the logit agrees with the label, |z| when it is confidently wrong
    np.testing.assert_array_equal(loss.numpy(), [0, 1e4, 0, 1e4, 5e3, 2.5e3])
    (g,) = mg.grad(loss.sum(), [z], create_graph=True)
    # d/dz = sigmoid(z) - t, exactly 1 or 0 in floating point at |z| = 1e4
    np.testing.assert_array_equal(g.numpy(), [0, 1, 0, -1, 0.5, -0.25])
    (gg,) = mg.grad(g.sum(), [z])
    np.testing.assert_array_equal(gg.numpy(), np.zeros(6))  # sigmoid'(1e4) underflows to 0
    mean = F.binary_cross_entropy_with_logits(z, mg.tensor(t))
    assert np.isfinite(mean.item())
    assert_close(mean, np.array(np.mean([0, 1e4, 0, 1e4, 5e3, 2.5e3])))


def test_bce_scalar_target_and_shape_check():
    z = mg.tensor([[0.3, -2.0]], dtype=np.float64)
    ref = np.log1p(np.exp(-z.numpy()))  # -log sigmoid(z)
    assert_close(F.binary_cross_entropy_with_logits(z, 1.0, reduction="none"), ref)
    with pytest.raises(ValueError, match=r"target: expected shape \(1, 2\)"):
        F.binary_cross_entropy_with_logits(z, mg.zeros(2, 1, dtype=np.float64))
    with pytest.raises(ValueError, match="reduction"):
        F.binary_cross_entropy_with_logits(z, 1.0, reduction="avg")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_stays_finite_for_huge_logits(dtype):
    x = mg.tensor(np.array([[1e4, 0.0, -1e4], [3e4, 3e4, 3e4]]), dtype=dtype)
    # (x - max) is exact, so every entry keeps the dtype's relative precision even at 3e4
    assert_close(F.softmax(x), np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]]))
    ls = F.log_softmax(x).numpy()
    assert_close(ls, np.array([[0, -1e4, -2e4], [-np.log(3)] * 3]), rtol=None, atol=0)
    ce = F.cross_entropy(x, np.array([2, 1]), reduction="none")
    assert_close(ce, np.array([2e4, np.log(3)]), atol=0)


def test_cross_entropy_argument_errors():
    z = mg.randn(3, 4)
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 4\)"):
        F.cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target: expected shape \(3,\)"):
        F.cross_entropy(z, np.array([[0, 1, 2]]))


def test_mse_loss_reductions():
    a = np.array([[1.0, 2.0], [3.0, 5.0]])
    b = np.array([[0.0, 2.0], [1.0, 1.0]])
    sq = (a - b) ** 2
    assert F.mse_loss(mg.tensor(a), mg.tensor(b)).item() == sq.mean()
    assert F.mse_loss(mg.tensor(a), mg.tensor(b), reduction="sum").item() == sq.sum()
    assert F.mse_loss(mg.tensor(a), 1.0, reduction="sum").item() == ((a - 1) ** 2).sum()


def test_pad_uses_pytorch_order_last_dim_first():
    x = mg.tensor(np.arange(6.0).reshape(1, 2, 3))
    y = F.pad(x, (1, 2, 0, 1), value=-1.0)  # last dim (1, 2), the one before (0, 1)
    np.testing.assert_array_equal(
        y.numpy(), np.pad(x.numpy(), [(0, 0), (0, 1), (1, 2)], constant_values=-1.0))
    with pytest.raises(ValueError, match="even number"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="non-negative"):
        F.pad(x, (-1, 0))
    with pytest.raises(ValueError, match="mode"):
        F.pad(x, (1, 1), mode="mirror")


def test_interpolate_nearest():
    x = mg.tensor(np.arange(4.0).reshape(1, 1, 2, 2))
    ref = np.repeat(np.repeat(x.numpy(), 3, 2), 2, 3)
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=(3, 2)).numpy(), ref)
    np.testing.assert_array_equal(F.interpolate(x, size=(6, 4)).numpy(), ref)
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2.0).numpy(),
                                  F.upsample_nearest(x, 2).numpy())
    # a size that is no multiple: source row/column floor(i * in / out), as PyTorch's 'nearest'
    np.testing.assert_array_equal(F.interpolate(x, size=5).numpy()[0, 0],
                                  x.numpy()[0, 0][[0, 0, 0, 1, 1]][:, [0, 0, 0, 1, 1]])
    with pytest.raises(ValueError, match="size, scale_factor"):
        F.interpolate(x)


def test_dropout_functional():
    x = mg.randn(10, 10)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((10, 10)))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"p: expected a probability"):
            F.dropout(x, bad)
    assert F.dropout(mg.randn(3, dtype=np.float64), 0.5).dtype == np.float64


def test_batch_norm_functional_errors():
    x = mg.randn(4, 3)
    with pytest.raises(ValueError, match=r"running_mean: expected shape \(3,\)"):
        F.batch_norm(x, mg.zeros(2), mg.ones(2))
    with pytest.raises(TypeError, match="weight: expected dtype float32"):
        F.batch_norm(x, None, None, mg.ones(3, dtype=np.float64))
    with pytest.raises(ValueError, match="both or neither"):
        F.batch_norm(x, mg.zeros(3), None)
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(x, (4,))


def test_functional_reexports_every_documented_name():
    for name in ["conv2d", "conv_transpose2d", "linear", "relu", "leaky_relu", "tanh", "sigmoid",
                 "softplus", "elu", "batch_norm", "layer_norm", "dropout", "embedding",
                 "avg_pool2d", "interpolate", "upsample_nearest", "pad",
                 "binary_cross_entropy_with_logits", "mse_loss", "cross_entropy", "softmax",
                 "log_softmax"]:
        assert callable(getattr(F, name)), name
    assert sorted(F.__all__) == F.__all__
