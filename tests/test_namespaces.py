"""The PyTorch namespaces minigan provides: autograd, utils, utils.data, nn.utils,
optim.lr_scheduler, cuda, backends.cudnn. Closed forms / NumPy, and torch where installed."""

import math

import numpy as np
import pytest

import minigan as mg
from minigan.autograd import Variable, grad
from minigan.utils import make_grid, save_image
from minigan.utils.data import DataLoader, TensorDataset, default_collate, random_split


def test_autograd_grad_full_signature_and_variable():
    x = Variable(mg.tensor([1.0, 2.0]), requires_grad=True, volatile=False)
    y = (x ** 3).sum()
    (g,) = grad(outputs=y, inputs=x, grad_outputs=mg.tensor(1.0), retain_graph=True,
                create_graph=True, only_inputs=True, allow_unused=False)
    assert np.allclose(g.numpy(), [3.0, 12.0])
    (gg,) = grad(g.sum(), x, retain_graph=True)
    assert np.allclose(gg.numpy(), [6.0, 12.0])  # d/dx 3x^2 = 6x
    unused = mg.tensor([1.0], requires_grad=True)
    assert grad(y, [x, unused], allow_unused=True, retain_graph=True)[1] is None
    assert grad(y, [x, unused], materialize_grads=True)[1].tolist() == [0.0]


def test_make_grid_layout_and_save_image(tmp_path):
    imgs = mg.tensor(np.arange(5 * 1 * 2 * 3, dtype=np.float32).reshape(5, 1, 2, 3))
    g = make_grid(imgs, nrow=3, padding=1, pad_value=-1).numpy()
    assert g.shape == (3, 2 * 3 + 1, 3 * 4 + 1)  # 1 channel repeated to 3; 2 rows x 3 cols
    assert np.array_equal(g[0, 1:3, 1:4], imgs.numpy()[0, 0])
    assert np.array_equal(g[2, 4:6, 5:8], imgs.numpy()[4, 0]) and g[0, 0, 0] == -1
    n = make_grid(imgs, normalize=True, value_range=(0, 29)).numpy()
    assert n.max() == 1 and n[n != 0].min() > 0
    save_image(imgs / 29, tmp_path / "g.png", nrow=3)
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_make_grid_matches_torchvision_when_installed():
    tv = pytest.importorskip("torchvision.utils", reason="compares with torchvision")
    import torch

    x = np.random.default_rng(0).standard_normal((5, 3, 4, 4)).astype(np.float32)
    for kw in ({}, {"normalize": True}, {"normalize": True, "scale_each": True, "nrow": 2},
               {"padding": 0, "pad_value": 0.5}):
        ref = tv.make_grid(torch.tensor(x), **kw).numpy()
        assert np.allclose(make_grid(mg.tensor(x), **kw).numpy(), ref, atol=1e-6), kw


def test_dataloader_batches_shuffles_reproducibly_and_collates():
    ds = TensorDataset(mg.arange(10), mg.arange(10) * 2)
    batches = list(DataLoader(ds, batch_size=4, drop_last=False, num_workers=2,
                              pin_memory=True))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert np.array_equal(batches[0][1].numpy(), [0, 2, 4, 6])
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    mg.manual_seed(1)
    a = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=3, shuffle=True)])
    mg.manual_seed(1)
    b = np.concatenate([b[0].numpy() for b in DataLoader(ds, batch_size=3, shuffle=True)])
    assert np.array_equal(a, b) and sorted(a) == list(range(10)) and list(a) != list(range(10))
    out = default_collate([(1.5, 2, "a"), (2.5, 3, "b")])
    assert out[0].dtype == np.float64 and out[1].dtype == np.int64 and out[2] == ["a", "b"]
    custom = DataLoader([{"x": np.ones(2)}] * 3, batch_size=2, collate_fn=lambda s: len(s))
    assert list(custom) == [2, 1]
    parts = random_split(ds, [0.7, 0.3])
    assert [len(p) for p in parts] == [7, 3]
    assert sorted(int(p[i][0].item()) for p in parts for i in range(len(p))) == list(range(10))


