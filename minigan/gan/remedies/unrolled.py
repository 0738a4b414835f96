"""Unrolled GAN (Metz et al. 2017): the generator's loss through k unrolled D updates.

With D's parameters theta_0 (the real D's, taken as constants) and fresh batches (x_j, z_j):

    g_j         = d/dtheta L_D(theta_j; x_j, G(z_j))          (graph kept: create_graph)
    theta_j+1   = theta_j - lr * g_j                                             (SGD)
                  m_j+1 = b1 m_j + (1 - b1) g_j,  v_j+1 = b2 v_j + (1 - b2) g_j^2,  t = t + 1
                  theta_j+1 = theta_j - lr / (1 - b1^t) * m_j+1 / (sqrt(v_j+1) / sqrt(1 - b2^t)
                              + eps)                                            (Adam, from the
                                                                  real optimizer's m, v, t)
    L_G^unrolled = g_loss(D_theta_k(G(z)))

Because the fakes G(z_j) inside the unroll carry G's graph, theta_k depends on G, and
d L_G / d theta_G includes the term through dtheta_k/dtheta_G ("gradient through the unroll"):
double backprop through k optimizer steps. The real D, its optimizer state and its buffers are
left as they were: the unroll runs on a deep copy whose parameters are replaced by tensors.
The unrolled D loss is the plain adversarial loss (no penalties, smoothing or noise).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

from ... import nn
from ...ops import sqrt
from ...tensor import Tensor, grad

OPTIMIZERS = ("adam", "sgd")


@contextlib.contextmanager
def substituted(module: nn.Module, params: dict[str, Tensor]) -> Iterator[nn.Module]:
    """``module`` with its parameters called ``name`` replaced by ``params[name]`` (any tensors,
    graph included) for the duration of the block, then restored."""
    owners = {}
    for name in params:
        *path, leaf = name.split(".")
        owner = module
        for part in path:
            owner = getattr(owner, part)
        owners[name] = (owner, leaf, owner._parameters[leaf])
    try:
        for name, t in params.items():
            owner, leaf, _ = owners[name]
            owner._parameters[leaf] = t  # bypasses __setattr__'s Parameter-only check
        yield module
    finally:
        for owner, leaf, p in owners.values():
            owner._parameters[leaf] = p


def unroll(D: nn.Module, d_loss: Callable[[nn.Module, int], Tensor], steps: int, kind: str,
           lr: float, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
           state: Callable[[str], dict | None] | None = None) -> dict[str, Tensor]:
    """theta_k after ``steps`` differentiable updates (module docstring) of ``D``'s parameters.

    ``d_loss(D_theta, j)`` is L_D at unroll step j computed with the substituted module;
    ``state(name)`` gives the real Adam state of a parameter ({"step", "exp_avg",
    "exp_avg_sq"}) or None (a fresh Adam). Returns {name: theta_k tensor}."""
    if kind not in OPTIMIZERS:
        raise ValueError(f"kind: expected one of {', '.join(OPTIMIZERS)}, got {kind!r}")
    names = [n for n, _ in D.named_parameters()]
    theta = {n: Tensor(p.array.copy(), requires_grad=True) for n, p in D.named_parameters()}
    b1, b2 = betas
    moments = {}
    for n in names:
        st = state(n) if state is not None else None
        if kind == "adam" and st:
            moments[n] = (Tensor(st["exp_avg"].copy()), Tensor(st["exp_avg_sq"].copy()),
                          int(st["step"]))
        else:
            moments[n] = (0.0, 0.0, 0)
    for j in range(steps):
        with substituted(D, theta):
            loss = d_loss(D, j)
        gs = grad(loss, [theta[n] for n in names], create_graph=True, allow_unused=True)
        new = {}
        for n, g in zip(names, gs):
            if g is None:  # a parameter this loss does not use (a classifier head)
                new[n] = theta[n]
                continue
            if kind == "sgd":
                new[n] = theta[n] - lr * g
                continue
            m, v, t = moments[n]
            m, v, t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * (g * g), t + 1
            moments[n] = (m, v, t)
            # + 1e-30 under the root: sqrt'(0) is infinite, and a gradient entry that is exactly
            # 0 on a fresh Adam would turn the second-order term into 0 * inf = NaN. It moves
            # sqrt(v) by at most 1e-15, far below eps.
            denom = sqrt(v + 1e-30) * (1.0 / math.sqrt(1 - b2 ** t)) + eps
            new[n] = theta[n] - (lr / (1 - b1 ** t)) * (m / denom)
        theta = new
    return theta


def unrolled_copy(D: nn.Module) -> nn.Module:
    """A copy of D for the unroll: its batch-norm statistics and spectral-norm vectors move
    during the unroll, the real D's must not."""
    return copy.deepcopy(D)


def adam_state(opt: Any, D: nn.Module) -> Callable[[str], dict | None]:
    """``state(name)`` for ``unroll`` from a minigan Adam optimizing ``D``'s parameters."""
    params = dict(D.named_parameters())
    return lambda name: opt.state.get(params[name])
