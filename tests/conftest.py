"""Test-suite wide setup. The header says which minigan pytest imported and what was compiled
into it. Tests marked ``gpu`` are skipped, with the reason, where no NVIDIA GPU is reachable
through CuPy; the probe (which imports CuPy) runs only if such tests were collected, so a
CPU-only run stays fast."""

from __future__ import annotations

import importlib.util
import os

import pytest


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        import minigan
        from minigan import backends

        built = {
            name: "built" if mod is not None else "not built"
            for name, mod in (("_C", backends.native()), ("_cuda", backends.cuda_module()))
        }
        where = os.path.dirname(minigan.__file__)
        return [f"minigan {minigan.__version__} from {where} (_C {built['_C']}, "
                f"_cuda {built['_cuda']})"]
    except Exception as exc:  # the header must not hide the real error, which tests will show
        return [f"minigan: import failed ({type(exc).__name__}: {exc})"]


def _no_gpu_reason() -> str | None:
    """None when CuPy imports and sees at least one GPU, else why not: the sentence of
    ``minigan.backends.unavailable_reason`` (what `minigan info` and the errors say too)."""
    if importlib.util.find_spec("cupy") is None:  # without importing minigan's CUDA probe
        return "CuPy is not installed (pip install '.[cuda]')"
    from minigan import backends

    return backends.unavailable_reason("cupy")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    reason = _no_gpu_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=f"needs an NVIDIA GPU with CuPy; none found: {reason}")
    for item in gpu_items:
        item.add_marker(skip)
