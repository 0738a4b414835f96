"""What a run trains, chosen by the config key ``task``.

``gan`` is the generator-from-noise loop of :mod:`minigan.gan.trainer` (unconditional,
class-conditional, ACGAN, InfoGAN). The applications (super-resolution, paired and unpaired
translation, semi-supervised learning) have their own loops, one module each in this package,
with the same interface as :class:`minigan.gan.trainer.Trainer`:
``Cls(cfg, out_dir, progress=..., device=..., dist=...)``, ``.run(resume, should_stop)``
returning the summary (or None when stopped early), ``.step``, ``.save_checkpoint()`` and the
``finishing`` flag the command's signal handler reads. Modules are imported only when their
task runs, so one application's imports cost nothing to the others.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..config import ConfigError

# task -> (module, class). Each application adds its own line.
TASKS: dict[str, tuple[str, str]] = {
    "gan": ("minigan.gan.trainer", "Trainer"),
    "ssgan": ("minigan.gan.apps.ssgan", "SSGANTrainer"),
    "sr": ("minigan.gan.apps.sr", "SRTrainer"),
    "pix2pix": ("minigan.gan.apps.pix2pix", "Pix2PixTrainer"),
    "cyclegan": ("minigan.gan.apps.cyclegan", "CycleGANTrainer"),
}


def trainer_class(task: str) -> Any:
    """The training-loop class for ``task`` (config key ``task``)."""
    if task not in TASKS:
        raise ConfigError(f"config key 'task': expected one of {', '.join(TASKS)}, got {task!r}")
    module, name = TASKS[task]
    return getattr(importlib.import_module(module), name)
