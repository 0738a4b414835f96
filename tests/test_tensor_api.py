"""PyTorch's Tensor API on minigan: dim/keepdim, unbiased std/var, comparisons, legacy
constructors, devices, dtypes, type promotion, in-place fills. Checked against NumPy / closed
forms, and against torch where it is installed."""

import numpy as np
import pytest

import minigan as mg

X = np.random.default_rng(0).standard_normal((3, 4))


def test_reductions_take_dim_and_keepdim_as_well_as_axis():
    t = mg.tensor(X)
    assert np.allclose(t.sum(dim=1, keepdim=True).numpy(), X.sum(1, keepdims=True), atol=0)
    assert np.allclose(t.sum(axis=1, keepdims=True).numpy(), X.sum(1, keepdims=True), atol=0)
    assert np.allclose(t.mean(0).numpy(), X.mean(0), rtol=1e-15)
    assert np.allclose(t.logsumexp(dim=1).numpy(), np.log(np.exp(X).sum(1)), rtol=1e-14)


def test_std_and_var_are_unbiased_by_default():
    t = mg.tensor(X)
    assert np.allclose(t.var().numpy(), X.var(ddof=1), rtol=1e-14)
    assert np.allclose(t.std(1).numpy(), X.std(1, ddof=1), rtol=1e-14)
    assert np.allclose(t.var(1, unbiased=False).numpy(), X.var(1), rtol=1e-14)
    assert np.allclose(mg.std(t, dim=0, correction=0).numpy(), X.std(0), rtol=1e-14)


def test_max_with_dim_returns_values_and_indices():
    t = mg.tensor(X, requires_grad=True)
    values, indices = t.max(dim=1)
    assert np.array_equal(values.numpy(), X.max(1)) and np.array_equal(indices.numpy(),
                                                                        X.argmax(1))
    assert indices.dtype == np.int64 and t.min(0).indices.shape == (4,)
    values.sum().backward()
    expect = np.zeros_like(X)
    expect[np.arange(3), X.argmax(1)] = 1
    assert np.array_equal(t.grad.numpy(), expect)
    assert t.max().shape == () and np.array_equal(mg.max(t, mg.zeros(3, 4)).numpy(),
                                                  np.maximum(X, 0))


def test_comparisons_give_bool_tensors_and_tensors_hash_by_identity():
    a, b = mg.tensor([1.0, 2.0, 3.0]), mg.tensor([3.0, 2.0, 1.0])
    assert (a == b).tolist() == [False, True, False] and (a != b).dtype == np.bool_
    assert (a < b).tolist() == [True, False, False] and a.ge(2).tolist() == [False, True, True]
    assert (a == None) is False  # noqa: E711 - PyTorch's answer
    assert len({a, b}) == 2 and {a: 1}[a] == 1 and {a: 1}.get(b) is None


def test_legacy_constructors():
    t = mg.Tensor(2, 3)
    assert t.shape == (2, 3) and t.dtype == np.float32
    assert mg.Tensor([1, 2]).dtype == np.float32 and mg.Tensor().shape == (0,)
    assert mg.FloatTensor(4).shape == (4,) and mg.LongTensor([1, 2]).dtype == np.int64
    assert isinstance(mg.LongTensor([1]), mg.LongTensor)
    assert not isinstance(mg.FloatTensor([1]), mg.LongTensor)
    assert mg.Tensor(np.arange(3)).dtype == np.int64  # arrays are wrapped as they are
    assert t.type() == "torch.FloatTensor" and t.type(mg.DoubleTensor).dtype == np.float64


def test_device_objects_compare_as_strings():
    d = mg.device("cuda:0")
    assert d == "cuda" and d == "cuda:0" and d.type == "cuda" and d.index == 0
    assert mg.tensor([1.0]).device == "cpu" and mg.tensor([1.0]).device == mg.device("cpu")
    assert not mg.tensor([1.0]).is_cuda
    with pytest.raises(ValueError, match="device"):
        mg.device("tpu")


