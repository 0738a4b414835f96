"""Module mechanics: registration and naming, traversal, modes, state_dict round trips and
load_state_dict errors, hooks, device/dtype moves, repr, parameter counts."""

import copy

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn
from minigan.diagnostics.gradcheck import assert_close


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(mg.ones(4))
        self.register_buffer("steps", mg.zeros(()))
        self.register_buffer("scratch", mg.zeros(2), persistent=False)

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, bias=False))

    def forward(self, x):
        return self.head(self.block(x))


def test_named_parameters_use_dotted_pytorch_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "block.scale", "block.fc.weight", "block.fc.bias", "block.bn.weight", "block.bn.bias",
        "head.1.weight"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == [
        "block.steps", "block.scratch", "block.bn.running_mean", "block.bn.running_var",
        "block.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [n for n, _ in net.named_modules()] == [
        "", "block", "block.fc", "block.bn", "head", "head.0", "head.1"]
    assert net.head[1].bias is None


def test_state_dict_holds_parameters_and_persistent_buffers_as_detached_views():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["block.scale", "block.steps", "block.fc.weight", "block.fc.bias",
                        "block.bn.weight", "block.bn.bias", "block.bn.running_mean",
                        "block.bn.running_var", "block.bn.num_batches_tracked", "head.1.weight"]
    assert "block.scratch" not in sd  # non-persistent
    w = sd["block.fc.weight"]
    # As PyTorch: a tensor without grad sharing the parameter's storage (not a Parameter).
    assert type(w) is mg.Tensor and not w.requires_grad and w.is_leaf
    w.fill_(123.0)
    assert np.all(net.block.fc.weight.numpy() == 123.0)
    snapshot = {k: v.clone() for k, v in net.state_dict().items()}
    with mg.no_grad():
        net.block.fc.weight.fill_(1.0)
    assert np.all(snapshot["block.fc.weight"].numpy() == 123.0)
    # keep_vars: the Parameters themselves; prefix and destination as PyTorch's.
    assert net.state_dict(keep_vars=True)["block.fc.weight"] is net.block.fc.weight
    dest = {"x": 1}
    assert net.state_dict(destination=dest, prefix="G.") is dest
    assert list(dest)[:3] == ["x", "G.block.scale", "G.block.steps"]


def test_state_dict_round_trip_restores_outputs_and_bn_buffers():
    mg.manual_seed(1)
    a = Net()
    x = mg.randn(8, 3)
    for _ in range(3):  # move the running statistics away from their initial values
        a(x * 2 + 1)
    mg.manual_seed(2)
    b = Net()
    assert not np.allclose(a.block.fc.weight.numpy(), b.block.fc.weight.numpy())
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (na, ta), (nb, tb) in zip(a._state_items(), b._state_items()):
        assert na == nb
        np.testing.assert_array_equal(ta.numpy(), tb.numpy())
    assert b.block.bn.num_batches_tracked.item() == 3
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_state_dict_names_missing_unexpected_and_misshaped_keys():
    net = Net()
    sd = net.state_dict()
    del sd["block.fc.bias"]
    sd["block.extra"] = np.zeros(3)
    sd["head.1.weight"] = np.zeros((3, 4), np.float32)
    before = net.block.fc.weight.numpy().copy()
    sd["block.fc.weight"] = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    assert "missing keys: block.fc.bias" in msg
    assert "unexpected keys: block.extra" in msg
    assert "head.1.weight: checkpoint (3, 4), model (2, 4)" in msg
    # nothing was loaded: the error is raised before any copy
    np.testing.assert_array_equal(net.block.fc.weight.numpy(), before)


def test_load_state_dict_non_strict_reports_but_still_rejects_bad_shapes():
    net = Net()
    sd = net.state_dict()
    del sd["block.scale"]
    sd["junk"] = np.ones(1)
    sd["block.fc.bias"] = np.full(4, 7.0)  # float64 into a float32 parameter: cast, like copy_
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["block.scale"] and res.unexpected_keys == ["junk"]
    assert net.block.fc.bias.dtype == np.float32
    np.testing.assert_array_equal(net.block.fc.bias.numpy(), np.full(4, 7.0, np.float32))
    sd["block.fc.bias"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"block\.fc\.bias: checkpoint \(5,\), model \(4,\)"):
        net.load_state_dict(sd, strict=False)


