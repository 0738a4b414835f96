"""GAN models: shapes, closed-form parameter counts, gradient flow, gradient penalties through
every discriminator (directional derivatives against finite differences in float64), PacGAN
packing, the projection discriminator and the InfoGAN MI term by hand, and build()'s errors."""

import math

import numpy as np
import pytest

import minigan as mg
from minigan.diagnostics.gradcheck import assert_close
from minigan.gan import models as M
from minigan.gan.penalties import gradient_penalty

TINY = {"z_dim": 3, "base_width": 2, "g_hidden": 5, "d_hidden": 5, "g_layers": 2,
        "d_layers": 2, "q_hidden": 4, "n_classes": 3, "n_cat": 3, "c_dim": 2}


def tiny_cfg(name, **kw):
    cfg = dict(TINY, **kw)
    if name == "sngan-resnet":
        cfg.setdefault("channels", 1)
    return cfg


def generate(name, G, n):
    """(x, cond, D-call) for a batch from G, whatever the family's calling convention."""
    if name == "infogan":
        latent, cat, cont = G.sample_latent(n)
        return G(latent), (cat, cont)
    if name in ("cgan", "acgan"):
        y = mg.tensor(np.arange(n) % G.n_classes)
        return G(mg.randn(n, G.z_dim), y), y
    return G(mg.randn(n, G.z_dim)), None


def adv(name, D, x, cond):
    out = D(x, cond) if name == "cgan" else D(x)
    return out[0] if isinstance(out, tuple) else out


# ---- shapes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("image_size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_dtype(image_size, channels):
    G = M.DCGANGenerator(5, channels, image_size, base_width=2)
    D = M.DCGANDiscriminator(channels, image_size, base_width=2, pack=2)
    x = G(mg.randn(4, 5))
    assert x.shape == (4, channels, image_size, image_size) and x.dtype == np.float32
    assert np.all(np.abs(x.numpy()) <= 1)  # Tanh output
    assert D(x).shape == (2,)  # packed in pairs
    assert D(M.pack_samples(x, 2)).shape == (2,)  # already packed is accepted too
    assert all(p.dtype == np.float32 for p in [*G.parameters(), *D.parameters()])


@pytest.mark.parametrize("image_size", [28, 32, 64])
def test_resnet_shapes(image_size):
    G = M.ResNetGenerator(4, 3, image_size, base_width=2)
    D = M.ResNetDiscriminator(3, image_size, base_width=2)
    x = G(mg.randn(2, 4))
    assert x.shape == (2, 3, image_size, image_size)
    assert D(x).shape == (2,)
    assert D.trunk(x).shape == (2, 2)  # globally sum-pooled features
    Dp = M.ResNetDiscriminator(3, image_size, base_width=2, pack=2)
    assert Dp(x).shape == (1,) and Dp.trunk.blocks[0].conv1.weight_orig.shape[1] == 6


def test_mlp_shapes_and_every_family_through_build():
    G = M.MLPGenerator(3, hidden=6, layers=2, out_dim=5, batch_norm=True)
    D = M.MLPDiscriminator(5, hidden=6, layers=2, pack=3)
    x = G(mg.randn(6, 3))
    assert x.shape == (6, 5) and D(x).shape == (2,)
    assert D.trunk[0].weight.shape == (6, 15)  # pack * in_dim inputs
    for name in M.MODELS:
        G, D = M.build(name, tiny_cfg(name))
        x, cond = generate(name, G, 4)
        out = D(x, cond) if name == "cgan" else D(x)
        if name == "acgan":
            assert out[0].shape == (4,) and out[1].shape == (4, 3)
        elif name == "infogan":
            assert [o.shape for o in out] == [(4,), (4, 3), (4, 2)]
        else:
            assert out.shape == (4,), name


# ---- parameter counts in closed form and PyTorch layouts -------------------------------------

@pytest.mark.parametrize("z,c,w,bn,sn,pack", [(100, 1, 64, True, False, 1),
                                              (7, 3, 5, False, True, 2)])
