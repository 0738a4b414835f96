"""Pictures of a run's telemetry (``minigan plot RUN_DIR``), drawn from ``metrics.jsonl``.

One PNG per view, in ``RUN_DIR/plots/``:

* ``losses.png``       D and G losses and the penalty;
* ``d_outputs.png``    mean D(x) and D(G(z)) logits, each with a +-1 std band over the batch;
* ``grad_norms.png``   total gradient norms of G and D, and their ratio |grad G| / |grad D|
                       (log scale: vanishing and exploding gradients are orders of magnitude);
* ``layer_grad_norms.png``  the gradient norm of every parameter of G and of D (log scale);
* ``spectral_norms.png``    the largest singular value of every weight (power-iteration estimate);
* ``weight_norms.png``      the Frobenius norm of every weight;
* ``lr.png``           the learning rates of G and D.

Views whose numbers the rows lack (telemetry off) are skipped. Matplotlib is imported lazily with
the Agg backend, as in :mod:`minigan.gan.plots`.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from .diagnosis import read_rows


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])


def _nested(rows: list[dict], key: str, net: str) -> dict[str, np.ndarray]:
    """{parameter: values over the rows} of a per-layer telemetry entry (NaN where missing)."""
    names: list[str] = []
    for r in rows:
        for name in (r.get(key) or {}).get(net) or {}:
            if name not in names:
                names.append(name)
    return {n: np.array([np.nan if ((r.get(key) or {}).get(net) or {}).get(n) is None
                         else float(r[key][net][n]) for r in rows]) for n in names}


def _positive(v: np.ndarray) -> np.ndarray:
    """Values a log axis can show: non-positive and non-finite become gaps."""
    out = v.astype(np.float64).copy()
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def _save(fig: Any, plt: Any, path: pathlib.Path) -> pathlib.Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _losses(plt: Any, rows: list[dict], steps: np.ndarray, path: pathlib.Path,
            title: str) -> pathlib.Path:
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for key, label in (("d_loss", "D loss"), ("g_loss", "G loss"), ("penalty", "penalty")):
        v = _column(rows, key)
        if np.isfinite(v).any() and (key != "penalty" or np.nanmax(np.abs(v)) > 0):
            ax.plot(steps, v, lw=1, label=label)
    ax.set(xlabel="step", ylabel="loss", title=title or "losses")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def _d_outputs(plt: Any, rows: list[dict], steps: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for key, label, color in (("d_real", "D(x)", "tab:green"), ("d_fake", "D(G(z))", "tab:red")):
        mean, std = _column(rows, key), _column(rows, f"{key}_std")
        ax.plot(steps, mean, lw=1, color=color, label=f"{label} mean")
        if np.isfinite(std).any():
            ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2,
                            label=f"{label} +- std")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="step", ylabel="logit", title="discriminator outputs (batch mean +- std)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def _grad_norms(plt: Any, rows: list[dict], steps: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 6), dpi=100, sharex=True)
    for net, color in (("G", "tab:blue"), ("D", "tab:orange")):
        a.plot(steps, _positive(_column(rows, f"grad_norm_{net}")), lw=1, color=color,
               label=f"|grad {net}|")
    a.set(yscale="log", ylabel="total gradient norm", title="gradient norms")
    a.legend()
    a.grid(alpha=0.3, which="both")
    b.plot(steps, _positive(_column(rows, "grad_ratio")), lw=1, color="tab:purple")
    b.axhline(1, color="0.5", lw=0.8)
    b.set(yscale="log", xlabel="step", ylabel="|grad G| / |grad D|")
    b.grid(alpha=0.3, which="both")
    return _save(fig, plt, path)


def _per_layer(plt: Any, rows: list[dict], steps: np.ndarray, path: pathlib.Path, key: str,
               ylabel: str, title: str, log: bool) -> pathlib.Path:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100, sharex=True)
    for ax, net in zip(axes, ("G", "D")):
        series = _nested(rows, key, net)
        for name, v in series.items():
            ax.plot(steps, _positive(v) if log else v, lw=1, label=name)
        ax.set(xlabel="step", ylabel=ylabel, title=f"{title}: {net}")
        if log:
            ax.set_yscale("log")
        if series:
            ax.legend(fontsize=6, ncol=1 + len(series) // 8)
        ax.grid(alpha=0.3, which="both")
    return _save(fig, plt, path)


def _lr(plt: Any, rows: list[dict], steps: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    for key, label in (("lr_g", "G"), ("lr_d", "D")):
        ax.plot(steps, _column(rows, key), lw=1, label=label)
    ax.set(xlabel="step", ylabel="learning rate", title="learning rates")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def plot_run(run_dir: str | pathlib.Path, out_dir: str | pathlib.Path | None = None,
             title: str = "") -> dict[str, pathlib.Path]:
    """Draw the telemetry of ``run_dir/metrics.jsonl`` into ``out_dir`` (default
    ``run_dir/plots``); returns {view: path} of the PNGs written.

    Raises FileNotFoundError when the run has no metrics file and ValueError when it is empty.
    """
    run_dir = pathlib.Path(run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise FileNotFoundError(f"run_dir: {str(run_dir)!r} holds no metrics.jsonl "
                                "(expected a `minigan train` run directory)")
    rows = sorted(read_rows(metrics), key=lambda r: r["step"])
    if not rows:
        raise ValueError(f"run_dir: {str(metrics)!r} holds no rows yet")
    out = pathlib.Path(out_dir) if out_dir is not None else run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    steps = np.array([r["step"] for r in rows])
    paths = {"losses": _losses(plt, rows, steps, out / "losses.png", title),
             "d_outputs": _d_outputs(plt, rows, steps, out / "d_outputs.png")}
    if any("grad_norm_G" in r for r in rows):
        paths["grad_norms"] = _grad_norms(plt, rows, steps, out / "grad_norms.png")
    views = (("grad_norms", "layer_grad_norms", "gradient norm", "per-layer gradient norms", True),
             ("sigma", "spectral_norms", "sigma_max", "spectral norm estimates", True),
             ("weight_norms", "weight_norms", "Frobenius norm", "weight norms", False))
    for key, name, ylabel, view_title, log in views:
        if any(r.get(key) for r in rows):
            paths[name] = _per_layer(plt, rows, steps, out / f"{name}.png", key, ylabel,
                                     view_title, log)
    if any("lr_g" in r for r in rows):
        paths["lr"] = _lr(plt, rows, steps, out / "lr.png")
    return paths
