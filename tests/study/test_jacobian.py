"""The game-Jacobian study: Arnoldi on vector-Jacobian products from double backprop, checked
against Jacobians derived by hand, dense eigen-decompositions and finite differences."""

import json

import numpy as np
import pytest

import minigan as mg
from minigan.cli import main
from minigan.gan import config
from minigan.gan.trainer import Trainer
from minigan.study import dirac, jacobian
from minigan.study.arnoldi import ArnoldiResult, arnoldi


def dense_from_vjp(vjp, n):
    """J from n products e_i^T J (row i)."""
    return np.stack([vjp(e) for e in np.eye(n)])


def sorted_eigs(M):
    ev = np.linalg.eigvals(M)
    return ev[np.lexsort((-ev.imag, -np.abs(ev)))]


def test_vjp_and_arnoldi_on_an_explicit_field():
    # v(x) = A x + c x^3 + B tanh(x) elementwise, x split over two parameter tensors, so
    # J = A + diag(3 c x^2) + B diag(1 - tanh(x)^2).
    rng = np.random.default_rng(0)
    n = 12
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    c = 0.7
    x0 = rng.standard_normal(n)
    p1 = mg.tensor(x0[:6].reshape(3, 2), requires_grad=True, dtype=np.float64)
    p2 = mg.tensor(x0[6:], requires_grad=True, dtype=np.float64)
    x = mg.concat([p1.reshape(6), p2])
    v = mg.tensor(A) @ x + c * x ** 3 + mg.tensor(B) @ mg.tanh(x)
    fields = [v[:6].reshape(3, 2), v[6:]]
    J = A + np.diag(3 * c * x0 ** 2) + B @ np.diag(1 - np.tanh(x0) ** 2)
    vjp = jacobian.flat_vjp(fields, [p1, p2])
    np.testing.assert_allclose(dense_from_vjp(vjp, n), J, rtol=1e-13, atol=1e-13)
    res = arnoldi(vjp, n, n, seed=1)           # full Krylov space: exact eigenvalues
    want = sorted_eigs(J)
    scale = np.abs(want).max()
    assert np.abs(res.values - want).max() < 1e-10 * scale
    assert res.residuals.max() < 1e-10 * scale


def test_arnoldi_finds_leading_eigenvalues_of_a_large_nonnormal_operator():
    # Known spectrum: rotation-scaling blocks with eigenvalues -1 +- 10i, 8 (real), 3 +- 5i,
    # the rest on |lambda| <= 1; hidden by a non-orthogonal similarity.
    rng = np.random.default_rng(3)
    n = 300
    D = np.zeros((n, n))
    D[0:2, 0:2] = [[-1, -10], [10, -1]]
    D[2, 2] = 8
    D[3:5, 3:5] = [[3, -5], [5, 3]]
    rest = rng.uniform(-1, 1, n - 5) * 0.999
    D[5:, 5:] = np.diag(rest)
    T = np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    M = T @ D @ np.linalg.inv(T)
    res = arnoldi(lambda w: M @ w, n, 40, seed=0).leading(5)
    want = np.array([-1 + 10j, -1 - 10j, 8, 3 + 5j, 3 - 5j])
    np.testing.assert_allclose(res.values, want, rtol=1e-8)
    assert res.residuals.max() < 1e-6
    assert not arnoldi(lambda w: M @ w, n, 40).invariant


def _dirac_field(method, th, ps):
    theta, psi = dirac._scalar(th), dirac._scalar(ps)
    g_theta, g_psi = dirac.gradients(method, theta, psi, create_graph=True)
    return jacobian.flat_vjp([-g_theta, -g_psi], [theta, psi])


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.0])
def test_dirac_gan_jacobian_at_the_equilibrium(gamma):
    # v = (-psi f'(psi theta), theta f'(psi theta) - gamma psi): at (0, 0), f'(0) = 1/2,
    # J = [[0, -1/2], [1/2, -gamma]] with eigenvalues (-gamma +- sqrt(gamma^2 - 1)) / 2
    # (+-i/2 without R1: pure rotation; a double eigenvalue -1/2 at gamma = 1).
    method = dirac.Method("r1", "GAN + R1", "minimax", r1_gamma=gamma)
    vjp = _dirac_field(method, 0.0, 0.0)
    np.testing.assert_allclose(dense_from_vjp(vjp, 2), [[0, -0.5], [0.5, -gamma]], atol=1e-15)
    d = np.sqrt(complex(gamma ** 2 - 1))
    want = np.array([(-gamma + d) / 2, (-gamma - d) / 2])
    want = want[np.lexsort((-want.imag, -np.abs(want)))]
    res = arnoldi(vjp, 2, 2)
    # A double (defective) eigenvalue is only determined to ~sqrt(eps) by any eigensolver.
    np.testing.assert_allclose(res.values, want, atol=1e-7 if gamma == 1 else 1e-14)


