"""``minigan eval RUN_DIR``: score a finished run's generator.

The run's ``checkpoints/final.npz`` is loaded (the EMA generator when the run kept one) and N
samples are drawn with a fixed seed. What is computed depends on what the generator makes:

* 2-D points (grid25, ring8): modes covered, high-quality fraction and reverse KL
  (:mod:`minigan.metrics.modes`, 2,500 samples by default);
* 28x28 single-channel images: digit-class coverage and KL to uniform, Fréchet distance in the
  digit classifier's feature space, and k-NN precision/recall, against the 1,000 held-out test
  digits (:mod:`minigan.metrics.images`; 5,000 samples by default); for conditional runs
  (cgan, acgan) the class accuracy of the samples, for InfoGAN runs the accuracy of the best
  code-to-class map (:mod:`minigan.metrics.labels`);
* 28x28 three-channel images: Stacked-MNIST modes covered (of 1,000) and KL to uniform
  (:mod:`minigan.metrics.stacked`; 26,000 samples by default, the VEEGAN/PacGAN protocol).

The result goes to ``RUN_DIR/eval.json`` and is printed as a table (or JSON with ``--json``).
Application runs (sr, pix2pix, cyclegan, ssgan) are re-scored with the figures of their own
``summary.json`` (:mod:`minigan.gan.apps.runs`).

Exit codes: 0 done; 2 bad input (no run, corrupt checkpoint, nothing to measure).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

import numpy as np

DEFAULT_N = {"2d": 2500, "digits": 5000, "stacked": 26_000}


def _fail(msg: str) -> int:
    print(f"minigan eval: error: {msg}", file=sys.stderr)
    return 2


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def kind_of(cfg: dict) -> str:
    """'2d', 'digits' or 'stacked' from a checkpoint's model config; ValueError otherwise."""
    from ..data import toy

    if cfg.get("dataset") in toy.MIXTURES:
        return "2d"
    if cfg.get("dataset") == "spiral":
        raise ValueError("the spiral has no discrete modes to count; nothing to evaluate")
    shape = (cfg.get("channels"), cfg.get("image_size"))
    if shape == (1, 28):
        return "digits"
    if shape == (3, 28):
        return "stacked"
    raise ValueError(f"no metrics for a generator of {shape[0]}-channel {shape[1]}x{shape[1]} "
                     "images (eval knows 2-D mixtures, 28x28 digits and 28x28x3 Stacked MNIST)")


def draw_labelled(G: Any, cfg: dict, n: int, seed: Any,
                  batch_size: int = 500) -> tuple[np.ndarray, np.ndarray | None]:
    """n samples of G (in eval mode, no graph) from latents of a NumPy generator seeded by
    ``seed``, in batches, and the label each was drawn with: the class of a conditional
    generator (cgan, acgan), the categorical code of an InfoGAN generator, else None."""
    from ..gan.data_source import fixed_latent, generate_from
    from ..tensor import no_grad

    rng = np.random.default_rng(seed)
    G.eval()
    out, labels = [], []
    with no_grad():
        for start in range(0, n, batch_size):
            fixed = fixed_latent(cfg, min(batch_size, n - start), rng)
            out.append(generate_from(G, cfg, fixed).numpy())
            if len(fixed) > 1 and fixed[1] is not None:  # [z, labels] or [z, cat, cont]
                labels.append(fixed[1])
    x = np.concatenate(out)
    if not np.all(np.isfinite(x)):
        raise ValueError("the generator's samples contain NaN or Inf")
    return x, (np.concatenate(labels) if labels else None)


def draw_samples(G: Any, cfg: dict, n: int, seed: Any, batch_size: int = 500) -> np.ndarray:
    """The samples of :func:`draw_labelled`, without the labels."""
    return draw_labelled(G, cfg, n, seed, batch_size)[0]


