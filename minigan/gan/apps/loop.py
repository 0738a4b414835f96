"""The run machinery the application loops share (semi-supervised GAN, CycleGAN, and the
paired loops of :mod:`.paired`).

:class:`AppLoop` does what :class:`minigan.gan.trainer.Trainer` does around its step -- the
run directory, ``metrics.jsonl`` (repaired on start and resume), the progress bar, periodic
pictures and checkpoints, stop-at-a-step-boundary, ``summary.json`` -- for a loop that names
its own modules and optimizers. A subclass sets ``self.modules`` / ``self.optimizers`` (dicts
of name -> object) and implements ``train_step() -> dict of floats``, ``save_pictures(tag) ->
path``, ``evaluate() -> dict`` and ``sample_columns(n, seed)`` (``minigan sample``); extra
resumable state goes in ``extra_state`` / ``load_extra_state``. Checkpoints hold every
module and optimizer state, minigan's random state and the loop's own NumPy generator, so
``--resume`` continues bitwise; :mod:`.runs` rebuilds a loop from one (eval, sample).
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import random as mgrandom
from .. import checkpoint, config, plots, rundir


class AppLoop:
    """Base of the application loops (see the module docstring)."""

    finishing = False

    def __init__(self, cfg: dict, out_dir: str | pathlib.Path, progress: bool = True,
                 device: str = "cpu", dist: Any = None) -> None:
        if device != "cpu":
            raise config.ConfigError(f"task {cfg['task']!r} runs on the CPU only, got device "
                                     f"{device!r}")
        if dist is not None and getattr(dist, "world_size", 1) > 1:
            raise config.ConfigError(f"task {cfg['task']!r} does not run data parallel")
        self.cfg = cfg
        self.device = device
        self.out = pathlib.Path(out_dir)
        self.progress_enabled = progress
        self.step = 0
        self.last: dict[str, float] = {}
        mgrandom.manual_seed(cfg["seed"])
        # Data order and augmentation draws: a generator of the loop's own.
        self.rng = np.random.default_rng([cfg["seed"], 2])
        self.modules: dict[str, Any] = {}
        self.optimizers: dict[str, Any] = {}

    # ---- what a subclass provides -----------------------------------------------------------
    def train_step(self) -> dict:
        raise NotImplementedError

    def save_pictures(self, tag: str) -> pathlib.Path:
        raise NotImplementedError

    def evaluate(self) -> dict:
        raise NotImplementedError

    def sample_columns(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """Picture columns (name -> n images each) for ``minigan sample``: held-out inputs
        and what the run makes of them."""
        raise NotImplementedError

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, st: dict) -> None:
        pass

    # ---- state -----------------------------------------------------------------------------
    def set_lr(self, base: dict[str, float]) -> None:
        """Linear decay to 0 at the last step (config ``lr_decay = "linear"``) of each
        optimizer's base learning rate ``base[name]``."""
        frac = 1 - self.step / self.cfg["steps"] if self.cfg["lr_decay"] == "linear" else 1.0
        for name, opt in self.optimizers.items():
            for g in opt.param_groups:
                g["lr"] = base[name] * frac

    def state(self) -> dict:
        return {"step": self.step, "config": self.cfg,
                "modules": {k: m.state_dict() for k, m in self.modules.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "rng": mgrandom.get_rng_state(), "loop_rng": self.rng.bit_generator.state,
                "extra": self.extra_state()}

    def load_state(self, st: dict) -> None:
        try:
            for k, m in self.modules.items():
                m.load_state_dict(st["modules"][k])
            for k, o in self.optimizers.items():
                o.load_state_dict(st["optimizers"][k])
            mgrandom.set_rng_state(st["rng"])
            self.rng.bit_generator.state = st["loop_rng"]
            self.load_extra_state(st["extra"])
            self.step = int(st["step"])
        except (KeyError, ValueError, TypeError) as e:
            raise checkpoint.CheckpointError(f"checkpoint does not match this run: {e}") from None

    def save_checkpoint(self, name: str = "latest.npz") -> pathlib.Path:
        path = self.out / "checkpoints" / name
        checkpoint.save(path, self.state())
        return path

    # ---- the run -----------------------------------------------------------------------------
    def run(self, resume: bool = False,
            should_stop: Callable[[], bool] | None = None) -> dict | None:
        """Train to ``cfg["steps"]``; the summary, or None when ``should_stop()`` asked to
        stop (after a checkpoint at a step boundary)."""
        return rundir.drive(self, resume, should_stop, step=self._advance, row=dict,
                            pictures=self.save_pictures,
                            status=lambda rec: " ".join(f"{k} {v:.3f}"
                                                        for k, v in list(rec.items())[:3]))

    def _advance(self, record: bool) -> dict:
        rec = self.train_step()  # every step's figures are cheap here: ``record`` is not needed
        self.step += 1
        return rec

    def finish(self, seconds: float) -> dict:
        self.save_checkpoint()
        final = self.save_checkpoint("final.npz")
        self.finishing = True  # saved: an interrupt may stop the evaluation now
        pictures = self.save_pictures("final")
        curves = self.out / "loss_curves.png"
        plots.loss_curves(curves, self.out / "metrics.jsonl")
        summary = {"preset": self.cfg.get("preset"), "task": self.cfg["task"],
                   "steps": self.step, "train_seconds": round(seconds, 2),
                   "final_losses": self.last, "metrics": self.evaluate(),
                   "pictures": {"samples": str(pictures), "loss_curves": str(curves)},
                   "checkpoint": str(final), "device": self.device}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary
