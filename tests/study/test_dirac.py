"""The Dirac-GAN study against closed forms derived here by hand.

Notation (Mescheder et al. 2018): L(theta, psi) = f(psi theta) + f(0), f(t) = -log(1 + e^-t),
so f'(t) = e^-t / (1 + e^-t) = sigmoid(-t) and f'(0) = 1/2. G minimizes, D maximizes. The f(0)
term is f(-D(0)) with D(0) = psi * 0 = 0 for every psi: a constant, no gradient.
"""

import json
import math

import numpy as np
import pytest

from minigan.cli import main
from minigan.study import dirac


def fprime(t):
    return 1 / (1 + np.exp(t))  # sigmoid(-t)


def closed_form(method, th, ps):
    """(dL_G/dtheta, dL_D/dpsi) -- each player's own objective, minimized."""
    s = fprime(ps * th)
    if method in ("gan", "r1-0.3", "r1-1.0"):
        g_theta = ps * s                # G minimizes f(psi theta)
    elif method == "ns-gan":
        g_theta = ps * fprime(-ps * th)  # G minimizes -f(-psi theta): -(-psi) f'(-psi theta)
    else:
        g_theta = ps                     # WGAN: f(t) = t, L = psi theta
    if method in ("wgan", "wgan-gp"):
        g_psi = -th                      # D minimizes -psi theta
        if method == "wgan-gp":          # + 1 * (||psi|| - 1)^2 with ||psi|| = sqrt(psi^2 + 1e-12)
            norm = np.sqrt(ps * ps + 1e-12)  # (penalties.gradient_penalty keeps it smooth at 0)
            g_psi += 2 * (norm - 1) * ps / norm
    else:
        g_psi = -th * s                  # D minimizes -f(psi theta) - f(0)
    if method.startswith("r1-"):         # + gamma/2 psi^2 (grad_x D = psi at x = 0)
        g_psi += float(method[3:]) * ps
    return g_theta, g_psi


POINTS = [(1.0, 1.0), (0.7, -1.3), (-0.4, 0.25), (2.5, 1.5), (-2.0, -0.5)]


