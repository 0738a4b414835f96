"""A pytest plugin (``-p emulated_gpu``) for running ``gpu``-marked tests without a GPU, with the
fake cupy of fake_cupy/ first on PYTHONPATH. It checks that the fake is the cupy in use, and
marks the ``cuda`` backend unavailable: the real minigan._cuda would find no device, and its
kernels are emulated by run_emulated.py instead, so the tests of that backend skip, saying why.
Used by tests/kernels/test_gpu_tests_emulated.py."""

from __future__ import annotations


def pytest_configure(config) -> None:
    import cupy

    if not hasattr(cupy, "SYNC_ALLOWED"):
        raise RuntimeError("emulated_gpu: the fake cupy (fake_cupy/) must come first on "
                           f"PYTHONPATH, got {cupy.__file__}")
    from minigan import backends

    backends._modules["minigan._cuda"] = None
    backends._import_errors["minigan._cuda"] = "its kernels are emulated by run_emulated.py"
