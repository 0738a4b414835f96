"""Diagnosis rules: failures provoked on purpose in real (tiny, short) training runs, and
synthetic telemetry for the rules' edges (oscillation, healthy, thresholds)."""

import json
import math

import numpy as np
import pytest

from minigan.diagnostics import diagnosis as dg
from minigan.diagnostics.diagnosis import diagnose, oscillation, read_rows
from minigan.gan import config
from minigan.gan.trainer import Trainer, TrainingError


def train(tmp_path, **kw):
    """A tiny grid25 run; returns (rows, summary or None, error or None)."""
    items = {"g_hidden": 16, "d_hidden": 16, "log_every": 10, "sample_every": 0,
             "checkpoint_every": 0, "eval_samples": 1000, "steps": 40, **kw}
    cfg = config.resolve("grid25", overrides=[f"{k}={v}" for k, v in items.items()])
    out = tmp_path / "run"
    try:
        summary, err = Trainer(cfg, out, progress=False).run(), None
    except TrainingError as e:
        summary, err = None, str(e)
    return read_rows(out / "metrics.jsonl"), summary, err


def rows_from(n=60, every=10, seed=0, **series):
    """Synthetic rows: calm noise around healthy values, any column replaced by ``series``."""
    rng = np.random.default_rng(seed)
    base = {"d_loss": 1.3 + 0.05 * rng.standard_normal(n),
            "g_loss": 0.8 + 0.05 * rng.standard_normal(n),
            "d_real": 0.5 + 0.1 * rng.standard_normal(n),
            "d_fake": -0.5 + 0.1 * rng.standard_normal(n),
            "grad_norm_G": np.exp(0.2 * rng.standard_normal(n)),
            "grad_norm_D": np.exp(0.2 * rng.standard_normal(n)), **series}
    base.setdefault("grad_ratio", base["grad_norm_G"] / base["grad_norm_D"])
    return [{"step": every * (i + 1), **{k: float(v[i]) for k, v in base.items()}}
            for i in range(n)]


GOOD = {"modes_covered": 25, "n_modes": 25, "high_quality": 0.95, "reverse_kl": 0.02,
        "n_samples": 2500}


def labels(d):
    return set(d["labels"])


