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

CHECKPOINT = pathlib.Path("checkpoints") / "latest.npz"


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
