"""minigan.save / minigan.load: round trips, PyTorch files through the restricted reader, and
refusal of pickles that would run code."""

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import minigan as mg


def test_round_trip_keeps_structure_types_and_bits(tmp_path):
    w = mg.tensor(np.random.default_rng(0).standard_normal((3, 2)))
    obj = {"w": w, 3: [1, 2.5, float("inf"), None, "s", True], "t": (np.arange(4),),
           "nested": {"step": 7, "x": mg.tensor([1, 2])}}
    mg.save(obj, tmp_path / "a.pt")
    back = mg.load(tmp_path / "a.pt")
    assert back["w"].dtype == np.float64 and np.array_equal(back["w"].numpy(), w.numpy())
    assert back[3] == [1, 2.5, float("inf"), None, "s", True]
    assert isinstance(back["t"], tuple) and np.array_equal(back["t"][0], np.arange(4))
    assert back["nested"]["step"] == 7 and back["nested"]["x"].dtype == np.int64
    with zipfile.ZipFile(tmp_path / "a.pt") as z:  # documented, pickle-free layout
        assert sorted(z.namelist()) == ["0.npy", "1.npy", "2.npy", "minigan.json"]


def test_model_and_optimizer_state_round_trip(tmp_path):
    net = mg.nn.Linear(3, 2)
    opt = mg.optim.Adam(net.parameters(), lr=0.01)
    net(mg.randn(4, 3)).sum().backward()
    opt.step()
    mg.save({"model": net.state_dict(), "opt": opt.state_dict()}, tmp_path / "c.pt")
    ck = mg.load(tmp_path / "c.pt")
    net2 = mg.nn.Linear(3, 2)
    net2.load_state_dict(ck["model"])
    assert np.array_equal(net2.weight.numpy(), net.weight.numpy())
    opt2 = mg.optim.Adam(net2.parameters(), lr=0.01)
    opt2.load_state_dict(ck["opt"])


def test_unsupported_objects_are_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="cannot save an object of type object"):
        mg.save({"x": object()}, tmp_path / "x.pt")


def _hostile_zip(path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    buf = io.BytesIO()
    pickle.dump({"w": Evil()}, buf, protocol=2)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())


def test_a_pickle_that_calls_os_system_is_refused(tmp_path, monkeypatch):
    _hostile_zip(tmp_path / "evil.pt")  # pickled before os.system is replaced
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing (posix|os|nt)\.system"):
        mg.load(tmp_path / "evil.pt")
    assert calls == []


def test_not_a_zip_is_a_clear_error(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a minigan or PyTorch"):
        mg.load(tmp_path / "junk.pt")


def test_reads_pytorch_state_dicts(tmp_path):
    torch = pytest.importorskip("torch", reason="compares with files written by PyTorch")
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).double()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.randn(5, 3, dtype=torch.float64)).sum().backward()
    opt.step()
    bf = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
    torch.save({"model": m.state_dict(), "opt": opt.state_dict(), "bf": bf,
                "view": torch.arange(12.0).reshape(3, 4).t()[1:]}, tmp_path / "t.pth")
    ck = mg.load(tmp_path / "t.pth", map_location="cpu", weights_only=True)
    for k, v in m.state_dict().items():
        assert ck["model"][k].dtype == v.numpy().dtype
        assert np.array_equal(ck["model"][k].numpy(), v.numpy()), k
    st = ck["opt"]["state"][0]
    assert np.array_equal(st["exp_avg"].numpy(), opt.state_dict()["state"][0]["exp_avg"].numpy())
    assert ck["opt"]["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert np.array_equal(ck["bf"].numpy(), [1.5, -2.25])
    assert np.array_equal(ck["view"].numpy(), np.arange(12.0).reshape(3, 4).T[1:])


def test_load_state_dict_accepts_pytorch_state():
    torch = pytest.importorskip("torch", reason="compares with PyTorch")
    torch.manual_seed(0)
    tl = torch.nn.Linear(3, 2).double()
    topt = torch.optim.Adam(tl.parameters(), lr=0.01)
    for _ in range(2):
        topt.zero_grad()
        tl(torch.randn(4, 3, dtype=torch.float64)).pow(2).sum().backward()
        topt.step()
    ml = mg.nn.Linear(3, 2).double()
    ml.load_state_dict({k: mg.tensor(v.numpy()) for k, v in tl.state_dict().items()})
    mopt = mg.optim.Adam(ml.parameters(), lr=0.01)
    mopt.load_state_dict(topt.state_dict())  # int-keyed state, tensor step, extra options off
    x = np.random.default_rng(1).standard_normal((4, 3))
    topt.zero_grad()
    tl(torch.tensor(x)).pow(2).sum().backward()
    topt.step()
    mopt.zero_grad()
    (ml(mg.tensor(x)) ** 2).sum().backward()
    mopt.step()
    assert np.allclose(ml.weight.numpy(), tl.weight.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_module_load_state_dict_takes_pytorch_tensors():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    import minigan as mg

    tm = torch.nn.Linear(3, 2).double()
    m = mg.nn.Linear(3, 2).double()
    m.load_state_dict(tm.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 3))
    expected = tm(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(m(mg.tensor(x)).numpy(), expected, rtol=1e-14, atol=0)
