"""minigan: a GAN engine written from scratch -- own autograd, NumPy reference kernels beside
native C++ and CUDA kernels, and a lab for measuring GAN training stability."""

__version__ = "0.1.0"

from . import backends, diagnostics, gan, nn, ops, optim
from .ops import *  # noqa: F403  (mg.exp, mg.matmul, mg.concat, ...)
from .random import manual_seed, rand, randint, randn
from .tensor import (Tensor, backward, enable_grad, full, grad, is_grad_enabled, no_grad, ones,
                     ones_like, set_grad_enabled, tensor, zeros, zeros_like)

float32 = __import__("numpy").float32
float64 = __import__("numpy").float64

__all__ = [
    "Tensor", "backends", "backward", "diagnostics", "enable_grad", "float32", "float64", "full",
    "gan", "grad", "is_grad_enabled", "manual_seed", "nn", "no_grad", "ones", "ones_like", "ops",
    "optim", "rand", "randint", "randn", "set_grad_enabled", "tensor", "zeros", "zeros_like",
    *ops.__all__,
]