@pytest.mark.parametrize("method", list(dirac.METHODS))
def test_autograd_gradients_equal_the_closed_form_field(method):
    for th, ps in POINTS:
        g_theta, g_psi = dirac.gradients(method, dirac._scalar(th), dirac._scalar(ps))
        want = closed_form(method, th, ps)
        assert g_theta.dtype == np.float64 and g_psi.dtype == np.float64
        assert float(g_theta.array[0]) == pytest.approx(want[0], rel=1e-13, abs=1e-15)
        assert float(g_psi.array[0]) == pytest.approx(want[1], rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("h", [0.1, 0.2, 0.5])
def test_simultaneous_gd_growth_per_step_is_sqrt_1_plus_h2_over_4(h):
    # Near (0, 0) the field is v = J x with J = [[0, -1/2], [1/2, 0]], so one step multiplies
    # x by I + hJ = sqrt(1 + h^2/4) x (a rotation): every step grows the distance by exactly
    # that factor. The nonlinearity changes f' = 1/2 by psi*theta/4 <= r^2/8 < 1e-5 here (r stays
    # below 1e-2), which moves the factor by at most h^2/4 * 2e-5 < 2e-6 relative.
    path = dirac.simulate("gan", "simultaneous", steps=60, h=h, start=(1e-3, 1e-3))
    r = np.hypot(path[:, 0], path[:, 1])
    assert r[-1] < 1e-2
    np.testing.assert_allclose(r[1:] / r[:-1], dirac.closed_form_growth(h), rtol=2e-6)
    assert dirac.closed_form_growth(0.2) == pytest.approx(math.sqrt(1.01))


def test_alternating_gd_conserves_the_symplectic_euler_invariant():
    # D first: psi' = psi + c theta, theta' = theta - c psi' with c = h f'(0) = 0.1 near (0, 0).
    # Expanding, Q = theta^2 + psi^2 + c theta psi satisfies Q' = Q exactly: the iterates stay on
    # one ellipse (no growth, no decay), so the distance stays within sqrt(Q / (1 +- c/2)).
    h, c = 0.2, 0.1
    path = dirac.simulate("gan", "alternating", steps=1000, h=h, start=(1e-3, 1e-3))
    th, ps = path[:, 0], path[:, 1]
    Q = th ** 2 + ps ** 2 + c * th * ps
    np.testing.assert_allclose(Q, Q[0], rtol=1e-5)
    r2 = th ** 2 + ps ** 2
    assert r2.max() <= Q[0] / (1 - c / 2) * (1 + 1e-5)
    assert r2.min() >= Q[0] / (1 + c / 2) * (1 - 1e-5)
    # Far from it (start (1, 1)) the paths still circle about the start radius.
    r = np.hypot(*dirac.simulate("gan", "alternating", steps=500).T)
    assert 0.9 < r.min() / r[0] and r.max() / r[0] < 1.1


@pytest.mark.parametrize("gamma", [0.3, 1.0])
def test_r1_contracts_at_the_rate_of_its_linearization(gamma):
    # With R1, J = [[0, -1/2], [1/2, -gamma]]: eigenvalues (-gamma +- sqrt(gamma^2 - 1)) / 2.
    # Simultaneous GD contracts by |1 + h lambda| per step: for gamma = 0.3 that is
    # sqrt(0.97^2 + (0.1 sqrt(0.91))^2) = sqrt(0.95); for gamma = 1 (critical damping, a double
    # eigenvalue -1/2 with a Jordan block) 0.9, times a polynomial factor ~ (t+1)/t (the offset
    # of the Jordan solution a + t b makes 500/300 exact only to ~2e-3).
    path = dirac.simulate(f"r1-{gamma}", "simultaneous", steps=500)
    r = np.hypot(path[:, 0], path[:, 1])
    assert r[-1] < 1e-4
    lam = (-gamma + np.sqrt(complex(gamma ** 2 - 1))) / 2
    rate = abs(1 + 0.2 * lam)
    # Over a whole number of turns of the rotation (period 2 pi / arg(1 + h lambda)) the
    # ellipse's shape cancels out; for gamma = 1 compare t * rate^t directly.
    if gamma == 0.3:
        period = 2 * np.pi / np.angle(1 + 0.2 * lam)
        span = int(round(3 * period))
        measured = (r[-1] / r[-1 - span]) ** (1 / span)
        assert measured == pytest.approx(rate, rel=2e-4)
        assert rate == pytest.approx(math.sqrt(0.95))
    else:
        a, b = 300, 500
        assert (r[b] / r[a]) == pytest.approx((b / a) * rate ** (b - a), rel=5e-3)
    assert dirac.simulate(f"r1-{gamma}", "alternating", steps=500)[-1] == pytest.approx(
        [0, 0], abs=1e-4)


@pytest.fixture(scope="module")
def default_study():
    return dirac.run_study()


def test_default_table_matches_the_papers_expectations(default_study):
    rows, paths = default_study
    assert len(rows) == 12 and set(paths) == {(r["method"], r["scheme"]) for r in rows}
    got = {(r["method"], r["scheme"]): r for r in rows}
    r0 = math.sqrt(2)
    assert all(r["start_distance"] == pytest.approx(r0) for r in rows)
    # Plain GAN: simultaneous GD spirals out, alternating GD circles near its start radius.
    assert got[("gan", "simultaneous")]["verdict"] == "diverges"
    assert got[("gan", "simultaneous")]["final_distance"] > 2 * r0
    alt = got[("gan", "alternating")]
    assert alt["verdict"] == "oscillates" and abs(alt["final_distance"] / r0 - 1) < 0.1
    # WGAN (clip) and WGAN-GP do not converge.
    for m in ("wgan", "wgan-gp"):
        for s in dirac.SCHEMES:
            assert got[(m, s)]["verdict"] == "oscillates", (m, s)
            assert got[(m, s)]["final_distance"] > 0.5
    # GAN + R1 converges below 1e-4 with either scheme.
    for m in ("r1-0.3", "r1-1.0"):
        for s in dirac.SCHEMES:
            assert got[(m, s)]["verdict"] == "converges" and got[(m, s)]["final_distance"] < 1e-4
    assert got[("r1-1.0", "simultaneous")]["final_distance"] < 1e-15
    # The paths are those of the closed-form field (integrated here with NumPy).
    for (m, s), p in paths.items():
        th, ps = 1.0, 1.0
        for _ in range(40):
            if s == "simultaneous":
                g = closed_form(m, th, ps)
                th, ps = th - 0.2 * g[0], ps - 0.2 * g[1]
                ps = float(np.clip(ps, -1, 1)) if m == "wgan" else ps
            else:
                ps = ps - 0.2 * closed_form(m, th, ps)[1]
                ps = float(np.clip(ps, -1, 1)) if m == "wgan" else ps
                th = th - 0.2 * closed_form(m, th, ps)[0]
        np.testing.assert_allclose(p[40], [th, ps], rtol=1e-9, atol=1e-12, err_msg=f"{m} {s}")


def _path_from(r, turns=50.0):
    t = np.linspace(0, 2 * np.pi * turns, len(r))
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def test_verdict_rules():
    T = 501
    assert dirac.verdict(_path_from(np.geomspace(1, 1e-6, T))) == "converges"
    assert dirac.verdict(_path_from(np.geomspace(1, 3, T))) == "diverges"
    assert dirac.verdict(_path_from(np.full(T, 1.0))) == "oscillates"
    assert dirac.verdict(_path_from(np.geomspace(1, 0.05, T))) == "converges slowly"
    # A limit cycle smaller than the start: bounded, not shrinking any more.
    assert dirac.verdict(_path_from(np.r_[np.geomspace(1, 0.3, 100), np.full(T - 100, 0.3)])
                         ) == "oscillates"
    stuck = np.tile([[2.0, 0.0]], (T, 1))
    stuck[0] = [1.0, 1.0]
    assert dirac.verdict(stuck) == "stalls"
    blown = _path_from(np.full(T, 1.0))
    blown[-1] = np.nan
    assert dirac.verdict(blown) == "diverges"


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="scheme"):
        dirac.simulate("gan", "sideways")
    with pytest.raises(ValueError, match="steps"):
        dirac.simulate("gan", steps=0)
    with pytest.raises(ValueError, match="h:"):
        dirac.simulate("gan", h=-0.1)
    with pytest.raises(ValueError, match="methods: unknown method 'gna'"):
        dirac.run_study(["gna"])


