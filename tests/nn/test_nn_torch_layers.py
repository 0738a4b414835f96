"""The PyTorch-compatibility layers and losses against PyTorch itself (float64, same weights,
same inputs): outputs, input and parameter gradients, state_dict keys. Skipped where torch is
not importable."""

import warnings

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn
import minigan.nn.functional as F

torch = pytest.importorskip("torch", reason="PyTorch is not installed: nothing to compare with")

RTOL, ATOL = 1e-12, 1e-13

# torch warns that kl_div's 'mean' is not the KL divergence; the same definition is tested here.
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")


def _pair(mg_mod, th_mod):
    """Copy the minigan module's parameters and buffers into the torch module (float64)."""
    th_mod.double()
    # minigan's state_dict holds array copies (PyTorch's holds tensors): np.array takes both
    sd = {k: torch.from_numpy(np.array(getattr(v, "array", v)))
          for k, v in mg_mod.state_dict().items()}
    assert list(sd) == list(th_mod.state_dict()), "state_dict keys differ from PyTorch's"
    th_mod.load_state_dict(sd)


def _compare(mg_mod, th_mod, *shapes, seed=0, ints=None, grad_params=True):
    _pair(mg_mod, th_mod)
    r = np.random.default_rng(seed)
    xs = [r.standard_normal(s) for s in shapes]
    a = [mg.tensor(x, requires_grad=True) for x in xs]
    b = [torch.tensor(x, requires_grad=True) for x in xs]
    ya, yb = mg_mod(*a), th_mod(*b)
    np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=RTOL, atol=ATOL)
    w = r.standard_normal(ya.shape)
    (ya * mg.tensor(w)).sum().backward()
    (yb * torch.tensor(w)).sum().backward()
    for ta, tb in zip(a, b):
        np.testing.assert_allclose(ta.grad.numpy(), tb.grad.numpy(), rtol=1e-11, atol=1e-12)
    if grad_params:
        pa, pb = dict(mg_mod.named_parameters()), dict(th_mod.named_parameters())
        assert list(pa) == list(pb)
        for k in pa:
            np.testing.assert_allclose(pa[k].grad.numpy(), pb[k].grad.numpy(), rtol=1e-11,
                                       atol=1e-12, err_msg=k)
    return mg_mod, th_mod


