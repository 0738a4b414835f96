"""A finished application run (``task`` sr, pix2pix, cyclegan or ssgan) under ``minigan eval``
and ``minigan sample``.

An application checkpoint holds the run's resolved ``config`` (with its ``task``) and every
module's state (:meth:`~.loop.AppLoop.state`); a generator-from-noise run's checkpoint holds a
``model_config`` instead, which is how the two commands tell them apart (:func:`app_task`).
:func:`load_app` rebuilds the run's loop from the config and loads the state, so

* :func:`evaluate_app` re-computes the figures of the run's ``summary.json`` (``metrics``) from
  the checkpoint: the same held-out data, judges and code, hence the same numbers. The
  baselines trained beside the run (the generator without the adversarial term, the classifier
  on the labels alone) are not in the checkpoint: they are retrained only on request (``minigan
  eval --baseline``, as long as the run's training), else the training's figures are quoted
  from ``summary.json``, marked as such;
* :func:`sample_app_command` writes the picture of ``n`` held-out inputs drawn by a seed
  (the loop's ``sample_columns``), one row per input: input | (bicubic) | output | target
  for the paired apps, the two cycles for CycleGAN, samples of the generator for the
  semi-supervised GAN (its G maps noise to digits).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

import numpy as np

from . import TASKS, trainer_class

# The config key that trains each app's baseline beside it in the final evaluation.
BASELINE_KEY = {"sr": "paired_baseline", "pix2pix": "paired_baseline", "ssgan": "ssgan_baseline"}
# The summary.json metrics that come from that baseline.
BASELINE_METRICS = ("baseline", "baseline_picture", "baseline_accuracy")
HELD_OUT = 1000  # the offline digits' test split


def app_task(state: dict) -> str | None:
    """The application task of a loaded checkpoint; None for a generator-from-noise run."""
    cfg = state.get("config")
    if "model_config" in state or not isinstance(cfg, dict):
        return None
    task = cfg.get("task")
    return task if task in TASKS and task != "gan" else None


def load_app(state: dict, run_dir: pathlib.Path, overrides: dict | None = None) -> Any:
    """The run's loop (:class:`~.loop.AppLoop`) rebuilt from the checkpoint ``state`` with
    config ``overrides``, its modules and optimizers loaded; nothing is written."""
    task = app_task(state)
    if task is None:
        raise ValueError("it is not an application (sr, pix2pix, cyclegan, ssgan) checkpoint")
    cfg = {**state["config"], **(overrides or {})}
    loop = trainer_class(task)(cfg, run_dir, progress=False)
    loop.load_state(state)
    return loop


def evaluate_app(loop: Any, baseline: bool) -> dict:
    """The loop's final metrics from its loaded state; its baseline only with ``baseline``."""
    key = BASELINE_KEY.get(loop.cfg["task"])
    if key is not None:
        loop.cfg[key] = baseline
    return loop.evaluate()


def _fail(cmd: str, msg: str) -> int:
    print(f"minigan {cmd}: error: {msg}", file=sys.stderr)
    return 2


def _flat(d: dict, prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for k, v in d.items():
        rows += _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [(prefix + k, v)]
    return rows


def format_table(result: dict) -> str:
    """The eval result as aligned ``name  value`` lines (accuracies in %)."""
    rows = [("run", result["run"]), ("task", result["task"]), ("step", str(result["step"]))]
    for k, v in _flat(result["metrics"]):
        if isinstance(v, float) and "accuracy" in k:
            v = f"{100 * v:.2f}%"
        elif isinstance(v, float):
            v = f"{v:.4f}"
        rows.append((k, str(v)))
    for k, v in _flat(result.get("training_baseline", {}), "(training's summary) "):
        rows.append((k, f"{100 * v:.2f}%" if isinstance(v, float) and "accuracy" in k
                     else f"{v:.4f}" if isinstance(v, float) else str(v)))
    rows.append(("baseline", result["baseline"]))
    rows.append(("written to", result["written_to"]))
    width = max(len(k) for k, _ in rows) + 2
    return "\n".join(f"{k:<{width}}{v}" for k, v in rows)


def eval_app(args: argparse.Namespace, run: pathlib.Path, path: pathlib.Path,
             state: dict) -> int:
    """``minigan eval RUN_DIR`` of an application run: ``RUN_DIR/eval.json`` and a table."""
    task = app_task(state)
    if args.seed is not None:
        return _fail("eval", f"--seed: a {task} run is scored on fixed held-out data (the "
                     "run's own); there is no seed to choose")
    overrides = {}
    if args.n is not None:
        if args.n > HELD_OUT:
            return _fail("eval", f"--n: expected at most {HELD_OUT} held-out images, got "
                         f"{args.n}")
        overrides["app_eval"] = args.n
    baseline = bool(getattr(args, "baseline", False))
    t0 = time.perf_counter()
    try:
        loop = load_app(state, run, overrides)
        metrics = evaluate_app(loop, baseline)
    except (KeyError, ValueError, TypeError) as e:
        return _fail("eval", f"{path}: {type(e).__name__}: {e}")
    result: dict[str, Any] = {
        "run": str(run), "checkpoint": str(path), "task": task, "step": state.get("step"),
        "metrics": metrics, "seconds": round(time.perf_counter() - t0, 2)}
    key = BASELINE_KEY.get(task)
    if key is None:
        result["baseline"] = "none (the untranslated inputs are scored beside the outputs)"
    elif baseline:
        result["baseline"] = f"retrained for {loop.cfg['steps']} steps"
    else:
        result["baseline"] = (f"not recomputed (`minigan eval --baseline` retrains it, "
                              f"{loop.cfg['steps']} steps)")
        try:
            trained = json.loads((run / "summary.json").read_text())["metrics"]
            result["training_baseline"] = {k: trained[k] for k in BASELINE_METRICS
                                           if k in trained and k != "baseline_picture"}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    out = run / "eval.json"
    result["written_to"] = str(out)
    tmp = out.with_name(".eval.json.tmp")
    try:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(out)  # a reader never sees half a file
    except OSError as e:
        if tmp.is_file():
            tmp.unlink()
        return _fail("eval", f"cannot write {out}: {e.strerror or e}")
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def sample_app_command(args: argparse.Namespace, path: pathlib.Path, state: dict,
                       out: pathlib.Path) -> int:
    """``minigan sample`` of an application run: ``--n`` held-out inputs drawn by ``--seed``,
    a .png of one row per input (its columns named on stdout) or a .npy of the columns stacked
    (N, columns, C, H, W) -- (N, C, H, W) when there is one column."""
    from .. import plots

    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    try:
        loop = load_app(state, run)
        cols = loop.sample_columns(args.n, args.seed)
    except (KeyError, ValueError, TypeError) as e:
        msg = str(e) if str(e).startswith("--n") else f"{path}: {type(e).__name__}: {e}"
        return _fail("sample", msg)
    one = len(cols) == 1
    x = next(iter(cols.values())) if one else np.stack(list(cols.values()), axis=1)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".npy":
            np.save(out, x)
        else:
            from .paired import column_rows

            plots.save_image_grid(out, np.clip(x, -1, 1) if one else column_rows(cols),
                                  nrow=None if one else len(cols))
    except OSError as e:
        return _fail("sample", f"--out {str(out)!r}: cannot write ({e.strerror or e})")
    print(json.dumps({"out": str(out), "shape": list(x.shape), "task": app_task(state),
                      "columns": list(cols)}))
    return 0
