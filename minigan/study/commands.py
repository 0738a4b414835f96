"""``minigan study dirac`` and ``minigan study jacobian``.

Exit codes: 0 done; 2 bad input (unknown method, no checkpoint, a model too large or
conditional). The study modules are imported only when a study runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _fail(cmd: str, msg: str) -> int:
    print(f"minigan study {cmd}: error: {msg}", file=sys.stderr)
    return 2


def cmd_dirac(args: argparse.Namespace) -> int:
    from . import dirac

    methods = args.methods.split(",") if args.methods else None
    try:
        rows, paths = dirac.run_study(methods, steps=args.steps, h=args.h)
    except ValueError as e:
        return _fail("dirac", str(e))
    settings = {"steps": args.steps, "h": args.h, "start": [1.0, 1.0], "dtype": "float64",
                "methods": {r["method"]: r["title"] for r in rows}}
    try:
        files = dirac.write_outputs(args.out, rows, paths, settings, plot=not args.no_plot)
    except OSError as e:
        return _fail("dirac", f"--out: cannot write to {args.out!r}: {e}")
    print(dirac.markdown_table(rows))
    print(f"\nclosed form near the equilibrium (GAN, simultaneous): growth per step "
          f"sqrt(1 + h^2/4) = {dirac.closed_form_growth(args.h):.5f}")
    for kind, path in files.items():
        print(f"{kind + ':':10s}{path}")
    return 0


def cmd_jacobian(args: argparse.Namespace) -> int:
    from ..gan.checkpoint import CheckpointError
    from ..gan.config import ConfigError
    from . import jacobian

    try:
        doc = jacobian.run_study(args.run_dir, k=args.k, checkpoint_name=args.checkpoint,
                                 krylov=args.krylov, plot=not args.no_plot)
    except (jacobian.JacobianStudyError, CheckpointError, ConfigError) as e:
        return _fail("jacobian", str(e))
    n = doc["n_params"]
    print(f"{doc['checkpoint']} (step {doc['step']}, loss {doc['loss']}, D {n['D']:,} + "
          f"G {n['G']:,} parameters, Krylov dimension {doc['krylov_dim']})")
    print(jacobian.markdown_table(doc["leading"]))
    fast = doc["fastest_rotation"]
    if fast is not None:
        print(f"fastest rotation among converged Ritz values: {fast['re']:+.4e} "
              f"{fast['im']:+.4e}i (|Im|/|Re| "
              f"{'inf' if fast['rotation'] is None else format(fast['rotation'], '.3g')})")
    worst = max(r["rel_residual"] for r in doc["leading"])
    if worst > 1e-3:
        print(f"note: relative residuals up to {worst:.1e}: some values are not converged; "
              "raise --krylov", file=sys.stderr)
    print(f"json:     {args.run_dir.rstrip('/')}/jacobian.json")
    if "plot" in doc:
        print(f"plot:     {doc['plot']}")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    from . import augment

    try:
        ns = [int(v) for v in args.n.split(",")]
        seeds = list(range(args.seeds))
        doc = augment.run_study(ns, seeds, args.clf_steps, args.gan_steps,
                                args.synthetic_per_class, args.synthetic_fraction, args.out,
                                n_test=args.n_test, log=lambda m: print(m, file=sys.stderr),
                                dataset=args.dataset)
    except ValueError as e:
        return _fail("augment", str(e))
    except OSError as e:
        return _fail("augment", f"--out: cannot write to {args.out!r}: {e.strerror or e}")
    print(augment.markdown(doc["table"]))
    print(f"json:     {args.out.rstrip('/')}/augment.json")
    return 0


def add_commands(sub: Any) -> None:
    study = sub.add_parser("study", help="GAN training dynamics: dirac, jacobian, sweep",
                           description="Studies of GAN training dynamics.")
    ss = study.add_subparsers(dest="study_command", metavar="STUDY")
    study.set_defaults(func=lambda a: (study.print_help(sys.stderr), 2)[1])

    dirac = ss.add_parser(
        "dirac", help="the Dirac-GAN of Mescheder et al. 2018: which methods converge",
        description="Train the Dirac-GAN (data at 0, G = delta_theta, D(x) = psi x) from "
        "(1, 1) with simultaneous and alternating gradient descent for GAN, non-saturating "
        "GAN, WGAN, WGAN-GP and GAN + R1; write a table and a trajectory plot.")
    dirac.add_argument("--out", default="runs/dirac", help="output directory (runs/dirac)")
    dirac.add_argument("--steps", type=int, default=500, help="gradient steps (500)")
    dirac.add_argument("--h", type=float, default=0.2, help="step size (0.2)")
    dirac.add_argument("--methods", help="comma-separated subset of: gan, ns-gan, wgan, "
                       "wgan-gp, r1-0.3, r1-1.0 (all)")
    dirac.add_argument("--no-plot", action="store_true", help="skip the PNG")
    dirac.set_defaults(func=cmd_dirac)

    jac = ss.add_parser(
        "jacobian", help="leading eigenvalues of the (D, G) game Jacobian at a checkpoint",
        description="Leading eigenvalues of the Jacobian of the simultaneous gradient field "
        "v = -(grad_D L_D, grad_G L_G) at a run's checkpoint, by Arnoldi iteration on "
        "vector-Jacobian products from double backprop. Small models only.")
    jac.add_argument("run_dir", metavar="RUN_DIR", help="a `minigan train` run directory")
    jac.add_argument("--k", type=int, default=6, help="eigenvalues to report (6)")
    jac.add_argument("--checkpoint", help="checkpoint name in RUN_DIR/checkpoints "
                     "(default final.npz, else latest.npz)")
    jac.add_argument("--krylov", type=int, default=60, help="Arnoldi Krylov dimension (60)")
    jac.add_argument("--no-plot", action="store_true", help="skip the PNG")
    jac.set_defaults(func=cmd_jacobian)

    aug = ss.add_parser(
        "augment", help="few labels: the digit classifier with and without cGAN samples",
        description="Train the digit classifier on n labelled digits per class, with and "
        "without samples of a class-conditional GAN trained on the same digits; held-out "
        "accuracy over seeds (a table; augment.json).")
    aug.add_argument("--n", default="10,50,100", help="labelled digits per class (10,50,100)")
    aug.add_argument("--seeds", type=int, default=3, help="seeds 0..S-1 per n (3)")
    aug.add_argument("--clf-steps", type=int, default=200, help="classifier steps (200)")
    aug.add_argument("--gan-steps", type=int, default=500, help="cGAN steps (500)")
    aug.add_argument("--synthetic-per-class", type=int, default=100,
                     help="cGAN samples drawn per class (100)")
    aug.add_argument("--synthetic-fraction", type=float, default=0.5,
                     help="share of each classifier batch taken from them (0.5)")
    aug.add_argument("--n-test", type=int, default=1000,
                     help="held-out test images scored, spread over the classes (1000: all "
                     "the digits'; at most the test split)")
    aug.add_argument("--dataset", default="digits",
                     help="labelled images to study: digits (default), mnist-idx:<dir>, "
                     "fashion-mnist-idx:<dir>, cifar10:<dir>, folder:<dir> with one subfolder "
                     "per class, npz:<file> with labels")
    aug.add_argument("--out", default="runs/augment", help="output directory (runs/augment)")
    aug.set_defaults(func=cmd_augment)

    from .sweep import add_sweep_parser

    add_sweep_parser(ss)