LAYERS = [
    ("InstanceNorm2d", lambda: nn.InstanceNorm2d(3), lambda: torch.nn.InstanceNorm2d(3),
     [(2, 3, 4, 5)]),
    ("InstanceNorm2d_affine", lambda: nn.InstanceNorm2d(3, affine=True),
     lambda: torch.nn.InstanceNorm2d(3, affine=True), [(2, 3, 4, 5)]),
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), lambda: torch.nn.GroupNorm(2, 4), [(3, 4, 3, 3)]),
    ("LayerNorm", lambda: nn.LayerNorm([4, 5]), lambda: torch.nn.LayerNorm([4, 5]),
     [(2, 3, 4, 5)]),
    ("PReLU", lambda: nn.PReLU(), lambda: torch.nn.PReLU(), [(2, 3, 4)]),
    ("Mish", lambda: nn.Mish(), lambda: torch.nn.Mish(), [(2, 3, 4)]),
    ("GELU", lambda: nn.GELU(), lambda: torch.nn.GELU(), [(2, 3, 4)]),
    ("GELU_tanh", lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh"), [(2, 3, 4)]),
    ("UpsamplingNearest2d", lambda: nn.UpsamplingNearest2d(scale_factor=2),
     lambda: torch.nn.UpsamplingNearest2d(scale_factor=2), [(2, 3, 4, 5)]),
    ("UpsamplingBilinear2d", lambda: nn.UpsamplingBilinear2d(size=(7, 9)),
     lambda: torch.nn.UpsamplingBilinear2d(size=(7, 9)), [(2, 3, 4, 5)]),
    ("DataParallel", lambda: nn.DataParallel(nn.Linear(3, 2, dtype=np.float64)),
     lambda: torch.nn.DataParallel(torch.nn.Linear(3, 2)), [(4, 3)]),
    ("Hardswish", lambda: nn.Hardswish(), lambda: torch.nn.Hardswish(), [(2, 3, 4)]),
    ("CELU", lambda: nn.CELU(0.5), lambda: torch.nn.CELU(0.5), [(2, 3, 4)]),
    ("Threshold", lambda: nn.Threshold(0.2, -1.0), lambda: torch.nn.Threshold(0.2, -1.0),
     [(2, 3, 4)]),
    ("PReLU_channels", lambda: nn.PReLU(3, 0.1), lambda: torch.nn.PReLU(3, 0.1), [(2, 3, 4, 4)]),
    ("ELU", lambda: nn.ELU(0.7, inplace=True), lambda: torch.nn.ELU(0.7), [(3, 4)]),
    ("Softplus", lambda: nn.Softplus(2.0, 1.0), lambda: torch.nn.Softplus(2.0, 1.0), [(4, 5)]),
    ("Hardtanh", lambda: nn.Hardtanh(-0.5, 0.5), lambda: torch.nn.Hardtanh(-0.5, 0.5), [(4, 5)]),
    ("Softmax", lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1), [(3, 4, 2)]),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=-1), lambda: torch.nn.LogSoftmax(dim=-1), [(3, 4)]),
    ("ReLU_inplace", lambda: nn.ReLU(True), lambda: torch.nn.ReLU(), [(3, 4)]),
    ("LeakyReLU_inplace", lambda: nn.LeakyReLU(0.2, inplace=True),
     lambda: torch.nn.LeakyReLU(0.2), [(3, 4)]),
    ("SiLU", lambda: nn.SiLU(), lambda: torch.nn.SiLU(), [(3, 4)]),
    ("SELU", lambda: nn.SELU(), lambda: torch.nn.SELU(), [(3, 4)]),
    ("Upsample_nearest", lambda: nn.Upsample(scale_factor=2),
     lambda: torch.nn.Upsample(scale_factor=2), [(2, 2, 3, 4)]),
    ("Upsample_nearest_size", lambda: nn.Upsample(size=(5, 7)),
     lambda: torch.nn.Upsample(size=(5, 7)), [(2, 2, 3, 4)]),
    ("Upsample_bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
     lambda: torch.nn.Upsample(scale_factor=2, mode="bilinear"), [(2, 2, 3, 4)]),
    ("Upsample_bilinear_ac", lambda: nn.Upsample(size=(7, 5), mode="bilinear",
                                                 align_corners=True),
     lambda: torch.nn.Upsample(size=(7, 5), mode="bilinear", align_corners=True),
     [(1, 2, 3, 4)]),
    ("Upsample_bilinear_down", lambda: nn.Upsample(scale_factor=0.5, mode="bilinear"),
     lambda: torch.nn.Upsample(scale_factor=0.5, mode="bilinear"), [(1, 2, 6, 5)]),
    ("PixelShuffle", lambda: nn.PixelShuffle(2), lambda: torch.nn.PixelShuffle(2),
     [(2, 8, 3, 2)]),
    ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), lambda: torch.nn.PixelUnshuffle(2),
     [(2, 2, 4, 6)]),
    ("ReflectionPad2d", lambda: nn.ReflectionPad2d((1, 2, 2, 1)),
     lambda: torch.nn.ReflectionPad2d((1, 2, 2, 1)), [(2, 2, 4, 4)]),
    ("ReplicationPad2d", lambda: nn.ReplicationPad2d(2), lambda: torch.nn.ReplicationPad2d(2),
     [(2, 2, 3, 4)]),
    ("ZeroPad2d", lambda: nn.ZeroPad2d((1, 0, 2, 1)), lambda: torch.nn.ZeroPad2d((1, 0, 2, 1)),
     [(2, 2, 3, 4)]),
    ("ConstantPad2d", lambda: nn.ConstantPad2d(1, 0.5), lambda: torch.nn.ConstantPad2d(1, 0.5),
     [(2, 2, 3, 4)]),
    ("MaxPool2d", lambda: nn.MaxPool2d(3, 2, 1), lambda: torch.nn.MaxPool2d(3, 2, 1),
     [(2, 3, 7, 6)]),
    ("MaxPool2d_ceil", lambda: nn.MaxPool2d(2, ceil_mode=True),
     lambda: torch.nn.MaxPool2d(2, ceil_mode=True), [(2, 3, 5, 5)]),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, 2, 1), lambda: torch.nn.AvgPool2d(3, 2, 1),
     [(2, 3, 7, 6)]),
    ("AdaptiveAvgPool2d_1", lambda: nn.AdaptiveAvgPool2d(1),
     lambda: torch.nn.AdaptiveAvgPool2d(1), [(2, 3, 5, 6)]),
    ("AdaptiveAvgPool2d_uneven", lambda: nn.AdaptiveAvgPool2d((3, 4)),
     lambda: torch.nn.AdaptiveAvgPool2d((3, 4)), [(2, 3, 5, 6)]),
    ("Identity", lambda: nn.Identity(), lambda: torch.nn.Identity(), [(2, 3)]),
]