def test_clip_grad_norm_and_value():
    p = mg.nn.Parameter(mg.zeros(2))
    q = mg.nn.Parameter(mg.zeros(1))
    p.grad, q.grad = mg.tensor([3.0, 0.0]), mg.tensor([4.0])
    total = mg.nn.utils.clip_grad_norm_([p, q], max_norm=1.0)
    assert np.isclose(total.item(), 5.0)
    assert np.allclose(p.grad.numpy(), [3 / (5 + 1e-6), 0]) and np.isclose(
        q.grad.item(), 4 / (5 + 1e-6))
    mg.nn.utils.clip_grad_value_([p], 0.1)
    assert np.allclose(p.grad.numpy(), [0.1, 0])


@pytest.mark.parametrize("make,closed", [
    (lambda o: mg.optim.lr_scheduler.StepLR(o, 3, 0.5), lambda t: 0.5 ** (t // 3)),
    (lambda o: mg.optim.lr_scheduler.MultiStepLR(o, [2, 5], 0.1), lambda t: 0.1 ** ((t >= 2)
                                                                                    + (t >= 5))),
    (lambda o: mg.optim.lr_scheduler.ExponentialLR(o, 0.9), lambda t: 0.9 ** t),
    (lambda o: mg.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.01),
     lambda t: 0.01 + 0.99 * (1 + math.cos(math.pi * t / 10)) / 2),
    (lambda o: mg.optim.lr_scheduler.LinearLR(o, 0.25, 1.0, 4),
     lambda t: 0.25 + 0.75 * min(t, 4) / 4),
    (lambda o: mg.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1)), lambda t: 1 / (t + 1)),
])
def test_lr_schedulers_follow_their_closed_forms(make, closed):
    opt = mg.optim.SGD([mg.nn.Parameter(mg.zeros(1))], lr=1.0)
    sched = make(opt)
    for t in range(12):
        assert math.isclose(sched.get_last_lr()[0], closed(t), rel_tol=1e-12), t
        assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = mg.optim.SGD([mg.nn.Parameter(mg.zeros(1))], lr=1.0)
    sched2 = make(opt2)
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 12


def test_lr_schedulers_match_torch_bit_for_bit():
    torch = pytest.importorskip("torch", reason="compares with PyTorch")
    specs = [("CosineAnnealingLR", (7, 0.001)), ("LinearLR", (0.1, 1.0, 5)),
             ("StepLR", (2, 0.3)), ("ExponentialLR", (0.95,)), ("MultiStepLR", ([1, 4], 0.5))]
    for name, args in specs:
        ot = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        om = mg.optim.SGD([mg.nn.Parameter(mg.zeros(1))], lr=0.1)
        st, sm = getattr(torch.optim.lr_scheduler, name)(ot, *args), getattr(
            mg.optim.lr_scheduler, name)(om, *args)
        for _ in range(20):
            assert st.get_last_lr() == sm.get_last_lr(), name
            ot.step()
            om.step()
            st.step()
            sm.step()


def test_cuda_namespace_without_a_gpu_and_cudnn_flags():
    mg.backends.cudnn.benchmark = True
    mg.backends.cudnn.deterministic = True
    mg.cuda.manual_seed(0)
    mg.cuda.manual_seed_all(0)
    if mg.cuda.is_available():
        pytest.skip("the no-GPU behaviour is checked on machines without one")
    assert mg.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="CuPy|cupy|GPU"):
        mg.cuda.FloatTensor(2)
    with pytest.raises(RuntimeError, match="CuPy|cupy|GPU"):
        mg.ones(2).cuda()


def test_dataloader_calls_worker_init_fn_once_per_epoch_with_workers():
    from minigan.utils.data import DataLoader, TensorDataset

    calls = []
    ds = TensorDataset(mg.arange(6))
    loader = DataLoader(ds, batch_size=4, num_workers=2, pin_memory=True,
                        worker_init_fn=calls.append)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5]]
    list(loader)
    assert calls == [0, 0]
    list(DataLoader(ds, batch_size=4, worker_init_fn=calls.append))  # no workers: not called
    assert calls == [0, 0]


