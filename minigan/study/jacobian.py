"""``minigan study jacobian``: the leading eigenvalues of the Jacobian of a GAN's joint gradient
field at a checkpoint -- the rotation that makes GAN training oscillate, made visible.

The field. Let phi be D's parameters and theta G's; L_D(phi, theta) is what D minimizes (its
loss plus its penalties, exactly as the trainer builds them) and L_G(phi, theta) what G
minimizes. Simultaneous gradient descent with step h is x <- x + h v(x), x = (phi, theta), with

    v(phi, theta) = -( grad_phi L_D(phi, theta),  grad_theta L_G(phi, theta) ).

Its Jacobian J = dv/dx is not symmetric (it is not the Hessian of one function; for a zero-sum
game its off-diagonal blocks are minus each other's transposes), so its eigenvalues are complex.
Near a stationary point x*, x - x* evolves like exp(t J): an eigenvalue lambda with Re < 0
contracts, Re > 0 expands, and Im != 0 rotates; |Im| >> |Re| is the oscillation of GAN training
(for the Dirac-GAN J = [[0, -1/2], [1/2, 0]] at the equilibrium: eigenvalues +-i/2, pure
rotation). A GD step multiplies that direction by |1 + h lambda|.

How. Reverse mode gives vector-Jacobian products, not J w: build v with ``create_graph=True``
(the gradients carry their own graph), then for any w the gradient of <v, w> with respect to x
is w^T J = (J^T w)^T -- one double-backprop pass. Arnoldi iteration on w -> J^T w
(:mod:`minigan.study.arnoldi`) finds the largest-magnitude eigenvalues of J^T, which are those of
J (a real matrix and its transpose share the characteristic polynomial). Left eigenvectors of J
come with them: ``d_share`` is the part of each one's squared norm on D's parameters.

v is made deterministic: one real batch (the run's data source, seeded by the run's seed), one
latent batch drawn from the run's seed, minigan's generator reseeded before the penalties draw
(gradient-penalty interpolation, DRAGAN noise); the models are cast to float64 and left in
training mode, as in training, except that spectral norm uses the checkpoint's u, v without a
power iteration (its backward treats them as constants anyway; with them fixed, v depends on the
parameters alone). Instance noise, weight clipping and EMA are not part of the field.
The Krylov basis holds krylov x n float64 numbers, so models above ``MAX_PARAMS`` parameters
are refused.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Sequence

import numpy as np

from .. import random as mgrandom
from ..ops import mean, softplus
from ..tensor import Tensor, enable_grad, grad
from .arnoldi import ArnoldiResult, arnoldi

MAX_PARAMS = 250_000
UNCONDITIONAL = ("mlp", "dcgan", "sngan-resnet")
CONVERGED_RESIDUAL = 1e-6  # a Ritz value with ||J^T x - lambda x|| < 1e-6 |lambda| is trusted


class JacobianStudyError(ValueError):
    """The run cannot be studied (no checkpoint, a conditional or too large model)."""


def flat_vjp(fields: Sequence[Tensor | None], params: Sequence[Tensor]
             ) -> Callable[[np.ndarray], np.ndarray]:
    """w -> J^T w for the field v = ``fields`` (tensors built with ``create_graph=True``, one per
    parameter, or None for a zero component) as a function of ``params``; flat float64 vectors.

    J^T w = grad_x <v(x), w>, by one more backward pass through v's graph (kept alive with
    ``retain_graph``, so the same v serves every product)."""
    shapes = [p.shape for p in params]
    sizes = [int(np.prod(s)) for s in shapes]
    offsets = np.cumsum([0, *sizes])
    n = int(offsets[-1])
    live = [(i, f) for i, f in enumerate(fields) if f is not None and f.requires_grad]

    def vjp(w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=np.float64).reshape(-1)
        if w.shape != (n,):
            raise ValueError(f"w: expected a vector of length {n}, got shape {w.shape}")
        out = np.zeros(n)
        if not live:
            return out
        dot = None
        for i, f in live:
            wi = Tensor(w[offsets[i]:offsets[i + 1]].reshape(shapes[i]).astype(f.dtype))
            term = (f * wi).sum()
            dot = term if dot is None else dot + term
        with enable_grad():
            gs = grad(dot, list(params), retain_graph=True, allow_unused=True)
        for i, g in enumerate(gs):
            if g is not None:
                out[offsets[i]:offsets[i + 1]] = np.asarray(g.numpy(), np.float64).reshape(-1)
        return out

    return vjp


def _flat_logits(out: object) -> Tensor:
    out = out[0] if isinstance(out, tuple) else out
    return out.reshape(-1)


class GameField:
    """The joint field v(phi, theta) of a run's models at their current parameters (see the
    module docstring); ``params`` is D's parameters followed by G's."""

    def __init__(self, G: object, D: object, cfg: dict, source: object, real: Tensor,
                 z: Tensor) -> None:
        from ..gan import losses

        self.G, self.D, self.cfg, self.source = G, D, cfg, source
        self.real, self.z = real, z
        self.loss = losses.get(cfg["loss"])
        # The trainer's reading of the config: 'wgan-gp' means WGAN + penalty weight 10.
        self.gp_weight = cfg.get("gp_weight") or (10.0 if cfg["loss"] == "wgan-gp" else 0.0)
        self.d_params = list(D.parameters())
        self.g_params = list(G.parameters())
        self.params = self.d_params + self.g_params
        # Spectral norm keeps the checkpoint's u, v (no power iteration: that is optimizer
        # state, outside the graph); other buffers go back to the checkpoint's values before
        # every evaluation. So v is a function of the parameters alone and J its exact Jacobian.
        for m in (*G.modules(), *D.modules()):
            if any(k.endswith("_u") and k[:-2] + "_orig" in m._parameters for k in m._buffers):
                m.train(False)
        self._buffers = [(b, b.array.copy()) for m in (G, D) for b in m.buffers()]

    def objectives(self) -> tuple[Tensor, Tensor]:
        """(L_D, L_G) on the fixed batches, with the graph to every parameter. Mirrors
        ``Trainer._d_step``/``_g_step``, except that the fake batch is not detached (v_D
        depends on theta) and one fake batch serves both players."""
        cfg, src = self.cfg, self.source
        for b, value in self._buffers:
            b.array[...] = value
        saved = mgrandom.get_rng_state()
        mgrandom.manual_seed(int(cfg.get("seed", 0)))  # same penalty draws on every call
        try:
            return self._objectives(cfg, src)
        finally:
            mgrandom.set_rng_state(saved)

    def _objectives(self, cfg: dict, src: object) -> tuple[Tensor, Tensor]:
        from ..gan import penalties

        def D(x: Tensor) -> Tensor:
            return _flat_logits(src.call_d(self.D, x, None))

        fake = self.G(self.z)
        r, f = D(self.real), D(fake)
        s = cfg.get("label_smoothing", 0.0)
        d_obj = (mean(softplus(r) - (1 - s) * r) + mean(softplus(f)) if s
                 else self.loss.d_loss(r, f))
        if self.gp_weight:
            d_obj = d_obj + self.gp_weight * penalties.gradient_penalty(
                D, self.real, fake, one_sided=cfg.get("gp_one_sided", False))
        if cfg.get("r1_gamma"):
            d_obj = d_obj + penalties.r1_penalty(D, self.real, cfg["r1_gamma"])
        if cfg.get("r2_gamma"):
            d_obj = d_obj + penalties.r2_penalty(D, fake, cfg["r2_gamma"])
        if cfg.get("dragan_weight"):
            d_obj = d_obj + cfg["dragan_weight"] * penalties.dragan_penalty(D, self.real)
        g_obj = self.loss.g_loss(f, r if self.loss.needs_real_for_g else None)
        return d_obj, g_obj

    def field(self, create_graph: bool = True) -> list[Tensor | None]:
        """v = -(grad_phi L_D, grad_theta L_G), one tensor (or None: zero) per parameter."""
        with enable_grad():  # the field is made of gradients, even inside mg.no_grad()
            d_obj, g_obj = self.objectives()
            gd = grad(d_obj, self.d_params, create_graph=create_graph, retain_graph=True,
                      allow_unused=True)
            gg = grad(g_obj, self.g_params, create_graph=create_graph, retain_graph=True,
                      allow_unused=True)
        return [None if g is None else -g for g in [*gd, *gg]]

    def field_vector(self) -> np.ndarray:
        """v as one flat float64 vector (first order only: for checks by finite differences)."""
        parts = [np.zeros(p.shape) if g is None else g.numpy()
                 for g, p in zip(self.field(create_graph=False), self.params)]
        return np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in parts])

    def vjp(self) -> Callable[[np.ndarray], np.ndarray]:
        return flat_vjp(self.field(create_graph=True), self.params)


def n_params(module: object) -> int:
    return sum(p.numel() for p in module.parameters())


def _checkpoint_path(run_dir: pathlib.Path, name: str | None) -> pathlib.Path:
    ckpts = run_dir / "checkpoints"
    if name is None:
        for cand in ("final.npz", "latest.npz"):
            if (ckpts / cand).is_file():
                return ckpts / cand
        raise JacobianStudyError(f"RUN_DIR: no checkpoints/final.npz or checkpoints/latest.npz "
                                 f"in {str(run_dir)!r}; is it a `minigan train` run directory?")
    path = ckpts / (name if name.endswith(".npz") else f"{name}.npz")
    if not path.is_file():
        have = sorted(p.name for p in ckpts.glob("*.npz")) if ckpts.is_dir() else []
        raise JacobianStudyError(f"--checkpoint: {str(path)!r} does not exist; the run has "
                                 f"{', '.join(have) or 'no checkpoints'}")
    return path


def load_field(run_dir: str | pathlib.Path, checkpoint_name: str | None = None,
               max_params: int = MAX_PARAMS) -> tuple[GameField, dict]:
    """The game field of a run's checkpoint, and facts about it (path, step, parameter counts)."""
    from ..gan import checkpoint, models
    from ..gan.data_source import make_source

    run_dir = pathlib.Path(run_dir)
    path = _checkpoint_path(run_dir, checkpoint_name)
    state = checkpoint.load(path)
    missing = [k for k in ("config", "model_config", "G", "D", "step") if k not in state]
    if missing:
        raise JacobianStudyError(f"checkpoint {str(path)!r} lacks {', '.join(missing)}; "
                                 "is it a checkpoint of `minigan train`?")
    cfg, mcfg = state["config"], state["model_config"]
    if cfg["model"] not in UNCONDITIONAL:
        raise JacobianStudyError(f"model {cfg['model']!r} is conditional; the Jacobian study "
                                 f"handles the unconditional models ({', '.join(UNCONDITIONAL)})")
    G, D = models.build(mcfg["model"], mcfg)
    n_g, n_d = n_params(G), n_params(D)
    if n_g + n_d > max_params:
        raise JacobianStudyError(
            f"the run's models have {n_g + n_d:,} parameters (G {n_g:,}, D {n_d:,}); the "
            f"Jacobian study handles at most {max_params:,} (its Krylov basis holds krylov x "
            "parameters float64 numbers): use a small model such as the grid25 MLP")
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    G.double()
    D.double()
    source = make_source(cfg)
    real, _ = source.real_batch(cfg["batch_size"])
    real = Tensor(np.asarray(real.numpy(), dtype=np.float64))
    rng = np.random.default_rng([int(cfg["seed"]), 7])
    z = Tensor(rng.standard_normal((cfg["batch_size"], mcfg["z_dim"])))
    info = {"checkpoint": str(path), "step": int(state["step"]), "loss": cfg["loss"],
            "n_params": {"G": n_g, "D": n_d}, "batch_size": cfg["batch_size"]}
    return GameField(G, D, cfg, source, real, z), info


