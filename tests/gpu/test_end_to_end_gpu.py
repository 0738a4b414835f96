"""The CUDA device path end to end, against the same computation on the CPU: tensors moving
to the GPU and back, gradients of an op chain, double backprop (gradient penalties), a few
DCGAN training steps on every CUDA backend, a training step that never waits for the GPU, and
``minigan train --device cuda``. Needs a GPU: skipped elsewhere with the reason
``minigan.backends.unavailable_reason`` gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minigan as mg
from minigan import backends
from minigan.bench.models import build_minigan, make_minigan_step
from minigan.diagnostics.gradcheck import assert_close
from minigan.gan import penalties

pytestmark = pytest.mark.gpu


def _skip_unless(backend: str) -> None:
    reason = backends.unavailable_reason(backend)
    if reason is not None:
        pytest.skip(f"backend {backend!r} unavailable: {reason}")


@pytest.fixture(autouse=True)
def _cupy_present():
    _skip_unless("cupy")


def test_to_cuda_and_back_is_exact_and_differentiable():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = mg.tensor(x, requires_grad=True, dtype=np.float64)
    d = t.to("cuda")
    assert d.device == "cuda" and type(d.array).__module__.startswith("cupy")
    np.testing.assert_array_equal(d.numpy(), x)
    back = d.to("cpu")
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), x)
    (d * d).sum().backward()          # the gradient comes back through ToDevice to the CPU
    assert t.grad.device == "cpu"
    assert_close(t.grad.numpy(), 2 * x)
    assert mg.tensor(d.array).device == "cpu"   # a CuPy array onto the CPU when asked for


def test_module_to_cuda_keeps_parameters_and_optimizer():
    mg.manual_seed(0)
    G, _ = build_minigan("tiny", np.float64)
    opt = mg.optim.Adam(G.parameters(), lr=1e-2)
    before = {k: v.numpy().copy() for k, v in G.state_dict().items()}
    G.to("cuda")
    assert all(p.device == "cuda" for p in G.parameters())
    assert all(b.device == "cuda" for b in G.buffers())
    G(mg.randn(4, 8, dtype=np.float64, device="cuda")).sum().backward()
    opt.step()                                   # built before the move: same Parameter objects
    changed = [k for k, v in G.state_dict().items()
               if k.endswith("weight") and not np.array_equal(v.numpy(), before[k])]
    assert changed, "Adam did not update the moved parameters"


def _d_loss_and_grads(D, x, device):
    D.zero_grad()
    xt = mg.tensor(x, device=device, requires_grad=True)
    loss = mg.gan.losses.get("hinge").d_loss(D(xt), D(-xt))
    loss.backward()
    return loss, xt.grad, {n: p.grad for n, p in D.named_parameters()}


def test_op_chain_gradients_match_cpu():
    """SN convs, leaky ReLU, flatten, SN linear and the fused hinge loss, float64."""
    mg.manual_seed(1)
    _, D = build_minigan("tiny", np.float64)
    _, Dc = build_minigan("tiny", np.float64)
    Dc.load_state_dict(D.state_dict())
    Dc.to("cuda")
    x = np.random.default_rng(1).standard_normal((5, 1, 8, 8))
    loss, gx, grads = _d_loss_and_grads(D, x, "cpu")
    loss_c, gx_c, grads_c = _d_loss_and_grads(Dc, x, "cuda")
    assert_close(loss_c, loss.numpy(), what="loss")
    assert_close(gx_c, gx.numpy(), what="input gradient")
    for name in grads:
        assert grads_c[name].device == "cuda"
        assert_close(grads_c[name], grads[name].numpy(), what=name)


@pytest.mark.parametrize("penalty", ["r1", "gp"])
def test_double_backprop_gradient_penalty_matches_cpu(penalty):
    """The penalty's gradient reaches D's weights through a gradient (create_graph=True)."""
    mg.manual_seed(2)
    _, D = build_minigan("tiny", np.float64)
    _, Dc = build_minigan("tiny", np.float64)
    Dc.load_state_dict(D.state_dict())
    Dc.to("cuda")
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((2, 4, 1, 8, 8))
    a = rng.random((4, 1, 1, 1))
    results = []
    for model, dev in ((D, "cpu"), (Dc, "cuda")):
        model.zero_grad()
        r = mg.tensor(real, device=dev)
        if penalty == "r1":
            p = penalties.r1_penalty(lambda x, m=model: m(x).reshape(-1), r, gamma=10.0)
        else:  # WGAN-GP's penalty at fixed interpolation weights (its own draws differ by device)
            x_hat = (mg.tensor(a, device=dev) * r
                     + mg.tensor(1 - a, device=dev) * mg.tensor(fake, device=dev))
            x_hat = x_hat.detach().requires_grad_()
            (g,) = mg.grad(model(x_hat).sum(), x_hat, create_graph=True)
            norm = mg.sqrt((g * g).sum(axis=(1, 2, 3)) + 1e-12)
            p = ((norm - 1) * (norm - 1)).mean()
        p.backward()
        results.append((p, {n: q.grad for n, q in model.named_parameters()}))
    (p_cpu, g_cpu), (p_gpu, g_gpu) = results
    assert_close(p_gpu, p_cpu.numpy(), what="penalty")
    # Biases after the last nonlinearity do not enter the input gradient: no gradient there.
    reached = {n for n, g in g_cpu.items() if g is not None}
    assert {n for n, g in g_gpu.items() if g is not None} == reached
    assert any(float(np.abs(g_cpu[n].numpy()).max()) > 0 for n in reached)
    for name in reached:
        assert_close(g_gpu[name], g_cpu[name].numpy(), what=name)


STEPS = 3
# float64: summation order is the only difference (cuBLAS vs BLAS, reductions), the
# test_training_parity tolerance. float32: the dcgan-mnist dot products are 1,024-6,272 long
# and Adam's first steps amplify relative gradient differences near zero, so 10x theirs.
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("backend", backends.CUDA_BACKENDS)
def test_dcgan_training_steps_match_cpu(backend, dtype):
    """The dcgan-mnist model (SN convs, transposed convs, batch norm, hinge, Adam), batch 8:
    the losses of 3 steps (and in float64 the trained weights) on CUDA equal the NumPy
    reference's."""
    _skip_unless(backend)
    with backends.use("numpy"):
        cpu = make_minigan_step("dcgan-mnist", batch=8, seed=5, dtype=dtype)
        want = np.array([cpu() for _ in range(STEPS)])
    with backends.use(backend):
        gpu = make_minigan_step("dcgan-mnist", batch=8, seed=5, dtype=dtype, device="cuda")
        got = np.array([gpu() for _ in range(STEPS)])
    assert np.all(np.isfinite(want)) and len({tuple(r) for r in want}) == STEPS
    np.testing.assert_allclose(got, want, **TOL[dtype])
    if dtype == np.float32:
        # Weights only in float64: Adam's update is ~lr * sign(g) while |g| >> eps, so a float32
        # gradient entry near zero can flip sign between two summation orders and move its
        # weight by 2 lr (seen between the CPU backends too); the losses above average it out.
        return
    for m_cpu, m_gpu in zip(cpu.models, gpu.models):
        pairs = list(zip(m_cpu.named_parameters(), m_gpu.named_parameters()))
        # A bias right before a BatchNorm has zero gradient in exact arithmetic (the norm takes
        # each channel's mean away), so each device's gradient is rounding noise (~1e-17 here) of
        # its own summation order, and Adam turns noise g into steps of ~lr * g / eps: those
        # weights agree only to ~1e-12 and move no output. They must be noise on both devices;
        # every other weight must match.
        scale = max(float(np.abs(p.grad.numpy()).max()) for (_, p), _ in pairs)
        for (name, p), (_, q) in pairs:
            assert q.device == "cuda"
            if float(np.abs(p.grad.numpy()).max()) <= 1e-12 * scale:
                assert float(np.abs(q.grad.numpy()).max()) <= 1e-12 * scale, name
                continue
            np.testing.assert_allclose(q.numpy(), p.numpy(), err_msg=name, **TOL[dtype])


