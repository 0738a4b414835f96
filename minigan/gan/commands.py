"""``minigan train`` and ``minigan sample``: argument parsing, run directories, exit codes.

Exit codes: 0 done; 1 training stopped on NaN/Inf; 2 bad input (preset, config, checkpoint,
output directory) -- nothing the user had is overwritten; 130 interrupted (a checkpoint was
written first, so ``--resume`` continues the run).
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

from . import checkpoint, config


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


def cmd_train(args: argparse.Namespace) -> int:
    from ..distributed import finish_command

    # Under mpiexec, a failure on one rank stops every rank (none waits for a rank gone).
    return finish_command(_train(args))


def _train(args: argparse.Namespace) -> int:
    from .. import backends

    if args.list_presets:
        for name in config.list_presets():
            first = (config.PRESET_DIR / f"{name}.toml").read_text().splitlines()[0]
            print(f"{name:16s}{first.lstrip('# ')}")
        return 0
    try:
        overrides = list(args.set or [])
        if args.steps is not None:
            overrides.append(f"steps={args.steps}")
        if args.seed is not None:
            overrides.append(f"seed={args.seed}")
        if args.resume:
            if args.out is None:
                return _fail("train", "--resume needs --out RUN_DIR (the run to continue)")
            out = pathlib.Path(args.out)
            state = checkpoint.load(out / "checkpoints" / "latest.npz")
            cfg = dict(state["config"])
            for item in overrides:  # only the length of a run may change on resume
                k, _, v = item.partition("=")
                if k.strip() != "steps":
                    return _fail("train", f"--resume keeps the run's config; cannot change {k!r}")
                cfg["steps"] = config.parse_value("steps", v)
        else:
            cfg = config.resolve(args.preset, args.config, overrides)
            out = pathlib.Path(args.out) if args.out else _default_out(cfg["preset"])
            if (out / "config.toml").exists() or (out / "checkpoints").exists():
                return _fail("train", f"output directory {str(out)!r} already holds a run; "
                             "pass --resume to continue it or choose another --out")
        device = _device(args.device, args.backend)
        if args.backend:
            backends.use(args.backend)
        from ..distributed import for_training
        from .trainer import Trainer, TrainingError

        # Data parallel when started by mpiexec/srun (a collective: every rank has checked
        # --out above before rank 0 creates anything in it).
        dist = for_training(device)
        out.mkdir(parents=True, exist_ok=True)
        trainer = Trainer(cfg, out, progress=not args.quiet and dist.is_main, device=device,
                          dist=dist)
    except (config.ConfigError, checkpoint.CheckpointError, ValueError) as e:
        return _fail("train", str(e))
    except RuntimeError as e:  # --device cuda without CuPy, a driver or a GPU: one line
        return _fail("train", str(e))

    stop = {"requested": False}

    def on_sigint(signum: int, frame: Any) -> None:
        # Finish the step in progress, so the checkpoint is a consistent state to resume from;
        # a second Ctrl-C interrupts at once.
        stop["requested"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        summary = trainer.run(resume=args.resume, should_stop=lambda: stop["requested"])
    except TrainingError as e:
        # Diagnose what was recorded before the stop: exploding gradients usually show first.
        from ..diagnostics import diagnosis

        found = diagnosis.diagnose(diagnosis.read_rows(out / "metrics.jsonl"), None,
                                   error=str(e))
        (out / "diagnosis.json").write_text(json.dumps(found, indent=2) + "\n")
        print(diagnosis.format_diagnosis(found), file=sys.stderr)
        return _fail("train", f"{e}; stopped. The last good checkpoint is untouched in "
                     f"{out / 'checkpoints'}", code=1)
    except checkpoint.CheckpointError as e:
        return _fail("train", str(e))
    finally:
        signal.signal(signal.SIGINT, previous)
    if summary is None:
        print(f"\ninterrupted at step {trainer.step}: checkpoint written to "
              f"{out / 'checkpoints' / 'latest.npz'}; continue with "
              f"`minigan train --resume --out {out}`", file=sys.stderr)
        return 130
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
    from . import models, plots
    from .data_source import fixed_latent, generate_from

    out = pathlib.Path(args.out)
    if out.suffix not in (".png", ".npy"):
        return _fail("sample", f"--out: expected a .png or .npy file, got {str(out)!r}")
    if args.n < 1:
        return _fail("sample", f"--n: expected a positive number of samples, got {args.n}")
    try:
        state = checkpoint.load(args.checkpoint)
        cfg = state["model_config"]
        G, _ = models.build(cfg["model"], cfg)
        G.load_state_dict(state["G_ema"] if state.get("G_ema") is not None else state["G"])
    except (checkpoint.CheckpointError, KeyError, ValueError) as e:
        return _fail("sample", f"{args.checkpoint}: {e}")
    G.eval()
    rng = np.random.default_rng(args.seed)
    with no_grad():
        x = generate_from(G, cfg, fixed_latent(cfg, args.n, rng)).numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, x)
    elif x.ndim == 2:
        plots.scatter_2d(out, x, title=f"{args.n} samples")
    else:
        plots.save_image_grid(out, x)
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

    sample = sub.add_parser("sample", help="draw samples from a checkpoint")
    sample.add_argument("--checkpoint", required=True, help="a checkpoint .npz of a run")
    sample.add_argument("--n", type=int, required=True, help="number of samples")
    sample.add_argument("--out", required=True, help="FILE.png (picture) or FILE.npy (array)")
    sample.add_argument("--seed", type=int, default=0, help="random seed of the latents")
    sample.set_defaults(func=cmd_sample)