def test_cli_writes_table_csv_json_and_plot(tmp_path, capsys):
    out = tmp_path / "dirac"
    assert main(["study", "dirac", "--out", str(out), "--steps", "60",
                 "--methods", "gan,r1-1.0"]) == 0
    printed = capsys.readouterr().out
    assert "| GAN | simultaneous |" in printed and "1.00499" in printed
    doc = json.loads((out / "dirac.json").read_text())
    assert doc["settings"]["steps"] == 60 and doc["settings"]["h"] == 0.2
    assert [(r["method"], r["scheme"]) for r in doc["rows"]] == [
        ("gan", "simultaneous"), ("gan", "alternating"),
        ("r1-1.0", "simultaneous"), ("r1-1.0", "alternating")]
    assert set(doc["verdict_rules"]) == {"converges", "diverges", "stalls", "converges slowly",
                                         "oscillates"}
    csv_lines = (out / "dirac.csv").read_text().splitlines()
    assert csv_lines[0].startswith("method,title,scheme") and len(csv_lines) == 5
    paths = np.load(out / "dirac_paths.npz")
    ref = dirac.simulate("r1-1.0", "alternating", steps=60)
    np.testing.assert_array_equal(paths["r1-1.0/alternating"], ref)
    assert doc["rows"][3]["final_distance"] == pytest.approx(np.hypot(*ref[-1]))
    assert (out / "dirac.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "dirac.md").read_text().startswith("| method |")


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert main(["study", "dirac", "--out", str(tmp_path), "--methods", "gan,nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["study", "dirac", "--out", str(tmp_path), "--steps", "0"]) == 2
    assert main(["study"]) == 2