def test_nn_exports_every_layer_of_its_submodules():
    """Every Module subclass defined in a minigan.nn submodule is a top-level name of minigan.nn
    and listed (sorted) in its __all__, as PyTorch exports its layers at torch.nn."""
    import importlib
    import pkgutil

    import minigan.nn as nn

    assert nn.__all__ == sorted(nn.__all__)
    assert all(hasattr(nn, name) for name in nn.__all__)
    missing = []
    for info in pkgutil.iter_modules(nn.__path__):
        mod = importlib.import_module(f"minigan.nn.{info.name}")
        for name, obj in vars(mod).items():
            if (isinstance(obj, type) and issubclass(obj, nn.Module) and not name.startswith("_")
                    and obj.__module__ == mod.__name__ and name not in nn.__all__):
                missing.append(f"{info.name}.{name}")
    assert missing == []


def test_generator_drives_every_draw_it_is_given():
    """mg.Generator: the same seed gives the same numbers run to run, independent of the global
    stream (as torch.Generator); its state round-trips; a wrong kind or device is refused."""
    def draws(g):
        t = mg.empty(3, dtype=mg.float64)
        w = mg.empty(2, 4, dtype=mg.float64)
        return [mg.randn(4, generator=g).numpy(), mg.rand(2, generator=g).numpy(),
                mg.randint(0, 9, (5,), generator=g).numpy(), mg.randperm(6, generator=g).numpy(),
                mg.normal(0.0, 2.0, (3,), generator=g).numpy(),
                t.normal_(generator=g).numpy().copy(), t.uniform_(-1, 1, generator=g).numpy(),
                mg.nn.init.kaiming_uniform_(w, generator=g).numpy()]

    a = draws(mg.Generator().manual_seed(5))
    mg.manual_seed(0)
    mg.randn(10)  # the global stream moves; the generator's does not
    b = draws(mg.Generator().manual_seed(5))
    c = draws(mg.Generator().manual_seed(6))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    mg.manual_seed(3)
    ref = mg.randn(4).numpy()
    mg.manual_seed(3)
    draws(mg.Generator().manual_seed(5))
    assert np.array_equal(mg.randn(4).numpy(), ref)  # the global stream was not touched
    g = mg.Generator().manual_seed(1)
    assert g.initial_seed() == 1 and g.device == "cpu"
    state = g.get_state()
    first = mg.randn(3, generator=g).numpy()
    assert state.dtype == np.uint8
    assert np.array_equal(mg.randn(3, generator=g.set_state(state)).numpy(), first)
    with pytest.raises(TypeError, match="generator"):
        mg.randn(2, generator=np.random.default_rng(0))


