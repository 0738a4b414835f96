"""The report of a ``minigan study sweep``: the per-config table (mean +- std over seeds), the
Markdown and CSV files, ``sweep.json`` and the heatmap ``sweep.png``; also ``grid``, the
cartesian product of the axes that both the plan (minigan.study.sweep) and the tables walk."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import pathlib
import textwrap
from typing import Any

import numpy as np


def grid(axes: dict[str, list[str]]) -> list[dict[str, str]]:
    """The cartesian product of the axes, in the order given (last axis fastest)."""
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def describe(res: dict) -> str:
    point = " ".join(f"{k}={v}" for k, v in res["point"].items())
    head = f"{point} seed={res['seed']}".strip()
    if res["error"]:
        return f"{head}: stopped ({res['error']}); {res['verdict']}"
    m = (f"{res['modes_covered']:.0f}/{res['n_modes']:.0f} modes, HQ "
         f"{100 * res['high_quality']:.1f}%, KL {res['reverse_kl']:.3f}, "
         if math.isfinite(res["n_modes"]) else "")
    return (f"{head}: {m}{res['verdict']} ({res['seconds']:.0f}s"
            f"{', reused' if res['reused'] else ''})")


def _mean_std(values: list[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return math.nan, math.nan
    if np.isinf(v).any():
        return math.inf, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def summarize(results: list[dict], axes: dict[str, list[str]]) -> list[dict]:
    """One row per grid point: mean and std over its seeds, and the verdicts counted."""
    table = []
    for point in grid(axes):
        runs = [r for r in results if r["point"] == point]
        verdicts: dict[str, int] = {}
        for r in runs:
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
        row: dict[str, Any] = {**point, "runs": len(runs)}
        for key, scale in (("modes_covered", 1), ("high_quality", 100), ("reverse_kl", 1)):
            mean, std = _mean_std([r[key] * scale for r in runs])
            row[f"{key}_mean"], row[f"{key}_std"] = mean, std
        row["n_modes"] = next((r["n_modes"] for r in runs if math.isfinite(r["n_modes"])),
                              math.nan)
        ranked = sorted(verdicts.items(), key=lambda kv: (-kv[1], kv[0]))
        row["verdict"] = ranked[0][0] if ranked else ""
        row["verdicts"] = ", ".join(f"{v} {c}/{len(runs)}" for v, c in ranked)
        row["seconds_mean"] = _mean_std([r["seconds"] for r in runs])[0]
        table.append(row)
    return table


def _pm(mean: float, std: float, fmt: str) -> str:
    if math.isnan(mean):
        return "-"
    if math.isinf(mean):
        return "inf"
    return f"{mean:{fmt}}" + ("" if std == 0 or math.isnan(std) else f" ± {std:{fmt}}")


def markdown_table(table: list[dict], keys: list[str]) -> str:
    head = [*keys, "modes", "HQ %", "reverse KL", "verdict (runs)", "time (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table:
        modes = _pm(r["modes_covered_mean"], r["modes_covered_std"], ".1f")
        if math.isfinite(r["n_modes"]) and modes != "-":
            modes += f" / {r['n_modes']:.0f}"
        cells = [*(str(r[k]) for k in keys), modes,
                 _pm(r["high_quality_mean"], r["high_quality_std"], ".1f"),
                 _pm(r["reverse_kl_mean"], r["reverse_kl_std"], ".3f"), r["verdicts"],
                 f"{r['seconds_mean']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def heatmap(path: pathlib.Path, table: list[dict], axes: dict[str, list[str]],
            title: str) -> None:
    """Modes covered (mean over seeds) on a grid: columns = the last axis, rows = the
    combinations of the others; each cell also shows HQ % and the main verdict."""
    from ..gan.plots import _plt

    plt = _plt()
    keys = list(axes)
    cols = axes[keys[-1]] if keys else [""]
    row_points = grid({k: axes[k] for k in keys[:-1]})
    val = np.full((len(row_points), len(cols)), np.nan)
    text = [["" for _ in cols] for _ in row_points]
    for r in table:
        i = row_points.index({k: r[k] for k in keys[:-1]})
        j = cols.index(r[keys[-1]]) if keys else 0
        val[i, j] = r["modes_covered_mean"]
        hq = r["high_quality_mean"]
        text[i][j] = (f"{_pm(r['modes_covered_mean'], math.nan, '.1f')} modes\n"
                      f"HQ {_pm(hq, math.nan, '.0f')}%\n{r['verdict']}")
    n_modes = next((r["n_modes"] for r in table if math.isfinite(r["n_modes"])), None)
    fig, ax = plt.subplots(figsize=(1.5 + 2.2 * len(cols), 1.2 + 1.1 * len(row_points)),
                           dpi=100)
    im = ax.imshow(np.ma.masked_invalid(val), cmap="viridis", vmin=0,
                   vmax=n_modes or max(1.0, float(np.nanmax(val)) if np.isfinite(val).any()
                                       else 1.0), aspect="auto")
    for i, row in enumerate(text):
        for j, t in enumerate(row):
            ax.text(j, i, t, ha="center", va="center", fontsize=8,
                    color="white" if not np.isfinite(val[i, j]) or val[i, j] < 0.6 * (
                        n_modes or 1) else "black")
    ax.set_xticks(range(len(cols)), [f"{keys[-1]}={c}" if keys else "" for c in cols])
    ax.set_yticks(range(len(row_points)),
                  [" ".join(f"{k}={v}" for k, v in p.items()) for p in row_points])
    fig.colorbar(im, ax=ax, label="modes covered (mean over seeds)")
    ax.set_title(textwrap.fill(title, 40 + 30 * len(cols)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(out: pathlib.Path, results: list[dict], axes: dict[str, list[str]],
                  settings: dict) -> dict[str, pathlib.Path]:
    """sweep.md, sweep.csv, runs.csv, sweep.json and sweep.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    keys = list(axes)
    table = summarize(results, axes)
    stats = [f"{k}_{s}" for k in ("modes_covered", "high_quality", "reverse_kl")
             for s in ("mean", "std")]
    title = (f"{settings['preset']}, {settings['steps']} steps, {settings['seeds']} seed(s)"
             + (f"; {settings['fixed']}" if settings.get("fixed") else ""))
    paths = {"markdown": out / "sweep.md", "csv": out / "sweep.csv", "runs": out / "runs.csv",
             "json": out / "sweep.json", "heatmap": out / "sweep.png"}
    paths["markdown"].write_text(f"Sweep: {title}. Modes/HQ/KL: the VEEGAN/PacGAN protocol on "
                                 f"{settings['eval_samples']} samples; mean ± std over seeds."
                                 f"\n\n{markdown_table(table, keys)}\n")
    paths["csv"].write_text(_csv(table, [*keys, "runs", "n_modes", *stats, "verdict",
                                         "verdicts", "seconds_mean"]))
    run_rows = [{**r["point"], "seed": r["seed"], **{k: r[k] for k in (
        "modes_covered", "n_modes", "high_quality", "reverse_kl", "verdict", "seconds",
        "error", "dir")}} for r in results]
    paths["runs"].write_text(_csv(run_rows, [*keys, "seed", "modes_covered", "n_modes",
                                             "high_quality", "reverse_kl", "verdict",
                                             "seconds", "error", "dir"]))
    doc = {"settings": settings, "axes": axes, "table": table, "runs": results}
    paths["json"].write_text(json.dumps(doc, indent=2, default=str) + "\n")
    heatmap(paths["heatmap"], table, axes, f"modes covered: {title}")
    return paths
