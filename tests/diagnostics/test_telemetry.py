import math

import numpy as np

import minigan as mg
from minigan.diagnostics.telemetry import SpectralTracker, grad_norms, total_norm, weight_norms


def model():
    mg.manual_seed(0)
    return mg.nn.Sequential(mg.nn.Linear(5, 7), mg.nn.ReLU(), mg.nn.Linear(7, 3),
                            mg.nn.Unflatten(1, (3, 1, 1)), mg.nn.ConvTranspose2d(3, 4, 3))


def test_spectral_tracker_converges_to_the_largest_singular_value():
    m = model()
    t = SpectralTracker()
    for _ in range(200):
        sig = t.update(m)
    w0 = m[0].weight.numpy()
    assert math.isclose(sig["0.weight"], np.linalg.svd(w0, compute_uv=False)[0], rel_tol=1e-6)
    # ConvTranspose2d: the operator's rows are the output channels (dim 1 of the weight).
    wt = m[4].weight.numpy().swapaxes(0, 1).reshape(4, -1)
    assert math.isclose(sig["4.weight"], np.linalg.svd(wt, compute_uv=False)[0], rel_tol=1e-6)


def test_gradient_and_weight_norms():
    m = model()
    x = mg.randn(2, 5)
    m(x).sum().backward()
    norms = grad_norms(m)
    assert set(norms) == {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}
    assert math.isclose(norms["2.bias"], float(np.linalg.norm(m[2].bias.grad.numpy())),
                        rel_tol=1e-6)
    assert math.isclose(total_norm(norms), math.sqrt(sum(v * v for v in norms.values())))
    wn = weight_norms(m)
    assert set(wn) == {"0.weight", "2.weight", "4.weight"}
    assert math.isclose(wn["0.weight"], float(np.linalg.norm(m[0].weight.numpy())),
                        rel_tol=1e-6)


def test_training_rows_carry_telemetry(tmp_path):
    import json

    from minigan.gan import config
    from minigan.gan.trainer import Trainer

    cfg = config.resolve("grid25", overrides=["steps=4", "log_every=2", "g_hidden=8",
                                              "d_hidden=8", "eval_samples=50",
                                              "sample_every=0", "checkpoint_every=0"])
    Trainer(cfg, tmp_path, progress=False).run()
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    r = rows[-1]
    assert set(r["grad_norms"]) == {"G", "D"} and "net.0.weight" in str(r["grad_norms"]["G"])
    assert math.isclose(r["grad_ratio"], r["grad_norm_G"] / r["grad_norm_D"])
    assert math.isclose(r["grad_norm_D"], total_norm(r["grad_norms"]["D"]))
    assert all(v > 0 for v in r["sigma"]["D"].values())