def spectrum(field: GameField, krylov: int = 60, seed: int = 0) -> ArnoldiResult:
    """All Ritz pairs of J^T (= eigenvalues of J) from a ``krylov``-dimensional Arnoldi run."""
    n = sum(p.numel() for p in field.params)
    return arnoldi(field.vjp(), n, krylov, seed=seed)


def eigen_rows(res: ArnoldiResult, n_d: int) -> list[dict]:
    """One dict per Ritz pair: re, im, |lambda|, |Im|/|Re|, relative residual, D share."""
    rows = []
    for lam, resid, vec in zip(res.values, res.residuals, res.vectors.T):
        mass = np.abs(vec) ** 2
        size = abs(lam)
        rows.append({"re": float(lam.real), "im": float(lam.imag), "abs": float(size),
                     # None for Re = 0 exactly (pure rotation; JSON has no infinity)
                     "rotation": float(abs(lam.imag) / abs(lam.real)) if lam.real != 0
                     else None,
                     "rel_residual": float(resid / size) if size > 0 else float(resid),
                     "d_share": float(mass[:n_d].sum() / mass.sum())})
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| # | Re | Im | abs | abs(Im)/abs(Re) | rel. residual | D share |",
             "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['re']:+.4e} | {r['im']:+.4e} | {r['abs']:.4e} | "
                     f"{'inf' if r['rotation'] is None else format(r['rotation'], '.3g')} | "
                     f"{r['rel_residual']:.1e} | {r['d_share']:.2f} |")
    return "\n".join(lines)


