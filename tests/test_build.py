"""The installation itself: pytest imports the installed package (with its compiled _C), the
`minigan` command works, and the README and .ci/run run the same test command."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import minigan

REPO = Path(__file__).resolve().parents[1]


def _editable_install() -> bool:
    try:
        direct_url = importlib.metadata.distribution("minigan").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return False
    return bool(direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"))


def test_native_module_is_importable():
    """_C is always built; if this fails, minigan was imported from an unbuilt source tree (run
    `pytest`, not `python -m pytest`, which puts the repo root first on sys.path)."""
    C = importlib.import_module("minigan._C")
    assert callable(C.im2col) and callable(C.col2im)
    assert Path(C.__file__).suffix in {".so", ".pyd"}


def test_pytest_imports_the_installed_package():
    if _editable_install():
        pytest.skip("editable install: the package is meant to live in the source tree")
    location = Path(minigan.__file__).resolve()
    assert location.parent != REPO / "minigan", (
        f"minigan was imported from the source tree ({location}), not the installed package; "
        "keep --import-mode=importlib and run `pytest` from an environment where minigan is "
        "installed"
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenMP is expected on Linux")
def test_native_module_uses_openmp():
    assert importlib.import_module("minigan._C").build_info()["openmp"] >= 201511


def _minigan_commands() -> list[list[str]]:
    commands = [[sys.executable, "-m", "minigan"]]
    script = Path(sys.executable).parent / "minigan"
    if script.exists():
        commands.append([str(script)])
    elif shutil.which("minigan"):
        commands.append([shutil.which("minigan")])
    return commands


@pytest.mark.parametrize("command", _minigan_commands(), ids=lambda c: Path(c[-1]).name)
def test_minigan_info(command, tmp_path):
    # cwd outside the repo: `python -m` would otherwise import the source tree.
    result = subprocess.run([*command, "info"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert lines["minigan"].split()[:2] == ["minigan", minigan.__version__]
    for field in ("python", "numpy", "cuda (_cuda)", "backends", "threads"):
        assert field in lines
    assert lines["native (_C)"].split()[2:4] == ["built,", "OpenMP"]


def test_minigan_info_json(tmp_path):
    env = {**os.environ, "MINIGAN_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "minigan", "info", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["minigan"]["version"] == minigan.__version__
    assert info["native"]["built"] is True
    avail = info["backends"]["available"]  # numba is listed too when installed
    assert avail[0] == "numpy" and "native" in avail
    assert info["threads"]["minigan"] == 1 and info["threads"]["openmp"] == 1
    if info["cuda"]["built"]:
        assert info["cuda"]["runtime"]["status"] in {"ok", "no driver", "no device", "error"}
    # which kernels each backend provides, by family, from the registry
    from minigan.kernels import registry
    assert info["kernels"]["conv"]["conv2d_forward"] == registry.providers("conv2d_forward")
    assert "native" in info["kernels"]["gan_loss"]["fused_gan_loss"]
    names = {k for f in info["kernels"].values() for k in f}  # (this process's registry may
    assert names <= set(registry._REFERENCE)                  # hold test kernels as well)
    assert {"conv2d_forward_bias", "fused_gan_loss", "adam_step", "batch_norm_forward",
            "bias_act", "spectral_norm_power_iteration"} <= names
    # the ISA variants: compiled, what this CPU runs, the one in use and each family's
    isa = info["native"]["isa"]
    assert isa["compiled"][-1] == "generic" and isa["active"] in isa["supported"]
    for family in ("conv", "gan_loss", "optim", "bias_act", "batch_norm",
                   "spectral_norm"):  # dispatched by minigan
        assert isa["families"][family] == isa["active"]
    assert isa["families"]["im2col"] == "baseline"  # compiled once


def test_minigan_isa_forces_a_variant_or_names_why_not(tmp_path):
    """MINIGAN_ISA=generic is used by every family minigan dispatches; a variant this CPU cannot
    run leaves _C unimported with a message naming it, which `minigan info` shows."""
    supported = importlib.import_module("minigan._C").isa_info()["supported"]
    for name in ("avx512", "avx2", "generic"):
        env = {**os.environ, "MINIGAN_ISA": name}
        result = subprocess.run([sys.executable, "-m", "minigan", "info", "--json"],
                                cwd=tmp_path, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        native = json.loads(result.stdout)["native"]
        if name in supported:
            assert native["isa"]["active"] == name
            families = ("conv", "gan_loss", "optim", "bias_act", "batch_norm", "spectral_norm")
            assert {native["isa"]["families"][f] for f in families} == {name}
        else:
            assert native["built"] is False
            assert f"MINIGAN_ISA={name}" in native["error"] and "available here" in native["error"]


def test_minigan_without_subcommand_shows_usage(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "minigan"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "usage: minigan" in result.stderr and "info" in result.stderr


def test_readme_and_ci_run_the_same_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    command = 'pip install ".[test]" && pytest -q'
    assert command in readme
    assert command in ci