@pytest.mark.parametrize("name,make_mg,make_th,shapes", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(name, make_mg, make_th, shapes):
    mg.manual_seed(0)
    _compare(make_mg().double(), make_th(), *shapes)


def test_max_pool_indices_match_torch():
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 5))
    ya, ia = nn.MaxPool2d(2, 2, 1, return_indices=True)(mg.tensor(x))
    yb, ib = torch.nn.MaxPool2d(2, 2, 1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(ia.numpy(), ib.numpy())
    np.testing.assert_allclose(ya.numpy(), yb.numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_instance_norm_running_stats_match_torch(momentum):
    a = nn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True).double()
    b = torch.nn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True)
    _pair(a, b)
    r = np.random.default_rng(2)
    for _ in range(3):
        x = r.standard_normal((4, 3, 3, 5)) * 2 + 1
        a(mg.tensor(x)), b(torch.tensor(x))
    for k, v in b.state_dict().items():
        np.testing.assert_allclose(np.array(getattr(a.state_dict()[k], "array",
                                                    a.state_dict()[k])), v.numpy(),
                                   rtol=1e-13, err_msg=k)
    a.eval(), b.eval()
    x = r.standard_normal((2, 3, 3, 5))
    np.testing.assert_allclose(a(mg.tensor(x)).numpy(), b(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-13)


def test_dropout2d_zeroes_whole_channels():
    mg.manual_seed(3)
    y = nn.Dropout2d(0.5)(mg.ones(8, 16, 3, 3, dtype=np.float64)).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert set(np.unique(per_channel)) == {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()
    d = nn.Dropout2d(0.5, inplace=True)
    d.eval()
    assert d(mg.ones(2, 3, 2, 2)).numpy().min() == 1.0


def test_embedding_padding_idx_and_max_norm_match_torch():
    a = nn.Embedding(5, 3, padding_idx=1, max_norm=1.0).double()
    b = torch.nn.Embedding(5, 3, padding_idx=1, max_norm=1.0).double()
    assert a.weight.numpy()[1].tolist() == [0.0, 0.0, 0.0]
    _pair(a, b)
    idx = np.array([[0, 1, 4], [1, 2, 0]])
    ya, yb = a(mg.tensor(idx)), b(torch.tensor(idx))
    np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-12)
    w = np.random.default_rng(4).standard_normal(ya.shape)
    (ya * mg.tensor(w)).sum().backward()
    (yb * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.weight.grad.numpy(), b.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.weight.numpy(), b.weight.detach().numpy(), rtol=1e-12)


def _loss_inputs(kind, r):
    if kind == "prob":
        return r.uniform(0.02, 0.98, (4, 3)), r.uniform(0, 1, (4, 3))
    if kind == "class":
        return r.standard_normal((6, 4)), r.integers(0, 4, 6)
    if kind == "class2d":
        return r.standard_normal((2, 3, 2, 2)), r.integers(0, 3, (2, 2, 2))
    if kind == "logprob":
        x = r.standard_normal((3, 4))
        return x - np.log(np.exp(x).sum(1, keepdims=True)), r.dirichlet(np.ones(4), 3)
    return r.standard_normal((4, 3)), r.standard_normal((4, 3))


W3 = np.array([0.5, 2.0, 1.5])
W4 = np.array([0.5, 2.0, 1.5, 1.0])
LOSSES = [
    ("BCELoss", "prob", lambda m, w3, w4, **k: m.BCELoss(**k), {}),
    ("BCELoss_weight", "prob", lambda m, w3, w4, **k: m.BCELoss(weight=w3, **k), {}),
    ("BCEWithLogitsLoss", "real", lambda m, w3, w4, **k: m.BCEWithLogitsLoss(**k), {}),
    ("BCEWithLogitsLoss_pos_weight", "real",
     lambda m, w3, w4, **k: m.BCEWithLogitsLoss(pos_weight=w3, **k), {}),
    ("MSELoss", "real", lambda m, w3, w4, **k: m.MSELoss(**k), {}),
    ("L1Loss", "real", lambda m, w3, w4, **k: m.L1Loss(**k), {}),
    ("SmoothL1Loss", "real", lambda m, w3, w4, **k: m.SmoothL1Loss(beta=0.7, **k), {}),
    ("CrossEntropyLoss", "class", lambda m, w3, w4, **k: m.CrossEntropyLoss(**k), {}),
    ("CrossEntropyLoss_all", "class",
     lambda m, w3, w4, **k: m.CrossEntropyLoss(weight=w4, ignore_index=2, label_smoothing=0.1,
                                               **k), {}),
    ("CrossEntropyLoss_2d", "class2d",
     lambda m, w3, w4, **k: m.CrossEntropyLoss(weight=w3, label_smoothing=0.3, **k), {}),
    ("NLLLoss", "class", lambda m, w3, w4, **k: m.NLLLoss(weight=w4, ignore_index=1, **k), {}),
    ("KLDivLoss", "logprob", lambda m, w3, w4, **k: m.KLDivLoss(**k), {}),
    ("KLDivLoss_log_target", "real", lambda m, w3, w4, **k: m.KLDivLoss(log_target=True, **k), {}),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,kind,make,_", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_matches_torch(name, kind, make, _, reduction):
    r = np.random.default_rng(5)
    x, t = _loss_inputs(kind, r)
    if kind == "class":
        t[1] = 2  # an ignore_index entry where one is set
    kw = dict(reduction=reduction)
    la = make(nn, w3=mg.tensor(W3), w4=mg.tensor(W4), **kw)
    lb = make(torch.nn, w3=torch.tensor(W3), w4=torch.tensor(W4), **kw)
    xa, xb = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ta = mg.tensor(t, requires_grad=t.dtype.kind == "f")
    tb = torch.tensor(t, requires_grad=t.dtype.kind == "f")
    ya, yb = la(xa, ta), lb(xb, tb)
    np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = r.standard_normal(ya.shape)
    (ya * mg.tensor(g)).sum().backward()
    (yb * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-11, atol=1e-13)
    if t.dtype.kind == "f" and kind != "logprob":
        np.testing.assert_allclose(ta.grad.numpy(), tb.grad.numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("fn,args", [
    ("binary_cross_entropy", ()), ("binary_cross_entropy_with_logits", ()), ("mse_loss", ()),
    ("l1_loss", ()), ("smooth_l1_loss", ()), ("kl_div", ()),
])
def test_functional_loss_forms_match_torch(fn, args):
    r = np.random.default_rng(6)
    x, t = r.uniform(0.05, 0.95, (3, 4)), r.uniform(0.05, 0.95, (3, 4))
    a = getattr(F, fn)(mg.tensor(x), mg.tensor(t), *args)
    b = getattr(torch.nn.functional, fn)(torch.tensor(x), torch.tensor(t), *args)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-13)


def test_bce_clamps_the_log_at_minus_100_like_torch():
    x = np.array([0.0, 1.0, 0.5, 1e-50])
    t = np.array([1.0, 0.0, 1.0, 1.0])
    xa, xb = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya = F.binary_cross_entropy(xa, mg.tensor(t), reduction="none")
    yb = torch.nn.functional.binary_cross_entropy(xb, torch.tensor(t), reduction="none")
    np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-14)
    assert ya.numpy()[0] == 100.0
    ya.sum().backward()
    yb.sum().backward()
    # PyTorch's gradient (x - t) / max(x (1 - x), eps): -1/eps at a saturated x = 0, t = 1,
    # eps the float literal 1e-12 rounded to float32
    np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-14)
    assert xa.grad.numpy()[0] == -1 / float(np.float32(1e-12))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