def test_type_promotion_follows_pytorch():
    i = mg.tensor([1, 2, 3])
    assert (i * 0.5).dtype == np.float32 and np.allclose((i * 0.5).numpy(), [0.5, 1, 1.5])
    f32 = mg.tensor([1.0], dtype=mg.float32)
    assert (f32 + mg.tensor(2.0, dtype=mg.float64)).dtype == np.float32  # 0-d yields
    assert (f32 + mg.tensor([2.0], dtype=mg.float64)).dtype == np.float64
    assert (i + f32).dtype == np.float32  # NumPy would give float64
    assert (mg.tensor([True]) + 1).dtype == np.int64


def test_in_place_fills_draw_from_the_seeded_generator():
    mg.manual_seed(3)
    a = mg.empty(1000).normal_(2.0, 0.5)
    mg.manual_seed(3)
    b = mg.empty(1000).normal_(2.0, 0.5)
    assert np.array_equal(a.numpy(), b.numpy()) and abs(a.numpy().mean() - 2) < 0.1
    u = mg.zeros(1000).uniform_(-1, 1).numpy()
    assert u.min() >= -1 and u.max() < 1
    r = mg.zeros(100, dtype=mg.int64).random_(0, 5).numpy()
    assert set(np.unique(r)) <= set(range(5))
    onehot = mg.zeros(3, 4).scatter_(1, mg.tensor([[2], [0], [3]]), 1.0)
    assert np.array_equal(onehot.numpy(), np.eye(4, dtype=np.float32)[[2, 0, 3]])
    m = mg.ones(2, 2).masked_fill_(mg.tensor([[True, False], [False, True]]), 0.0)
    assert m.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_factories_and_conversions():
    assert mg.arange(5).dtype == np.int64 and mg.arange(0, 1, 0.25).dtype == np.float32
    assert np.allclose(mg.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    assert mg.full((2,), 3).dtype == np.int64 and mg.eye(3).numpy().trace() == 3
    assert mg.randint(5, (3, 2)).shape == (3, 2) and mg.randint(2, 5, (4,)).numpy().min() >= 2
    arr = np.zeros(3)
    t = mg.from_numpy(arr)
    arr[0] = 7
    assert t[0].item() == 7  # shares memory
    x = mg.ones(2, 3)
    assert x.to(mg.float64).dtype == np.float64 and x.to("cpu", mg.float64).dtype == np.float64
    assert x.to(mg.zeros(1, dtype=mg.float64)).dtype == np.float64
    assert x.view_as(mg.zeros(3, 2)).shape == (3, 2) and x.new_zeros(4).dtype == np.float32
    assert x.transpose(0, 1).shape == (3, 2) and x.size(1) == 3 and x.dim() == 2
    assert mg.cat([x, x], dim=1).shape == (2, 6) and [c.shape for c in x.chunk(2, 1)] == [
        (2, 2), (2, 1)]


def test_default_dtype_can_be_set():
    try:
        mg.set_default_dtype(mg.float64)
        assert mg.get_default_dtype() == np.float64 and mg.tensor([1.0]).dtype == np.float64
        assert mg.randn(2).dtype == np.float64 and mg.zeros(1).dtype == np.float64
    finally:
        mg.set_default_dtype(mg.float32)


def test_against_torch():
    torch = pytest.importorskip("torch", reason="compares with PyTorch")
    xt, xm = torch.tensor(X), mg.tensor(X)
    for name, kw in [("std", {}), ("var", {"dim": 1}), ("std", {"dim": 0, "keepdim": True}),
                     ("norm", {"dim": 1}), ("logsumexp", {"dim": 0}), ("cumsum", {"dim": 1})]:
        a = getattr(xm, name)(**kw).numpy()
        b = getattr(xt, name)(**kw).numpy()
        assert np.allclose(a, b, rtol=1e-14, atol=0), name
    idx = torch.tensor([[0, 3], [1, 1], [2, 0]])
    assert np.array_equal(xm.gather(1, mg.tensor(idx.numpy())).numpy(),
                          xt.gather(1, idx).numpy())
    assert np.array_equal(xm.repeat(2, 3).numpy(), xt.repeat(2, 3).numpy())
    i = torch.tensor([1, 2])
    assert (i * 0.5).dtype == torch.float32 and (mg.tensor([1, 2]) * 0.5).dtype == np.float32


def test_float64_batch_into_float32_layer_fails_at_the_forward_naming_both():
    with pytest.raises(TypeError, match="float64.*float32"):
        mg.nn.Linear(3, 2)(mg.tensor(np.ones((4, 3))))
    with pytest.raises(TypeError, match="float32.*float64"):
        mg.nn.Conv2d(1, 1, 3)(mg.tensor(np.ones((1, 1, 5, 5))))


def test_a_parameter_the_graph_reaches_gets_a_zero_gradient():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    (w * 0).sum().backward()
    assert w.grad.tolist() == [0.0, 0.0]
    b = mg.tensor([1.0], requires_grad=True)
    mg.where(mg.tensor([False, False]), b, mg.zeros(2)).sum().backward()
    assert b.grad.tolist() == [0.0]


def test_integer_division_and_rounding_follow_pytorch():
    i = mg.tensor(np.arange(12).reshape(3, 4) - 5)
    ref = np.arange(12).reshape(3, 4) - 5
    assert (i / 2).dtype == np.float32 and np.array_equal((i / 2).numpy(), ref / 2)
    assert (mg.tensor([3]) / mg.tensor([2])).dtype == np.float32  # default dtype, not float64
    assert np.array_equal((i // 3).numpy(), ref // 3) and (i // 3).dtype == np.int64
    assert np.array_equal((i % 3).numpy(), ref % 3) and (7 % mg.tensor([3, -4])).tolist() == [1, -1]
    assert i.div(3, rounding_mode="trunc").tolist() == np.trunc(ref / 3).astype(int).tolist()
    assert mg.fmod(i, 3).tolist() == np.fmod(ref, 3).tolist()
    x = mg.tensor(X)
    assert np.array_equal(x.div(0.3, rounding_mode="floor").numpy(), np.floor(X / 0.3))
    assert np.array_equal((x % 0.5).numpy(), np.remainder(X, 0.5))
    with pytest.raises(ValueError, match="rounding_mode"):
        x.div(2, rounding_mode="up")
    assert x.sum(dtype=mg.float32).numpy() == X.astype(np.float32).sum()  # cast, then sum


def test_bool_reductions_selection_and_methods():
    x = mg.tensor(X)
    pos = x > 0
    assert pos.all().item() == (X > 0).all() and pos.any(dim=1).tolist() == (X > 0).any(1).tolist()
    assert mg.all(pos, 0, keepdim=True).shape == (1, 4)
    assert x.count_nonzero().item() == 12 and mg.count_nonzero(pos, 1).tolist() == (
        (X > 0).sum(1).tolist())
    assert mg.logical_and(pos, x < 1).tolist() == ((X > 0) & (X < 1)).tolist()
    assert mg.logical_not(pos).tolist() == (~(X > 0)).tolist()
    assert mg.logical_xor(pos, x < 1).tolist() == ((X > 0) ^ (X < 1)).tolist()
    assert mg.isclose(x, x + 1e-12).all().item() and not mg.isclose(x, x + 1).any().item()
    assert x.nonzero().tolist() == np.argwhere(X).tolist()
    assert mg.where(pos, 1.0, 0.0).dtype == np.float32 and mg.where(pos, 1, 0).dtype == np.int64
    rows, cols = mg.where(pos)
    assert (rows.tolist(), cols.tolist()) == tuple(a.tolist() for a in np.nonzero(X > 0))
    assert x.argsort(1, descending=True).tolist() == np.argsort(-X, 1, kind="stable").tolist()
    assert x.softmax(dim=-1).shape == (3, 4) and x.log_softmax(dim=0).shape == (3, 4)
    assert np.allclose(x.softmax(dim=1, dtype=mg.float32).numpy().sum(1), 1, rtol=1e-6)
    s, m = mg.std_mean(x, 1)
    assert np.allclose(s.numpy(), X.std(1, ddof=1)) and np.allclose(m.numpy(), X.mean(1))
    v, m = mg.var_mean(x, dim=0, unbiased=False, keepdim=True)
    assert v.shape == (1, 4) and np.allclose(v.numpy(), X.var(0, keepdims=True))
    assert np.array_equal(x.mT.numpy(), X.T) and x.data_ptr() == x.data.data_ptr()
    y = mg.tensor(X.copy())
    y.lerp_(mg.zeros(3, 4, dtype=mg.float64), 0.5)
    assert np.allclose(y.numpy(), X / 2, rtol=1e-15)


def test_extra_math_against_torch():
    torch = pytest.importorskip("torch", reason="compares with PyTorch")
    xt, xm = torch.tensor(X), mg.tensor(X)
    pairs = [
        (xt.sign(), xm.sign()), (xt.floor(), xm.floor()), (xt.round(), xm.round()),
        (torch.tensor([0.5, 1.5, 2.5, -0.5]).round(), mg.tensor([0.5, 1.5, 2.5, -0.5]).round()),
        (xt.frac(), xm.frac()), (xt.remainder(0.7), xm.remainder(0.7)), (xt.fmod(0.7),
                                                                         xm.fmod(0.7)),
        (xt // 0.3, xm // 0.3), (torch.log1p(xt.abs()), mg.log1p(xm.abs())),
        (xt.expm1(), xm.expm1()), (xt.sin(), xm.sin()), (xt.cos(), xm.cos()),
        (xt.abs().rsqrt(), xm.abs().rsqrt()), (xt.reciprocal(), xm.reciprocal()),
        (xt.lerp(xt.flip(0), 0.25), xm.lerp(xm.flip(0), 0.25)),
        (xt.addcdiv(xt, xt.abs() + 1, value=0.5), xm.addcdiv(xm, xm.abs() + 1, value=0.5)),
        (xt.sort(1, descending=True).values, xm.sort(1, descending=True).values),
        (xt.topk(2, 1).indices, xm.topk(2, 1).indices), (xt.median(0).values, xm.median(0).values),
        (xt.median(0).indices, xm.median(0).indices), (xt.median(), xm.median()),
        (torch.roll(xt, 2), mg.roll(xm, 2)), (xt.triu(-1), xm.triu(-1)),
        (torch.diag(xt[0], 2), mg.diag(xm[0], 2)), (torch.diag(xt, -1), mg.diag(xm, -1)),
        (torch.einsum("ij,kj->ik", xt, xt), mg.einsum("ij,kj->ik", xm, xm)),
        (torch.outer(xt[0], xt[1]), mg.outer(xm[0], xm[1])), (xt[:, :3].trace(), xm[:, :3].trace()),
        (torch.nn.functional.cosine_similarity(xt, xt.flip(0)),
         mg.nn.functional.cosine_similarity(xm, xm.flip(0))),
        (torch.nn.functional.pairwise_distance(xt, xt.flip(0)),
         mg.nn.functional.pairwise_distance(xm, xm.flip(0))),
    ]
    for k, (t, m) in enumerate(pairs):
        assert str(m.dtype) == str(t.dtype).replace("torch.", ""), k
        np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-13, atol=1e-15, err_msg=str(k))


def test_mixed_dtypes_are_refused_at_the_forward_not_in_backward():
    # PyTorch refuses these at the forward; a backward-time internal error would be worse.
    x32 = mg.rand(4, 1, requires_grad=True)
    with pytest.raises(TypeError, match="target dtype float64 differs from input dtype float32"):
        mg.nn.BCELoss()(x32 * 0.5 + 0.25, mg.ones(4, 1, dtype=mg.float64))
    with pytest.raises(TypeError, match="bias dtype float32 differs from weight dtype float64"):
        mg.nn.functional.linear(mg.ones(2, 3, dtype=mg.float64), mg.ones(4, 3, dtype=mg.float64),
                                mg.ones(4))
    with pytest.raises(TypeError, match="einsum"):
        mg.einsum("ij,jk->ik", mg.ones(2, 2), mg.ones(2, 2, dtype=mg.float64))
    # Where PyTorch promotes (MSE, L1, BCE with logits), the gradient keeps the input's dtype.
    for loss in (mg.nn.MSELoss(), mg.nn.L1Loss(), mg.nn.BCEWithLogitsLoss()):
        x32.grad = None
        loss(x32, mg.ones(4, 1, dtype=mg.float64)).backward()
        assert x32.grad.dtype == np.float32


def test_legacy_new_gives_sizes_or_data_of_the_tensors_dtype():
    x = mg.ones(2, dtype=mg.float64)
    assert x.new(2, 3).shape == (2, 3) and x.new((4,)).dtype == np.float64
    assert x.new([1, 2]).tolist() == [1.0, 2.0] and x.new([1, 2]).dtype == np.float64
    assert x.new().shape == (0,)
