"""Which leaves get a ``.grad`` after backward, and what it holds (issue 13 item 4): the same
script of graph shapes runs under minigan and, where installed, under PyTorch; a gradient is
None exactly where PyTorch leaves it None, and zeros where the math says zero."""

import numpy as np
import pytest

import minigan as mg


def scenarios(torch):
    """name -> (.grad of each leaf after the scenario's backward: None or an ndarray)."""
    nn = torch.nn
    torch.manual_seed(0)
    out = {}

    def leaf(*shape, lo=-1.0, hi=1.0):
        rng = np.random.default_rng(sum(shape))
        return torch.tensor(rng.uniform(lo, hi, shape), requires_grad=True)

    def fixed(m):
        rng = np.random.default_rng(7)
        with torch.no_grad():
            for prm in m.parameters():
                prm.copy_(torch.tensor(rng.uniform(-1, 1, tuple(prm.shape))))
        return m

    def grads(*ts):
        return [None if t.grad is None else t.grad.detach().numpy().copy() for t in ts]

    # A dead ReLU: weight and bias get zeros, not None.
    lin = nn.Linear(3, 2).double()
    with torch.no_grad():
        lin.weight.fill_(-1.0)
        lin.bias.fill_(-1.0)
    torch.relu(lin(torch.ones(4, 3, dtype=torch.float64))).sum().backward()
    out["dead_relu"] = grads(lin.weight, lin.bias)
    # Multiplied by zero; used through detach(); not used; used under no_grad.
    a, b, c, d = leaf(3), leaf(2), leaf(4), leaf(5)
    with torch.no_grad():
        dd = d * 2
    ((a * 0).sum() + (b.detach() * 3).sum() + dd.sum() + a.sum() * 0).backward()
    out["zero_detach_unused"] = grads(a, b, c, d)
    # One of several outputs used: the others' share is zeros.
    p = leaf(4, 3)
    first, _second = p.chunk(2, dim=0)
    first.sum().backward()
    out["chunk"] = grads(p)
    q = leaf(3, 5)
    values, indices = q.max(dim=1)
    (values * 2).sum().backward()
    out["max_dim"] = grads(q)
    # Embedding rows nobody looked up: zeros.
    emb = fixed(nn.Embedding(5, 2).double())
    emb(torch.tensor([1, 3, 1])).sum().backward()
    out["embedding"] = grads(emb.weight)
    # A GAN D step: fake.detach() leaves G without gradients; then zero_grad's defaults.
    g, dnet = fixed(nn.Linear(2, 3).double()), fixed(nn.Linear(3, 1).double())
    z = torch.ones(4, 2, dtype=torch.float64)
    dnet(g(z).detach()).mean().backward()
    out["d_step"] = grads(g.weight, g.bias, dnet.weight, dnet.bias)
    dnet.zero_grad()
    out["module_zero_grad"] = grads(dnet.weight)
    dnet(g(z)).mean().backward()
    opt = torch.optim.SGD(dnet.parameters(), lr=0.1)
    opt.zero_grad(set_to_none=False)
    out["opt_zero_grad_keep"] = grads(dnet.weight, dnet.bias)
    opt.zero_grad()
    out["opt_zero_grad"] = grads(dnet.weight) + grads(g.weight)
    # Two leaves fed one gradient: an in-place change to one .grad leaves the other alone.
    e, f = leaf(3), leaf(3)
    (e + f).sum().backward()
    e.grad.mul_(2)
    f.grad.data.clamp_(max=0.5)
    out["own_storage"] = grads(e, f)
    # Two backwards accumulate.
    h = leaf(2)
    (h * h).sum().backward()
    (3 * h).sum().backward()
    out["accumulate"] = grads(h)
    # autograd.grad: allow_unused gives None, materialize_grads zeros; no .grad is touched.
    u, w = leaf(2), leaf(3)
    gu, gw = torch.autograd.grad((u * u).sum(), [u, w], allow_unused=True)
    out["autograd_grad"] = [gu.detach().numpy(), gw, u.grad]
    return out


def _compare(ours, theirs):
    assert ours.keys() == theirs.keys()
    for name in theirs:
        for k, (o, t) in enumerate(zip(ours[name], theirs[name])):
            what = f"{name}[{k}]"
            if t is None:
                assert o is None, f"{what}: PyTorch leaves None, minigan gives {o}"
            else:
                assert o is not None, f"{what}: PyTorch gives {t}, minigan None"
                np.testing.assert_allclose(o, t, rtol=1e-15, atol=0, err_msg=what)


def test_grads_none_or_zeros_as_closed_form():
    out = scenarios(mg)
    assert all(np.all(g == 0) for g in out["dead_relu"])
    a, b, c, d = out["zero_detach_unused"]
    assert np.all(a == 0) and b is None and c is None and d is None
    np.testing.assert_array_equal(out["chunk"][0], [[1] * 3] * 2 + [[0] * 3] * 2)
    np.testing.assert_array_equal(out["embedding"][0], [[0, 0], [2, 2], [0, 0], [1, 1], [0, 0]])
    assert out["d_step"][0] is None and out["d_step"][1] is None
    assert out["module_zero_grad"] == [None] and out["opt_zero_grad"][0] is None
    assert out["opt_zero_grad"][1] is not None  # G's weight: not in the optimizer
    assert all(np.all(g == 0) for g in out["opt_zero_grad_keep"])
    np.testing.assert_array_equal(out["own_storage"][0], [2, 2, 2])
    np.testing.assert_array_equal(out["own_storage"][1], [0.5, 0.5, 0.5])
    assert out["autograd_grad"][1] is None and out["autograd_grad"][2] is None


def test_grads_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: nothing to compare")
    _compare(scenarios(mg), scenarios(torch))