def test_functional_pad_modes_match_torch(mode):
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 5))
    a = F.pad(mg.tensor(x), (2, 1, 0, 3), mode=mode)
    b = torch.nn.functional.pad(torch.tensor(x), (2, 1, 0, 3), mode=mode)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_containers_register_like_torch():
    a = nn.ModuleDict({"g": nn.ModuleList([nn.Linear(2, 3), nn.Linear(3, 1)]),
                       "d": nn.Sequential(nn.Linear(1, 2))})
    b = torch.nn.ModuleDict({"g": torch.nn.ModuleList([torch.nn.Linear(2, 3),
                                                        torch.nn.Linear(3, 1)]),
                             "d": torch.nn.Sequential(torch.nn.Linear(1, 2))})
    assert list(a.state_dict()) == list(b.state_dict())
    assert len(a["g"]) == 2 and isinstance(a["g"][-1], nn.Linear)
    a["g"].append(nn.Tanh())
    assert [type(m).__name__ for m in a["g"]] == ["Linear", "Linear", "Tanh"]
    assert list(a.keys()) == ["g", "d"] and "d" in a


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="pad"):
        F.pad(mg.zeros(1, 1, 2, 2), (2, 2), mode="reflect")
    with pytest.raises(ValueError, match="mode"):
        F.interpolate(mg.zeros(1, 1, 2, 2), scale_factor=2, mode="area")
    with pytest.raises(ValueError, match="target"):
        F.nll_loss(mg.zeros(2, 3), np.array([0, 3]))


