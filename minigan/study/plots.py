"""Pictures of the studies: Dirac-GAN trajectories over their vector fields, and Jacobian
eigenvalues in the complex plane. Matplotlib is imported lazily with the Agg backend."""

from __future__ import annotations

import math
import pathlib
from typing import Any

import numpy as np

SCHEME_STYLE = {"simultaneous": ("tab:red", "simultaneous GD"),
                "alternating": ("tab:blue", "alternating GD")}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def dirac_trajectories(path: str | pathlib.Path, titles: dict[str, str], paths: dict,
                       fields: dict, verdicts: dict) -> None:
    """One panel per method: the (theta, psi) paths of each scheme over the arrows of the
    simultaneous-descent field, the start (black dot) and the equilibrium (black cross)."""
    plt = _plt()
    keys = list(titles)
    ncol = min(3, len(keys))
    nrow = math.ceil(len(keys) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 4.2 * nrow), dpi=100,
                             squeeze=False)
    for ax, k in zip(axes.ravel(), keys):
        TH, PS, U, V = fields[k]
        norm = np.hypot(U, V)
        scale = np.where(norm > 0, 1 / np.maximum(norm, 1e-12), 0)  # arrows show direction
        ax.quiver(TH, PS, U * scale, V * scale, color="0.7", width=0.004, headwidth=3)
        lines = []
        for scheme, (color, label) in SCHEME_STYLE.items():
            p = paths.get((k, scheme))
            if p is None:
                continue
            ax.plot(p[:, 0], p[:, 1], color=color, lw=0.9,
                    label=f"{label}: {verdicts[(k, scheme)]}")
            lines.append(p)
        if lines:
            ax.plot(*lines[0][0], "ko", ms=4)
        ax.plot(0, 0, "kx", ms=7)
        lim = float(np.abs(TH).max())
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("theta (generator)")
        ax.set_ylabel("psi (discriminator)")
        ax.set_title(titles[k], fontsize=10)
        ax.legend(loc="lower left", fontsize=7)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.suptitle("Dirac-GAN: paths from (1, 1) to the equilibrium (0, 0)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def eigenvalue_scatter(path: str | pathlib.Path, leading: np.ndarray, ritz: np.ndarray,
                       title: str) -> None:
    """The leading eigenvalues (filled) over all Ritz values of the Krylov space (grey), in the
    complex plane; the dashed lines |Im| = |Re| separate rotation-dominated eigenvalues (above)
    from decay/growth-dominated ones."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    ax.scatter(ritz.real, ritz.imag, s=10, c="0.7", label="all Ritz values")
    ax.scatter(leading.real, leading.imag, s=30, c="tab:red",
               label=f"{len(leading)} leading eigenvalues")
    reach = float(np.abs(ritz).max()) if ritz.size else 1.0
    reach = reach if reach > 0 else 1.0
    t = np.array([-reach, reach])
    ax.plot(t, t, "k--", lw=0.6)
    ax.plot(t, -t, "k--", lw=0.6, label="|Im| = |Re|")
    ax.axhline(0, color="k", lw=0.4)
    ax.axvline(0, color="k", lw=0.4)
    ax.set_xlim(-1.1 * reach, 1.1 * reach)
    ax.set_ylim(-1.1 * reach, 1.1 * reach)
    ax.set_aspect("equal")
    ax.set_xlabel("Re (< 0: locally contracting)")
    ax.set_ylabel("Im (rotation)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
