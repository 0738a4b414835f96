"""Pictures of a run: 2-D scatter plots over the mode centres, image grids, loss curves.

Matplotlib is imported lazily with the non-interactive Agg backend, so training never needs a
display and ``import minigan`` stays light.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def scatter_2d(path: str | pathlib.Path, samples: np.ndarray, means: np.ndarray | None = None,
               title: str = "", real: np.ndarray | None = None) -> None:
    """Generated points (blue) over real points (grey) and the mode centres (red crosses)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.75", label="data")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.6, label="generated")
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], s=40, c="tab:red", marker="x", label="modes")
        pad = 1.0 if np.ptp(means) > 3 else 0.3
        ax.set_xlim(means[:, 0].min() - pad, means[:, 0].max() + pad)
        ax.set_ylim(means[:, 1].min() - pad, means[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def image_grid(images: np.ndarray, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile (N, C, H, W) images in [-1, 1] into one (H', W', C) uint8 picture."""
    if images.ndim != 4:
        raise ValueError(f"images: expected (N, C, H, W), got shape {images.shape}")
    from ..utils import tile

    c = images.shape[1]
    nrow = nrow or int(np.ceil(np.sqrt(images.shape[0])))
    grid = tile(images.astype(np.float64), nrow, pad, 0.0).transpose(1, 2, 0)
    out = np.clip((grid + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return out[..., 0] if c == 1 else out


def save_image_grid(path: str | pathlib.Path, images: np.ndarray, nrow: int | None = None) -> None:
    plt = _plt()
    grid = image_grid(images, nrow)
    plt.imsave(path, grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255)


def loss_curves(path: str | pathlib.Path, metrics_file: str | pathlib.Path) -> None:
    """D and G losses (and the penalty when there is one) against the step."""
    rows = [json.loads(line) for line in pathlib.Path(metrics_file).read_text().splitlines()
            if line.strip()]
    if not rows:
        return
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [r["step"] for r in rows]
    for key, label in (("d_loss", "D loss"), ("g_loss", "G loss"), ("penalty", "penalty")):
        if any(key in r for r in rows):
            ax.plot(steps, [r.get(key, np.nan) for r in rows], label=label, lw=1)
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
