"""`minigan train` / `minigan sample` end to end on tiny runs: outputs, resume, failures."""

import json

import numpy as np
import pytest

from minigan.cli import main
from minigan.gan import checkpoint, config
from minigan.gan.trainer import Trainer, TrainingError

TINY = ["--set", "g_hidden=16", "--set", "d_hidden=16", "--set", "log_every=5",
        "--set", "sample_every=20", "--set", "checkpoint_every=10", "--set", "eval_samples=300",
        "--quiet"]


def tiny_cfg(**kw):
    items = [f"{k}={v}" for k, v in {"g_hidden": 16, "d_hidden": 16, "log_every": 5,
                                      "sample_every": 0, "checkpoint_every": 10,
                                      "eval_samples": 300, "steps": 40, **kw}.items()]
    return config.resolve("grid25", overrides=items)


def test_train_writes_a_complete_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "40", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "modes covered" in printed and "samples:" in printed
    summary = json.loads((out / "summary.json").read_text())
    m = summary["metrics"]
    assert summary["steps"] == 40 and m["n_samples"] == 300 and 0 <= m["modes_covered"] <= 25
    for name in ("config.toml", "metrics.jsonl", "loss_curves.png", "samples/step_000020.png",
                 "samples/final.png", "checkpoints/latest.npz", "G.safetensors"):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(5, 41, 5))
    # Linear decay: the last step (index 39 of 40) runs at lr * 1/40.
    assert rows[-1]["lr_g"] == pytest.approx(1e-3 / 40)
    cfg = config.load_toml(out / "config.toml")
    assert cfg["steps"] == 40 and cfg["g_hidden"] == 16
    # The exported generator holds PyTorch-style names and the EMA weights.
    st = checkpoint.load_safetensors(out / "G.safetensors")
    assert any(k.endswith("weight") for k in st)


def test_resume_continues_bitwise(tmp_path):
    full = Trainer(tiny_cfg(), tmp_path / "full", progress=False)
    full.run()
    part = Trainer(tiny_cfg(), tmp_path / "part", progress=False)
    assert part.run(should_stop=lambda: part.step == 17) is None  # like Ctrl-C at step 17
    again = Trainer(tiny_cfg(), tmp_path / "part", progress=False)
    again.run(resume=True)

    def rows(run):  # every recorded figure but the wall-clock time
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in r.items() if k != "time"} for r in map(json.loads, lines)]

    # Telemetry too: the spectral-norm estimates continue from checkpointed vectors.
    assert any("sigma" in r for r in rows("full"))
    assert rows("part") == rows("full")
    a = checkpoint.load(tmp_path / "full" / "checkpoints" / "final.npz")
    b = checkpoint.load(tmp_path / "part" / "checkpoints" / "final.npz")
    for k, v in a["G"].items():
        assert np.array_equal(v, b["G"][k])


def test_resuming_a_run_from_before_r1_interval_keeps_r1_on_every_step(tmp_path):
    # A checkpoint written before the key existed has no r1_interval: --resume continues with
    # R1 on every step, as that run was trained, and matches an uninterrupted such run.
    full = Trainer(tiny_cfg(r1_interval=1, steps=20), tmp_path / "full", progress=False)
    full.run()
    old = tmp_path / "old"
    part = Trainer(tiny_cfg(r1_interval=1, steps=20), old, progress=False)
    assert part.run(should_stop=lambda: part.step == 10) is None
    ckpt = old / "checkpoints" / "latest.npz"
    state = checkpoint.load(ckpt)
    del state["config"]["r1_interval"]
    checkpoint.save(ckpt, state)
    assert main(["train", "--out", str(old), "--resume", "--quiet"]) == 0
    a = checkpoint.load(tmp_path / "full" / "checkpoints" / "final.npz")
    b = checkpoint.load(old / "checkpoints" / "final.npz")
    assert "r1_interval" not in b["config"]
    for k, v in a["D"].items():
        assert np.array_equal(v, b["D"][k]), k


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_stops_with_the_step_and_keeps_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--steps", "30", *TINY,
                 "--set", "lr_d=1e30", "--set", "lr_g=1e30"])
    assert code == 1
    err = capsys.readouterr().err
    assert "step" in err and ("not finite" in err or "nan" in err or "inf" in err)
    # A run that blows up after a checkpoint leaves that checkpoint as it was.
    t = Trainer(tiny_cfg(), tmp_path / "later", progress=False)
    assert t.run(should_stop=lambda: t.step == 12) is None
    latest = tmp_path / "later" / "checkpoints" / "latest.npz"
    before = latest.read_bytes()
    t.cfg["lr_d"] = t.cfg["lr_g"] = 1e30
    with pytest.raises(TrainingError, match=r"step 1[3-9]"):
        t.run()
    assert latest.read_bytes() == before
    assert checkpoint.load(latest)["step"] == 12


