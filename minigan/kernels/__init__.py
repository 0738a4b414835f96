"""Kernels: plain functions on arrays, no autograd, one module per family.

Each family module holds its NumPy reference (written to be read) and registers it, with the
backends that implement it, in :mod:`minigan.kernels.registry`."""

from . import batch_norm, bias_act, conv, gan_loss, optim_kernels, registry, spectral_norm

__all__ = ["batch_norm", "bias_act", "conv", "gan_loss", "optim_kernels", "registry",
           "spectral_norm"]