def test_dcgan28_parameter_counts(z, c, w, bn, sn, pack):
    G = M.DCGANGenerator(z, c, 28, w)
    # Linear(z -> 2w*49, no bias) + BN1d(2w*49) + ConvT(2w -> w, 4x4, no bias) + BN2d(w)
    # + ConvT(w -> c, 4x4) with bias.
    assert G.num_parameters() == z * 2 * w * 49 + 2 * 2 * w * 49 + 2 * w * w * 16 + 2 * w \
        + w * c * 16 + c
    D = M.DCGANDiscriminator(c, 28, w, spectral_norm=sn, batch_norm=bn, pack=pack)
    # Conv(c*pack -> w) + bias, Conv(w -> 2w) (+ BN, or + bias), Linear(2w*49 -> 1) + bias.
    second = w * 2 * w * 16 + (2 * 2 * w if bn else 2 * w)
    assert D.num_parameters() == c * pack * w * 16 + w + second + 2 * w * 49 + 1
    if z == 100:  # the benchmark model of issue 3: 128*7*7 features, 128 -> 64 channels
        assert G.net[0].weight.shape == (6272, 100) and G.net[4].weight.shape == (128, 64, 4, 4)
        assert D.head.weight.shape == (1, 6272)


def _torch_dcgan28(torch, z, c, w, sn):
    tnn = torch.nn
    snf = torch.nn.utils.spectral_norm if sn else (lambda m: m)

    class G(tnn.Module):
        def __init__(self):
            super().__init__()
            self.net = tnn.Sequential(
                tnn.Linear(z, 2 * w * 49, bias=False), tnn.BatchNorm1d(2 * w * 49), tnn.ReLU(),
                tnn.Unflatten(1, (2 * w, 7, 7)), tnn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),
                tnn.BatchNorm2d(w), tnn.ReLU(), tnn.ConvTranspose2d(w, c, 4, 2, 1), tnn.Tanh())

    class D(tnn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = tnn.Sequential(
                snf(tnn.Conv2d(c, w, 4, 2, 1)), tnn.LeakyReLU(0.2),
                snf(tnn.Conv2d(w, 2 * w, 4, 2, 1)), tnn.LeakyReLU(0.2), tnn.Flatten())
            self.head = snf(tnn.Linear(2 * w * 49, 1))

        def forward(self, x):
            return self.head(self.trunk(x)).reshape(-1)

    return G().double(), D().double()


@pytest.mark.parametrize("sn", [False, True])
def test_dcgan28_matches_pytorch_with_the_same_state_dict(sn):
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    G = M.DCGANGenerator(6, 2, 28, 3).double()
    D = M.DCGANDiscriminator(2, 28, 3, spectral_norm=sn, batch_norm=False).double()
    tG, tD = _torch_dcgan28(torch, 6, 2, 3, sn)
    for ours, theirs in ((G, tG), (D, tD)):
        assert list(ours.state_dict()) == list(theirs.state_dict())  # names and order
        theirs.load_state_dict({k: torch.from_numpy(v.numpy())
                                for k, v in ours.state_dict().items()})
    z = np.random.default_rng(1).standard_normal((5, 6))
    x = G(mg.tensor(z))  # train mode: batch statistics, as in torch
    tx = tG.net(torch.from_numpy(z))
    assert_close(x, tx.detach().numpy(), rtol=1e-10)
    for _ in range(2):  # twice: with SN, each training forward advances u in both
        assert_close(D(x), tD(tx).detach().numpy(), rtol=1e-10)
        x, tx = x * 0.5, tx * 0.5
    for k, v in D.state_dict().items():
        assert_close(v, tD.state_dict()[k].numpy(), rtol=1e-10, what=k)


# ---- gradients --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", M.MODELS)
def test_one_backward_reaches_every_parameter(name):
    mg.manual_seed(1)
    G, D = M.build(name, tiny_cfg(name))
    x, cond = generate(name, G, 6)
    out = D(x, cond) if name == "cgan" else D(x)
    loss = (out if name == "cgan" else out[0] if isinstance(out, tuple) else out).sum()
    if name == "acgan":
        loss = loss + mg.cross_entropy(out[1], cond)
    if name == "infogan":
        loss = loss + M.infogan_mi_loss(out, *cond)
    loss.backward()
    for net, label in ((G, "G"), (D, "D")):
        for pname, p in net.named_parameters():
            assert p.grad is not None, f"{label}.{pname} got no gradient"
            assert np.all(np.isfinite(p.grad.numpy())), f"{label}.{pname}"
            assert np.any(p.grad.numpy() != 0), f"{label}.{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", M.MODELS)