@pytest.mark.parametrize("th, ps", [(0.8, -1.2), (-0.3, 0.6), (1.5, 1.0)])
def test_dirac_gan_jacobian_away_from_equilibrium(th, ps):
    # With s = f'(t) = sigmoid(-t), t = psi theta, s' = ds/dt = -s (1 - s), R1 weight gamma:
    # v = (-psi s, theta s - gamma psi),
    # J = [[-psi^2 s', -s - psi theta s'], [s + theta psi s', theta^2 s' - gamma]].
    gamma = 0.3
    t = ps * th
    s = 1 / (1 + np.exp(t))
    ds = -s * (1 - s)
    J = np.array([[-ps * ps * ds, -s - ps * th * ds], [s + th * ps * ds, th * th * ds - gamma]])
    np.testing.assert_allclose(dense_from_vjp(_dirac_field("r1-0.3", th, ps), 2), J,
                               rtol=1e-13, atol=1e-15)
    # WGAN-GP (weight 1): v = (-psi, theta - 2 (m - 1) psi / m) with m = sqrt(psi^2 + e),
    # e = 1e-12 (the penalty's smoothing): d/dpsi [2 psi - 2 psi / m] = 2 - 2 e / m^3.
    m = np.sqrt(ps * ps + 1e-12)
    Jgp = np.array([[0, -1], [1, -(2 - 2e-12 / m ** 3)]])
    np.testing.assert_allclose(dense_from_vjp(_dirac_field("wgan-gp", th, ps), 2), Jgp,
                               rtol=1e-14, atol=1e-15)


def tiny_run(tmp_path, name="run", **kw):
    items = {"g_hidden": 4, "d_hidden": 4, "g_layers": 1, "d_layers": 1, "batch_size": 64,
             "steps": 30, "log_every": 10, "sample_every": 0, "checkpoint_every": 0,
             "eval_samples": 100, "ema": 0.0, **kw}
    cfg = config.resolve("grid25", overrides=[f"{k}={v}" for k, v in items.items()])
    out = tmp_path / name
    Trainer(cfg, out, progress=False).run()
    return out


def fd_jacobian(field, eps=1e-6):
    """Central differences of the first-order field v (no double backprop involved)."""
    n = sum(p.numel() for p in field.params)
    J = np.zeros((n, n))
    j = 0
    for p in field.params:
        for idx in np.ndindex(p.shape):
            orig = p.array[idx]
            p.array[idx] = orig + eps
            vp = field.field_vector()
            p.array[idx] = orig - eps
            vm = field.field_vector()
            p.array[idx] = orig
            J[:, j] = (vp - vm) / (2 * eps)
            j += 1
    return J


@pytest.mark.parametrize("overrides", [
    {},                                             # ns + R1 0.1 (the preset): third order
    {"loss": "wgan-gp", "r1_gamma": 0.0},           # gradient penalty, weight 10
    {"loss": "hinge"},
    {"loss": "minimax", "d_sn": "true", "r1_gamma": 0.0},
    {"loss": "lsgan", "pack": 2},
    {"loss": "ragan"},
], ids=["ns-r1", "wgan-gp", "hinge", "minimax-sn", "lsgan-pack2", "ragan"])
def test_game_jacobian_of_a_trained_mlp_matches_finite_differences(tmp_path, overrides):
    field, info = jacobian.load_field(tiny_run(tmp_path, **overrides))
    n = info["n_params"]["G"] + info["n_params"]["D"]
    pack = overrides.get("pack", 1)
    assert info["n_params"] == {"G": 2 * 4 + 4 + 4 * 2 + 2, "D": 2 * pack * 4 + 4 + 4 + 1}
    J_ad = dense_from_vjp(field.vjp(), n)
    J_fd = fd_jacobian(field)
    scale = np.abs(J_fd).max()
    # Central differences in float64 with eps = 1e-6: truncation ~eps^2, rounding ~1e-16/eps.
    assert np.abs(J_ad - J_fd).max() < 1e-8 * max(1.0, scale)
    res = jacobian.spectrum(field, krylov=n)
    want = sorted_eigs(J_fd)
    assert np.abs(res.values[:6] - want[:6]).max() < 1e-8 * max(1.0, np.abs(want).max())


