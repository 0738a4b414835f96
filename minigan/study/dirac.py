"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018, "Which training methods for GANs do actually
converge?", Section 2.2): the smallest GAN that shows why GAN training oscillates.

The data are a point mass at 0, the generator is a point mass at theta, the discriminator is
linear, D(x) = psi * x. With f(t) = -log(1 + e^-t) the paper writes the game as

    L(theta, psi) = f(D(theta)) + f(-D(0)) = f(psi * theta) + f(0),

which the generator minimizes over theta and the discriminator maximizes over psi. The unique
equilibrium is (theta, psi) = (0, 0). The gradient-descent vector field
v = (-dL/dtheta, +dL/dpsi) = (-psi f'(psi theta), theta f'(psi theta)) has the Jacobian
[[0, -f'(0)], [f'(0), 0]] at the equilibrium, f'(0) = 1/2: eigenvalues +-i/2, a pure rotation.
So simultaneous gradient descent with step h multiplies the distance to the equilibrium by
|1 + i h/2| = sqrt(1 + h^2/4) per step near it (it spirals out), and alternating descent keeps
it on a closed curve; a regularizer that adds damping (R1) makes the eigenvalues' real parts
negative and training converges.

In the paper's sign convention D is high on *generated* data; minigan's losses take logits that
are high on *real* data. So the logits handed to :mod:`minigan.gan.losses` are ``-D(x)``:
``losses.get('minimax')`` then gives exactly -L to the discriminator and L to the generator
(``ns``: the generator minimizes -f(-psi theta); ``wgan``: f(t) = t, L = psi theta). Every
gradient comes from minigan's autograd through those losses and through
:mod:`minigan.gan.penalties` (R1 and the gradient penalty differentiate D with respect to its
input with ``create_graph=True`` and then differentiate the penalty with respect to psi).

