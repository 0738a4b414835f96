"""The kernel registry: for each kernel name, its NumPy reference and the backends that provide it.

A kernel family module (``minigan/kernels/<family>.py``) defines its reference functions and
registers them, together with where each backend's implementation lives::

    registry.define("conv", "conv2d_forward", conv2d_forward)           # the reference
    registry.provide("conv2d_forward", "native", "minigan.kernels.conv.native:conv2d_forward")
    registry.provide("conv2d_forward", "numba", "minigan.kernels.conv.numba:conv2d_forward")

Implementations given as ``"module:attr"`` are imported on first use, so importing minigan
never imports Numba or compiles anything. Every implementation has the reference's signature.

``get(name, device)`` returns the implementation of the backend in use (``minigan.backends``),
or the device's default when that backend lacks the kernel or runs on another device: the
NumPy reference on ``cpu``, and on ``cuda`` the ``cupy`` entry, else the reference itself
(references are written with the ``xp`` idiom and run on CuPy arrays unchanged).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .. import backends

_REFERENCE: dict[str, Callable] = {}
_FAMILY: dict[str, str] = {}
_PROVIDED: dict[str, dict[str, Any]] = {}  # name -> backend -> callable or "module:attr"


def define(family: str, name: str, reference: Callable) -> Callable:
    """Register ``reference`` as the NumPy reference of kernel ``name`` in ``family``."""
    if name in _REFERENCE and _REFERENCE[name] is not reference:
        raise ValueError(f"kernel {name!r} is already defined")
    _REFERENCE[name] = reference
    _FAMILY[name] = family
    _PROVIDED.setdefault(name, {})
    return reference


def provide(name: str, backend: str, impl: Callable | str) -> None:
    """Register ``backend``'s implementation of kernel ``name`` (a callable, or a lazily imported
    ``"module:attr"`` path)."""
    if name not in _REFERENCE:
        raise ValueError(f"kernel {name!r}: define its reference before providing backends")
    if backend not in backends.ALL_BACKENDS or backend == "numpy":
        raise ValueError(f"backend: expected one of {', '.join(backends.ALL_BACKENDS[1:])}, "
                         f"got {backend!r}")
    _PROVIDED[name][backend] = impl


def _resolve(name: str, backend: str) -> Callable:
    impl = _PROVIDED[name][backend]
    if isinstance(impl, str):
        module, _, attr = impl.partition(":")
        impl = getattr(importlib.import_module(module), attr)
        _PROVIDED[name][backend] = impl
    return impl


def reference(name: str) -> Callable:
    """The NumPy reference of kernel ``name``."""
    if name not in _REFERENCE:
        raise KeyError(f"unknown kernel {name!r}; known: {', '.join(sorted(_REFERENCE))}")
    return _REFERENCE[name]


def get(name: str, device: str = "cpu", backend: str | None = None) -> Callable:
    """The implementation of ``name`` to run on ``device`` with ``backend`` (default: the
    backend in use), falling back to the device's default."""
    ref = reference(name)
    backend = backend or backends.current()
    if backends.DEVICE[backend] != device:
        backend = "numpy" if device == "cpu" else "cupy"
    if backend in _PROVIDED[name]:
        return _resolve(name, backend)
    if device == "cuda" and "cupy" in _PROVIDED[name]:
        return _resolve(name, "cupy")
    return ref


def providers(name: str) -> list[str]:
    """The backends that implement ``name`` themselves (``numpy`` always does)."""
    reference(name)
    return ["numpy", *sorted(_PROVIDED[name], key=backends.ALL_BACKENDS.index)]


def kernels() -> dict[str, list[str]]:
    """Every kernel name grouped by family."""
    out: dict[str, list[str]] = {}
    for name, family in _FAMILY.items():
        out.setdefault(family, []).append(name)
    return out
