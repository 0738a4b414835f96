"""``minigan sr``: super-resolve one's own image with a generator trained by ``task = "sr"``.

    minigan sr --checkpoint RUN_DIR|FILE.npz --in low.png --out high.png

The image is read in grey (Pillow) -- in RGB for a run trained on colour images --, scaled to
[-1, 1] like the training images (digits: white strokes on black; pass ``--invert`` for dark
ink on a light page) and upscaled by the run's
``sr_factor``; the generator is convolutional, so any size goes in. ``--out`` may be a
.png or a .npy (the float image in [-1, 1], unclipped).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

import numpy as np


def _fail(msg: str) -> int:
    print(f"minigan sr: error: {msg}", file=sys.stderr)
    return 2


def load_sr_generator(path: pathlib.Path) -> tuple[Any, dict]:
    """The generator (eval mode) and config of an ``sr`` run's checkpoint or run directory."""
    from .. import checkpoint, rundir
    from .sr import build_generator

    if path.is_dir():  # a run directory: its final checkpoint, else its latest
        path = next((p for p in (path / "checkpoints" / "final.npz", path / rundir.CHECKPOINT)
                     if p.is_file()), path / "checkpoints" / "final.npz")
    state = checkpoint.load(path)
    try:
        cfg = state["config"]
        if cfg.get("task") != "sr":
            raise ValueError(f"it is a {cfg.get('task', 'gan')!r} run, not a super-resolution "
                             f"(task 'sr') run")
        weights = state["modules"]["G"]
        G = build_generator(cfg, int(weights["head.weight"].shape[1]))  # the data's channels
        G.load_state_dict(weights)
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"no super-resolution generator in it ({type(e).__name__}: {e})") \
            from None
    G.eval()
    return G, cfg


def cmd_sr(args: argparse.Namespace) -> int:
    from ...data._common import DatasetError
    from ...data.folder import _pillow, _read
    from ...tensor import Tensor, no_grad
    from .. import checkpoint

    src, out = pathlib.Path(args.inp), pathlib.Path(args.out)
    if out.suffix.lower() not in (".png", ".npy"):
        return _fail(f"--out: expected a .png or .npy file, got {str(out)!r}")
    try:
        G, cfg = load_sr_generator(pathlib.Path(args.checkpoint))
    except checkpoint.CheckpointError as e:
        return _fail(str(e))
    except ValueError as e:
        return _fail(f"--checkpoint {args.checkpoint!r}: {e}")
    if not src.is_file():
        return _fail(f"--in {str(src)!r}: no such file")
    try:
        Image = _pillow()
        grey = G.head.in_channels == 1  # a run on grey images, else on RGB ones
        x = _read(src, Image, grayscale=grey, hw=None).astype(np.float32) / 127.5 - 1
    except DatasetError as e:
        return _fail(f"--in: {e}")
    if args.invert:
        x = -x
    with no_grad():
        y = G(Tensor(x[None])).numpy()[0]
    if args.invert:
        y = -y
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".npy":
            np.save(out, y)
        else:
            # A 2-D uint8 array is an 8-bit grey ("L") image, (H, W, 3) an RGB one.
            pixels = np.round((np.clip(y, -1, 1) + 1) * 127.5).astype(np.uint8)
            Image.fromarray(pixels[0] if grey else pixels.transpose(1, 2, 0)).save(out)
    except OSError as e:
        return _fail(f"--out {str(out)!r}: cannot write ({e.strerror or e})")
    f = cfg["sr_factor"]
    print(f"{src} ({x.shape[2]}x{x.shape[1]}) -> {out} ({x.shape[2] * f}x{x.shape[1] * f}), "
          f"x{f}")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "sr", help="super-resolve an image with a trained sr run's generator",
        description="Upscale a grey image by the sr_factor of a run trained with task 'sr' "
        "(e.g. --preset sr-digits). Digits are white on black; --invert for dark ink.")
    p.add_argument("--checkpoint", required=True, help="the run directory or a checkpoint .npz")
    p.add_argument("--in", dest="inp", required=True, help="the low-resolution image")
    p.add_argument("--out", required=True, help="where to write it: .png or .npy")
    p.add_argument("--invert", action="store_true", help="the image is dark ink on light")
    p.set_defaults(func=cmd_sr)
