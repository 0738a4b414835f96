"""The mode-collapse remedies' mechanics (minigan.gan.remedies) against independent computations:
per-generator forwards, closed-form combinations, NumPy forwards, the real optimizers' steps,
finite differences of the unrolled generator gradient; bitwise resume and the CLI."""

import json

import numpy as np
import pytest

import minigan as mg
from minigan.cli import main
from minigan.gan import checkpoint, config, remedies
from minigan.gan.losses import get as get_loss
from minigan.gan.models.mlp import MLPDiscriminator, MLPGenerator
from minigan.gan.remedies import ensemble, mixture, unrolled
from minigan.gan.trainer import Trainer
from minigan.optim import SGD, Adam
from minigan.study import sweep
from minigan.tensor import Tensor


def f64(m):
    return m.to(np.dtype(np.float64))


def np_trunk(D, x):
    """D's MLP trunk in NumPy from its weights: [Linear, LeakyReLU(0.2)] x layers."""
    h = x
    for layer in D.trunk:
        if hasattr(layer, "weight"):
            h = h @ layer.weight.numpy().T + layer.bias.numpy()
        else:
            h = np.where(h > 0, h, 0.2 * h)
    return h


def tiny_cfg(*sets):
    return config.resolve("grid25", overrides=[
        "g_hidden=16", "d_hidden=16", "batch_size=32", "sample_every=0", "checkpoint_every=0",
        "eval_samples=300", "steps=20", *sets])


# ---- multiple generators (MGAN) ---------------------------------------------------------------
def test_mixture_runs_each_generator_on_its_own_rows():
    mg.manual_seed(0)
    gens = [f64(MLPGenerator(2, 8, 1, 2)) for _ in range(3)]
    G = mixture.MixtureGenerator(gens)
    z = Tensor(np.random.default_rng(0).standard_normal((10, 2)))
    idx = np.array([2, 0, 0, 1, 2, 2, 1, 0, 2, 1])
    x = G(z, index=idx)
    R = np.random.default_rng(1).standard_normal((10, 2))
    (x * Tensor(R)).sum().backward()
    for i, g in enumerate(gens):
        rows = np.flatnonzero(idx == i)
        got = [p.grad.numpy().copy() for p in g.parameters()]
        g.zero_grad()
        xi = g(Tensor(z.numpy()[rows]))
        np.testing.assert_allclose(x.numpy()[rows], xi.numpy(), rtol=0, atol=1e-15)
        (xi * Tensor(R[rows])).sum().backward()
        for a, p in zip(got, g.parameters()):
            np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-13, atol=1e-15)
    assert np.array_equal(G.last_index, idx)


def test_mixture_index_is_uniform_and_eval_draws_are_fixed():
    G = mixture.MixtureGenerator([MLPGenerator(2, 4, 1, 2) for _ in range(4)])
    counts = np.bincount(G.draw_index(40000), minlength=4)
    assert np.all(np.abs(counts - 10000) < 400)  # 4 sigma of a binomial(40000, 1/4)
    mg.manual_seed(3)
    a = G.draw_index(50)
    mg.manual_seed(3)
    assert np.array_equal(a, G.draw_index(50))  # training draws: minigan's seeded generator
    G.eval()
    z = mg.randn(64, 2)
    state = mg.random.get_rng_state()
    x1, x2 = G(z).numpy(), G(z).numpy()
    assert np.array_equal(x1, x2)
    assert mg.random.get_rng_state() == state  # evaluation leaves the training generator


def test_classifier_loss_is_the_cross_entropy_of_the_head_on_d_features():
    mg.manual_seed(1)
    G, D = remedies.build_models("mlp", {"n_generators": 3, "d_hidden": 8, "d_layers": 2,
                                         "z_dim": 2})
    assert isinstance(G, mixture.MixtureGenerator) and len(G.gens) == 3
    w = [g.net[0].weight.numpy() for g in G.gens]
    assert not np.allclose(w[0], w[1])  # separate weights, separately initialised
    x = np.random.default_rng(2).standard_normal((7, 2)).astype(np.float32)
    idx = np.array([0, 1, 2, 2, 1, 0, 0])
    got = mixture.classifier_loss(D, Tensor(x), idx).item()
    h = np_trunk(D, x.astype(np.float64))
    logits = h @ D.gen_classifier.weight.numpy().T + D.gen_classifier.bias.numpy()
    lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    assert got == pytest.approx(np.mean(lse - logits[np.arange(7), idx]), rel=1e-5)
    assert "gen_classifier.weight" in D.state_dict()


