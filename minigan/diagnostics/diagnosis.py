"""Diagnosis of a training run from its telemetry: healthy, or which way it failed.

``diagnose(rows, final_metrics)`` reads the ``metrics.jsonl`` rows of a run (written every
``log_every`` steps) and its final metrics (the mode report on 2-D mixtures) and applies the
rules below. Every rule that fires adds its label and evidence -- the numbers, the steps, the
threshold it crossed -- so a verdict can be checked against the run's own records.

The *late window* is the last third of the rows (at least one row): the state the run ended in.

exploding
    Any of: the run stopped with an error (``error=``, e.g. the trainer's NaN/Inf stop) or a row
    holds a non-finite loss, D output or gradient norm; a total gradient norm of G or D
    ``>= GRAD_EXPLODE`` (1e4); a late gradient norm ``>= GRAD_GROWTH`` (1e3) times the median of
    the first quarter of the rows and ``>= GRAD_GROWTH_FLOOR`` (1e2) -- the rise that comes
    before the NaN; a mean D output ``|D| >= LOGIT_EXPLODE`` (1e4).
mode-collapsed (needs ``modes_covered`` and ``n_modes`` in ``final_metrics``)
    ``modes_covered <= COVER_FRACTION`` (1/2) of the modes, or the high-quality samples spread
    over at most that fraction: the effective number of modes ``K exp(-reverse_kl) <= K/2``
    (reverse KL >= log 2; a uniform spread over m of K modes has KL = log(K/m)).
discriminator-winning (vanishing generator gradients)
    In the late window (medians) D separates confidently -- ``D(x) >= +3`` and
    ``D(G(z)) <= -3`` logits, i.e. sigmoid >= 95% and <= 5% -- and the generator's signal is gone:
    the G loss is saturated (``|g_loss| <= G_LOSS_SATURATED`` 0.05: the minimax loss
    log(1 - sigmoid(D(G(z)))) is flat there), or D's loss sits at its minimum
    (``0 <= d_loss <= D_LOSS_AT_MIN`` 0.05, BCE and hinge), or ``|grad G| / |grad D| <=
    RATIO_VANISH`` (1e-2), or ``|grad G| <= G_GRAD_VANISH`` (1e-4). The logit thresholds are the
    BCE losses'; a WGAN critic has no fixed offset, so this rule speaks for it only when its
    outputs straddle +-3.
oscillating (needs ``OSC_MIN_ROWS`` = 30 rows)
    For the D and the G loss traces, linearly detrended: the periodogram's strongest frequency
    with at least 3 cycles in the trace (period T rows) holds, with its two neighbouring bins,
    ``>= OSC_POWER`` (0.4) of the power; the autocorrelation is ``<= OSC_ACF_HALF`` (-0.4) at
    lag T/2, ``>= OSC_ACF_FULL`` (+0.3) at lag T and ``<= OSC_ACF_NEXT`` (-0.2) at lag 3T/2 (the
    trace turns over and comes back, twice, which red noise rarely does); and the component's
    amplitude is ``>= OSC_AMPLITUDE`` (5%) of the trace's median absolute value. On simulated
    traces of 30-300 rows these thresholds flag white noise, AR(1) noise (phi 0.5, 0.9) and
    random walks in under 1% of traces, and a sinusoid of amplitude 3x the noise's std in over
    90%.
healthy
    None of the above fired and something could be checked. A mode report whose high-quality
    fraction is below ``LOW_QUALITY`` (50%) adds a note -- most samples are off the modes --
    and, when no rule fired, makes the verdict ``not-converged`` instead of ``healthy``
    (not one of the failure labels: the run may simply need more steps).
    With nothing to check (no rows and no mode report) the verdict is ``unknown``.

The verdict is the first label in the order exploding, mode-collapsed, discriminator-winning,
oscillating: a run that blew up is reported as that before what its samples look like, and the
measured outcome on samples before the dynamics that may explain it.
"""

from __future__ import annotations

import json
import math
import pathlib
import re
from typing import Any

import numpy as np

LABELS = ("exploding", "mode-collapsed", "discriminator-winning", "oscillating")

GRAD_EXPLODE = 1e4
GRAD_GROWTH = 1e3
GRAD_GROWTH_FLOOR = 1e2
LOGIT_EXPLODE = 1e4
COVER_FRACTION = 0.5
LOW_QUALITY = 0.5
LOGIT_CONFIDENT = 3.0
G_LOSS_SATURATED = 0.05
D_LOSS_AT_MIN = 0.05
RATIO_VANISH = 1e-2
G_GRAD_VANISH = 1e-4
OSC_MIN_ROWS = 30
OSC_MIN_CYCLES = 3
OSC_POWER = 0.4
OSC_ACF_HALF = -0.4
OSC_ACF_FULL = 0.3
OSC_ACF_NEXT = -0.2
OSC_AMPLITUDE = 0.05