def run_study(run_dir: str | pathlib.Path, k: int = 6, checkpoint_name: str | None = None,
              krylov: int = 60, seed: int = 0, plot: bool = True) -> dict:
    """The ``k`` leading eigenvalues of the run's game Jacobian; writes RUN_DIR/jacobian.json
    (and jacobian.png) and returns the JSON document."""
    import json

    if not (isinstance(k, int) and k >= 1):
        raise JacobianStudyError(f"--k: expected a positive number of eigenvalues, got {k!r}")
    if not (isinstance(krylov, int) and krylov >= 2):
        raise JacobianStudyError(f"--krylov: expected a Krylov dimension >= 2, got {krylov!r}")
    run_dir = pathlib.Path(run_dir)
    field, info = load_field(run_dir, checkpoint_name)
    res = spectrum(field, max(krylov, k), seed)
    rows = eigen_rows(res, info["n_params"]["D"])
    doc = {**info, "field": "v = -(grad_phi L_D, grad_theta L_G); J = dv/d(phi, theta)",
           "method": "Arnoldi on J^T w = grad <v, w> (double backprop), float64",
           "krylov_dim": res.krylov_dim, "invariant_subspace": res.invariant,
           "leading": rows[:k], "ritz": rows}
    # The leading values of a trained D are often its own (real) curvature; the fastest
    # rotation among the converged Ritz values is reported beside them.
    converged = [r for r in rows if r["rel_residual"] < CONVERGED_RESIDUAL]
    doc["fastest_rotation"] = max(converged, key=lambda r: abs(r["im"])) if converged else None
    (run_dir / "jacobian.json").write_text(json.dumps(doc, indent=2) + "\n")
    if plot:
        from .plots import eigenvalue_scatter

        eigenvalue_scatter(run_dir / "jacobian.png", res.values[:k], res.values,
                           f"{run_dir.name}, step {info['step']}: game Jacobian eigenvalues "
                           f"({info['loss']})")
        doc["plot"] = str(run_dir / "jacobian.png")
    return doc