def test_mgan_steps_train_the_classifier_and_the_generators():
    t = Trainer(tiny_cfg("n_generators=3", "mgan_beta=1.0"), "unused", progress=False)
    head = t.D.gen_classifier.weight.numpy().copy()
    t.train_step()
    assert not np.array_equal(head, t.D.gen_classifier.weight.numpy())  # D step trains C
    for g in t.G.gens:  # every generator drew samples and was updated
        assert all(t.opt_g.state[p]["step"] == 1 for p in g.parameters())


# ---- multiple discriminators (GMAN) -------------------------------------------------------------
@pytest.mark.parametrize("how,lam", [("mean", 1.0), ("max", 1.0), ("softmean", 0.0),
                                     ("softmean", 0.7), ("softmean", 3.0)])
def test_combine_matches_its_closed_form_and_gradient(how, lam):
    L = np.array([0.3, 1.2, 0.7, -0.4])
    ts = [Tensor(np.array(v), requires_grad=True) for v in L]
    F = ensemble.combine(ts, how, lam)
    F.backward()
    grads = np.array([t.grad.item() for t in ts])
    if how == "mean":
        want, dwant = L.mean(), np.full(4, 0.25)
    elif how == "max":
        want, dwant = L.max(), (L == L.max()).astype(float)
    else:  # F = sum w_i L_i, w = softmax(lam L): dF/dL_i = w_i (1 + lam (L_i - F))
        w = np.exp(lam * L) / np.exp(lam * L).sum()
        want = (w * L).sum()
        dwant = w * (1 + lam * (L - want))
    assert F.item() == pytest.approx(want, rel=1e-14)
    np.testing.assert_allclose(grads, dwant, rtol=1e-12, atol=1e-15)


def test_softmean_tends_to_max_for_a_large_lambda():
    ts = [Tensor(np.array(v)) for v in (0.3, 1.2, 0.7)]
    assert ensemble.combine(ts, "softmean", 200.0).item() == pytest.approx(1.2, abs=1e-12)


def test_combined_g_loss_takes_each_discriminator_rows():
    loss = get_loss("ns")
    f = np.random.default_rng(0).standard_normal(12)
    got = ensemble.combined_g_loss(loss, Tensor(f), None, 3, "max", 1.0).item()
    per = [np.mean(np.log1p(np.exp(-f[i * 4:(i + 1) * 4]))) for i in range(3)]  # NS: softplus(-f)
    assert got == pytest.approx(max(per), rel=1e-12)


def test_ensemble_trains_every_member_once_per_step():
    t = Trainer(tiny_cfg("n_discriminators=3", "d_combine=softmean"), "unused", progress=False)
    x = mg.randn(5, 2)
    out = t.D(x)
    assert out.shape == (3, 5)
    np.testing.assert_array_equal(out.numpy()[1], t.D.members[1](x).numpy())
    before = [m.head.weight.numpy().copy() for m in t.D.members]
    t.train_step()
    for m, b in zip(t.D.members, before):
        assert not np.array_equal(b, m.head.weight.numpy())
        assert all(t.opt_d.state[p]["step"] == 1 for p in m.parameters())  # own Adam moments
    assert t.D is not t.D.members[0]  # the swap is undone


# ---- minibatch layers in D --------------------------------------------------------------------
@pytest.mark.parametrize("sets", [{"d_mbstd": 4}, {"d_mbdisc": 3, "mbdisc_dim": 2},
                                  {"d_mbstd": 2, "d_mbdisc": 2}])
def test_minibatch_layers_make_each_logit_see_the_batch(sets):
    mg.manual_seed(0)
    _, D = remedies.build_models("mlp", {"d_hidden": 8, "d_layers": 2, **sets})
    x = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    y0 = D(Tensor(x)).numpy()
    x2 = x.copy()
    x2[4] += 1.0  # move one sample: the other samples' logits change too
    y1 = D(Tensor(x2)).numpy()
    assert not np.allclose(y0[[0, 1, 2, 3, 5, 6, 7]], y1[[0, 1, 2, 3, 5, 6, 7]])
    width = 8 + (1 if sets.get("d_mbstd") else 0) + sets.get("d_mbdisc", 0)
    assert D.head.weight.shape == (1, width) and D.feature_dim == width


def test_minibatch_layers_in_the_dcgan_discriminator():
    mg.manual_seed(0)
    _, D = remedies.build_models("dcgan", {"base_width": 4, "d_mbstd": 2, "d_mbdisc": 3})
    # 28x28: features 2w x 7 x 7, one stddev channel (+49), then 3 minibatch kernels.
    assert D.feature_dim == 8 * 49 + 49 + 3
    out = D(mg.randn(4, 1, 28, 28))
    assert out.shape == (4,)
    with pytest.raises(config.ConfigError, match="minibatch layers"):
        remedies.build_models("sngan-resnet", {"base_width": 8, "d_mbstd": 2})