Methods (the paper's Figure 3 and Section 3): GAN (saturating), non-saturating GAN, WGAN with
psi clipped to [-1, 1] after every D step, WGAN-GP with weight 1 on E(||grad_x D|| - 1)^2 (for
D(x) = psi x that is (|psi| - 1)^2; Gulrajani et al. use 10 on real networks), GAN + R1 with
gamma 0.3 and 1 (R1 = gamma/2 E||grad_x D(x)||^2 on real data = gamma/2 psi^2; gamma = 1 is
critical damping: the eigenvalues are (-gamma +- sqrt(gamma^2 - 1)) / 2). Alternating descent
updates D first, then G at the new psi, as :class:`minigan.gan.trainer.Trainer` does.
Everything runs in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..gan import losses, penalties
from ..tensor import Tensor, grad, tensor

DTYPE = np.float64
SCHEMES = ("simultaneous", "alternating")


@dataclass(frozen=True)
class Method:
    """One training method on the Dirac-GAN: a loss of :mod:`minigan.gan.losses` plus an
    optional regularizer of D."""

    key: str
    title: str
    loss: str
    r1_gamma: float = 0.0
    gp_weight: float = 0.0
    clip: float = 0.0


METHODS: dict[str, Method] = {m.key: m for m in (
    Method("gan", "GAN", "minimax"),
    Method("ns-gan", "non-saturating GAN", "ns"),
    Method("wgan", "WGAN (clip 1)", "wgan", clip=1.0),
    Method("wgan-gp", "WGAN-GP (weight 1)", "wgan", gp_weight=1.0),
    Method("r1-0.3", "GAN + R1 (gamma 0.3)", "minimax", r1_gamma=0.3),
    Method("r1-1.0", "GAN + R1 (gamma 1)", "minimax", r1_gamma=1.0),
)}

# Verdict thresholds (r_t: distance to the equilibrium after t steps, T steps in all; the
# window is the last quarter of the run). Checked in this order:
CONVERGED = 1e-4       # converges:         r_T < 1e-4 (the paper's criterion)
DIVERGED = 1.5         # diverges:          r_T > 1.5 r_0, or r_T is not finite
STALL_MOVE = 1e-6      # stalls:            the iterate moved less than 1e-6 r_0 over the window
SLOW_FACTOR = 0.5      # converges slowly:  r_T < 0.5 r_0 and r_T < 0.9 r at the window's start
SLOW_TREND = 0.9       #                    (still shrinking, but not yet below 1e-4)
WINDOW = 0.25          # oscillates:        anything else -- bounded, still moving, not shrinking


def _scalar(v: float) -> Tensor:
    return tensor(np.array([v], dtype=DTYPE), requires_grad=True)


def _objectives(method: Method, theta: Tensor, psi: Tensor) -> tuple[Tensor, Tensor]:
    """(D's objective to minimize, G's objective to minimize) at (theta, psi)."""
    loss = losses.get(method.loss)

    def D(x: Tensor) -> Tensor:
        return psi * x

    real = Tensor(np.zeros(1, dtype=DTYPE))  # the data: every sample is 0, so one will do
    fake = theta                             # G(z) = theta for every z
    d_obj = loss.d_loss(-D(real), -D(fake))  # logits = -D(x): see the module docstring
    if method.r1_gamma:
        d_obj = d_obj + penalties.r1_penalty(D, real, method.r1_gamma)
    if method.gp_weight:
        d_obj = d_obj + method.gp_weight * penalties.gradient_penalty(D, real, fake)
    return d_obj, loss.g_loss(-D(fake))


def gradients(method: Method | str, theta: Tensor, psi: Tensor,
              create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """(dL_G/dtheta, dL_D/dpsi): the gradients each player descends, by minigan's autograd.

    ``theta`` and ``psi`` are one-element tensors that require grad. With ``create_graph`` the
    results carry a graph (for the Jacobian of the field, :mod:`minigan.study.jacobian`)."""
    method = METHODS[method] if isinstance(method, str) else method
    d_obj, g_obj = _objectives(method, theta, psi)
    (g_psi,) = grad(d_obj, psi, create_graph=create_graph, retain_graph=True)
    (g_theta,) = grad(g_obj, theta, create_graph=create_graph)
    return g_theta, g_psi


def _d_step(method: Method, th: float, ps: float, h: float) -> float:
    theta, psi = _scalar(th), _scalar(ps)
    d_obj, _ = _objectives(method, theta, psi)
    (g,) = grad(d_obj, psi)
    psi = _scalar(ps - h * float(g.array[0]))
    if method.clip:
        penalties.clip_weights([psi], method.clip)
    return float(psi.array[0])


def _g_step(method: Method, th: float, ps: float, h: float) -> float:
    theta, psi = _scalar(th), _scalar(ps)
    _, g_obj = _objectives(method, theta, psi)
    (g,) = grad(g_obj, theta)
    return th - h * float(g.array[0])


def simulate(method: Method | str, scheme: str = "simultaneous", steps: int = 500,
             h: float = 0.2, start: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """The path of (theta, psi) under gradient descent with step ``h``: shape (steps + 1, 2).

    simultaneous: both players step from the same point,
        theta' = theta - h dL_G/dtheta(theta, psi),  psi' = psi - h dL_D/dpsi(theta, psi);
    alternating: D first, then G at the new psi (the order of minigan's trainer)."""
    method = METHODS[method] if isinstance(method, str) else method
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"h: expected a positive step size, got {h!r}")
    path = np.empty((steps + 1, 2), dtype=DTYPE)
    th, ps = float(start[0]), float(start[1])
    path[0] = th, ps
    for t in range(1, steps + 1):
        if scheme == "simultaneous":
            th, ps = _g_step(method, th, ps, h), _d_step(method, th, ps, h)
        else:
            ps = _d_step(method, th, ps, h)
            th = _g_step(method, th, ps, h)
        path[t] = th, ps
        if not (math.isfinite(th) and math.isfinite(ps)):
            path[t + 1:] = np.nan
            break
    return path


def verdict(path: np.ndarray) -> str:
    """converges / converges slowly / stalls / oscillates / diverges, by the thresholds above
    applied to the distance r_t = sqrt(theta_t^2 + psi_t^2) along ``path``."""
    r = np.hypot(path[:, 0], path[:, 1])
    r0, rT = r[0], r[-1]
    w = max(1, int(round(WINDOW * (len(r) - 1))))
    if not math.isfinite(rT) or rT > DIVERGED * r0:
        return "diverges"
    if rT < CONVERGED:
        return "converges"
    moved = np.abs(path[-w - 1:] - path[-1]).max()
    if moved < STALL_MOVE * r0:
        return "stalls"
    if rT < SLOW_FACTOR * r0 and rT < SLOW_TREND * r[-w - 1]:
        return "converges slowly"
    return "oscillates"


def closed_form_growth(h: float, slope: float = 0.5) -> float:
    """Per-step growth of the distance under simultaneous GD on the linearized field
    v' = [[0, -s], [s, 0]] (s = f'(0) = 1/2): |1 + i h s| = sqrt(1 + h^2 s^2)."""
    return math.sqrt(1 + (h * slope) ** 2)


def run_study(methods: Sequence[str] | None = None, steps: int = 500, h: float = 0.2,
              start: tuple[float, float] = (1.0, 1.0)) -> tuple[list[dict], dict]:
    """Every (method, scheme): returns (table rows, {(key, scheme): path})."""
    keys = list(METHODS) if methods is None else list(methods)
    for k in keys:
        if k not in METHODS:
            raise ValueError(f"methods: unknown method {k!r}; expected some of "
                             f"{', '.join(METHODS)}")
    rows, paths = [], {}
    for k in keys:
        for scheme in SCHEMES:
            path = simulate(k, scheme, steps, h, start)
            paths[(k, scheme)] = path
            r = np.hypot(path[:, 0], path[:, 1])
            rows.append({
                "method": k, "title": METHODS[k].title, "scheme": scheme,
                "final_theta": float(path[-1, 0]), "final_psi": float(path[-1, 1]),
                "start_distance": float(r[0]), "final_distance": float(r[-1]),
                "max_distance": float(np.nanmax(r)),
                "growth_per_step": float((r[-1] / r[0]) ** (1 / steps)),
                "verdict": verdict(path),
            })
    return rows, paths


COLUMNS = ("title", "scheme", "final_distance", "max_distance", "growth_per_step", "verdict")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3e}" if (v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e3)) else f"{v:.4f}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    head = ["method", "scheme", "final distance", "max distance", "growth / step", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def thresholds() -> dict:
    """The verdict rules, as written into dirac.json."""
    return {
        "converges": f"final distance < {CONVERGED:g}",
        "diverges": f"final distance > {DIVERGED:g} x start distance (or not finite)",
        "stalls": f"moved less than {STALL_MOVE:g} x start distance over the last "
                  f"{WINDOW:.0%} of steps, away from the equilibrium",
        "converges slowly": f"final distance < {SLOW_FACTOR:g} x start and < {SLOW_TREND:g} x "
                            f"the distance {WINDOW:.0%} of the steps before the end",
        "oscillates": "anything else: bounded, still moving, not shrinking",
    }


def vector_field(method: Method | str, lim: float, n: int = 13) -> tuple[np.ndarray, ...]:
    """The simultaneous-descent field v = -(dL_G/dtheta, dL_D/dpsi) on an n x n grid over
    [-lim, lim]^2, by autograd: (theta grid, psi grid, v_theta, v_psi)."""
    axis = np.linspace(-lim, lim, n)
    TH, PS = np.meshgrid(axis, axis, indexing="xy")
    U, V = np.empty_like(TH), np.empty_like(PS)
    for idx in np.ndindex(TH.shape):
        g_theta, g_psi = gradients(method, _scalar(TH[idx]), _scalar(PS[idx]))
        U[idx], V[idx] = -float(g_theta.array[0]), -float(g_psi.array[0])
    return TH, PS, U, V


def write_outputs(out_dir: str, rows: list[dict], paths: dict, settings: dict,
                  plot: bool = True) -> dict[str, str]:
    """dirac.md, dirac.csv, dirac.json, dirac_paths.npz and (``plot``) dirac.png in out_dir;
    returns {kind: path}."""
    import csv
    import json
    import pathlib

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"markdown": out / "dirac.md", "csv": out / "dirac.csv", "json": out / "dirac.json",
             "paths": out / "dirac_paths.npz"}
    files["markdown"].write_text(markdown_table(rows) + "\n")
    with open(files["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    doc = {"settings": settings, "verdict_rules": thresholds(),
           "closed_form_growth_per_step": closed_form_growth(settings["h"]), "rows": rows}
    files["json"].write_text(json.dumps(doc, indent=2) + "\n")
    np.savez(files["paths"], **{f"{k}/{s}": p for (k, s), p in paths.items()})
    if plot:
        from .plots import dirac_trajectories

        files["plot"] = out / "dirac.png"
        keys = list(dict.fromkeys(k for k, _ in paths))
        fields = {}
        for k in keys:  # each panel spans its own paths (and at least the start point)
            reach = max(float(np.nanmax(np.abs(p))) for (m, _), p in paths.items() if m == k)
            fields[k] = vector_field(k, 1.15 * max(1.0, reach))
        dirac_trajectories(files["plot"], {k: METHODS[k].title for k in keys}, paths, fields,
                           {(r["method"], r["scheme"]): r["verdict"] for r in rows})
    return {k: str(v) for k, v in files.items()}