def test_gradient_penalty_through_every_discriminator(name):
    mg.manual_seed(2)
    G, D = M.build(name, tiny_cfg(name, d_sn=True))
    fake, cond = generate(name, G, 4)
    real = mg.randn(*fake.shape)
    gp = gradient_penalty(lambda t: adv(name, D, t, cond), real, fake)
    params = list(D.parameters())
    grads = mg.grad(gp, params, allow_unused=True)
    assert np.isfinite(gp.item()) and gp.item() > 0
    # Every weight shapes grad_x D, so the penalty's gradient reaches it (the adversarial head's
    # bias does not: it shifts D, not its slope).
    first = next(p for n, p in D.named_parameters() if n.endswith("weight_orig"))
    assert np.any(grads[[p is first for p in params].index(True)].numpy() != 0)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads if g is not None)


def _freeze_power_iteration(D):
    """Spectral-norm layers to eval mode (u, v fixed), everything else training: then D is a
    fixed function of its parameters, and batch norm still uses batch statistics."""
    D.train()
    for m in D.modules():
        if "weight_u" in m._buffers:
            m.eval()


def _check_directional_derivative(penalty, params, seed=5):
    """d/ds penalty(theta + s v) at s = 0 by autograd (double backprop) vs central differences,
    in float64, along a random direction v over all parameters."""
    def value():
        mg.manual_seed(seed)  # the same interpolation weights on every call
        return penalty()

    grads = mg.grad(value(), params, allow_unused=True)
    rng = np.random.default_rng(0)
    dirs = [rng.standard_normal(p.shape) for p in params]
    analytic = sum(float((g.numpy() * d).sum()) for g, d in zip(grads, dirs) if g is not None)
    orig = [p.array.copy() for p in params]

    def at(s):
        for p, o, d in zip(params, orig, dirs):
            p.array = o + s * d
        return value().item()

    eps = 1e-6
    numeric = (at(eps) - at(-eps)) / (2 * eps)
    at(0.0)
    assert abs(analytic) > 1e-3
    assert abs(analytic - numeric) <= 1e-6 * abs(numeric), (analytic, numeric)


@pytest.mark.parametrize("sn", [False, True])
def test_gradient_penalty_gradient_mlp_d_finite_differences(sn):
    mg.manual_seed(3)
    D = M.MLPDiscriminator(2, hidden=5, layers=2, pack=2, spectral_norm=sn).double()
    _freeze_power_iteration(D)
    rng = np.random.default_rng(4)
    real, fake = (mg.tensor(rng.standard_normal((6, 2))) for _ in range(2))
    _check_directional_derivative(lambda: gradient_penalty(D, real, fake), list(D.parameters()))


@pytest.mark.parametrize("image_size,sn,bn", [(28, False, True), (28, True, True),
                                             (32, True, False)])
def test_gradient_penalty_gradient_dcgan_d_finite_differences(image_size, sn, bn):
    mg.manual_seed(4)
    D = M.DCGANDiscriminator(1, image_size, base_width=2, spectral_norm=sn, batch_norm=bn)
    D.double()
    _freeze_power_iteration(D)
    rng = np.random.default_rng(5)
    real, fake = (mg.tensor(rng.standard_normal((3, 1, image_size, image_size)))
                  for _ in range(2))
    _check_directional_derivative(lambda: gradient_penalty(D, real, fake), list(D.parameters()))