def test_bad_input_exits_2_without_touching_anything(tmp_path, capsys):
    assert main(["train", "--preset", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["train", "--set", "stepz=3", "--out", str(tmp_path / "x")]) == 2
    assert "valid keys" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "10", *TINY]) == 0
    before = (out / "checkpoints" / "latest.npz").read_bytes()
    assert main(["train", "--out", str(out), "--steps", "10", *TINY]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "checkpoints" / "latest.npz").read_bytes() == before
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    assert main(["sample", "--checkpoint", str(tmp_path / "bad.npz"), "--n", "4",
                 "--out", str(tmp_path / "s.npy")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_sample_writes_arrays_and_pictures(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "10", *TINY]) == 0
    ck = str(out / "checkpoints" / "final.npz")
    assert main(["sample", "--checkpoint", ck, "--n", "2500", "--out",
                 str(tmp_path / "s.npy")]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (2500, 2) and np.all(np.isfinite(x))
    assert main(["sample", "--checkpoint", ck, "--n", "100", "--out",
                 str(tmp_path / "s.png"), "--seed", "3"]) == 0
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_list_presets(capsys):
    assert main(["train", "--list-presets"]) == 0
    assert "grid25" in capsys.readouterr().out


def test_ema_warms_up_and_then_averages(tmp_path):
    t = Trainer(tiny_cfg(ema=0.9), tmp_path, progress=False)
    params = list(t.G.parameters())
    ema = list(t.G_ema.parameters())
    before = [e.numpy().copy() for e in ema]
    t.train_step()  # step 0: decay min(0.9, 1/10) = 0.1
    for b, e, p in zip(before, ema, params):
        np.testing.assert_allclose(e.numpy(), 0.1 * b + 0.9 * p.numpy(), rtol=1e-6, atol=1e-7)
    t.step = 1000  # late: the configured decay
    before = [e.numpy().copy() for e in ema]
    t.train_step()
    for b, e, p in zip(before, ema, params):
        np.testing.assert_allclose(e.numpy(), 0.9 * b + 0.1 * p.numpy(), rtol=1e-6, atol=1e-7)


def test_r1_shares_the_real_forward_with_the_loss_and_gives_the_same_steps(tmp_path):
    # A D without buffers and no instance noise: R1 uses the loss's forward on the real batch.
    # The steps must equal those of a separate R1 forward (bit for bit in float64: same ops).
    recs, params = [], []
    for pure in (True, False):
        t = Trainer(tiny_cfg(dtype="float64", r1_interval=1), tmp_path / str(pure),
                    progress=False)
        assert t._d_pure  # the grid25 MLP D has no batch norm and no spectral norm
        t._d_pure = pure
        t._d_joint = False  # D(real) and D(fake) as two forwards on both sides
        recs.append([t.train_step() for _ in range(3)])
        params.append([p.numpy() for p in t.D.parameters()])
    assert recs[0] == recs[1]
    for a, b in zip(*params):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n_critic", [1, 2])
def test_lazy_r1_is_r1_weighted_k_times_on_every_kth_d_step_and_none_between(tmp_path,
                                                                             n_critic):
    # Reference: the eager trainer (r1_interval 1) with r1_gamma switched by hand, per D step,
    # to what the lazy schedule promises: 0 on the first k - 1 D steps of each k, k * gamma on
    # the k-th. Same ops in the same order, so the same bits.
    # One trainer after the other: a trainer seeds and draws from the process's generator.
    k, gamma, steps = 3, 0.25, 5
    lazy = Trainer(tiny_cfg(dtype="float64", r1_gamma=gamma, r1_interval=k,
                            n_critic=n_critic), tmp_path / "lazy", progress=False)
    lazy_recs = [lazy.train_step() for _ in range(steps)]
    eager = Trainer(tiny_cfg(dtype="float64", r1_gamma=gamma, r1_interval=1,
                            n_critic=n_critic), tmp_path / "eager", progress=False)
    d_steps = [0]

    def eager_d_step(d_step=eager._d_step):
        eager.cfg["r1_gamma"] = k * gamma if d_steps[0] % k == k - 1 else 0.0
        d_steps[0] += 1
        return d_step()

    eager._d_step = eager_d_step
    assert [eager.train_step() for _ in range(steps)] == lazy_recs
    penalties = [r["penalty"] for r in lazy_recs]
    assert d_steps[0] == steps * n_critic
    # The logged penalty is the last D step's of each G step: R1 only where it ran.
    last = [(s + 1) * n_critic - 1 for s in range(steps)]
    assert [p > 0 for p in penalties] == [d % k == k - 1 for d in last]
    for a, b in zip(lazy.D.parameters(), eager.D.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(lazy.G.parameters(), eager.G.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_lazy_r1_differs_from_eager_r1(tmp_path):
    # The schedule changes the updates (else the test above could pass with it ignored).
    ps = []
    for k in (1, 2):
        t = Trainer(tiny_cfg(dtype="float64", r1_gamma=1.0, r1_interval=k), tmp_path / str(k),
                    progress=False)
        t.train_step()
        ps.append([p.numpy() for p in t.D.parameters()])
    assert any(not np.array_equal(a, b) for a, b in zip(*ps))


@pytest.mark.parametrize("pack", [1, 4])
def test_d_on_real_and_fake_as_one_batch_gives_the_separate_forwards_steps(tmp_path, pack):
    # Steps without R1 (r1_interval 4: steps 0-2) run D once over [real; fake]. Reference: the
    # same trainer with two forwards. Same values; D's weight gradient is one product over both
    # halves instead of two summed, so equal to float64 rounding, not bit for bit.
    runs = []
    for joint in (True, False):
        t = Trainer(tiny_cfg(dtype="float64", r1_interval=4, pack=pack), tmp_path / str(joint),
                    progress=False)
        assert t._d_joint  # the grid25 MLPs: no buffers, rows independent, no labels
        t._d_joint = joint
        rows, call_d = [], t.source.call_d
        t.source.call_d = lambda D, x, cond: rows.append(x.shape[0]) or call_d(D, x, cond)
        recs = [t.train_step() for _ in range(3)]
        # per step: D on the real and fake batches (one call or two), then D(G(z)) for G
        b = t.cfg["batch_size"]
        assert rows == ([2 * b, b] if joint else [b, b, b]) * 3
        runs.append((recs, [p.numpy() for p in (*t.D.parameters(), *t.G.parameters())]))
    (recs_a, ps_a), (recs_b, ps_b) = runs
    for a, b in zip(recs_a, recs_b):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-12, abs=1e-14), k
    for a, b in zip(ps_a, ps_b):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_d_stays_two_forwards_where_rows_are_not_independent(tmp_path):
    for extra in ({"d_mbstd": 1}, {"n_generators": 2}, {"n_discriminators": 2}):
        t = Trainer(tiny_cfg(**extra), tmp_path / str(len(extra)) / next(iter(extra)),
                    progress=False)
        assert not t._d_joint, extra