def label_scores(cfg: dict, predicted: np.ndarray, labels: np.ndarray | None) -> dict:
    """Whether samples show the label they were drawn with (:mod:`minigan.metrics.labels`):
    ``class_accuracy`` for conditional models (cgan, acgan), ``code_accuracy`` and
    ``code_to_class`` (the best one-to-one map) for InfoGAN's categorical code; {} otherwise."""
    from . import labels as lab

    model = cfg.get("model")
    if labels is None or model not in ("cgan", "acgan", "infogan"):
        return {}
    if model == "infogan":
        r = lab.code_accuracy(labels, predicted, int(cfg["n_cat"]), 10)
        return {"code_accuracy": r.code_accuracy, "code_to_class": r.code_to_class}
    return {"class_accuracy": lab.class_accuracy(labels, predicted)}


def evaluate_samples(kind: str, x: np.ndarray, cfg: dict, classifier: Any = None,
                     labels: np.ndarray | None = None) -> dict:
    """The metrics of samples ``x`` of a run of ``kind`` (see :func:`kind_of`); ``labels``:
    what each sample was drawn with (see :func:`draw_labelled`), scored by
    :func:`label_scores`."""
    from . import images, stacked

    if kind == "2d":
        from ..data import toy
        from .modes import mode_report

        mix = toy.mixture(cfg["dataset"])
        return mode_report(x, mix.means, mix.std).as_dict()
    info = {"classifier_test_accuracy": classifier.test_accuracy}
    if kind == "stacked":
        return {**stacked.stacked_report(stacked.stacked_modes(classifier, x)).as_dict(), **info}
    from ..data.digits import load_digits

    real = load_digits("test").images
    p_fake, f_fake = classifier.predict_and_embed(x)
    f_real = classifier.embed(real)
    # Precision/recall radii depend on how dense a set is: compare equal-size sets.
    m = min(len(f_real), len(f_fake))
    pr = images.precision_recall(f_real[:m], f_fake[:m])
    return {**images.class_coverage(p_fake).as_dict(),
            "frechet_distance": images.frechet_distance(f_fake, f_real),
            "precision": pr.precision, "recall": pr.recall, "pr_k": pr.k, "pr_samples": m,
            "n_real": len(real), **label_scores(cfg, p_fake.argmax(1), labels), **info}


_LABELS = {
    "modes_covered": "modes covered", "high_quality": "high-quality fraction",
    "reverse_kl": "reverse KL", "classes_covered": "digit classes covered",
    "confident": "confident fraction", "kl_uniform": "KL(p || uniform)",
    "frechet_distance": "Fréchet distance (classifier features)", "precision": "precision",
    "recall": "recall", "pr_samples": "precision/recall: samples per set",
    "n_samples": "samples", "n_real": "real test digits",
    "class_accuracy": "class accuracy (label given to G)",
    "code_accuracy": "code accuracy (best code -> class map)",
    "code_to_class": "code -> class map",
    "classifier_test_accuracy": "classifier held-out accuracy",
}


def format_table(result: dict) -> str:
    m = result["metrics"]
    rows = [("run", result["run"]), ("generator", result["generator"]),
            ("kind", result["kind"])]
    for key, label in _LABELS.items():
        if key not in m:
            continue
        v = m[key]
        if key in ("modes_covered", "classes_covered"):
            total = m.get("n_modes", m.get("n_classes"))
            v = f"{v} / {total}"
        elif key in ("high_quality", "confident", "precision", "recall",
                     "classifier_test_accuracy", "class_accuracy", "code_accuracy"):
            v = f"{100 * v:.2f}%"
        elif key == "code_to_class":
            v = " ".join(f"{k}->{c}" for k, c in enumerate(v))
        elif isinstance(v, float):
            v = f"{v:.4f}"
        rows.append((label, str(v)))
    rows.append(("written to", result["written_to"]))
    width = max(len(k) for k, _ in rows) + 2
    return "\n".join(f"{k:<{width}}{v}" for k, v in rows)