@pytest.mark.parametrize("fn,args,kwargs", [
    ("relu", (), {"inplace": True}), ("leaky_relu", (0.2,), {"inplace": True}),
    ("elu", (0.5,), {"inplace": True}), ("selu", (), {"inplace": True}),
    ("silu", (), {"inplace": True}), ("hardtanh", (-0.5, 0.7), {"inplace": True}),
    ("relu6", (), {"inplace": True}), ("softplus", (2.0, 1.5), {}),
    ("dropout", (0.3,), {"training": False, "inplace": True}),
    ("normalize", (), {"p": 3.0, "dim": 1}), ("softmax", (), {"dim": 0}),
    ("log_softmax", (), {"dim": 1}), ("adaptive_avg_pool2d", (3,), {}),
    ("avg_pool2d", (2,), {}), ("max_pool2d", (3, 1, 1), {}), ("pixel_shuffle", (2,), {}),
    ("interpolate", (), {"scale_factor": 1.5, "mode": "bilinear", "align_corners": False}),
])
def test_functional_forms_match_torch(fn, args, kwargs):
    x = np.random.default_rng(8).standard_normal((2, 4, 4, 6)) * 3
    xa, xb = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    # torch's in-place forms need a non-leaf input: an identity-valued op first
    ya = getattr(F, fn)(xa * 1.0, *args, **kwargs)
    yb = getattr(torch.nn.functional, fn)(xb * 1.0, *args, **kwargs)
    np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = np.random.default_rng(9).standard_normal(ya.shape)
    (ya * mg.tensor(g)).sum().backward()
    (yb * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-11, atol=1e-13)


def test_one_hot_matches_torch():
    idx = np.array([[2, 0], [1, 3]])
    np.testing.assert_array_equal(F.one_hot(mg.tensor(idx)).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(idx)).numpy())
    assert F.one_hot(mg.tensor(idx), 6).shape == (2, 2, 6)


@pytest.mark.parametrize("kw", [dict(padding=1, padding_mode="reflect"),
                                dict(padding=(1, 2), padding_mode="circular"),
                                dict(padding="same", dilation=2, padding_mode="replicate"),
                                dict(padding="same"), dict(padding="valid")],
                         ids=["reflect", "circular", "same-replicate", "same", "valid"])
def test_conv2d_padding_modes_and_same_match_torch(kw):
    # An even kernel: 'same' pads one more on the right/bottom, as PyTorch.
    _compare(nn.Conv2d(3, 4, 4, dtype=np.float64, **kw), torch.nn.Conv2d(3, 4, 4, **kw),
             (2, 3, 7, 6))
    x, w = (np.random.default_rng(k).standard_normal(s) for k, s in (
        (0, (2, 3, 7, 6)), (1, (4, 3, 4, 3))))
    np.testing.assert_allclose(
        F.conv2d(mg.tensor(x), mg.tensor(w), padding="same").numpy(),
        torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding="same").numpy(),
        rtol=1e-12, atol=1e-13)