def test_train_eval_propagates_to_all_submodules():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad():
    net = Net()
    net(mg.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    out = net(mg.randn(5, 3))
    assert not out.requires_grad


def test_assignment_rules():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = mg.ones(3, 2)  # a plain tensor cannot silently replace a parameter
    with pytest.raises(TypeError, match="buffer"):
        bn = nn.BatchNorm1d(2)
        bn.running_mean = np.zeros(2)
    m.extra = nn.ReLU()
    assert [n for n, _ in m.named_children()] == ["extra"]
    del m.extra
    assert list(m.children()) == []
    with pytest.raises(KeyError):
        m.plain = 3
        m.register_buffer("plain", mg.zeros(1))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = m.nope


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert seq.num_parameters() == 12
    assert list(seq.state_dict()) == ["0.weight", "0.bias"]


def test_sequential_indexing_len_iteration_and_slicing():
    layers = [nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:]
    with pytest.raises(IndexError):
        seq[3]
    x = mg.randn(4, 2)
    ref = layers[2](layers[1](layers[0](x)))
    np.testing.assert_array_equal(seq(x).numpy(), ref.numpy())
    with pytest.raises(TypeError, match=r"modules\[1\]"):
        nn.Sequential(nn.ReLU(), "relu")


def test_apply_visits_children_before_parent():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "BatchNorm1d", "Block", "ReLU", "Linear", "Sequential", "Net"]


def test_forward_hooks_run_and_can_be_removed():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape))
    out = m(mg.ones(1, 2))
    np.testing.assert_array_equal(out.numpy(), m.bias.numpy()[None])  # input zeroed by the hook
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    x = mg.ones(1, 2)
    assert_close(m(x), x.numpy() @ m.weight.numpy().T + m.bias.numpy())
    assert calls == [(1, 2)]


def test_to_dtype_keeps_parameter_identity():
    net = Net()
    params = list(net.parameters())
    net.to(np.float64)
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.block.bn.running_var.dtype == np.float64
    assert net.block.bn.num_batches_tracked.dtype == np.int64  # integers are not cast
    assert net(mg.randn(3, 3, dtype=np.float64)).dtype == np.float64
    with pytest.raises(ValueError, match="device"):
        net.to("tpu")


def test_repr_matches_pytorch_layout():
    seq = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Sequential(nn.Tanh()))
    assert repr(seq) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): LeakyReLU(negative_slope=0.2)\n"
        "  (2): Sequential(\n"
        "    (0): Tanh()\n"
        "  )\n"
        ")")


def test_dcgan_generator_parameter_count():
    g = nn.Sequential(
        nn.Linear(100, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    linear = 100 * 6272 + 6272          # weight + bias
    bn1 = 2 * 6272                      # gamma + beta
    deconv1 = 128 * 64 * 4 * 4 + 64     # weight (in, out, kh, kw) + bias (out)
    bn2 = 2 * 64
    deconv2 = 64 * 1 * 4 * 4 + 1
    assert g.num_parameters() == linear + bn1 + deconv1 + bn2 + deconv2 == 778305
    assert g[4].weight.shape == (128, 64, 4, 4)
    assert g(mg.randn(2, 100)).shape == (2, 1, 28, 28)


def test_deepcopy_gives_an_independent_model():
    # e.g. an EMA copy of a generator
    net = Net()
    twin = copy.deepcopy(net)
    x = mg.randn(4, 3)
    net.eval()
    twin.eval()
    np.testing.assert_array_equal(net(x).numpy(), twin(x).numpy())
    with mg.no_grad():
        twin.block.fc.weight.mul_(2.0)
    assert not np.allclose(net(x).numpy(), twin(x).numpy())


def test_parameter_wraps_data_and_rejects_integers():
    p = nn.Parameter(np.arange(3.0))
    assert p.requires_grad and p.is_leaf and p.dtype == np.float64
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.arange(3))


def test_checkpoint_of_a_tensor_state_dict_is_byte_identical_to_arrays(tmp_path):
    # state_dict() now gives tensors; a checkpoint of it holds exactly the bytes the array
    # state_dicts of earlier versions wrote, so old and new checkpoints load alike.
    from minigan.gan import checkpoint

    net = Net()
    checkpoint.save(tmp_path / "t.npz", {"G": net.state_dict()})
    checkpoint.save(tmp_path / "a.npz", {"G": {k: v.numpy().copy()
                                               for k, v in net.state_dict().items()}})
    assert (tmp_path / "t.npz").read_bytes() == (tmp_path / "a.npz").read_bytes()
    back = Net()
    back.load_state_dict(checkpoint.load(tmp_path / "a.npz")["G"])
    for k, v in back.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), net.state_dict()[k].numpy())


def test_module_to_takes_pytorch_forms_and_device_shortcuts():
    m = nn.Linear(2, 2)
    w = m.weight
    assert m.to("cpu", mg.float64).weight.dtype == np.float64
    assert m.to(dtype=mg.float32).weight.dtype == np.float32
    assert m.to(mg.ones(1, dtype=mg.float64)).weight.dtype == np.float64  # a tensor's dtype
    assert m.to(mg.device("cpu")).cpu().half().weight.dtype == np.float16
    assert m.type(mg.float32).weight.dtype == np.float32 and m.weight is w
    with pytest.raises(TypeError, match="dtype: expected a floating dtype"):
        m.to(mg.long)
    with pytest.raises(ValueError, match="device"):
        m.to("tpu")
