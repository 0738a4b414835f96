import json
import os

import numpy as np
import pytest

from minigan.gan import checkpoint


def state():
    return {"G": {"net.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3)},
            "opt": {"state": {0: {"step": 3, "exp_avg": np.ones(2)}},
                    "param_groups": [{"lr": 1e-3, "betas": [0.5, 0.999], "params": [0]}]},
            "rng": {"bit_generator": "PCG64", "state": {"state": 2**100 + 7, "inc": 5}},
            "config": {"loss": "ns", "d_sn": False, "nothing": None}, "step": 12,
            "count": np.array(5, dtype=np.int64)}


def test_round_trip_keeps_types_and_values(tmp_path):
    p = tmp_path / "c.npz"
    checkpoint.save(p, state())
    back = checkpoint.load(p)
    assert back["step"] == 12 and back["config"] == state()["config"]
    assert back["rng"]["state"]["state"] == 2**100 + 7  # beyond int64: kept exactly
    assert list(back["opt"]["state"]) == [0]  # int keys come back as ints
    w = back["G"]["net.0.weight"]
    assert w.dtype == np.float32 and np.array_equal(w, state()["G"]["net.0.weight"])
    assert back["count"].shape == () and back["count"] == 5  # 0-d arrays stay 0-d


def test_no_pickle_inside(tmp_path):
    p = tmp_path / "c.npz"
    checkpoint.save(p, state())
    with np.load(p, allow_pickle=False) as z:  # would raise if any entry needed pickle
        for k in z.files:
            assert z[k].dtype != object
    with pytest.raises(TypeError, match="cannot store"):
        checkpoint.save(tmp_path / "x.npz", {"f": lambda: 0})


def test_tampering_and_truncation_are_refused(tmp_path):
    p = tmp_path / "c.npz"
    checkpoint.save(p, state())
    data = p.read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        checkpoint.load(tmp_path / "t.npz")
    # Rewrite one array with a valid zip but different numbers: only the digest catches it.
    with np.load(p) as z:
        entries = {k: z[k] for k in z.files}
    entries["a0"] = entries["a0"] + 1
    with open(tmp_path / "e.npz", "wb") as f:
        np.savez(f, **entries)
    with pytest.raises(checkpoint.CheckpointError, match="checksum"):
        checkpoint.load(tmp_path / "e.npz")
    with pytest.raises(checkpoint.CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", x=np.ones(2))
    with pytest.raises(checkpoint.CheckpointError, match="not a minigan checkpoint"):
        checkpoint.load(tmp_path / "other.npz")


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    p = tmp_path / "c.npz"
    checkpoint.save(p, state())
    before = p.read_bytes()
    with pytest.raises(TypeError):
        checkpoint.save(p, {"ok": np.ones(2), "bad": object()})
    assert p.read_bytes() == before
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


def test_safetensors_layout(tmp_path):
    p = tmp_path / "g.safetensors"
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.array([1.5, -2.0], dtype=np.float32)
    checkpoint.save_safetensors(p, {"net.0.weight": w, "net.0.bias": b}, {"by": "minigan"})
    raw = p.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"by": "minigan"}
    assert header["net.0.weight"]["dtype"] == "F32" and header["net.0.weight"]["shape"] == [3, 4]
    lo, hi = header["net.0.weight"]["data_offsets"]
    assert np.array_equal(np.frombuffer(raw[8 + n + lo:8 + n + hi], "<f4").reshape(3, 4), w)
    back = checkpoint.load_safetensors(p)
    assert np.array_equal(back["net.0.bias"], b)
