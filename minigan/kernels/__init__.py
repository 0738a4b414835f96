"""Kernels: plain functions on arrays, no autograd, one package per family.

``minigan/kernels/<family>/__init__.py`` holds the family's NumPy reference (written to be read),
registers it with the backends that implement it in :mod:`minigan.kernels.registry`, and adds
its rows to the parity table (:mod:`minigan.kernels.table`). Beside it, one module per backend:
``native.py`` (the C++ extension), ``numba.py``, ``cupy.py``, ``numba_cuda.py``, ``cuda.py`` (the
compiled CUDA extension); the registry imports them by name only when a backend is used.
Helpers that several families' GPU modules share live in :mod:`minigan.kernels.common`."""

from . import batch_norm, bias_act, conv, gan_loss, optim, registry, spectral_norm

__all__ = ["batch_norm", "bias_act", "conv", "gan_loss", "optim", "registry", "spectral_norm"]