def cmd_eval(args: argparse.Namespace) -> int:
    from ..gan import checkpoint, remedies

    given = [a for a in (args.run_dir, getattr(args, "checkpoint", None)) if a is not None]
    if len(given) != 1:
        return _fail("expected one run: RUN_DIR or --checkpoint RUN_DIR|FILE.npz, got "
                     f"{len(given)}")
    run = pathlib.Path(given[0])
    path = run / "checkpoints" / "final.npz"
    if args.run_dir is None and run.is_file():  # --checkpoint FILE.npz: that checkpoint
        path = run
        run = run.parent.parent if run.parent.name == "checkpoints" else run.parent
    if not run.is_dir():
        return _fail(f"RUN_DIR: {str(run)!r} is not a directory")
    if args.n is not None and args.n < 2:
        return _fail(f"--n: expected at least 2 samples, got {args.n}")
    try:
        state = checkpoint.load(path)
        from ..gan.apps.runs import app_task, eval_app

        if app_task(state) is not None:  # sr, pix2pix, cyclegan, ssgan: the app's own figures
            return eval_app(args, run, path, state)
        cfg = state["model_config"]
        kind = kind_of(cfg)
        G, _ = remedies.build_models(cfg["model"], cfg)  # with the remedies' models
        ema = state.get("G_ema") is not None
        G.load_state_dict(state["G_ema"] if ema else state["G"])
    except (checkpoint.CheckpointError, KeyError, ValueError, TypeError) as e:
        return _fail(f"{path}: {e}" if not isinstance(e, checkpoint.CheckpointError) else str(e))
    n = args.n or DEFAULT_N[kind]
    seed: Any = 0 if args.seed is None else args.seed
    if kind == "2d" and args.seed is None and args.n is None:
        # The latents and count the trainer's final evaluation used, so `eval` prints the
        # figures `train` printed for the same run.
        seed, n = [int(cfg.get("seed", 0)), 4], int(cfg.get("eval_samples", n))
    t0 = time.perf_counter()
    try:
        x, labels = draw_labelled(G, cfg, n, seed)
        classifier = None
        if kind != "2d":
            from .classifier import get_classifier

            # Always said on stderr (even with --json): the first run trains a classifier.
            classifier = get_classifier(log=_log)
        metrics = evaluate_samples(kind, x, cfg, classifier, labels)
    except ValueError as e:
        return _fail(str(e))
    out = run / "eval.json"
    result = {"run": str(run), "checkpoint": str(path), "generator": "G_ema" if ema else "G",
              "step": state.get("step"), "kind": kind, "dataset": cfg.get("dataset"),
              "seed": seed, "metrics": metrics,
              "seconds": round(time.perf_counter() - t0, 2), "written_to": str(out)}
    tmp = out.with_name(".eval.json.tmp")
    try:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(out)  # a reader never sees half a file
    except OSError as e:  # a read-only run directory, a full disk, eval.json a directory
        if tmp.is_file():
            tmp.unlink()
        return _fail(f"cannot write {out}: {e.strerror or e}")
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def add_commands(sub: Any) -> None:
    ev = sub.add_parser(
        "eval", help="score a run: mode coverage, class coverage, Fréchet distance, "
        "precision/recall, Stacked-MNIST modes",
        description="Load RUN_DIR/checkpoints/final.npz (EMA generator if present), draw "
        "samples and compute the metrics that fit its data; write RUN_DIR/eval.json.")
    ev.add_argument("run_dir", metavar="RUN_DIR", nargs="?",
                    help="a directory made by `minigan train` (its checkpoints/final.npz)")
    ev.add_argument("--checkpoint", metavar="RUN_DIR|FILE.npz",
                    help="instead of RUN_DIR, as `minigan sample` takes it: a run directory or "
                    "one of its checkpoints (eval.json goes to its run directory)")
    ev.add_argument("--n", type=int, help="number of samples (default: 2,500 for 2-D, 5,000 "
                    "for digits, 26,000 for Stacked MNIST)")
    ev.add_argument("--seed", type=int, default=None,
                    help="seed of the latents (default: for 2-D runs the latents and count of "
                    "the run's own final evaluation, so the figures match `minigan train`'s; "
                    "else 0)")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.add_argument("--baseline", action="store_true",
                    help="application runs (sr, pix2pix, ssgan): also retrain the baseline "
                    "the run was compared with (takes as long as the run's training)")
    ev.set_defaults(func=cmd_eval)