def test_dataloader_generator_drives_the_shuffle_and_each_loop_is_an_epoch():
    ds = TensorDataset(mg.arange(10))

    def orders(seed, epochs=3):
        loader = DataLoader(ds, batch_size=4, shuffle=True,
                            generator=mg.Generator().manual_seed(seed))
        return [np.concatenate([b[0].numpy() for b in loader]).tolist() for _ in range(epochs)]

    a = orders(7)
    mg.manual_seed(123)  # the global stream does not enter a loader with its own generator
    assert orders(7) == a and orders(8) != a
    assert all(sorted(o) == list(range(10)) for o in a) and a[0] != a[1]
    # Each iter() is a whole epoch from its start, as in PyTorch: grabbing one batch twice
    # gives the first batch of two epochs, and a loop left early does not resume.
    plain = DataLoader(ds, batch_size=4)
    assert next(iter(plain))[0].tolist() == next(iter(plain))[0].tolist() == [0, 1, 2, 3]
    for _ in plain:
        break
    assert [b[0].tolist() for b in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_dataloader_state_round_trip_resumes_mid_epoch():
    ds = TensorDataset(mg.arange(11))
    gen = mg.Generator().manual_seed(3)
    loader = DataLoader(ds, batch_size=3, shuffle=True, generator=gen)
    it = iter(loader)
    head = [next(it)[0].tolist() for _ in range(2)]
    state = loader.state_dict()
    tail = [b[0].tolist() for b in it]
    assert state["position"] == 6 and sorted(sum(head + tail, [])) == list(range(11))
    resumed = DataLoader(ds, batch_size=3, shuffle=True)
    resumed.load_state_dict(state)
    assert [b[0].tolist() for b in resumed] == tail
    with pytest.raises(ValueError, match="permutation"):
        DataLoader(ds, batch_size=3, shuffle=True).load_state_dict(
            {k: v for k, v in state.items() if k != "permutation"})
    with pytest.raises(ValueError, match="batch_size=3 was saved"):
        DataLoader(ds, batch_size=2).load_state_dict(state)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(ds, generator=np.random.default_rng(0))
    # random_split takes the generator too.
    parts = [random_split(ds, [4, 7], generator=mg.Generator().manual_seed(1))[0].indices
             for _ in range(2)]
    assert parts[0] == parts[1]


def test_samplers_and_pytorch_aliases():
    from minigan.utils.data import (BatchSampler, RandomSampler, SequentialSampler,
                                    SubsetRandomSampler, WeightedRandomSampler)

    ds = TensorDataset(mg.arange(10))
    orders = [list(RandomSampler(ds, generator=mg.Generator().manual_seed(4))) for _ in range(2)]
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(10))
    assert len(list(RandomSampler(ds, num_samples=25))) == 25
    drawn = list(RandomSampler(ds, replacement=True, num_samples=50))
    assert len(drawn) == 50 and all(0 <= i < 10 for i in drawn)
    assert sorted(SubsetRandomSampler([5, 6, 7])) == [5, 6, 7]
    assert set(WeightedRandomSampler([0, 0, 1.0, 3.0], 40)) <= {2, 3}
    batches = list(BatchSampler(SequentialSampler(ds), 4, drop_last=True))
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    loader = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 3, False))
    assert [b[0].tolist() for b in loader][-1] == [9] and len(loader) == 4
    assert mg.clamp(mg.tensor([-2.0, 0.5, 2.0]), -1, 1).tolist() == [-1.0, 0.5, 1.0]
    assert mg.mm(mg.ones(2, 3), mg.ones(3, 1)).tolist() == [[3.0], [3.0]]

    @mg.inference_mode()
    def step():
        return (mg.ones(2, requires_grad=True) * 2).requires_grad

    assert step() is False


def test_pytorch_module_paths_and_device_questions():
    import importlib

    # Module paths PyTorch scripts import (the DCGAN example imports torch.nn.parallel).
    for name in ("minigan.nn.parallel", "minigan.utils.data.sampler", "minigan.backends.cudnn",
                 "minigan.backends.mps", "minigan.accelerator", "minigan.nn.utils.parametrize",
                 "minigan.nn.utils.parametrizations"):
        importlib.import_module(name)
    from minigan.utils.data.sampler import RandomSampler

    assert RandomSampler is mg.utils.data.RandomSampler
    assert mg.nn.parallel.DataParallel is mg.nn.DataParallel
    assert mg.backends.mps.is_available() is False
    assert mg.accelerator.is_available() == mg.cuda.is_available()
    if not mg.cuda.is_available():
        assert mg.accelerator.current_accelerator() is None
    state = mg.get_rng_state()
    a = mg.randn(3).numpy()
    mg.set_rng_state(state)
    assert np.array_equal(mg.randn(3).numpy(), a)


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", factor=0.5, patience=1, cooldown=2),
                                dict(threshold_mode="abs", threshold=0.05, patience=0,
                                     min_lr=0.004)])
def test_reduce_lr_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch", reason="compares with PyTorch")
    metrics = np.random.default_rng(1).uniform(0, 1, 40).cumsum() % 3.0
    p_m, p_t = mg.nn.Parameter(mg.ones(1)), torch.nn.Parameter(torch.ones(1))
    om, ot = mg.optim.SGD([p_m], lr=0.1), torch.optim.SGD([p_t], lr=0.1)
    sm = mg.optim.lr_scheduler.ReduceLROnPlateau(om, **kw)
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(ot, **kw)
    for m in metrics:
        sm.step(m)
        st.step(m)
        assert sm.get_last_lr() == st.get_last_lr()
    assert om.param_groups[0]["lr"] == ot.param_groups[0]["lr"] < 0.1