# ---- feature matching -------------------------------------------------------------------------
def test_feature_matching_loss_against_numpy():
    mg.manual_seed(0)
    D = f64(MLPDiscriminator(2, 8, 2))
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((9, 2)), rng.standard_normal((6, 2))
    fk = Tensor(fake, requires_grad=True)
    got = remedies.feature_matching_loss(D, Tensor(real), fk)
    want = np.sum((np_trunk(D, real).mean(0) - np_trunk(D, fake).mean(0)) ** 2)
    assert got.item() == pytest.approx(want, rel=1e-13)
    got.backward()
    # Central differences in the fake samples.
    eps, num = 1e-6, np.zeros_like(fake)
    for i in np.ndindex(fake.shape):
        for s in (1, -1):
            f2 = fake.copy()
            f2[i] += s * eps
            num[i] += s * np.sum((np_trunk(D, real).mean(0) - np_trunk(D, f2).mean(0)) ** 2)
    np.testing.assert_allclose(fk.grad.numpy(), num / (2 * eps), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("objective", ["feature_matching", "both"])
def test_feature_matching_objectives_train(objective):
    t = Trainer(tiny_cfg(f"g_objective={objective}", "fm_weight=2.0"), "unused", progress=False)
    rec = t.train_step()
    assert np.isfinite(rec["g_loss"]) and rec["g_loss"] >= 0


# ---- unrolled GAN -----------------------------------------------------------------------------
def _tiny_unroll_setup(seed=0):
    mg.manual_seed(seed)
    G, D = f64(MLPGenerator(2, 4, 1, 2)), f64(MLPDiscriminator(2, 5, 1))
    rng = np.random.default_rng(seed)
    batches = [(rng.standard_normal((6, 2)), rng.standard_normal((6, 2))) for _ in range(3)]
    return G, D, batches, rng.standard_normal((6, 2))


def _d_loss_fn(G, batches):
    loss = get_loss("ns")
    return lambda Dm, j: loss.d_loss(Dm(Tensor(batches[j][0])), Dm(G(Tensor(batches[j][1]))))


def _warm_adam(D, G, batches, lr):
    opt = Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    for j in (2, 1):  # two real steps: Adam's moments are no longer at zero
        opt.zero_grad()
        _d_loss_fn(G, batches)(D, j).backward()
        opt.step()
    return opt


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_unrolled_steps_equal_the_real_optimizer_steps(kind):
    G, D, batches, _ = _tiny_unroll_setup()
    lr = 0.05
    opt = _warm_adam(D, G, batches, lr) if kind == "adam" else SGD(D.parameters(), lr=lr)
    before = {k: v.clone() for k, v in D.state_dict().items()}
    state = unrolled.adam_state(opt, D) if kind == "adam" else None
    theta = unrolled.unroll(D, _d_loss_fn(G, batches), 2, kind, lr, (0.5, 0.999), 1e-8, state)
    for k, v in D.state_dict().items():  # the unroll leaves D alone
        assert np.array_equal(v, before[k])
    for j in range(2):
        opt.zero_grad()
        _d_loss_fn(G, batches)(D, j).backward()
        opt.step()
    for name, p in D.named_parameters():
        np.testing.assert_allclose(theta[name].numpy(), p.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_unrolled_generator_gradient_matches_finite_differences(kind):
    G, D, batches, z0 = _tiny_unroll_setup(1)
    lr = 0.2 if kind == "sgd" else 0.05
    opt = _warm_adam(D, G, batches, lr)
    state = unrolled.adam_state(opt, D) if kind == "adam" else None
    loss = get_loss("ns")

    def F(detach_theta=False):
        theta = unrolled.unroll(D, _d_loss_fn(G, batches), 2, kind, lr, (0.5, 0.999), 1e-8,
                                state)
        if detach_theta:
            theta = {k: v.detach() for k, v in theta.items()}
        with unrolled.substituted(D, theta):
            return loss.g_loss(D(G(Tensor(z0))))

    params = list(G.parameters())
    grads = mg.grad(F(), params)
    cut = mg.grad(F(detach_theta=True), params)
    eps = 1e-6
    for p, g, c in zip(params, grads, cut):
        num = np.zeros(p.shape)
        for i in np.ndindex(p.shape):
            old = p.array[i]
            p.array[i] = old + eps
            up = F().item()
            p.array[i] = old - eps
            down = F().item()
            p.array[i] = old
            num[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g.numpy(), num, rtol=1e-5, atol=1e-8)
        # The term through the unroll is there: cutting it changes the gradient.
        assert np.max(np.abs(g.numpy() - c.numpy())) > 1e-4 * np.max(np.abs(num))


def test_unrolled_g_step_leaves_the_real_discriminator_alone():
    t = Trainer(tiny_cfg("unroll_steps=3", "d_bn=on"), "unused", progress=False)
    t.train_step()
    D0 = {k: v.clone() for k, v in t.D.state_dict().items()}
    opt0 = t.opt_d.state_dict()
    t._g_step()
    for k, v in t.D.state_dict().items():
        assert np.array_equal(v, D0[k]), k
    opt1 = t.opt_d.state_dict()
    for i, st in opt0["state"].items():
        for k, v in st.items():
            assert np.array_equal(np.asarray(v), np.asarray(opt1["state"][i][k]))


# ---- the training loop: resume, CLI, sweep ----------------------------------------------------
REMEDY_SETS = [("n_generators=3",), ("n_discriminators=2", "d_combine=max"),
               ("d_mbstd=4", "d_mbdisc=2"), ("g_objective=both",),
               ("unroll_steps=2", "unroll_optimizer=sgd"), ("unroll_steps=1",)]


@pytest.mark.parametrize("sets", REMEDY_SETS, ids=lambda s: ",".join(s))
def test_resume_from_a_checkpoint_is_bitwise(tmp_path, sets):
    cfg = tiny_cfg(*sets)
    full = Trainer(cfg, tmp_path / "full", progress=False)
    for _ in range(4):
        full.train_step()
    part = Trainer(cfg, tmp_path / "part", progress=False)
    for _ in range(2):
        part.train_step()
    path = part.save_checkpoint()
    again = Trainer(cfg, tmp_path / "part", progress=False)
    again.load_state(checkpoint.load(path))
    for _ in range(2):
        again.train_step()
    a, b = full.state(), again.state()
    for model in ("G", "D", "G_ema"):
        assert a[model].keys() == b[model].keys()
        for k in a[model]:
            assert np.array_equal(a[model][k], b[model][k]), (model, k)
    for i, st in a["opt_d"]["state"].items():
        assert np.array_equal(st["exp_avg"], b["opt_d"]["state"][i]["exp_avg"])


def test_sample_and_eval_work_for_a_remedies_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "6", "--quiet", "--set", "g_hidden=16",
                 "--set", "d_hidden=16", "--set", "eval_samples=300", "--set", "batch_size=32",
                 "--set", "n_generators=2", "--set", "d_mbstd=4", "--set", "d_mbdisc=2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(out), "--n", "40",
                 "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (40, 2)
    capsys.readouterr()
    assert main(["eval", str(out)]) == 0
    printed = capsys.readouterr().out
    # eval scores the same latents and (eval-mode) generator draws as train did.
    assert str(summary["metrics"]["modes_covered"]) in printed


def test_every_remedy_key_is_a_sweep_axis():
    axes = sweep.parse_axes(["n_generators=1,2", "mgan_beta=0.1,1", "n_discriminators=1,3",
                             "d_combine=mean,max,softmean", "d_combine_lambda=0,2",
                             "d_mbstd=0,4", "d_mbdisc=0,5", "mbdisc_dim=2",
                             "g_objective=adversarial,feature_matching,both", "fm_weight=1",
                             "unroll_steps=0,5", "unroll_optimizer=adam,sgd"])
    assert len(sweep.grid(axes)) == 2 * 2 * 2 * 3 * 2 * 2 * 2 * 3 * 2 * 2
    with pytest.raises(sweep.SweepError, match="d_combine"):
        sweep.parse_axes(["d_combine=mean,avg"])
    with pytest.raises(sweep.SweepError, match="unroll_steps"):
        sweep.parse_axes(["unroll_steps=-1"])


def test_bad_combinations_are_refused():
    with pytest.raises(config.ConfigError, match="pack"):
        Trainer(tiny_cfg("n_generators=2", "pack=2"), "unused", progress=False)
    with pytest.raises(config.ConfigError, match="one of them"):
        Trainer(tiny_cfg("n_generators=2", "n_discriminators=2"), "unused", progress=False)
    with pytest.raises(config.ConfigError, match="single discriminator"):
        Trainer(tiny_cfg("n_discriminators=2", "unroll_steps=1"), "unused", progress=False)
    with pytest.raises(config.ConfigError, match="unconditional"):
        remedies.build_models("acgan", {"n_generators": 2})
