"""InfoGAN inside the trainer: the mutual-information term the data source adds to both players'
losses (weights, by hand in NumPy), where its gradient goes, and runs without continuous codes."""

import numpy as np
import pytest

from minigan import random as mgrandom
from minigan.gan import config
from minigan.gan.trainer import Trainer


def tiny(tmp_path, **kw):
    items = [f"{k}={v}" for k, v in {"base_width": 4, "batch_size": 8, "steps": 4,
                                      "sample_every": 0, "checkpoint_every": 0,
                                      "eval_samples": 16, **kw}.items()]
    return Trainer(config.resolve("infogan-mnist", overrides=items), tmp_path, progress=False)


def _mi_by_hand(out, cat, cont, w, cont_w):
    """w * [mean CE(cat logits, cat) + cont_w * mean sum_j (log(2 pi)/2 + (c - mu)^2 / 2)]."""
    logits = out[1].numpy().astype(np.float64)
    m = logits.max(1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(1))
    ce = np.mean(lse - logits[np.arange(len(cat)), cat])
    d = cont - out[2].numpy().astype(np.float64)
    nll = np.mean(np.sum(0.5 * np.log(2 * np.pi) + 0.5 * d * d, axis=1))
    return w * (ce + cont_w * nll)


def test_info_loss_weights_the_categorical_and_continuous_terms(tmp_path):
    tr = tiny(tmp_path, info_weight=2.0, info_cont_weight=0.25)
    src = tr.source
    fake, (cat, cont) = src.generate(tr.G, 8)
    out = tr.D(fake)
    want = _mi_by_hand(out, cat.numpy(), cont.numpy().astype(np.float64), 2.0, 0.25)
    assert src.aux_g_loss(out, (cat, cont)).item() == pytest.approx(want, rel=1e-5)
    assert src.aux_d_loss(None, None, out, (cat, cont)).item() == pytest.approx(want, rel=1e-5)
    # The continuous term really is scaled: with weight 0 only the cross entropy is left.
    tr0 = tiny(tmp_path / "b", info_weight=2.0, info_cont_weight=0.0)
    want0 = _mi_by_hand(out, cat.numpy(), cont.numpy(), 2.0, 0.0)
    assert tr0.source.aux_g_loss(out, (cat, cont)).item() == pytest.approx(want0, rel=1e-5)
    assert abs(want - want0) > 0.1


def _grads(module):
    return {n: p.grad.numpy().copy() for n, p in module.named_parameters()
            if p.grad is not None}


def test_g_step_adds_the_info_gradient_to_g(tmp_path):
    """G's gradient with the MI term minus without it = the MI term's own gradient (same
    initial weights, same latents)."""
    got = {}
    for w in (0.0, 1.0):
        tr = tiny(tmp_path / str(w), info_weight=w)
        mgrandom.manual_seed(5)
        tr._g_step()
        got[w] = _grads(tr.G)
    tr = tiny(tmp_path / "info", info_weight=1.0)
    mgrandom.manual_seed(5)
    fake, codes = tr.source.generate(tr.G, 8)
    tr.G.zero_grad()
    tr.source.aux_g_loss(tr.D(fake), codes).backward()
    info = _grads(tr.G)
    assert info.keys() == got[1.0].keys()
    for name, g in info.items():
        diff = got[1.0][name] - got[0.0][name]
        scale = np.abs(g).max()
        assert scale > 0, name
        np.testing.assert_allclose(diff, g, atol=1e-4 * scale, err_msg=name)


def test_d_step_trains_the_q_head_only_through_the_info_term(tmp_path):
    for w in (0.0, 1.0):
        tr = tiny(tmp_path / str(w), info_weight=w)
        tr._d_step()
        q_last = tr.D.q[3].weight.grad
        norm = 0.0 if q_last is None else float(np.abs(q_last.numpy()).max())
        assert (norm > 0) == (w > 0), (w, norm)
        assert np.abs(tr.D.adv.weight.grad.numpy()).max() > 0  # the adversarial head trains


def test_runs_with_the_categorical_code_alone(tmp_path):
    tr = tiny(tmp_path, c_dim=0)
    assert tr.D.q[3].weight.shape[0] == 10  # Q predicts the 10 logits and nothing else
    for _ in range(2):
        rec = tr.train_step()
    assert np.isfinite(rec["g_loss"]) and np.isfinite(rec["d_loss"])
    z, cat, cont = tr.source.fixed_latent(20)
    assert cont is None and list(cat[:12]) == [*range(10), 0, 1]


def test_info_cont_weight_is_checked():
    with pytest.raises(config.ConfigError, match="info_cont_weight"):
        config.resolve("infogan-mnist", overrides=["info_cont_weight=-1"])
    with pytest.raises(config.ConfigError, match="c_dim"):
        config.resolve("infogan-mnist", overrides=["c_dim=-1"])


def _bn_train(h, bn, eps=1e-5):
    """Batch norm in training mode by hand: batch mean and biased variance, then scale, shift."""
    g, b = bn.weight.numpy().astype(np.float64), bn.bias.numpy().astype(np.float64)
    return (h - h.mean(0)) / np.sqrt(h.var(0) + eps) * g + b


def test_info_fc_puts_the_papers_fc_layer_before_g_and_after_d_trunk():
    from minigan.gan import models as M
    from minigan.tensor import Tensor

    G, D = M.build("infogan", {"base_width": 4, "info_fc": 24})
    plain_G, plain_D = M.build("infogan", {"base_width": 4})
    assert D.feature_dim == 24 and plain_D.feature_dim == 8 * 7 * 7
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((6, G.latent_dim)).astype(np.float32)
    # G: ReLU(BN(latent @ W^T)) feeds the DCGAN generator, which now takes 24 inputs.
    fc, dcgan = G.base[0], G.base[1]
    assert dcgan.z_dim == 24
    h = np.maximum(_bn_train(latent.astype(np.float64) @ fc[0].weight.numpy().T, fc[1]), 0)
    want = dcgan(Tensor(h.astype(np.float32))).numpy()
    np.testing.assert_allclose(G(Tensor(latent)).numpy(), want, rtol=1e-4, atol=1e-5)
    # D: the heads read LReLU(BN(trunk(x) @ W^T)).
    x = rng.uniform(-1, 1, (6, 1, 28, 28)).astype(np.float32)
    conv, lin, bn = D.trunk[0], D.trunk[1], D.trunk[2]
    t = conv(Tensor(x)).numpy().astype(np.float64)
    h = _bn_train(t @ lin.weight.numpy().T, bn)
    h = np.where(h > 0, h, 0.2 * h)
    np.testing.assert_allclose(D.features(Tensor(x)).numpy(), h, rtol=1e-4, atol=1e-5)
    adv = D(Tensor(x))[0].numpy()
    np.testing.assert_allclose(adv, h @ D.adv.weight.numpy()[0] + D.adv.bias.numpy()[0],
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="info_fc"):
        M.build("infogan", {"info_fc": -1})
