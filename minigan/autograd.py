"""``minigan.autograd``: PyTorch's autograd namespace over minigan's engine.

``grad`` has PyTorch's signature and returns a tuple; ``Variable`` is the legacy wrapper, which
in PyTorch >= 0.4 (and here) just returns a tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .tensor import Tensor, backward, enable_grad, no_grad, set_grad_enabled, tensor
from .tensor import grad as _grad

__all__ = ["Variable", "backward", "enable_grad", "grad", "no_grad", "set_grad_enabled"]


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple:
    """d(outputs)/d(inputs), a tuple with one gradient per input; no ``.grad`` is touched.

    ``create_graph=True`` records the gradient's own graph (WGAN-GP, R1, DRAGAN penalties);
    ``retain_graph`` defaults to ``create_graph``; an input the outputs do not depend on raises
    unless ``allow_unused`` (then None, or zeros with ``materialize_grads``). ``only_inputs`` is
    PyTorch's deprecated flag, accepted and ignored as there.
    """
    if is_grads_batched:
        raise NotImplementedError("grad: is_grads_batched=True is not supported")
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    result = _grad(outputs, inputs, grad_outputs=grad_outputs, create_graph=create_graph,
                   retain_graph=retain_graph, allow_unused=bool(allow_unused or materialize_grads))
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if materialize_grads:
        from .tensor import zeros_like

        result = [zeros_like(t) if g is None else g for g, t in zip(result, ins)]
    return tuple(result)


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # noqa: N802
    """The legacy wrapper: the tensor itself (``requires_grad=True``: a leaf sharing its data
    that requires grad). ``volatile`` is accepted and ignored, as in PyTorch >= 0.4."""
    t = data if isinstance(data, Tensor) else tensor(data)
    if requires_grad and not t.requires_grad:
        t = t.detach().requires_grad_()
    return t
