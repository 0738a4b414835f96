"""Run the cupy backend (minigan/kernels/cupy_*.py) on the CPU, its own CUDA C++ included, against
the NumPy references: ``python run_cupy_emulated.py BUILD_DIR``.

1. Puts a NumPy-backed ``cupy`` first on sys.path (fake_cupy/): ``ElementwiseKernel``,
   ``ReductionKernel`` and ``RawModule`` compile the kernels' CUDA C++ with g++ (the raw modules
   against include/cuda_runtime_api.h, a std::thread per CUDA thread), with CuPy's rules for
   argument types, broadcasting and outputs (fake_cupy/cupy/_kernels.py). The device reports one
   SM, so the grid-stride loops of the raw kernels really loop.
2. Runs every test-sized row of the parity table on the ``cupy`` backend in float32 and float64,
   the larger convolutions of parity.CONV, and what the table does not reach: logits spanning
   several blocks and grid strides, Adam over parameters of several 4096-element chunks and
   mixed sizes, batch norm statistics of data with a large mean.
3. Compiles every kernel source the run built, as CuPy would hand it to NVRTC, with the real
   nvcc for sm_90 (when nvcc is here) and checks the PTX has one entry per kernel.

Exit status 0 when every comparison passes and nvcc (if present) compiles every kernel. Runs in
its own process: the fake cupy must never meet the real one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _nvcc() -> str | None:
    found = shutil.which("nvcc") or os.environ.get("CUDACXX")
    if not found and Path("/usr/local/cuda/bin/nvcc").exists():
        found = "/usr/local/cuda/bin/nvcc"
    return found


def compile_with_nvcc(sources: dict, out: Path, nvcc: str) -> str | None:
    """None when nvcc compiles every rendered kernel into a PTX entry, else what went wrong."""
    cu = out / "cupy_kernels.cu"
    cu.write_text("#include <cuda_runtime.h>\n" + "\n".join(sources.values()))
    ptx = out / "cupy_kernels.ptx"
    res = subprocess.run([nvcc, "-std=c++17", "-arch=sm_90", "--ptx", str(cu), "-o", str(ptx)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return f"nvcc failed on {cu}:\n{res.stderr[-4000:]}"
    entries = len(re.findall(r"^\.(?:visible )?\.entry ", ptx.read_text(), re.M))
    want = sum(len(re.findall(r"_instance\d+ =", s)) or 1 for s in sources.values())
    if entries != want:
        return f"nvcc: {entries} kernel entries in the PTX, expected {want}"
    return None


def run(out: Path) -> int:
    os.environ["FAKE_CUPY_SMS"] = "1"
    os.environ["FAKE_CUPY_BUILD"] = str(out / "kernels")
    sys.path.insert(0, str(HERE / "fake_cupy"))
    sys.path.insert(0, str(HERE))
    import cupy
    from cupy import _kernels
    from parity import Comparisons

    from minigan import backends
    from minigan.kernels import batch_norm, gan_loss
    from minigan.kernels import optim as optim_kernels
    from minigan.kernels.batch_norm import cupy as cupy_batch_norm
    from minigan.kernels.conv import cupy as cupy_conv
    from minigan.kernels.gan_loss import cupy as cupy_gan_loss
    from minigan.kernels.optim import cupy as cupy_optim

    assert backends.unavailable_reason("cupy") is None, backends.unavailable_reason("cupy")
    cmp = Comparisons()
    cmp.table("cupy", cupy)
    cmp.convolutions(cupy_conv, cupy)
    rng = np.random.default_rng(1)

    # Logits over several blocks and several grid strides (1 SM: at most 8 blocks of 256), a
    # length that is no multiple of either, and |x| up to 1e4.
    for n in (257, 5000):
        x = rng.standard_normal(n) * np.where(rng.random(n) < 0.1, 1e4, 3.0)
        for dtype in (np.float32, np.float64):
            for kind, side in (("ns", "g"), ("minimax", "d_fake"), ("hinge", "d_real")):
                cmp.check(f"gan loss {kind} {side} n={n}",
                          cupy_gan_loss.fused_gan_loss(kind, side, cupy.asarray(x.astype(dtype))),
                          gan_loss.fused_gan_loss(kind, side, x), dtype)

    # Adam in one launch over parameters of 1, 4096 + 3 and 3 * 4096 elements (chunks that end
    # inside a parameter and parameters smaller than a chunk), amsgrad and weight decay.
    for dtype in (np.float32, np.float64):
        sizes = (1, 4099, 3 * 4096)
        host = [[rng.standard_normal(s).astype(dtype) for s in sizes] for _ in range(5)]
        for group in host[3:]:
            for a in group:
                np.abs(a, out=a)
        dev = [[cupy.asarray(a.copy()) for a in group] for group in host]
        cupy_optim.adam_step(*dev, (4, 1, 9), 1e-2, 0.9, 0.99, 1e-8, 0.01, True)
        optim_kernels.adam_step(*host, (4, 1, 9), 1e-2, 0.9, 0.99, 1e-8, 0.01, True)
        for k in (0, 2, 3, 4):
            cmp.check(f"adam 3 params x{sizes} state {k}", tuple(dev[k]), tuple(host[k]), dtype)

    # Batch norm on data with a large mean: the centred variance pass keeps the digits.
    x = (1e4 + rng.standard_normal((16, 3, 5, 5))).astype(np.float32)
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    got = cupy_batch_norm.batch_norm_forward(*(cupy.asarray(a.copy()) for a in (x, w, b, rm, rv)),
                                             True, 0.1, 1e-5)
    want = batch_norm.batch_norm_forward(*(a.astype(np.float64) for a in (x, w, b, rm, rv)),
                                         True, 0.1, 1e-5)
    # mean and invstd against float64; y = (x - mean) * invstd * w + b itself cannot be closer
    # than half an ulp of the float32 mean (5e-4 here) in any float32 kernel, the reference's too.
    cmp.check("batch norm, mean 1e4: mean, invstd", got[1:], want[1:], np.float32)

    status = cmp.report()
    nvcc = _nvcc()
    if nvcc is None:
        print("nvcc not found: the CUDA compile of the cupy kernel sources was skipped")
        return status
    problem = compile_with_nvcc(_kernels.CUDA, out, nvcc)
    if problem:
        print("FAIL", problem)
        return 1
    print(f"nvcc compiled the {len(_kernels.CUDA)} cupy kernel sources for sm_90")
    return status


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    sys.exit(run(out))
