"""minigan: a GAN engine written from scratch -- own autograd, NumPy reference kernels beside
native C++ and CUDA kernels, and a lab for measuring GAN training stability."""

__version__ = "0.1.0"

from . import backends, diagnostics, gan, nn, ops, optim
from .ops import *  # noqa: F403  (mg.exp, mg.matmul, mg.concat, ...)
from .random import (Generator, bernoulli, initial_seed, manual_seed, multinomial, normal, rand,
                     rand_like, randint, randint_like, randn, randn_like, randperm, seed)
from .tensor import (Tensor, backward, empty, empty_like, enable_grad, full, full_like, grad,
                     is_grad_enabled, no_grad, ones, ones_like, set_grad_enabled, tensor, zeros,
                     zeros_like)

# ---- PyTorch's top-level API (issue 13): `import minigan as torch` ---------------------------
from . import autograd, cuda, legacy, tensor_methods, utils  # noqa: E402
from ._device import device  # noqa: E402
from .backends import cudnn as _cudnn  # noqa: E402,F401  (mg.backends.cudnn.benchmark = True)
from .backends import mps as _mps  # noqa: E402,F401  (mg.backends.mps.is_available())
from . import accelerator  # noqa: E402
from .nn import parallel as _nn_parallel  # noqa: E402,F401  (import minigan.nn.parallel)
from .random import get_rng_state, set_rng_state  # noqa: E402
from .dtypes import (bool, double, float, float16, float32, float64, get_default_dtype,  # noqa: E402,A004
                     half, int, int8, int16, int32, int64, long, set_default_dtype, short, uint8)
from .factories import (arange, as_tensor, eye, from_numpy, is_floating_point, is_tensor,  # noqa: E402
                        linspace, numel, set_printoptions)
from .optim import lr_scheduler as _lr_scheduler  # noqa: E402,F401
from .nn import utils as _nn_utils  # noqa: E402,F401  (nn.utils.clip_grad_norm_)
from .serialization import load, save  # noqa: E402

tensor_methods.install()
std_mean, var_mean = tensor_methods.std_mean, tensor_methods.var_mean
clamp, mm = ops.clip, ops.matmul  # PyTorch's other names
inference_mode = no_grad  # no graph is recorded (PyTorch's faster variant of no_grad)
_LEGACY = legacy.make("cpu")
FloatTensor = _LEGACY["FloatTensor"]
DoubleTensor = _LEGACY["DoubleTensor"]
HalfTensor = _LEGACY["HalfTensor"]
LongTensor = _LEGACY["LongTensor"]
IntTensor = _LEGACY["IntTensor"]
ByteTensor = _LEGACY["ByteTensor"]
BoolTensor = _LEGACY["BoolTensor"]
Size = tuple

__all__ = [
    "Tensor", "backends", "backward", "diagnostics", "enable_grad", "float32", "float64", "full",
    "gan", "grad", "is_grad_enabled", "manual_seed", "nn", "no_grad", "ones", "ones_like", "ops",
    "optim", "rand", "randint", "randn", "set_grad_enabled", "tensor", "zeros", "zeros_like",
    *ops.__all__,
    "BoolTensor", "ByteTensor", "DoubleTensor", "FloatTensor", "Generator", "HalfTensor",
    "IntTensor", "LongTensor", "Size", "accelerator", "arange", "as_tensor", "autograd",
    "bernoulli", "bool", "clamp", "cuda", "device", "double", "empty", "empty_like", "eye",
    "float", "float16", "from_numpy", "full_like", "get_default_dtype", "get_rng_state", "half",
    "inference_mode", "initial_seed", "int", "int16", "int32", "int64", "int8",
    "is_floating_point", "is_tensor", "linspace", "load", "long", "mm", "multinomial", "normal",
    "numel", "rand_like", "randint_like", "randn_like", "randperm", "save", "seed",
    "set_default_dtype", "set_printoptions", "set_rng_state", "short", "std_mean", "uint8",
    "utils", "var_mean",
]
