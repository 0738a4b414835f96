"""``minigan data``: ``download`` MNIST-family files with SHA-256 checks; ``info`` on a dataset.

Registered by ``minigan.cli.build_parser`` through :func:`add_data_parser`.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ._common import DatasetError


def _progress() -> object:
    if not sys.stderr.isatty():
        return None

    def show(name: str, done: int, total: int | None) -> None:
        of = f" / {total / 1e6:.1f} MB" if total else " MB"
        end = "\n" if total and done >= total else ""
        print(f"\r{name}: {done / 1e6:.1f}{of}", end=end, file=sys.stderr, flush=True)

    return show


def cmd_data_download(args: argparse.Namespace) -> int:
    from .download import download

    try:
        where = download(args.dataset, args.dir, mirror=args.mirror, force=args.force,
                         timeout=args.timeout, progress=_progress())
    except DatasetError as exc:
        print(f"minigan data download: error: {exc}", file=sys.stderr)
        return 2
    kind = f"{args.dataset}-idx:{where}"
    print(f"{args.dataset}: verified files in {where}\n"
          f"train on them with: minigan train --set dataset={kind} ...")
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    from . import load

    options = {"split": args.split} if args.split else {}
    try:
        images, labels = load(args.name, **options)
    except (DatasetError, ValueError) as exc:
        print(f"minigan data info: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name}: {images.shape[0]} images of shape {tuple(images.shape[1:])}, "
          f"{images.dtype}, values in [{images.min():.3f}, {images.max():.3f}]")
    if labels is not None:
        counts = np.bincount(labels)
        print(f"labels 0..{len(counts) - 1}: " + " ".join(str(int(c)) for c in counts))
    return 0


def add_data_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``minigan data {download,info}`` to the top-level subparsers."""
    data = sub.add_parser("data", help="download datasets and check what a dataset name loads",
                          description="Download MNIST-family datasets (SHA-256 verified) and "
                          "inspect datasets by name.")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    dl = dsub.add_parser(
        "download", help="download MNIST or Fashion-MNIST IDX files, SHA-256 verified",
        description="Download the four IDX files of a dataset. Each is written to a .part file "
        "and kept only if its SHA-256 matches the published one; an interrupted download "
        "resumes. Train on the result with --set dataset=mnist-idx:DIR.")
    # Not argparse choices: the table is read (and its errors reported) only when downloading.
    dl.add_argument("dataset", metavar="DATASET", help="mnist or fashion-mnist")
    # --out like every other command; --dir, its first name, still works.
    dl.add_argument("--out", "--dir", dest="dir", default=None, metavar="DIR",
                    help="where to put the files (default: $MINIGAN_DATA_DIR/<dataset> or "
                    "~/.cache/minigan/data/<dataset>)")
    dl.add_argument("--mirror", default=None, metavar="URL",
                    help="base URL to fetch the files from instead of the known mirrors")
    dl.add_argument("--force", action="store_true",
                    help="download again even if a file is present")
    dl.add_argument("--timeout", type=float, default=60.0, help="seconds per connection")
    dl.set_defaults(func=cmd_data_download)

    info = dsub.add_parser("info", help="load a dataset by name and print its shape and labels",
                           description="Load a dataset as training would (digits, "
                           "mnist-idx:DIR, cifar10:DIR, folder:DIR, npz:FILE, ...) and print "
                           "what it holds.")
    info.add_argument("name", help="dataset name, e.g. digits or mnist-idx:~/data/mnist")
    info.add_argument("--split", default=None, help="train, test or all (where it applies)")
    info.set_defaults(func=cmd_data_info)
