"""Kernels: plain functions on arrays, no autograd, one module per family.

Each family module holds its NumPy reference (written to be read) and registers it, with the
backends that implement it, in :mod:`minigan.kernels.registry`."""

from . import bias_act, conv, registry

__all__ = ["bias_act", "conv", "registry"]
