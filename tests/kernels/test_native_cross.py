"""The portable (generic) kernels of every dispatched family -- direct conv, GAN loss, Adam, bias +
activation, batch norm, spectral norm -- cross-compiled for ARM64 and run under qemu-user: where
``aarch64-linux-gnu-g++`` and ``qemu-aarch64`` are installed (Debian: g++-aarch64-linux-gnu,
qemu-user; .ci/run installs them where apt-get can), csrc/cpu/conv_direct.cpp, gan_loss.cpp,
adam.cpp, bias_act.cpp, batch_norm.cpp, spectral_norm.cpp and isa.cpp are built as the ARM64
build of minigan._C builds them (the generic variant only, NEON vectors) with a standalone driver
that compares the kernels with plain loops over the definition
(native_cross/conv_direct_check.cpp). The whole Python module is not cross-built: that needs an
ARM64 Python to link against."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CXX, QEMU = shutil.which("aarch64-linux-gnu-g++"), shutil.which("qemu-aarch64")


@pytest.mark.skipif(CXX is None or QEMU is None,
                    reason="needs aarch64-linux-gnu-g++ and qemu-aarch64 "
                           "(apt-get install g++-aarch64-linux-gnu qemu-user)")
def test_generic_conv_kernels_on_arm64_under_qemu(tmp_path):
    exe = tmp_path / "conv_direct_check"
    flags = ["-std=c++17", "-O2", "-fopenmp", "-ffp-contract=fast", "-DMG_ISA_NS=isa_generic",
             '-DMG_ISA_NAME="generic"', "-DMG_VEC_BYTES=16", "-DMINIGAN_HAVE_ISA_AVX512=0",
             "-DMINIGAN_HAVE_ISA_AVX2=0", f"-I{ROOT / 'csrc'}", "-static"]
    sources = [ROOT / "csrc/cpu/conv_direct.cpp", ROOT / "csrc/cpu/gan_loss.cpp",
               ROOT / "csrc/cpu/adam.cpp", ROOT / "csrc/cpu/bias_act.cpp",
               ROOT / "csrc/cpu/batch_norm.cpp", ROOT / "csrc/cpu/spectral_norm.cpp",
               ROOT / "csrc/cpu/isa.cpp",
               ROOT / "tests/kernels/native_cross/conv_direct_check.cpp"]
    build = subprocess.run([CXX, *flags, *map(str, sources), "-o", str(exe)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([QEMU, str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "isa generic panel 8"  # 16-byte vectors: 4 floats, 2 per panel row
    # 5 conv geometries, the GAN loss, Adam, bias_act for each of its 5 activations, batch
    # norm, spectral norm
    assert sum(line.startswith("ok ") for line in lines) == 16, run.stdout