def test_functional_losses_take_the_legacy_size_average_and_reduce():
    r = np.random.default_rng(7)
    x, t = r.uniform(0.05, 0.95, (3, 4)), r.uniform(0.05, 0.95, (3, 4))
    for kw in (dict(size_average=False), dict(reduce=False), dict(size_average=True)):
        for fn in ("binary_cross_entropy", "mse_loss", "l1_loss"):
            a = getattr(F, fn)(mg.tensor(x), mg.tensor(t), **kw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch warns that the pair is deprecated
                b = getattr(torch.nn.functional, fn)(torch.tensor(x), torch.tensor(t), **kw)
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-13, err_msg=f"{fn} {kw}")


def test_functional_batch_norm_defaults_to_the_running_statistics():
    r = np.random.default_rng(8)
    x, m, v = r.standard_normal((4, 3, 2)), r.standard_normal(3), r.uniform(0.5, 2, 3)
    a = F.batch_norm(mg.tensor(x), mg.tensor(m), mg.tensor(v))
    b = torch.nn.functional.batch_norm(torch.tensor(x), torch.tensor(m), torch.tensor(v))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-13)


def test_hardsigmoid_matches_torch_and_its_exact_slope():
    # Forward against torch; the gradient against the exact 1/6: torch's backward kernel uses
    # the float constant 1.0f / 6.0f even in float64 (a relative error of 3e-8).
    x = np.random.default_rng(9).uniform(-5, 5, (3, 4))
    xm = mg.tensor(x, requires_grad=True)
    y = nn.Hardsigmoid()(xm)
    np.testing.assert_allclose(y.numpy(), torch.nn.Hardsigmoid()(torch.tensor(x)).numpy(),
                               rtol=1e-15, atol=1e-16)
    y.sum().backward()
    np.testing.assert_array_equal(xm.grad.numpy(), np.where(abs(x) < 3, 1 / 6, 0.0))


def test_dropout1d_zeroes_whole_channels_and_prelu_refuses_a_dtype_mismatch():
    x = mg.ones(4, 6, 5)
    y = nn.Dropout1d(0.5)(x).numpy()
    per_channel = y.reshape(24, 5)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert all(len(set(row)) == 1 for row in per_channel.tolist())  # a channel is all or none
    assert np.array_equal(nn.Dropout1d(0.5).eval()(x).numpy(), x.numpy())
    with pytest.raises(TypeError, match="float64.*float32"):
        nn.PReLU()(mg.randn(2, 3, dtype=np.float64))


@pytest.mark.parametrize("size", [(7, 9), (8, 10)])
def test_conv_transpose2d_output_size_matches_torch(size):
    th = torch.nn.ConvTranspose2d(3, 2, 3, 2, 1).double()
    m = nn.ConvTranspose2d(3, 2, 3, 2, 1, dtype=np.float64)
    m.load_state_dict(th.state_dict())
    x = np.random.default_rng(10).standard_normal((2, 3, 4, 5))
    y = m(mg.tensor(x), output_size=size)
    assert y.shape == (2, 2) + size
    np.testing.assert_allclose(y.numpy(), th(torch.tensor(x), output_size=size).detach().numpy(),
                               rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="output_size"):
        m(mg.tensor(x), output_size=(12, 12))


def test_parameter_list_and_dict_register_like_torch():
    def build(lib):
        m = lib.nn.Module()
        m.ws = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2)) for _ in range(3)])
        m.d = lib.nn.ParameterDict({"a": lib.nn.Parameter(lib.zeros(1)),
                                    "b": lib.nn.Parameter(lib.ones(1))})
        return m

    ours, theirs = build(mg), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(ours.ws) == 3 and ours.ws[-1] is list(ours.ws)[2] and "a" in ours.d
    assert len(list(ours.parameters())) == 5
    ours.load_state_dict(theirs.state_dict())