def test_training_step_never_waits_for_the_gpu():
    """Forward, backward and both optimizer steps of the DCGAN step with CuPy's sync detector
    armed: any device-to-host copy or synchronization inside raises DeviceSynchronized."""
    import cupyx

    mg.manual_seed(0)
    with backends.use("cupy"):
        G, D = build_minigan("dcgan-mnist")
        G.to("cuda")
        D.to("cuda")
        opt_g = mg.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = mg.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        hinge = mg.gan.losses.get("hinge")
        real = mg.randn(16, 1, 28, 28, device="cuda")

        def step():
            fake = G(mg.randn(16, 100, device="cuda"))
            d_loss = hinge.d_loss(D(real), D(fake.detach()))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = hinge.g_loss(D(fake))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            return d_loss, g_loss

        step()  # first call: kernels compile, CuPy queries the device
        with cupyx.allow_synchronize(False):
            d_loss, g_loss = step()
    assert np.isfinite(d_loss.item()) and np.isfinite(g_loss.item())


def test_minigan_train_on_cuda_and_resume_on_cpu(tmp_path):
    from minigan.cli import main

    out = tmp_path / "run"
    common = ["--preset", "dcgan-mnist", "--out", str(out), "--quiet",
              "--set", "batch_size=16", "--set", "eval_samples=64", "--set", "log_every=1",
              "--set", "sample_every=0", "--set", "checkpoint_every=1"]
    assert main(["train", "--device", "cuda", "--steps", "2", *common]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["device"] == "cuda" and summary["steps"] == 2
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["grad_norm_D"]) for r in rows)
    # The checkpoint holds host arrays: the run continues on the CPU.
    assert main(["train", "--resume", "--device", "cpu", "--out", str(out), "--quiet",
                 "--steps", "3"]) == 0
    assert json.loads((out / "summary.json").read_text())["device"] == "cpu"