def late_median(rows, key):
    vals = [r[key] for r in rows]
    return float(np.median(vals[len(vals) - max(1, len(vals) // 3):]))


# ---- failures provoked in real runs --------------------------------------------------------------
def test_minimax_gan_with_a_narrow_generator_collapses(tmp_path):
    # The plain (saturating) GAN without R1, narrow G, 300 steps: VEEGAN's "GAN" row.
    rows, summary, err = train(tmp_path, loss="minimax", r1_gamma=0, g_hidden=8, d_hidden=32,
                               steps=300)
    assert err is None
    m = summary["metrics"]
    assert m["modes_covered"] <= 5  # of 25
    d = summary["diagnosis"]  # the trainer put it into summary.json
    assert d == json.loads((tmp_path / "run" / "summary.json").read_text())["diagnosis"]
    assert d["verdict"] == "mode-collapsed"
    ev = next(e for e in d["evidence"] if e["label"] == "mode-collapsed")
    assert ev["value"] == m["modes_covered"] and ev["n_modes"] == 25


def test_a_much_stronger_discriminator_wins(tmp_path):
    # lr_d 100x lr_g, 5 D steps per G step, the saturating minimax loss.
    rows, summary, err = train(tmp_path, loss="minimax", r1_gamma=0, n_critic=5, lr_d=1e-2,
                               lr_g=1e-4)
    assert err is None
    d = summary["diagnosis"]
    assert "discriminator-winning" in d["labels"]
    ev = next(e for e in d["evidence"] if e["label"] == "discriminator-winning")
    # The evidence is the late-window medians of the rows: D(x) >> 0, D(G(z)) << 0 and the
    # minimax G loss log(1 - sigmoid(D(G(z)))) flat at ~0: the generator's vanishing gradient.
    assert ev["d_real"] == late_median(rows, "d_real") >= 3
    assert ev["d_fake"] == late_median(rows, "d_fake") <= -3
    assert abs(ev["g_loss"]) <= 0.05 and ev["g_loss"] == late_median(rows, "g_loss")
    assert ev["steps"] == [rows[-max(1, len(rows) // 3)]["step"], rows[-1]["step"]]
    # Its samples sit on a few modes: the run also collapsed.
    assert "mode-collapsed" in d["labels"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_huge_learning_rate_explodes_before_the_nan_stop(tmp_path):
    rows, summary, err = train(tmp_path, lr_g=1e5, lr_d=1e5, r1_gamma=0, log_every=1, steps=30)
    assert summary is None and err is not None
    stop = int(err.split("step ")[1].split(":")[0])
    assert rows and rows[-1]["step"] < stop
    # From the rows written before the stop alone: the gradient norms had already blown up.
    d = diagnose(rows, None)
    assert d["verdict"] == "exploding"
    ev = next(e for e in d["evidence"] if e["rule"] == "grad-norm")
    row = next(r for r in rows if r["step"] == ev["step"])
    assert ev["value"] == row[ev["key"]] >= dg.GRAD_EXPLODE and ev["step"] < stop
    net = ev["key"][-1]
    assert ev["layer"] == max(row["grad_norms"][net], key=row["grad_norms"][net].get)
    # With the stop message it says so too.
    d2 = diagnose(rows, None, error=err)
    assert any(e["rule"] == "stopped" and e["step"] == stop for e in d2["evidence"])


def test_a_large_learning_rate_explodes_without_a_nan(tmp_path):
    # Adam bounds each step near lr, so lr 30 never reaches NaN: the weights and gradients grow
    # by orders of magnitude instead.
    rows, summary, err = train(tmp_path, lr_g=30.0, lr_d=30.0, r1_gamma=0, steps=20,
                               log_every=2)
    assert err is None
    assert summary["diagnosis"]["verdict"] == "exploding"
    big = max(max(r["grad_norm_G"], r["grad_norm_D"]) for r in rows)
    assert big >= dg.GRAD_EXPLODE


# ---- rules on synthetic telemetry ------------------------------------------------------------
def test_calm_telemetry_and_a_full_mode_report_are_healthy():
    d = diagnose(rows_from(), GOOD)
    assert d["verdict"] == "healthy" and d["labels"] == [] and d["evidence"] == []
    json.dumps(d, allow_nan=False)


def test_nothing_to_judge_is_unknown_and_missing_telemetry_is_noted():
    assert diagnose([], None)["verdict"] == "unknown"
    rows = [{k: v for k, v in r.items() if not k.startswith("grad")} for r in rows_from()]
    d = diagnose(rows, None)
    assert d["verdict"] == "healthy"
    assert any("telemetry" in n for n in d["notes"]) and any("mode" in n for n in d["notes"])


@pytest.mark.parametrize("covered,kl,collapsed", [(12, 0.1, True), (13, 0.1, False),
                                                  (25, math.log(2) + 1e-9, True),
                                                  (25, math.log(2) - 1e-3, False),
                                                  (0, math.inf, True)])
def test_mode_collapse_thresholds(covered, kl, collapsed):
    m = {**GOOD, "modes_covered": covered, "reverse_kl": kl}
    assert ("mode-collapsed" in diagnose(rows_from(), m)["labels"]) == collapsed


def test_low_quality_is_a_note_not_a_label_and_not_healthy():
    d = diagnose(rows_from(), {**GOOD, "high_quality": 0.038, "reverse_kl": 0.61})
    assert d["verdict"] == "not-converged" and d["labels"] == []
    assert any("3.8% < 50%" in n for n in d["notes"])
    # The run: 1.7% high-quality samples must not be called healthy.
    d = diagnose(rows_from(), {**GOOD, "high_quality": 0.017})
    assert d["verdict"] == "not-converged"
    # A failure label still comes first.
    d = diagnose(rows_from(), {**GOOD, "high_quality": 0.017, "modes_covered": 3})
    assert d["verdict"] == "mode-collapsed"
    assert diagnose(rows_from(), {**GOOD, "high_quality": 0.5})["verdict"] == "healthy"
    assert not any("high quality" in n for n in diagnose(rows_from(), GOOD)["notes"])


def test_sinusoidal_loss_is_oscillating_with_its_period():
    n, every, period_steps = 100, 10, 200  # 5 cycles over 1,000 steps
    t = np.arange(n)
    d_loss = 1.3 + 0.3 * np.sin(2 * np.pi * t * every / period_steps) + 0.002 * t
    d = diagnose(rows_from(n, every, d_loss=d_loss), GOOD)
    assert d["verdict"] == "oscillating"
    ev = next(e for e in d["evidence"] if e["label"] == "oscillating")
    assert ev["key"] == "d_loss" and ev["period_steps"] == pytest.approx(period_steps)
    assert ev["steps"] == [10, 1000]


def test_oscillation_statistics_match_an_independent_computation():
    n, cycles, a = 90, 6, 0.7
    t = np.arange(n)
    y = 2.0 + a * np.sin(2 * np.pi * cycles * t / n + 0.4) + 0.01 * t
    o = oscillation(y)
    # Reference: least-squares detrend, full autocorrelation, DFT power by definition.
    A = np.stack([t, np.ones(n)], 1)
    x = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    r = np.correlate(x, x, "full")[n - 1:] / (x @ x)
    P = np.array([abs(np.sum(x * np.exp(-2j * np.pi * k * t / n))) ** 2 for k in range(n // 2 + 1)])
    T = n / cycles
    assert o["period_rows"] == T
    assert o["power_fraction"] == pytest.approx(P[cycles - 1:cycles + 2].sum() / P[1:].sum(),
                                               rel=1e-12)
    assert o["acf_half"] == pytest.approx(r[round(T / 2)], rel=1e-12)
    assert o["acf_full"] == pytest.approx(r[round(T)], rel=1e-12)
    assert o["acf_next"] == pytest.approx(r[round(1.5 * T)], rel=1e-12)
    assert o["amplitude"] == pytest.approx(2 * np.sqrt(P[cycles - 1:cycles + 2].sum()) / n,
                                           rel=1e-12)
    # An exact whole number of cycles: all the detrended power in the peak, amplitude a (the
    # linear detrend removes a little of the sinusoid, hence the tolerance).
    assert o["power_fraction"] == pytest.approx(1.0, abs=0.02)
    assert o["amplitude"] == pytest.approx(a, rel=0.02)


@pytest.mark.parametrize("kind", ["white", "ar0.9", "random-walk"])
def test_noise_and_drift_are_not_oscillating(kind):
    for seed in range(20):
        rng = np.random.default_rng(seed)
        e = rng.standard_normal(100)
        if kind == "white":
            y = 1.3 + 0.1 * e
        elif kind == "random-walk":
            y = 1.3 + 0.05 * np.cumsum(e)
        else:
            y = np.zeros(100)
            for i in range(1, 100):
                y[i] = 0.9 * y[i - 1] + 0.05 * e[i]
            y += 1.3
        assert "oscillating" not in diagnose(rows_from(100, d_loss=y), GOOD)["labels"], seed


def test_short_traces_are_not_checked_for_oscillation():
    t = np.arange(dg.OSC_MIN_ROWS - 1)
    d = diagnose(rows_from(len(t), d_loss=1 + 0.5 * np.sin(t)), GOOD)
    assert d["verdict"] == "healthy" and any("oscillation not checked" in n for n in d["notes"])


def test_discriminator_winning_needs_confidence_and_a_weak_generator_signal():
    n = 60
    strong = {"d_real": np.full(n, 8.0), "d_fake": np.full(n, -8.0), "g_loss": np.full(n, 8.0),
              "d_loss": np.full(n, 0.3)}
    # Confident D, but G still gets as much gradient as D: not this failure.
    assert "discriminator-winning" not in diagnose(rows_from(n, **strong), GOOD)["labels"]
    # ... and with |grad G| / |grad D| = 1e-3 it is.
    weak = {**strong, "grad_ratio": np.full(n, 1e-3)}
    d = diagnose(rows_from(n, **weak), GOOD)
    assert d["verdict"] == "discriminator-winning"
    assert d["evidence"][0]["grad_ratio"] == pytest.approx(1e-3)
    # D's loss at its minimum counts too; a D that is not confident never does.
    assert "discriminator-winning" in diagnose(
        rows_from(n, **{**strong, "d_loss": np.full(n, 0.01)}), GOOD)["labels"]
    unsure = {**weak, "d_fake": np.full(n, -2.0)}
    assert "discriminator-winning" not in diagnose(rows_from(n, **unsure), GOOD)["labels"]


def test_rising_gradients_explode_and_ordinary_growth_does_not():
    n = 40
    rising = np.logspace(0, np.log10(5e3), n)  # 1 -> 5,000: below 1e4, but 5,000x
    d = diagnose(rows_from(n, grad_norm_D=rising), GOOD)
    ev = next(e for e in d["evidence"] if e["rule"] == "grad-growth")
    assert ev["key"] == "grad_norm_D" and ev["step"] == 10 * n
    assert ev["baseline"] == pytest.approx(float(np.median(rising[:n // 4])))
    warming = np.logspace(-2, np.log10(0.7), n)  # a fresh D's gradients growing 70x: normal
    assert "exploding" not in diagnose(rows_from(n, grad_norm_D=warming), GOOD)["labels"]


def test_non_finite_values_explode_and_the_evidence_is_strict_json():
    rows = rows_from(20)
    rows[7]["d_loss"] = math.nan
    rows[9]["grad_norm_G"] = math.inf
    d = diagnose(rows, GOOD)
    assert d["verdict"] == "exploding"
    steps = {e["key"]: e["step"] for e in d["evidence"] if e["rule"] == "non-finite"}
    assert steps == {"d_loss": 80, "grad_norm_G": 100}
    json.dumps(d, allow_nan=False)


def test_read_rows_skips_a_torn_last_line_only(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1, "d_loss": NaN}\n{"step": 2}\n{"step": 3, "d_lo')
    rows = read_rows(p)
    assert [r["step"] for r in rows] == [1, 2] and math.isnan(rows[0]["d_loss"])
    p.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_rows(p)


def test_formatted_diagnosis_shows_the_low_quality_note():
    from minigan.diagnostics.diagnosis import format_diagnosis

    text = format_diagnosis(diagnose([], {"modes_covered": 20, "n_modes": 25,
                                          "high_quality": 0.02, "reverse_kl": 0.3,
                                          "n_samples": 2500}))
    assert text.splitlines()[0].startswith("diagnosis: ")
    assert "note: high quality 2.0% < 50%" in text and "not checked" not in text
