"""``minigan data download``: fetch MNIST-family files, keep them only if their SHA-256 matches.

The table of files, sizes, digests and mirrors is data (``checksums.json`` beside this file),
not code; ``checksums=`` or the environment variable ``MINIGAN_DATA_CHECKSUMS`` (a JSON file in
the same format) replace a dataset's entry -- the tests serve their own files that way.

Each file is written to ``<name>.part`` and renamed into place only after its digest matched,
so a file under its final name is always a verified one. An interrupted download leaves the
``.part`` file; the next run resumes it with an HTTP Range request (or starts over when the
server ignores Range) and still verifies the whole file. A digest mismatch deletes the
``.part`` file and is an error: nothing unverified is ever kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._common import DatasetError

TABLE_PATH = Path(__file__).with_name("checksums.json")
ENV_TABLE = "MINIGAN_DATA_CHECKSUMS"
ENV_DIR = "MINIGAN_DATA_DIR"
_CHUNK = 1 << 20


class DownloadError(DatasetError):
    """A download that could not be completed and verified; nothing unverified was kept."""


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{path}: cannot read the checksum table ({exc})") from None


def checksum_table(checksums: Mapping[str, Any] | None = None) -> dict:
    """The dataset table: the shipped one, then ``$MINIGAN_DATA_CHECKSUMS``, then
    ``checksums``, each replacing whole dataset entries.

    Format: ``{dataset: {"mirrors": [url, ...], "files": {name: {"sha256": hex, "size": n}}}}``
    (``size`` optional).
    """
    table = {k: v for k, v in _load_json(TABLE_PATH).items() if not k.startswith("_")}
    env = os.environ.get(ENV_TABLE)
    for source, extra in ((ENV_TABLE, _load_json(Path(env)) if env else None),
                          ("checksums", checksums)):
        for name, entry in (extra or {}).items():
            if name.startswith("_"):
                continue
            files = entry.get("files") if isinstance(entry, Mapping) else None
            if not isinstance(files, Mapping) or not files or not all(
                    isinstance(f, Mapping) and _is_sha256(f.get("sha256"))
                    for f in files.values()):
                raise DownloadError(f"{source}: entry {name!r} needs 'files' mapping each file "
                                    f"name to {{'sha256': <64 hex digits>}}")
            table[name] = {"mirrors": list(entry.get("mirrors", table.get(name, {})
                                                     .get("mirrors", []))), **entry}
    return table


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(
        c in "0123456789abcdef" for c in value.lower())


def default_dir(name: str) -> Path:
    """``$MINIGAN_DATA_DIR/<name>``, else ``$XDG_CACHE_HOME/minigan/data/<name>`` (by default
    ``~/.cache/minigan/data/<name>``)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser() / name
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "minigan" / "data" / name


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _mirror(url: str) -> str:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"mirror: expected an http://, https:// or file:// URL, got {url!r}")
    return url if url.endswith("/") else url + "/"


def _fetch(url: str, part: Path, size: int | None, timeout: float,
           progress: Callable[[str, int, int | None], None] | None) -> bool:
    """Download ``url`` into ``part``, resuming it if it exists; True if it resumed."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "minigan-data-download"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection
        if exc.code != 416 or not have:  # 416: our .part is already whole (or bogus)
            raise
        part.unlink()
        return _fetch(url, part, size, timeout, progress)
    with resp:
        status = getattr(resp, "status", None) or resp.getcode() or 200
        resumed = bool(have) and status == 206 and resp.headers.get(
            "Content-Range", "").startswith(f"bytes {have}-")
        done = have if resumed else 0
        with open(part, "ab" if resumed else "wb") as out:
            while chunk := resp.read(_CHUNK):
                done += len(chunk)
                if size is not None and done > size:
                    raise DownloadError(f"{url}: the server sent more than the {size} bytes "
                                        f"the table expects")
                out.write(chunk)
                if progress is not None:
                    progress(part.name[: -len(".part")], done, size)
            out.flush()
            os.fsync(out.fileno())
    return resumed


def _fetch_verified(name: str, mirrors: list[str], expected: str, size: int | None,
                    dest: Path, timeout: float,
                    progress: Callable[[str, int, int | None], None] | None) -> str:
    """Fetch ``name`` from the first mirror that serves it with the right digest; the URL."""
    part = dest.with_name(dest.name + ".part")
    if part.exists() and part.stat().st_size == size and sha256_file(part) == expected:
        os.replace(part, dest)  # a run killed between download and rename left it whole
        return f"{part.name} (left complete by an interrupted run)"
    failures = []
    for base in mirrors:
        url = base + name
        for _attempt in range(2):  # a resumed .part that fails is retried once from scratch
            try:
                resumed = _fetch(url, part, size, timeout, progress)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # HTTPError's str has the status code; other URLErrors wrap the OS reason.
                reason = exc if isinstance(exc, urllib.error.HTTPError) else (
                    getattr(exc, "reason", None) or exc)
                failures.append(f"{url}: {reason}")
                if isinstance(exc, DownloadError):
                    part.unlink(missing_ok=True)
                break
            digest = sha256_file(part)
            if digest == expected:
                os.replace(part, dest)  # atomic: dest is either absent or verified
                return url
            part.unlink()
            if not resumed:
                failures.append(f"{url}: SHA-256 mismatch: got {digest}, expected {expected}"
                                f" (the download was deleted)")
                break
    raise DownloadError(f"{name}: no mirror gave a verified copy:\n  " + "\n  ".join(failures))


def download(name: str, directory: str | os.PathLike | None = None,
             mirror: str | None = None, checksums: Mapping[str, Any] | None = None,
             force: bool = False, timeout: float = 60.0,
             progress: Callable[[str, int, int | None], None] | None = None,
             log: Callable[[str], None] | None = None) -> Path:
    """Download dataset ``name`` ("mnist", "fashion-mnist") into ``directory`` (default
    :func:`default_dir`), verifying every file's SHA-256; returns the directory.

    ``mirror``: a base URL to use instead of the table's mirrors. A file already present is
    verified and kept (``force``: fetched again); one present with the wrong digest is an error
    (it may be the user's, so it is not overwritten without ``force``).
    """
    table = checksum_table(checksums)
    if name not in table:
        raise DownloadError(f"dataset: unknown {name!r}; expected one of "
                            f"{', '.join(sorted(table))}")
    entry = table[name]
    mirrors = [_mirror(mirror)] if mirror else [_mirror(m) for m in entry.get("mirrors", [])]
    if not mirrors:
        raise DownloadError(f"{name}: no mirror known; pass mirror=URL (--mirror)")
    out = Path(directory).expanduser() if directory is not None else default_dir(name)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{out}: cannot create the directory ({exc})") from None
    say = log or (lambda msg: print(msg, file=sys.stderr))
    for fname, spec in entry["files"].items():
        expected, size = spec["sha256"].lower(), spec.get("size")
        dest = out / fname
        if dest.exists() and not force:
            digest = sha256_file(dest)
            if digest == expected:
                say(f"{fname}: present, SHA-256 verified")
                continue
            raise DownloadError(f"{dest}: exists but its SHA-256 is {digest}, expected "
                                f"{expected}; delete it, or pass --force to download it again")
        url = _fetch_verified(fname, mirrors, expected, size, dest, timeout, progress)
        say(f"{fname}: downloaded from {url}, SHA-256 verified")
    return out
