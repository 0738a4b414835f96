"""minigan.nn: Module, Parameter, layers, init, spectral_norm -- PyTorch-shaped, on minigan's
autograd. ``import minigan.nn.functional as F`` for the stateless ops."""

from . import functional, init
from .layers import (Conv2d, ConvTranspose2d, Dropout, Embedding, Flatten, Identity, LeakyReLU,
                     Linear, ReLU, Sequential, Sigmoid, Tanh, Unflatten, Upsample)
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .spectral_norm import remove_spectral_norm, spectral_norm

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout", "Embedding", "Flatten",
    "Identity", "LayerNorm", "LeakyReLU", "Linear", "Module", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Tanh", "Unflatten", "Upsample", "functional", "init", "remove_spectral_norm",
    "spectral_norm",
]