_FINITE_KEYS = ("d_loss", "g_loss", "d_real", "d_fake", "grad_norm_G", "grad_norm_D")


def read_rows(path: str | pathlib.Path) -> list[dict]:
    """The rows of a ``metrics.jsonl`` file (NaN/Infinity allowed; a torn last line, as left by
    a killed process, is skipped)."""
    lines = [ln for ln in pathlib.Path(path).read_text().splitlines() if ln.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise ValueError(f"{path}: line {i + 1} is not JSON") from None
    return rows


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the rows that hold ``key``."""
    pairs = [(r["step"], float(r[key])) for r in rows if r.get(key) is not None]
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    s, v = zip(*pairs)
    return np.asarray(s), np.asarray(v, dtype=np.float64)


def _late(n: int) -> slice:
    return slice(n - max(1, n // 3), n)


def _ev(label: str, rule: str, text: str, **numbers: Any) -> dict:
    return {"label": label, "rule": rule, "text": text, **numbers}


def _largest_layer(row: dict, net: str) -> str | None:
    norms = (row.get("grad_norms") or {}).get(net) or {}
    finite = {k: v for k, v in norms.items() if v is not None and math.isfinite(v)}
    return max(finite, key=finite.get) if finite else None


# ---- the rules ----------------------------------------------------------------------------------
def _exploding(rows: list[dict], error: str | None) -> list[dict]:
    ev = []
    if error:
        m = re.search(r"step (\d+)", error)
        ev.append(_ev("exploding", "stopped", f"training stopped: {error}",
                      step=int(m.group(1)) if m else None))
    for key in _FINITE_KEYS:
        steps, v = _series(rows, key)
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.argmax(bad))
            ev.append(_ev("exploding", "non-finite", f"{key} = {v[i]} at step {steps[i]}",
                          key=key, step=int(steps[i]), value=float(v[i])))
    for net in ("G", "D"):
        key = f"grad_norm_{net}"
        steps, v = _series(rows, key)
        ok = np.isfinite(v)
        if not ok.any():
            continue
        steps, v = steps[ok], v[ok]
        i = int(np.argmax(v))
        layer = _largest_layer(next(r for r in rows if r["step"] == steps[i]), net)
        where = f" (largest: {layer})" if layer else ""
        if v[i] >= GRAD_EXPLODE:
            ev.append(_ev("exploding", "grad-norm", f"|grad {net}| = {v[i]:.3g} at step "
                          f"{steps[i]} >= {GRAD_EXPLODE:g}{where}", key=key, step=int(steps[i]),
                          value=float(v[i]), threshold=GRAD_EXPLODE, layer=layer))
            continue
        early = v[:max(1, len(v) // 4)]
        base = float(np.median(early))
        late = v[_late(len(v))]
        j = _late(len(v)).start + int(np.argmax(late))
        if base > 0 and v[j] >= GRAD_GROWTH * base and v[j] >= GRAD_GROWTH_FLOOR:
            ev.append(_ev("exploding", "grad-growth",
                          f"|grad {net}| rose {v[j] / base:.3g}x: median {base:.3g} over steps "
                          f"{steps[0]}-{steps[len(early) - 1]}, {v[j]:.3g} at step {steps[j]} "
                          f"(>= {GRAD_GROWTH:g}x and >= {GRAD_GROWTH_FLOOR:g})",
                          key=key, step=int(steps[j]), value=float(v[j]), baseline=base,
                          threshold=GRAD_GROWTH))
    for key in ("d_real", "d_fake"):
        steps, v = _series(rows, key)
        big = np.isfinite(v) & (np.abs(v) >= LOGIT_EXPLODE)
        if big.any():
            i = int(np.argmax(big))
            ev.append(_ev("exploding", "d-output", f"mean {key} = {v[i]:.3g} at step {steps[i]}"
                          f" (|D| >= {LOGIT_EXPLODE:g})", key=key, step=int(steps[i]),
                          value=float(v[i]), threshold=LOGIT_EXPLODE))
    return ev


def _mode_collapsed(m: dict) -> list[dict]:
    k, covered = int(m["n_modes"]), int(m["modes_covered"])
    hq, kl = m.get("high_quality"), m.get("reverse_kl")
    quality = f"; high quality {100 * hq:.1f}%" if hq is not None else ""
    ev = []
    if covered <= COVER_FRACTION * k:
        ev.append(_ev("mode-collapsed", "modes-covered",
                      f"{covered}/{k} modes covered (<= {COVER_FRACTION:g} of them){quality}",
                      value=covered, n_modes=k, threshold=COVER_FRACTION * k, high_quality=hq))
    elif kl is not None and math.isfinite(kl) and k * math.exp(-kl) <= COVER_FRACTION * k:
        eff = k * math.exp(-kl)
        ev.append(_ev("mode-collapsed", "effective-modes",
                      f"reverse KL {kl:.3f}: the high-quality samples spread like {eff:.1f} of "
                      f"{k} equally weighted modes (<= {COVER_FRACTION:g} of them); {covered} "
                      f"touched{quality}", value=eff, reverse_kl=kl, n_modes=k,
                      threshold=COVER_FRACTION * k))
    return ev


def _late_median(rows: list[dict], key: str) -> tuple[float | None, list[int]]:
    steps, v = _series(rows, key)
    if len(v) == 0:
        return None, []
    w = _late(len(v))
    vals = v[w][np.isfinite(v[w])]
    return (float(np.median(vals)) if len(vals) else None), [int(steps[w][0]), int(steps[-1])]


def _discriminator_winning(rows: list[dict]) -> list[dict]:
    real, span = _late_median(rows, "d_real")
    fake, _ = _late_median(rows, "d_fake")
    if real is None or fake is None or not (real >= LOGIT_CONFIDENT and
                                            fake <= -LOGIT_CONFIDENT):
        return []
    where = f"steps {span[0]}-{span[1]}"
    why = []
    g_loss, _ = _late_median(rows, "g_loss")
    d_loss, _ = _late_median(rows, "d_loss")
    ratio, _ = _late_median(rows, "grad_ratio")
    g_grad, _ = _late_median(rows, "grad_norm_G")
    if g_loss is not None and abs(g_loss) <= G_LOSS_SATURATED:
        why.append(f"G loss {g_loss:.3g} saturated (|.| <= {G_LOSS_SATURATED:g})")
    if d_loss is not None and 0 <= d_loss <= D_LOSS_AT_MIN:
        why.append(f"D loss {d_loss:.3g} at its minimum (<= {D_LOSS_AT_MIN:g})")
    if ratio is not None and ratio <= RATIO_VANISH:
        why.append(f"|grad G|/|grad D| = {ratio:.3g} (<= {RATIO_VANISH:g})")
    if g_grad is not None and g_grad <= G_GRAD_VANISH:
        why.append(f"|grad G| = {g_grad:.3g} (<= {G_GRAD_VANISH:g})")
    if not why:
        return []
    return [_ev("discriminator-winning", "confident-d",
                f"median D(x) = {real:.3g} >= {LOGIT_CONFIDENT:g} and D(G(z)) = {fake:.3g} <= "
                f"{-LOGIT_CONFIDENT:g} over {where}; " + "; ".join(why),
                steps=span, d_real=real, d_fake=fake, g_loss=g_loss, d_loss=d_loss,
                grad_ratio=ratio, grad_norm_G=g_grad)]


def oscillation(y: np.ndarray) -> dict:
    """Spectrum and autocorrelation of one trace: the strongest frequency with at least
    ``OSC_MIN_CYCLES`` cycles, its period T (in rows), the power fraction of that bin and its two
    neighbours, the autocorrelation rho at lags T/2, T and 3T/2, and the component's
    amplitude.

    With x the linearly detrended trace, P_k = |sum_t x_t e^(-2 pi i k t / n)|^2 (k >= 1),
    rho(l) = sum_t x_t x_(t+l) / sum_t x_t^2, amplitude = 2 sqrt(P_(k-1) + P_k + P_(k+1)) / n.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    t = np.arange(n)
    x = y - np.polyval(np.polyfit(t, y, 1), t)
    power = np.abs(np.fft.rfft(x)) ** 2
    power[0] = 0.0
    total = power.sum()
    if n < 2 * OSC_MIN_CYCLES or total <= 0:
        return {"period_rows": None, "power_fraction": 0.0, "acf_half": 0.0, "acf_full": 0.0,
                "acf_next": 0.0, "amplitude": 0.0}
    k = OSC_MIN_CYCLES + int(np.argmax(power[OSC_MIN_CYCLES:]))
    band = power[max(1, k - 1):k + 2].sum()
    period = n / k
    denom = float(x @ x)

    def acf(lag: int) -> float:
        return float(x[:-lag] @ x[lag:] / denom) if 0 < lag < n else 0.0

    return {"period_rows": period, "power_fraction": float(band / total),
            "acf_half": acf(max(1, round(period / 2))), "acf_full": acf(max(1, round(period))),
            "acf_next": acf(max(1, round(1.5 * period))),
            "amplitude": float(2 * math.sqrt(band) / n)}


def _oscillating(rows: list[dict], notes: list[str]) -> list[dict]:
    ev = []
    for key in ("d_loss", "g_loss"):
        steps, y = _series(rows, key)
        ok = np.isfinite(y)
        steps, y = steps[ok], y[ok]
        if len(y) < OSC_MIN_ROWS:
            notes.append(f"oscillation not checked on {key}: {len(y)} rows < {OSC_MIN_ROWS}")
            continue
        o = oscillation(y)
        scale = float(np.median(np.abs(y)))
        if (o["power_fraction"] >= OSC_POWER and o["acf_half"] <= OSC_ACF_HALF
                and o["acf_full"] >= OSC_ACF_FULL and o["acf_next"] <= OSC_ACF_NEXT
                and o["amplitude"] >= OSC_AMPLITUDE * scale):
            every = float(np.median(np.diff(steps)))
            period_steps = o["period_rows"] * every
            ev.append(_ev("oscillating", "spectrum",
                          f"{key} oscillates with period {period_steps:.0f} steps "
                          f"({o['period_rows']:.1f} rows) over steps {steps[0]}-{steps[-1]}: "
                          f"{100 * o['power_fraction']:.0f}% of the detrended power "
                          f"(>= {100 * OSC_POWER:.0f}%), autocorrelation {o['acf_half']:.2f} at "
                          f"half a period (<= {OSC_ACF_HALF:g}), {o['acf_full']:.2f} at one "
                          f"(>= {OSC_ACF_FULL:g}), {o['acf_next']:.2f} at one and a half "
                          f"(<= {OSC_ACF_NEXT:g}), amplitude {o['amplitude']:.3g} (median "
                          f"|{key}| {scale:.3g})", key=key, steps=[int(steps[0]), int(steps[-1])],
                          period_steps=period_steps, **o))
    return ev


def diagnose(rows: list[dict], final_metrics: dict | None = None,
             error: str | None = None) -> dict:
    """Classify a run from its ``metrics.jsonl`` rows and final metrics (see the module
    docstring for the rules and thresholds).

    ``error``: the message a run stopped with (the trainer's ``TrainingError``), when the rows
    are those written before the stop. Returns ``{"verdict": str, "labels": [...],
    "evidence": [{"label", "rule", "text", numbers...}], "notes": [...]}``; the verdict is
    ``healthy`` when no rule fired, ``unknown`` when there was nothing to check.
    """
    rows = sorted((r for r in rows or [] if "step" in r), key=lambda r: r["step"])
    m = final_metrics or {}
    notes: list[str] = []
    evidence = _exploding(rows, error)
    low_quality = False
    if "modes_covered" in m and "n_modes" in m:
        evidence += _mode_collapsed(m)
        hq = m.get("high_quality")
        low_quality = hq is not None and hq < LOW_QUALITY
        if low_quality:
            notes.append(f"high quality {100 * hq:.1f}% < {100 * LOW_QUALITY:.0f}%: most samples "
                         "are off the modes (not converged?)")
    else:
        notes.append("mode collapse not checked: no mode report in the final metrics")
    if rows and not any("grad_norm_G" in r for r in rows):
        notes.append("no gradient telemetry in the rows (telemetry off?): gradient rules skipped")
    evidence += _discriminator_winning(rows)
    evidence += _oscillating(rows, notes)
    labels = [lab for lab in LABELS if any(e["label"] == lab for e in evidence)]
    if labels:
        verdict = labels[0]
    elif low_quality:  # nothing failed, but most samples are off the modes: not "healthy"
        verdict = "not-converged"
    elif rows or "modes_covered" in m:
        verdict = "healthy"
    else:
        verdict = "unknown"
    return {"verdict": verdict, "labels": labels, "evidence": _jsonable(evidence),
            "notes": notes}


def _jsonable(obj: Any) -> Any:
    """Evidence as strict JSON: non-finite floats become strings ('nan', 'inf')."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else str(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def format_diagnosis(d: dict) -> str:
    """One line for the verdict, then one per piece of evidence, then the notes that qualify a
    verdict (a "healthy" run whose samples are mostly off the modes says so)."""
    head = f"diagnosis: {d['verdict']}"
    if len(d["labels"]) > 1:
        head += f" (also: {', '.join(d['labels'][1:])})"
    notes = [n for n in d.get("notes", []) if "not checked" not in n]
    return "\n".join([head, *(f"  - {e['label']}: {e['text']}" for e in d["evidence"]),
                      *(f"  note: {n}" for n in notes)])
