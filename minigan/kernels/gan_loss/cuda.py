"""The ``cuda`` backend of the fused GAN loss: minigan._cuda's kernel (csrc/cuda/gan_loss.cu)
with the NumPy reference's signature (:mod:`minigan.kernels.gan_loss`).

Two launches: a vectorised grid-stride pass that writes dlogits = l'(x) / N and one float64
partial sum of l(x) per block, then one block that totals the partials into the 0-d loss. The
loss stays on the GPU; the softplus/sigmoid forms are those of the reference, stable for any
|logit| (1e4 included).
"""

from __future__ import annotations

from typing import Any

import cupy

from ..common.cuda import as_device, cuda, overlaps, partials, stream
from . import code


def fused_gan_loss(kind: str, side: str, logits: Any, out_grad: Any = None) -> tuple:
    """(mean_i l(x_i), l'(x) / N) for the (kind, side) term of the reference's table; the loss
    is a 0-d array of the logits' dtype, dlogits (or ``out_grad``, filled) the logits' shape."""
    c = code(kind, side)
    x = as_device("logits", logits)
    if x.dtype.kind != "f":
        raise TypeError(f"logits: expected a float32 or float64 array, got {x.dtype}")
    if x.size == 0:
        raise ValueError(f"logits: expected at least one logit, got shape {x.shape}")
    if out_grad is not None and (out_grad.shape != x.shape or out_grad.dtype != x.dtype):
        raise ValueError(f"out_grad: expected shape {x.shape} and dtype {x.dtype}, got "
                         f"{out_grad.shape} {out_grad.dtype}")
    # The kernel writes a C-contiguous buffer that does not overlap the logits; any other
    # out_grad (a strided view, or the logits themselves) receives a copy afterwards.
    direct = (out_grad is not None and isinstance(out_grad, cupy.ndarray)
              and out_grad.flags.c_contiguous and not overlaps(out_grad, x))
    grad = out_grad if direct else cupy.empty_like(x)
    loss = cupy.empty((), dtype=x.dtype)
    cuda.gan_loss(c, x, out_grad=grad, loss=loss, partials=partials(), stream=stream())
    if out_grad is not None and not direct:
        out_grad[...] = grad
        grad = out_grad
    return loss, grad
