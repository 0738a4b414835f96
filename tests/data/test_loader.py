import itertools
import json

import numpy as np
import pytest

from minigan.data import DataLoader, infinite
from minigan.tensor import Tensor


def _data(n=23):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64) * 10
    return x, y


def _rows(batch):
    return [int(r) for r in batch[1].numpy() // 10]


def test_order_is_the_documented_permutation():
    x, y = _data()
    loader = DataLoader(x, y, batch_size=5, seed=3)
    assert len(loader) == 4
    for epoch in range(3):
        batches = list(loader)
        perm = np.random.default_rng([3, epoch]).permutation(23)
        assert len(batches) == 4 and all(b[0].shape == (5, 3) for b in batches)
        assert sum((_rows(b) for b in batches), []) == perm[:20].tolist()  # drop_last
        for xb, yb in batches:  # rows stay aligned across arrays
            assert isinstance(xb, Tensor) and xb.dtype == np.float32 and yb.dtype == np.int64
            assert np.array_equal(xb.numpy(), x[yb.numpy() // 10])
    assert loader.epoch == 3


def test_same_seed_same_batches_other_seed_other_order():
    x, y = _data()
    a = [_rows(b) for b in itertools.islice(DataLoader(x, y, batch_size=4, seed=1).forever(), 12)]
    b = [_rows(b) for b in itertools.islice(DataLoader(x, y, batch_size=4, seed=1).forever(), 12)]
    c = [_rows(b) for b in itertools.islice(DataLoader(x, y, batch_size=4, seed=2).forever(), 12)]
    assert a == b and a != c
    # Data order is the loader's own: drawing from minigan's global generator changes nothing.
    import minigan as mg

    mg.manual_seed(99)
    mg.randn(10)
    d = [_rows(b) for b in itertools.islice(DataLoader(x, y, batch_size=4, seed=1).forever(), 12)]
    assert d == a


def test_drop_last_false_and_no_shuffle():
    x, y = _data(10)
    loader = DataLoader(x, y, batch_size=4, drop_last=False, shuffle=False)
    assert len(loader) == 3
    assert [_rows(b) for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    shuffled = DataLoader(x, y, batch_size=4, drop_last=False, seed=5)
    rows = sum((_rows(b) for b in shuffled), [])
    assert sorted(rows) == list(range(10))  # every row exactly once per epoch
    single = DataLoader(x, batch_size=3, shuffle=False)
    first = next(iter(single))
    assert isinstance(first, Tensor) and np.array_equal(first.numpy(), x[:3])


def test_state_round_trip_continues_the_same_order():
    x, y = _data()
    ref = DataLoader(x, y, batch_size=5, seed=7)
    stream = ref.forever()
    head = [_rows(next(stream)) for _ in range(6)]  # crosses into epoch 1
    state = ref.state_dict()
    tail = [_rows(next(stream)) for _ in range(9)]  # the uninterrupted continuation
    assert state["epoch"] == 1 and state["position"] == 10
    # Plain data: ints and bools, and the current order as an int64 array.
    assert state["permutation"].dtype == np.int64
    plain = {k: v for k, v in state.items() if k != "permutation"}
    assert json.loads(json.dumps(plain)) == plain
    restored = DataLoader(x, y, batch_size=5, seed=7)
    restored.load_state_dict({**plain, "permutation": state["permutation"].tolist()})
    assert [_rows(b) for b in itertools.islice(restored.forever(), 9)] == tail
    again = DataLoader(x, y, batch_size=5, seed=7)
    again.load_state_dict(plain)  # the order is a function of (seed, epoch): no array needed
    assert [_rows(b) for b in list(again)] == tail[:2]  # iter: the rest of epoch 1 only
    assert head[0] != tail[0]


def test_state_saved_after_last_batch_starts_next_epoch():
    x, y = _data(10)
    loader = DataLoader(x, y, batch_size=5, seed=0)
    list(loader)
    assert loader.state_dict()["epoch"] == 1 and loader.state_dict()["position"] == 0


def test_bad_state_and_arguments():
    x, y = _data(10)
    loader = DataLoader(x, y, batch_size=5)
    st = loader.state_dict()
    with pytest.raises(ValueError, match="batch_size=5 was saved"):
        DataLoader(x, y, batch_size=2).load_state_dict(st)
    with pytest.raises(ValueError, match="not a permutation"):
        loader.load_state_dict({**st, "permutation": np.zeros(10, np.int64)})
    with pytest.raises(ValueError, match="out of range"):
        loader.load_state_dict({**st, "position": 10})
    with pytest.raises(ValueError, match="leaves no batch"):
        DataLoader(x, batch_size=11)
    with pytest.raises(ValueError, match=r"arrays\[1\]: expected first dimension 10"):
        DataLoader(x, y[:9], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(x, batch_size=0)
    with pytest.raises(ValueError, match="device"):
        DataLoader(x, batch_size=2, device="tpu")


def test_batches_are_copies_and_dtype_cast():
    x, y = _data(6)
    loader = DataLoader(x, y, batch_size=3, shuffle=False, dtype=np.float64)
    xb, yb = next(iter(loader))
    assert xb.dtype == np.float64 and yb.dtype == np.int64
    xb.array[:] = -1
    assert np.array_equal(next(iter(loader))[0].numpy(), x[3:6])
    assert np.array_equal(loader.arrays[0], x)


def test_infinite_helper():
    x, _ = _data(6)
    it = infinite(DataLoader(x, batch_size=4, seed=1))
    got = [next(it).numpy() for _ in range(5)]
    assert all(b.shape == (4, 3) for b in got)


@pytest.mark.gpu
def test_cuda_batches_match_cpu():
    x, y = _data()
    cpu = DataLoader(x, y, batch_size=5, seed=4)
    gpu = DataLoader(x, y, batch_size=5, seed=4, device="cuda")
    for (xc, yc), (xg, yg) in zip(itertools.islice(cpu.forever(), 7),
                                  itertools.islice(gpu.forever(), 7)):
        assert xg.device == "cuda" and type(xg.array).__module__.startswith("cupy")
        assert np.array_equal(xg.numpy(), xc.numpy()) and np.array_equal(yg.numpy(), yc.numpy())


def test_stacked_digits_dataset_by_name():
    import numpy as np

    from minigan.data import load
    from minigan.data.digits import load_digits

    d = load("stacked-digits", n=50, seed=1)
    assert d.images.shape == (50, 3, 28, 28) and d.images.dtype == np.float32
    assert d.labels.min() >= 0 and d.labels.max() < 1000
    # Each channel is a real digit whose class is the matching digit of the mode.
    digits = load_digits("train")
    first = d.images[0]
    for c, place in enumerate((1, 10, 100)):
        match = np.flatnonzero((digits.images[:, 0] == first[c]).all(axis=(1, 2)))
        assert len(match) and (d.labels[0] // place) % 10 in digits.labels[match]