def test_cli_writes_eigenvalues_json_and_plot(tmp_path, capsys):
    run = tiny_run(tmp_path, g_hidden=8, d_hidden=8, steps=20)
    assert main(["study", "jacobian", str(run), "--k", "4"]) == 0
    printed = capsys.readouterr().out
    assert "| # | Re | Im |" in printed and "final.npz" in printed
    doc = json.loads((run / "jacobian.json").read_text())
    assert doc["step"] == 20 and doc["loss"] == "ns" and len(doc["leading"]) == 4
    assert doc["n_params"]["G"] == 2 * 8 + 8 + 8 * 2 + 2 and doc["krylov_dim"] <= 60
    lead = np.array([complex(r["re"], r["im"]) for r in doc["leading"]])
    assert np.all(np.diff(np.abs(lead)) <= 1e-12 * np.abs(lead).max())
    # Complex eigenvalues of a real matrix come in conjugate pairs.
    assert doc["ritz"][:4] == doc["leading"] and len(doc["ritz"]) == doc["krylov_dim"]
    ritz = np.array([complex(r["re"], r["im"]) for r in doc["ritz"]])
    for z in ritz[np.abs(ritz.imag) > 1e-9 * np.abs(ritz).max()]:
        assert np.abs(ritz - z.conjugate()).min() < 1e-9 * np.abs(ritz).max()
    assert all(0 <= r["d_share"] <= 1 for r in doc["leading"])
    trusted = [r for r in doc["ritz"] if r["rel_residual"] < jacobian.CONVERGED_RESIDUAL]
    assert doc["fastest_rotation"] == max(trusted, key=lambda r: abs(r["im"]))
    assert "fastest rotation" in printed
    assert (run / "jacobian.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Same answer from the library call (deterministic field, seeded start vector).
    again = jacobian.run_study(run, k=4, plot=False)
    assert again["leading"] == doc["leading"]
    assert main(["study", "jacobian", str(run), "--checkpoint", "latest", "--no-plot"]) == 0


def test_refusals_name_the_problem(tmp_path, capsys):
    assert main(["study", "jacobian", str(tmp_path / "nowhere")]) == 2
    assert "no checkpoints/final.npz" in capsys.readouterr().err
    run = tiny_run(tmp_path)
    assert main(["study", "jacobian", str(run), "--checkpoint", "step_7"]) == 2
    assert "final.npz, latest.npz" in capsys.readouterr().err
    with pytest.raises(jacobian.JacobianStudyError, match="39 parameters.*at most 10"):
        jacobian.load_field(run, max_params=10)
    assert main(["study", "jacobian", str(run), "--k", "0"]) == 2
    assert "--k" in capsys.readouterr().err


def test_pure_rotation_rows_and_foreign_checkpoints(tmp_path):
    from minigan.gan import checkpoint

    # The Dirac-GAN at its equilibrium: eigenvalues exactly +-i/2, left eigenvectors spread
    # evenly over theta and psi (J is a scaled rotation).
    res = arnoldi(_dirac_field("gan", 0.0, 0.0), 2, 2)
    rows = jacobian.eigen_rows(res, n_d=1)
    np.testing.assert_allclose([r["re"] for r in rows], [0, 0], atol=1e-15)
    np.testing.assert_allclose([r["im"] for r in rows], [0.5, -0.5], rtol=1e-15)
    assert all(r["d_share"] == pytest.approx(0.5) for r in rows)
    # Re = 0 exactly: the rotation ratio is None in JSON, "inf" in the table.
    exact = ArnoldiResult(np.array([0.5j, -0.5j]), np.zeros(2), np.eye(2, dtype=complex), 2, True)
    rows = jacobian.eigen_rows(exact, n_d=1)
    assert [r["rotation"] for r in rows] == [None, None] and [r["d_share"] for r in rows] == [1, 0]
    assert "| inf |" in jacobian.markdown_table(rows)
    checkpoint.save(tmp_path / "checkpoints" / "final.npz", {"step": 3, "G": {}})
    with pytest.raises(jacobian.JacobianStudyError, match="lacks config, model_config, D"):
        jacobian.load_field(tmp_path)
