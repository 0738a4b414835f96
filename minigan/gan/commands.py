"""``minigan train`` and ``minigan sample``: argument parsing, run directories, exit codes.

Exit codes: 0 done; 1 training stopped on NaN/Inf or a failed write (a full disk: the run stays
resumable); 2 bad input (preset, config, checkpoint, output directory) -- nothing the user had
is overwritten; 130 / 143 interrupted by SIGINT / SIGTERM (a checkpoint was written first, so
``--resume`` continues the run).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import signal
import sys
import time
from typing import Any

import numpy as np

from . import checkpoint, config, resources, rundir


def _fail(cmd: str, msg: str, code: int = 2) -> int:
    print(f"minigan {cmd}: error: {msg}", file=sys.stderr)
    return code


def _default_out(preset: str) -> pathlib.Path:
    return pathlib.Path("runs") / f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"


def _device(device: str | None, backend: str | None) -> str:
    """The device of ``--device``, else the device of ``--backend`` (cupy, numba_cuda and cuda
    run on "cuda"), else "cpu"; a backend of the other device is refused, naming both. On
    "cuda", CuPy, the driver and a GPU are checked here, so a missing one is one clear error."""
    from .. import backends

    wanted = None if backend is None else backends.DEVICE.get(
        backend.strip().lower().replace("-", "_"))
    device = device or wanted or "cpu"
    if wanted is not None and wanted != device:
        raise ValueError(f"--backend {backend} runs on {wanted!r}, not on --device {device}; "
                         f"choose a {device} backend ({', '.join(_device_backends(device))}) "
                         f"or --device {wanted}")
    if device == "cuda":
        backends.require_cupy()
    return device


def _device_backends(device: str) -> list[str]:
    from .. import backends

    return [b for b in backends.ALL_BACKENDS if backends.DEVICE[b] == device]


def _resumed_config(out: pathlib.Path, overrides: list[str]) -> dict:
    """The config of the run in ``out`` from its latest checkpoint; only ``steps`` may change,
    and not below the step the run has reached."""
    path = out / rundir.CHECKPOINT
    state = checkpoint.load(path)
    saved, step = state.get("config"), state.get("step")
    if not isinstance(saved, dict) or not isinstance(step, int):
        raise checkpoint.CheckpointError(f"checkpoint {str(path)!r} holds no run config/step")
    cfg = {}
    for k, v in saved.items():
        try:
            cfg[k] = v if k == "preset" else config.check_value(k, v)
        except config.ConfigError as e:
            raise checkpoint.CheckpointError(f"checkpoint {str(path)!r}: {e}") from None
    for item in overrides:  # only the length of a run may change on resume
        k, _, v = item.partition("=")
        if k.strip() != "steps":
            raise config.ConfigError(f"--resume keeps the run's config; cannot change {k!r}")
        cfg["steps"] = config.parse_value("steps", v)
        if cfg["steps"] < step:
            raise config.ConfigError(f"--steps {cfg['steps']}: the run in {str(out)!r} is "
                                     f"already at step {step}; pass --steps >= {step}")
    return cfg


def _resume_backend(out: pathlib.Path, device: str) -> None:
    """Without --backend, --resume continues on the backend the run used (recorded in the run
    directory), so that it stays bitwise equal to an uninterrupted run; where that backend is
    missing here, it says so and goes on with the default."""
    from .. import backends

    used = rundir.recorded_backend(out)
    if used is None or used == backends.current():
        return
    reason = backends.unavailable_reason(used) if used in backends.ALL_BACKENDS else "unknown"
    if reason is None and backends.DEVICE[used] == device:
        backends.use(used)
        print(f"{out}: continuing on backend {used!r}, the run's (--backend chooses another)",
              file=sys.stderr)
    else:
        print(f"{out}: the run used backend {used!r}, not usable here ({reason or device}); "
              f"continuing on {backends.current()!r}, so not bitwise as an uninterrupted run",
              file=sys.stderr)


def _unstarted_config(out: pathlib.Path, overrides: list[str]) -> dict:
    """The config a run killed before its first checkpoint wrote (``config.toml``), with
    ``overrides`` applied, to start it again."""
    path = out / "config.toml"
    if not path.is_file():
        raise checkpoint.CheckpointError(f"checkpoint {str(out / rundir.CHECKPOINT)!r} does "
                                         f"not exist and {str(path)!r} neither: nothing to "
                                         f"resume")
    cfg = config.defaults()
    for k, v in config.load_toml(path).items():
        cfg[k] = str(v) if k == "preset" else config.check_value(k, v)
    for item in overrides:
        k, _, v = item.partition("=")
        cfg[k.strip()] = config.parse_value(k.strip(), v.strip())
    return cfg


def _refuse_out(out: pathlib.Path) -> str | None:
    """Why a fresh run may not be written to ``out``, or None. A run killed before its first
    checkpoint may be started again in place."""
    k = rundir.kind(out)
    if k == "resumable":
        return (f"output directory {str(out)!r} already holds a run; pass --resume to "
                "continue it or choose another --out")
    if k == "file":
        return f"--out {str(out)!r} is a file, expected a directory for the run"
    if k == "other":
        return (f"--out {str(out)!r} is a non-empty directory that is not a minigan run; "
                "choose a new or empty directory")
    return None


def _remove_if_empty(out: pathlib.Path) -> None:
    try:
        out.rmdir()
    except OSError:
        pass


def cmd_train(args: argparse.Namespace) -> int:
    from ..distributed import finish_command

    # Under mpiexec, a failure on one rank stops every rank (none waits for a rank gone).
    return finish_command(_train(args))


def _train(args: argparse.Namespace) -> int:
    from .. import backends

    if args.list_presets:
        for name in config.list_presets():
            print(f"{name:16s}{config.preset_description(name)}")
        return 0
    try:
        overrides = list(args.set or [])
        if args.steps is not None:
            overrides.append(f"steps={args.steps}")
        if args.seed is not None:
            overrides.append(f"seed={args.seed}")
        resume = args.resume
        if resume:
            if args.out is None:
                return _fail("train", "--resume needs --out RUN_DIR (the run to continue)")
            out = pathlib.Path(args.out)
            if rundir.kind(out) == "unstarted":
                # Killed before its first checkpoint: nothing to continue, so start it again.
                cfg = _unstarted_config(out, overrides)
                resume = False
                print(f"{out}: no checkpoint was written yet; restarting the run from step 0",
                      file=sys.stderr)
            else:
                cfg = _resumed_config(out, overrides)
        else:
            cfg = config.resolve(args.preset, args.config, overrides)
            out = pathlib.Path(args.out) if args.out else _default_out(cfg["preset"])
            refused = _refuse_out(out)
            if refused:
                return _fail("train", refused)
        resources.check(cfg)  # sizes this machine cannot hold: refused before allocating
        device = _device(args.device, args.backend)
        if args.backend:
            backends.use(args.backend)
        elif resume:
            _resume_backend(out, device)
        backends.current()  # MINIGAN_BACKEND=bogus: a ValueError naming it, here
        from ..distributed import for_training
        from .apps import trainer_class
        from .trainer import TrainingError

        Trainer = trainer_class(cfg["task"])  # noqa: N806 (a class, chosen by the config)

        # Data parallel when started by mpiexec/srun (a collective: every rank has checked
        # --out above before rank 0 creates anything in it).
        dist = for_training(device)
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
            trainer = Trainer(cfg, out, progress=not args.quiet and dist.is_main, device=device,
                              dist=dist)
        except BaseException:
            if created:  # a refused config leaves no empty run directory behind
                _remove_if_empty(out)
            raise
    except (config.ConfigError, checkpoint.CheckpointError, ValueError) as e:
        return _fail("train", str(e))
    except OSError as e:  # --out on a read-only file system, under a file, ...
        return _fail("train", f"--out {args.out or ''}: cannot create the run directory "
                     f"({e.strerror or e}{f': {e.filename}' if e.filename else ''})")
    except RuntimeError as e:  # --device cuda without CuPy, a driver or a GPU: one line
        return _fail("train", str(e))

    stop: dict[str, Any] = {"signal": None}

    def on_signal(signum: int, frame: Any) -> None:
        if getattr(trainer, "finishing", False):
            raise KeyboardInterrupt  # the run is saved: stop the final evaluation now
        # Finish the step in progress, so the checkpoint is a consistent state to resume from;
        # a second signal interrupts at once.
        stop["signal"] = signum
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    latest = out / rundir.CHECKPOINT
    try:
        summary = trainer.run(resume=resume, should_stop=lambda: stop["signal"] is not None)
    except TrainingError as e:
        # Diagnose what was recorded before the stop: exploding gradients usually show first.
        from ..diagnostics import diagnosis

        found = diagnosis.diagnose(diagnosis.read_rows(out / "metrics.jsonl"), None,
                                   error=str(e))
        (out / "diagnosis.json").write_text(json.dumps(found, indent=2) + "\n")
        print(diagnosis.format_diagnosis(found), file=sys.stderr)
        where = (f"The last good checkpoint is untouched in {out / 'checkpoints'}"
                 if latest.exists() else "No checkpoint was written before it (the run "
                 "can only be started again)")
        return _fail("train", f"{e}; stopped. {where}", code=1)
    except checkpoint.CheckpointError as e:
        return _fail("train", str(e))
    except OSError as e:  # a full disk: the directory stays resumable (see rundir)
        return _fail("train", rundir.write_error(e, out), code=1)
    except KeyboardInterrupt:
        if getattr(trainer, "finishing", False):
            print(f"\ninterrupted during the final evaluation: the run is saved in "
                  f"{out / 'checkpoints'}; `minigan train --resume --out {out}` finishes it",
                  file=sys.stderr)
        else:
            print(f"\ninterrupted at once; the last checkpoint "
                  f"{'is ' + str(latest) if latest.exists() else 'does not exist yet'}",
                  file=sys.stderr)
        return 130
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if summary is None:
        print(f"\ninterrupted at step {trainer.step}: checkpoint written to {latest}; "
              f"continue with `minigan train --resume --out {out}`", file=sys.stderr)
        return 128 + int(stop["signal"] or signal.SIGINT)
    m = summary["metrics"]
    print(f"done: {summary['steps']} steps in {summary['train_seconds']:.0f}s")
    if "modes_covered" in m:
        print(f"modes covered {m['modes_covered']}/{m['n_modes']}, high quality "
              f"{100 * m['high_quality']:.1f}%, reverse KL {m['reverse_kl']:.3f} "
              f"({m['n_samples']} samples)")
    if "diagnosis" in summary:
        from ..diagnostics import diagnosis

        print(diagnosis.format_diagnosis(summary["diagnosis"]))
    print(f"samples:  {summary['pictures']['samples']}")
    print(f"curves:   {summary['pictures']['loss_curves']}")
    print(f"summary:  {out / 'summary.json'}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..tensor import no_grad
    from . import plots, remedies
    from .data_source import fixed_latent, generate_from

    out = pathlib.Path(args.out)
    if out.suffix not in (".png", ".npy"):
        return _fail("sample", f"--out: expected a .png or .npy file, got {str(out)!r}")
    if args.n < 1:
        return _fail("sample", f"--n: expected a positive number of samples, got {args.n}")
    path = pathlib.Path(args.checkpoint)
    if path.is_dir():  # a run directory, as eval, plot and jacobian take: its final checkpoint
        run = path
        path = next((p for p in (run / "checkpoints" / "final.npz", run / rundir.CHECKPOINT)
                     if p.is_file()), run / "checkpoints" / "final.npz")
    if out.is_dir():
        return _fail("sample", f"--out {str(out)!r} is a directory, expected a file name")
    try:
        state = checkpoint.load(path)
        from .apps.runs import app_task, sample_app_command

        if app_task(state) is not None:  # held-out inputs | outputs | targets
            return sample_app_command(args, path, state, out)
        cfg = state["model_config"]
        G, _ = remedies.build_models(cfg["model"], cfg)  # with the remedies' models
        G.load_state_dict(state["G_ema"] if state.get("G_ema") is not None else state["G"])
    except checkpoint.CheckpointError as e:
        return _fail("sample", str(e))
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
        return _fail("sample", f"checkpoint {str(path)!r} does not hold a usable generator "
                     f"({type(e).__name__}: {e})")
    G.eval()
    with no_grad():
        # One sample first (its own generator): its size bounds the memory of --n before the
        # n latents are drawn.
        one_z = fixed_latent(cfg, 1, np.random.default_rng(args.seed))
        one = generate_from(G, cfg, one_z).numpy()
        picture = None if out.suffix == ".npy" else "scatter" if one.ndim == 2 else "grid"
        try:
            resources.check_sample(cfg, args.n, one[0].size, one.itemsize,
                                   sum(a.nbytes for a in one_z if a is not None), picture)
        except ValueError as e:
            return _fail("sample", str(e))
        x = generate_from(G, cfg, fixed_latent(cfg, args.n, np.random.default_rng(args.seed)))
        x = x.numpy()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".npy":
            np.save(out, x)
        elif x.ndim == 2:
            plots.scatter_2d(out, x, title=f"{args.n} samples")
        else:
            plots.save_image_grid(out, x)
    except OSError as e:  # read-only file system, a file where a directory should be, ...
        return _fail("sample", f"--out {str(out)!r}: cannot write ({e.strerror or e})")
    print(json.dumps({"out": str(out), "shape": list(x.shape)}))
    return 0


def add_commands(sub: Any) -> None:
    train = sub.add_parser("train", help="train a GAN (default preset: grid25)",
                           description="Train a GAN from a preset, a TOML config and overrides.")
    train.add_argument("--preset", help=f"preset name (default {config.DEFAULT_PRESET})")
    train.add_argument("--config", help="a TOML file of config keys")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a key")
    train.add_argument("--out", help="run directory (default runs/<preset>-<time>)")
    train.add_argument("--steps", type=int, help="number of generator steps")
    train.add_argument("--seed", type=int, help="random seed")
    train.add_argument("--device", choices=["cpu", "cuda"],
                       help="where tensors live (default: the --backend's device, else cpu)")
    train.add_argument("--backend", help="kernel backend (see `minigan info`)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--list-presets", action="store_true", help="list presets and exit")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser(
        "sample", help="draw samples from a checkpoint",
        description="Draw N samples from a run's generator (its EMA copy when the run kept "
        "one) and write them as a picture (.png: a scatter plot for 2-D data, an image grid "
        "otherwise) or as an array (.npy). An N whose samples would not fit in this "
        "machine's memory is refused before anything is drawn. For an application run "
        "(sr, pix2pix, cyclegan, ssgan): N held-out inputs drawn by --seed, one row each "
        "(input | output | target; the two cycles for cyclegan).")
    sample.add_argument("--checkpoint", required=True,
                        help="a checkpoint .npz of a run, or a run directory (its final.npz)")
    sample.add_argument("--n", type=int, required=True, help="number of samples")
    sample.add_argument("--out", required=True, help="FILE.png (picture) or FILE.npy (array)")
    sample.add_argument("--seed", type=int, default=0, help="random seed of the latents")
    sample.set_defaults(func=cmd_sample)
