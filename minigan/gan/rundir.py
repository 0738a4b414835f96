"""What a run directory holds and how to bring one back after a kill.

A run may be killed at any moment (SIGKILL, a full disk, a power cut). What that can leave:
temporary checkpoint files (``checkpoints/.latest.npz.XXXX.tmp``) that were never renamed, a
half-written last line in ``metrics.jsonl``, or a directory with ``config.toml`` but no
checkpoint yet (killed before the first one). These helpers recognise and repair each.
"""

from __future__ import annotations

import errno
import json
import pathlib
import time
from collections.abc import Callable
from typing import Any

CHECKPOINT = pathlib.Path("checkpoints") / "latest.npz"
BACKEND = "backend.txt"  # the kernel backend the run trains on, for --resume


def recorded_backend(out: pathlib.Path) -> str | None:
    """The backend the run in ``out`` last trained on, or None (an older run, or unreadable)."""
    try:
        name = (out / BACKEND).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if name.isidentifier() and len(name) < 32 else None


def kind(out: pathlib.Path) -> str:
    """``"missing"``, ``"empty"``, ``"resumable"`` (has a latest checkpoint), ``"unstarted"``
    (a run killed before its first checkpoint), ``"other"`` (a directory holding files that
    are not a run's) or ``"file"`` (not a directory)."""
    if not out.exists():
        return "missing"
    if not out.is_dir():
        return "file"
    if (out / CHECKPOINT).exists():
        return "resumable"
    if (out / "config.toml").is_file() or (out / "checkpoints").is_dir():
        return "unstarted"
    try:
        return "other" if any(out.iterdir()) else "empty"
    except OSError:
        return "other"


def clean_stale_temps(out: pathlib.Path) -> list[pathlib.Path]:
    """Remove the temporary files of checkpoint writes that never finished (a kill between
    ``mkstemp`` and ``os.replace``); only one process writes a run, so none is in flight."""
    removed = []
    for p in (out / "checkpoints").glob(".*.tmp"):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def repair_metrics(path: pathlib.Path, max_step: int | None) -> int:
    """Keep the complete rows of ``metrics.jsonl`` up to the first damaged one (a kill or a
    full disk mid-write leaves a partial last line), and with ``max_step`` only the rows of
    steps <= it (the resumed run writes the later ones again). Returns the rows kept."""
    if not path.exists():
        return 0
    keep = []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            step = row["step"]
        except (ValueError, TypeError, KeyError):
            break  # a partial line: nothing after it can be trusted
        if not isinstance(step, int):
            break
        if max_step is None or step <= max_step:
            keep.append(line.decode() + "\n")
    path.write_text("".join(keep))
    return len(keep)


def write_error(exc: OSError, out: pathlib.Path) -> str:
    """A one-line message for a failed write into the run ``out``."""
    what = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename else ""
    resumable = (out / CHECKPOINT).exists()
    after = (f"the run directory {str(out)!r} still holds the last checkpoint; free space "
             f"and continue with `minigan train --resume --out {out}`" if resumable else
             f"no checkpoint was written yet; free space and run the same command again, "
             f"or `minigan train --resume --out {out}`")
    return f"cannot write{where}: {what}; {after}"


def drive(loop: Any, resume: bool, should_stop: Callable[[], bool] | None, *,
          step: Callable[[bool], dict], row: Callable[[], dict],
          pictures: Callable[[str], Any], status: Callable[[dict], str]) -> dict | None:
    """Run ``loop`` to ``loop.cfg["steps"]`` in its run directory ``loop.out``: the part every
    training loop (the GAN trainer, the applications) shares around its own step.

    ``step(record)`` does one step and advances ``loop.step`` (``record``: a metrics row is
    written after it); ``row()`` adds fields to that row; ``pictures(tag)`` saves pictures;
    ``status(rec)`` is the progress bar's text. ``loop`` provides ``cfg``, ``out``, ``step``,
    ``progress_enabled``, ``load_state``, ``save_checkpoint`` and ``finish(seconds)``.
    Returns ``finish``'s summary, or None when ``should_stop()`` asked to stop (after a
    checkpoint at a step boundary).
    """
    from .. import backends
    from . import checkpoint, config
    from .progress import Progress

    cfg, out = loop.cfg, loop.out
    # Fix the backend, its thread pools and the BLAS limit before the first step (they are
    # otherwise settled lazily, mid-step): a resumed run's first steps then run with the
    # thread counts an uninterrupted run had, and --resume stays bitwise.
    backends.current()
    backends.native()
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    clean_stale_temps(out)  # of checkpoint writes a kill interrupted
    if resume:
        loop.load_state(checkpoint.load(out / CHECKPOINT))
    # Drop metric rows written after the checkpoint (the resumed run rewrites them) and a
    # half-written last row (a kill or a full disk); a fresh run starts the file anew.
    repair_metrics(metrics_path, loop.step)
    (out / "config.toml").write_text(config.to_toml(cfg))
    (out / BACKEND).write_text(backends.current() + "\n")
    bar = Progress(cfg["steps"], start=loop.step, enabled=loop.progress_enabled)
    every = max(cfg["log_every"], 1)
    t0 = time.perf_counter()
    with open(metrics_path, "a") as mf:
        while loop.step < cfg["steps"]:
            nxt = loop.step + 1
            rec = step(nxt % every == 0 or nxt == cfg["steps"])
            loop.last = rec
            if loop.step % every == 0 or loop.step == cfg["steps"]:
                mf.write(json.dumps({"step": loop.step, **rec, **row(),
                                     "time": time.perf_counter() - t0}) + "\n")
                mf.flush()
            if cfg["sample_every"] and loop.step % cfg["sample_every"] == 0:
                pictures(f"step_{loop.step:06d}")
            if cfg["checkpoint_every"] and loop.step % cfg["checkpoint_every"] == 0:
                loop.save_checkpoint()
            bar.update(loop.step, status(rec))
            if should_stop is not None and should_stop():
                bar.close()
                loop.save_checkpoint()
                return None
    bar.close()
    return loop.finish(time.perf_counter() - t0)
