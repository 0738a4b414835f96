"""Run the CUDA kernels of csrc/cuda/ on the CPU, through the real bindings and the real
``cuda`` backend wrappers, against the NumPy references: ``python run_emulated.py BUILD_DIR``.

1. Copies csrc/ into BUILD_DIR, rewriting each ``kernel<<<grid, block, smem, stream>>>(args)``
   launch into ``emu_launch(grid, block, kernel, args)`` (include/cuda_runtime_api.h), and
   shrinking two grid sizes so emulation stays fast (the grid-stride loops then really loop).
2. Compiles minigan._cuda with g++ -std=c++20 against that stand-in runtime.
3. Drives it through minigan/kernels/cuda_*.py with a NumPy-backed ``cupy`` (fake_cupy/), over
   every test-sized row of the parity table and a few larger convolutions (several tiles,
   split-K, groups, dilation, an empty batch), in float32 and float64, and the opt-in TF32
   path (include/mma.h) against its documented bound |y - y_exact| <= 2^-9 sum_k |a_k b_k|.

Exit status 0 when every comparison passes. Runs in its own process: the fake cupy must never
meet the real one.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CSRC = HERE.parents[2] / "csrc"

# Exact source strings replaced for emulation; each must be found (else the test is stale).
SHRINK = {
    "constexpr int kReducePartials = 1024;": "constexpr int kReducePartials = 4;",
    "int64_t cap = int64_t{1} << 16": "int64_t cap = 8",
    "int64_t{1} << 16)": "int64_t{8})",
}
LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;]*?>)?)\s*<<<(.*?)>>>\s*\((.*?)\);", re.S)


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [*parts, cur.strip()]


def _convert(text: str, found: set) -> str:
    def launch(m: re.Match) -> str:
        grid, block = _split_top(m.group(2))[:2]
        return f"emu_launch(dim3({grid}), dim3({block}), {m.group(1)}, {m.group(3)});"

    text = LAUNCH.sub(launch, text)
    # A template's argument is not deduced through the emulated shuffle's signature.
    text = text.replace("__shfl_xor_sync(0xffffffffu, v, off)",
                        "__shfl_xor_sync<A>(0xffffffffu, v, off)")
    for old, new in SHRINK.items():
        if old in text:
            found.add(old)
            text = text.replace(old, new)
    return text


def build(out: Path) -> Path:
    src = out / "src"
    (src / "cuda").mkdir(parents=True, exist_ok=True)
    found: set = set()
    for f in [CSRC / "common.h", CSRC / "pyargs.h", *CSRC.glob("bindings_cuda*.cpp")]:
        (src / f.name).write_text(f.read_text())
    for f in sorted((CSRC / "cuda").iterdir()):
        name = f.name[:-3] + ".cpp" if f.suffix == ".cu" else f.name
        (src / "cuda" / name).write_text(_convert(f.read_text(), found))
    missing = set(SHRINK) - found
    if missing:
        raise SystemExit(f"run_emulated.py is stale: not found in csrc/cuda: {sorted(missing)}")
    import pybind11

    so = out / ("_cuda" + sysconfig.get_config_var("EXT_SUFFIX"))
    cmd = ["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread",
           f"-I{HERE / 'include'}", f"-I{src}", f"-I{pybind11.get_include()}",
           f"-I{sysconfig.get_paths()['include']}", "-DMINIGAN_CUDA_ARCHS=\"emulated\"",
           *map(str, sorted(src.glob("bindings_cuda*.cpp"))),
           *map(str, sorted((src / "cuda").glob("*.cpp"))), "-o", str(so)]
    subprocess.run(cmd, check=True)
    return so


def run(so: Path) -> int:
    sys.path.insert(0, str(HERE / "fake_cupy"))
    sys.path.insert(0, str(HERE))
    import cupy
    from parity import CONV, Comparisons

    spec = importlib.util.spec_from_file_location("_cuda", so)
    emulated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(emulated)
    from minigan import backends

    backends._modules["minigan._cuda"] = emulated  # what cuda_common imports
    from minigan.kernels import conv
    from minigan.kernels.conv import cuda as cuda_conv

    cmp = Comparisons()
    check = cmp.check
    cmp.table("cuda", cupy)
    cmp.convolutions(cuda_conv, cupy, lambda *g: f" (splits {cuda_conv.weight_splits(*g)})")
    rng = np.random.default_rng(0)

    # Unaligned data (a view one float into a buffer): the vectorised kernels' scalar paths.
    from minigan.kernels import bias_act, gan_loss
    from minigan.kernels import optim as optim_kernels
    from minigan.kernels.bias_act import cuda as cuda_bias_act
    from minigan.kernels.gan_loss import cuda as cuda_gan_loss
    from minigan.kernels.optim import cuda as cuda_optim

    host = rng.standard_normal(1 + 4 * 6 * 8).astype(np.float32)
    xh = host[1:].reshape(4, 6, 8)
    x = cupy.asarray(host.copy())[1:].reshape(4, 6, 8)
    assert x.data.ptr % 16 != 0
    bias = rng.standard_normal(6).astype(np.float32)
    check("unaligned bias_act", (cuda_bias_act.bias_act(x, cupy.asarray(bias), "tanh", 0.2, 1),),
          (bias_act.bias_act(xh.astype(np.float64), bias.astype(np.float64), "tanh", 0.2, 1),),
          np.float32)
    check("unaligned gan loss", cuda_gan_loss.fused_gan_loss("hinge", "d_fake", x),
          gan_loss.fused_gan_loss("hinge", "d_fake", xh.astype(np.float64)), np.float32)
    p_dev, p_ref = cupy.asarray(host.copy())[1:], host[1:].copy()
    state = [rng.standard_normal(p_ref.shape).astype(np.float32) for _ in range(3)]
    state[2] = abs(state[2])
    dev_state = [cupy.asarray(a.copy()) for a in state]
    cuda_optim.adam_step([p_dev], [dev_state[0]], [dev_state[1]], [dev_state[2]], None, 3, 1e-2,
                         0.9, 0.999, 1e-8, 0.0, False)
    optim_kernels.adam_step([p_ref], [state[0]], [state[1]], [state[2]], None, 3, 1e-2, 0.9,
                            0.999, 1e-8, 0.0, False)
    check("unaligned adam", (p_dev, dev_state[1], dev_state[2]), (p_ref, state[1], state[2]),
          np.float32)

    # The TF32 tensor-core path, float32 only, against its error bound (conv_tf32.cuh).
    cuda_conv.set_tf32(True)
    for xs, ws, s, p, d, g in CONV:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        y = conv.conv2d_forward(x, w, s, p, d, g)
        gy = rng.standard_normal(y.shape)
        pairs = [
            ("forward", cuda_conv.conv2d_forward, (x, w), (xs and None),
             conv.conv2d_forward(x, w, s, p, d, g),
             conv.conv2d_forward(abs(x), abs(w), s, p, d, g)),
            ("backward data", cuda_conv.conv2d_backward_data, (gy, w), xs,
             conv.conv2d_backward_data(gy, w, xs, s, p, d, g),
             conv.conv2d_backward_data(abs(gy), abs(w), xs, s, p, d, g)),
            ("backward weight", cuda_conv.conv2d_backward_weight, (gy, x), ws,
             conv.conv2d_backward_weight(gy, x, ws, s, p, d, g),
             conv.conv2d_backward_weight(abs(gy), abs(x), ws, s, p, d, g)),
        ]
        for what, fn, arrays, shape, exact, bound in pairs:
            cmp.count += 1
            dev = [cupy.asarray(a.astype(np.float32)) for a in arrays]
            got = fn(*dev, s, p, d, g) if shape is None else fn(*dev, shape, s, p, d, g)
            err = np.abs(np.asarray(got, dtype=np.float64) - exact)
            if not (err <= 2.0 ** -9 * bound + 1e-30).all():
                cmp.fail(f"tf32 conv x{xs} w{ws} {what}: max err/bound "
                         f"{float(np.max(err / (bound + 1e-30))):.3g} x 2^-9")
    # NaN/inf weights on the TF32 path: its masked tiles leave out the products the reference
    # never forms (a stride or padding tap that misses the pixel), as the FP32 path does.
    for xs, ws, s, p, d, g in CONV[:2]:
        cmp.count += 1
        w = rng.standard_normal(ws)
        gy = rng.standard_normal(conv.conv2d_forward(rng.standard_normal(xs), w, s, p, d, g).shape)
        flat = w.reshape(-1)
        flat[[0, flat.size // 2, flat.size - 1]] = (np.nan, np.inf, -np.inf)
        want = conv.conv2d_backward_data(gy, w, xs, s, p, d, g)
        got = np.asarray(cuda_conv.conv2d_backward_data(
            cupy.asarray(gy.astype(np.float32)), cupy.asarray(w.astype(np.float32)), xs, s, p,
            d, g), dtype=np.float64)
        finite = np.isfinite(want)
        bound = conv.conv2d_backward_data(abs(gy), np.nan_to_num(abs(w), posinf=0.0), xs, s, p,
                                          d, g)
        same = (np.array_equal(np.isnan(got), np.isnan(want))
                and np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
                and (np.abs(got - want)[finite] <= 2.0 ** -9 * bound[finite] + 1e-30).all())
        if not same:
            cmp.fail(f"tf32 conv x{xs} w{ws} backward data with nan/inf weights: "
                     f"{int((np.isnan(got) != np.isnan(want)).sum())} NaN positions differ")
    cuda_conv.set_tf32(False)
    return cmp.report()


if __name__ == "__main__":
    out = Path(sys.argv[1])
    sys.exit(run(build(out)))
