"""minigan.nn: Module, Parameter, layers, losses, init, spectral_norm -- PyTorch-shaped, on
minigan's autograd. ``import minigan.nn.functional as F`` for the stateless ops."""

from . import functional, init
from .activation import (CELU, ELU, GELU, SELU, Dropout1d, Hardsigmoid, Hardswish, Hardtanh,
                         LogSoftmax, Mish, PReLU, ReLU6, SiLU, Softmax, Softplus, Threshold)
from .container import DataParallel, ModuleDict, ModuleList, ParameterDict, ParameterList
from .layers import (Conv2d, ConvTranspose2d, Dropout, Dropout2d, Embedding, Flatten, Identity,
                     LeakyReLU, Linear, PixelShuffle, PixelUnshuffle, ReLU, Sequential, Sigmoid,
                     Tanh, Unflatten, Upsample)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, KLDivLoss, L1Loss, MSELoss,
                   NLLLoss, SmoothL1Loss)
from .minibatch import MinibatchDiscrimination, MinibatchStdDev
from .module import Module, Parameter
from .normalization import (BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d, InstanceNorm2d,
                            LayerNorm)
from .pooling import (AdaptiveAvgPool2d, AvgPool2d, ConstantPad2d, MaxPool2d, ReflectionPad2d,
                      ReplicationPad2d, UpsamplingBilinear2d, UpsamplingNearest2d, ZeroPad2d)
from .spectral_norm import remove_spectral_norm, spectral_norm

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d",
    "BatchNorm2d", "CELU", "ConstantPad2d", "Conv2d", "ConvTranspose2d", "CrossEntropyLoss",
    "DataParallel", "Dropout", "Dropout1d", "Dropout2d", "ELU", "Embedding", "Flatten", "GELU",
    "GroupNorm", "Hardsigmoid", "Hardswish", "Hardtanh", "Identity", "InstanceNorm1d",
    "InstanceNorm2d", "KLDivLoss", "L1Loss", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax",
    "MSELoss", "MaxPool2d", "MinibatchDiscrimination", "MinibatchStdDev", "Mish", "Module",
    "ModuleDict", "ModuleList", "NLLLoss", "PReLU", "Parameter", "ParameterDict",
    "ParameterList", "PixelShuffle", "PixelUnshuffle", "ReLU", "ReLU6", "ReflectionPad2d",
    "ReplicationPad2d", "SELU", "Sequential", "SiLU", "Sigmoid", "SmoothL1Loss", "Softmax",
    "Softplus", "Tanh", "Threshold", "Unflatten", "Upsample", "UpsamplingBilinear2d",
    "UpsamplingNearest2d", "ZeroPad2d", "functional", "init", "remove_spectral_norm",
    "spectral_norm",
]
