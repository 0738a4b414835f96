"""Batch norm kernels from minigan._C, with the NumPy reference's signatures
(minigan/kernels/batch_norm/). Read-only inputs that are not C-contiguous are copied; the
running statistics are updated in place, so they must be contiguous (a 1-d buffer always is,
unless it is a strided view)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import backends


def _c(a: Any) -> Any:
    return None if a is None else np.ascontiguousarray(a)


def batch_norm_forward(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                       training: bool, momentum: float, eps: float) -> tuple:
    return backends.native().batch_norm_forward(_c(x), _c(weight), _c(bias), running_mean,
                                                running_var, bool(training), float(momentum),
                                                float(eps))


def batch_norm_backward(gy: Any, x: Any, weight: Any, mean: Any, invstd: Any) -> tuple:
    return backends.native().batch_norm_backward(_c(gy), _c(x), _c(weight), _c(mean),
                                                 _c(invstd))