def test_gradient_penalty_gradient_projection_d_finite_differences():
    mg.manual_seed(5)
    _, D = M.build("cgan", tiny_cfg("cgan", d_sn=True, image_size=28))
    D.double()
    _freeze_power_iteration(D)
    rng = np.random.default_rng(6)
    real, fake = (mg.tensor(rng.standard_normal((4, 1, 28, 28))) for _ in range(2))
    y = np.array([0, 2, 1, 2])
    _check_directional_derivative(lambda: gradient_penalty(lambda t: D(t, y), real, fake),
                                  list(D.parameters()))


# ---- PacGAN ---------------------------------------------------------------------------------

def test_pack_samples_layout_and_errors():
    x = mg.tensor(np.arange(12.0).reshape(6, 2))
    assert_close(M.pack_samples(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    img = np.random.default_rng(0).standard_normal((4, 2, 3, 3))
    packed = M.pack_samples(mg.tensor(img), 2).numpy()
    assert packed.shape == (2, 4, 3, 3)
    assert_close(packed[1, 2:], img[3])  # pack 1, second sample, both channels
    with pytest.raises(ValueError, match=r"divisible by the pack size m=4, got N=6"):
        M.pack_samples(x, 4)
    with pytest.raises(ValueError, match="m: expected a positive int"):
        M.pack_samples(x, 0)
    with pytest.raises(ValueError, match="x: expected a batch"):
        M.pack_samples(mg.tensor(np.ones(4)), 2)
    with pytest.raises(ValueError, match=r"dim 1 of size 2 \(unpacked\) or 4 \(packed\)"):
        M.MLPDiscriminator(2, 4, 1, pack=2)(mg.tensor(np.ones((4, 3))))


# ---- conditional models by hand --------------------------------------------------------------

def test_projection_discriminator_equals_psi_plus_inner_product():
    mg.manual_seed(6)
    _, D = M.build("cgan", tiny_cfg("cgan", d_sn=True))
    x = mg.randn(5, 1, 28, 28)
    y = np.array([2, 0, 1, 1, 2])
    D(x, y)  # a training forward: advances the spectral-norm vectors
    D.eval()  # now psi.weight and embed.weight are W / sigma for fixed u, v
    out = D(x, y).numpy()
    phi = D.trunk(x).numpy().astype(np.float64)
    psi_w, psi_b = D.psi.weight.numpy(), D.psi.bias.numpy()
    emb = D.embed.weight.numpy()
    assert psi_w.shape == (1, phi.shape[1]) and emb.shape == (3, phi.shape[1])
    expected = phi @ psi_w[0] + psi_b[0] + np.sum(emb[y] * phi, axis=1)
    assert_close(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["concat", "multiply"])
def test_conditional_generator_feeds_the_label_embedding(mode):
    mg.manual_seed(7)
    G, _ = M.build("cgan", tiny_cfg("cgan", backbone="mlp", cond_mode=mode))
    G.eval()
    z, y = mg.randn(4, 3), np.array([1, 0, 2, 1])
    e = G.embed.weight.numpy()[y]
    h = np.concatenate([z.numpy(), e], 1) if mode == "concat" else z.numpy() * e
    assert_close(G(z, y), G.base(mg.tensor(h)))
    with pytest.raises(ValueError, match=r"y: expected integer class labels of shape \(4,\)"):
        G(z, np.array([0.5, 1, 2, 0]))


# ---- InfoGAN --------------------------------------------------------------------------------

def _gauss_nll(c, mu, logvar):
    return np.mean(np.sum(0.5 * np.log(2 * np.pi) + 0.5 * logvar
                          + (c - mu) ** 2 / (2 * np.exp(logvar)), axis=1))


@pytest.mark.parametrize("learn_variance", [False, True])
def test_infogan_mi_loss_by_hand(learn_variance):
    rng = np.random.default_rng(8)
    logits, mu, logvar = (rng.standard_normal(s) for s in ((5, 4), (5, 2), (5, 2)))
    cat, cont = np.array([3, 0, 1, 1, 2]), rng.uniform(-1, 1, (5, 2))
    q = (None, mg.tensor(logits), mg.tensor(mu)) + ((mg.tensor(logvar),) if learn_variance
                                                    else ())
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    ce = -np.mean(logp[np.arange(5), cat])
    nll = _gauss_nll(cont, mu, logvar if learn_variance else np.zeros_like(mu))
    loss = M.infogan_mi_loss(q, mg.tensor(cat), mg.tensor(cont), cont_weight=0.1)
    assert_close(loss, ce + 0.1 * nll, rtol=1e-12)
    # A categorical-only InfoGAN, and the fixed-variance case is half the squared error + const.
    assert_close(M.infogan_mi_loss((None, mg.tensor(logits), None), cat, None), ce, rtol=1e-12)
    only_cont = M.infogan_mi_loss((None, None, mg.tensor(mu)), None, mg.tensor(cont))
    assert_close(only_cont, np.mean(np.sum((cont - mu) ** 2, 1)) / 2 + np.log(2 * np.pi),
                 rtol=1e-12)
    with pytest.raises(ValueError, match="cont_codes: expected shape"):
        M.infogan_mi_loss(q, cat, None)


def test_sample_latent_layout_and_seed():
    mg.manual_seed(9)
    latent, cat, cont = M.sample_latent(64, 5, 4, 3)
    mg.manual_seed(9)
    z = mg.randn(64, 5).numpy()
    lat = latent.numpy()
    assert lat.shape == (64, 12) and lat.dtype == np.float32
    assert_close(lat[:, :5], z)  # z is drawn first, from minigan's generator
    assert_close(lat[:, 5:9], np.eye(4)[cat.numpy()])
    assert set(np.unique(cat.numpy())) == {0, 1, 2, 3}
    assert_close(lat[:, 9:], cont)
    assert cont.numpy().min() >= -1 and cont.numpy().max() <= 1 and cont.numpy().min() < -0.5
    with pytest.raises(ValueError, match="n_cat: a categorical code needs at least 2"):
        M.sample_latent(4, 5, 1, 0)
    with pytest.raises(ValueError, match="InfoGAN needs at least one code"):
        M.sample_latent(4, 5, 0, 0)


def test_infogan_q_head_is_shared_with_d():
    G, D = M.build("infogan", tiny_cfg("infogan", learn_variance=True))
    latent, cat, cont = G.sample_latent(4)
    out = D(G(latent))
    assert [o.shape for o in out] == [(4,), (4, 3), (4, 2), (4, 2)]
    assert D.q[0].weight.shape[1] == D.adv.weight.shape[1] == D.feature_dim
    assert math.isfinite(M.infogan_mi_loss(out, cat, cont).item())


# ---- build ------------------------------------------------------------------------------------

def test_build_errors_and_defaults():
    with pytest.raises(ValueError, match="unknown model 'gan'; expected one of: mlp, dcgan, "
                                         "sngan-resnet, cgan, acgan, infogan"):
        M.build("gan", {})
    with pytest.raises(ValueError, match="'backbone': expected one of mlp, dcgan, resnet"):
        M.build("cgan", {"backbone": "vgg"})
    with pytest.raises(ValueError, match="'pack': PacGAN packing is for the unconditional"):
        M.build("acgan", {"pack": 2})
    with pytest.raises(ValueError, match="'d_sn': expected bool"):
        M.build("dcgan", {"d_sn": "yes"})
    with pytest.raises(ValueError, match="image_size: expected one of 28, 32, 64, got 48"):
        M.build("dcgan", {"image_size": 48})
    with pytest.raises(ValueError, match="z_dim: expected a positive int"):
        M.build("mlp", {"z_dim": 0})
    with pytest.raises(TypeError, match="cfg: expected a mapping"):
        M.build("mlp", [("z_dim", 2)])
    # Unrelated keys (the trainer passes its whole config) are ignored; missing ones default.
    G, D = M.build("mlp", {"loss": "ns", "steps": 10, "in_dim": 2, "out_dim": 2})
    assert G.z_dim == 2 and G.out_dim == 2 and D.pack == 1
    _, D = M.build("dcgan", {"d_sn": True, "base_width": 2})
    assert not any(isinstance(m, mg.nn.BatchNorm2d) for m in D.modules())  # d_bn = not d_sn
    assert M.model_defaults("sngan-resnet")["d_sn"] is True
