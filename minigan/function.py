"""Function: one differentiable operation, and the graph node it leaves behind.

A Function subclass writes two static methods:

* ``forward(ctx, *args, **kwargs)`` receives *arrays* (NumPy or CuPy) in place of tensors, calls
  kernels, and returns an array or a tuple of arrays. ``ctx.save_for_backward(*arrays)`` keeps
  inputs or outputs for later; ``ctx.<name> = value`` keeps anything else (shapes, masks).
* ``backward(ctx, *grads)`` receives *Tensors* and returns one Tensor (or None) per forward
  argument. It is written with differentiable ops, so running it with grad mode on records a graph
  of the gradient itself: that is double backprop (WGAN-GP, R1, DRAGAN), for free, to any order.

``ctx.saved_tensors`` gives back the saved arrays as the Tensors they came from, after checking
that none of them was modified in place since forward (version counters).
"""

from __future__ import annotations

from typing import Any

from . import tensor as _t


class Context:
    """What a Function's forward leaves for its backward."""

    __slots__ = ("__dict__", "_input_tensors", "_input_arrays", "_to_save", "_saved",
                 "needs_input_grad", "fn_name")

    def __init__(self, fn_name: str) -> None:
        self.fn_name = fn_name
        self._to_save: tuple = ()
        self._saved: list | None = None

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for backward. Each must be an input or an output of this forward;
        anything else becomes a constant (no gradient flows into it)."""
        self._to_save = arrays

    def _resolve_saved(self, outputs: tuple) -> None:
        # Map each saved array back to the Tensor it belongs to, by identity. An input used twice
        # (x * x.detach() shares one array) is matched to successive positions, so each saved
        # array finds its own argument when saved in argument order. The common case -- the
        # k-th saved array is the k-th argument -- is checked first.
        to_save = self._to_save
        self._to_save = ()
        arrays, tensors = self._input_arrays, self._input_tensors
        self._input_arrays = ()
        if not to_save:
            self._saved = []
            return
        used: list[int] = []
        saved = []
        for k, arr in enumerate(to_save):
            match = None
            if k < len(arrays) and arrays[k] is arr and tensors[k] is not None and k not in used:
                match = tensors[k]
                used.append(k)
            else:
                for i, a in enumerate(arrays):
                    if a is arr and i not in used and tensors[i] is not None:
                        match = tensors[i]
                        used.append(i)
                        break
            if match is None:
                for o in outputs:
                    if o.array is arr:
                        match = o
                        break
            if match is None:
                match = _t.Tensor(arr)
            saved.append((match, match._version[0]))
        self._saved = saved

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(
                f"{self.fn_name}: saved tensors were freed after a backward pass; "
                "call backward(retain_graph=True) to backpropagate through the graph twice")
        saved = self._saved
        for t, version in saved:
            if t._version[0] != version:
                raise RuntimeError(
                    f"{self.fn_name}: a tensor of shape {t.shape} saved for backward was modified "
                    f"in place (version {version} -> {t._version[0]}); its gradient would be "
                    "wrong. Clone it before modifying it.")
        return tuple([t for t, _ in saved])

    def _release(self) -> None:
        # Breaks the node -> output tensor -> node cycle so memory is freed without waiting for gc.
        self._saved = None


class Node:
    """A recorded application of a Function: inputs are edges towards the leaves."""

    __slots__ = ("fn", "ctx", "inputs", "out_meta", "out_hooks", "__weakref__")

    def __init__(self, fn: type, ctx: Context, inputs: tuple, out_meta: list) -> None:
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs  # one entry per forward argument: Tensor or None
        self.out_meta = out_meta  # (shape, dtype, array module) per output, to build zero grads
        self.out_hooks: dict[int, list] | None = None  # made by the first register_hook

    @property
    def name(self) -> str:
        return self.fn.__name__

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


class Function:
    """Base class of differentiable operations; call ``MyFunction.apply(*args)``."""

    # Set by single-output Functions whose output may be a view of input 0; when it really shares
    # memory the two share one version counter (in-place writes through either are seen).
    view_of_input: bool = False

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grads: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        Tensor = _t.Tensor
        ctx = Context(cls.__name__)
        if not _t._GRAD_ENABLED[0]:
            # Nothing is recorded (inference, or a backward pass without create_graph): only
            # the arrays matter. This is most of the backward pass's per-op overhead.
            raw = cls.forward(ctx, *[a.array if isinstance(a, Tensor) else a for a in args],
                              **kwargs)
            if isinstance(raw, tuple):
                return tuple(Tensor(r) for r in raw)
            out = Tensor(raw)
            a0 = args[0] if args else None
            if (cls.view_of_input and isinstance(a0, Tensor)
                    and _t.array_module(raw).may_share_memory(raw, a0.array)):
                out._version = a0._version
            return out
        # One plain loop instead of several generator passes: this is the per-op overhead.
        tensors, arrays, needs = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                tensors.append(a)
                arrays.append(a.array)
                needs.append(a.requires_grad)
            else:
                tensors.append(None)
                arrays.append(a)
                needs.append(False)
        record = True in needs
        ctx.needs_input_grad = tuple(needs)
        ctx._input_tensors = tensors
        ctx._input_arrays = arrays
        raw = cls.forward(ctx, *arrays, **kwargs)
        multi = isinstance(raw, tuple)
        outs = tuple(Tensor(r) for r in raw) if multi else (Tensor(raw),)
        if (cls.view_of_input and tensors[0] is not None
                and _t.array_module(raw).may_share_memory(raw, arrays[0])):
            outs[0]._version = tensors[0]._version
        if record:
            ctx._resolve_saved(outs)
            # Keep only what is needed to build a zero gradient for an unused output.
            xp = _t.array_module(outs[0].array)
            node = Node(cls, ctx, tuple(tensors),
                        [(o.array.shape, o.array.dtype, xp) for o in outs])
            for i, o in enumerate(outs):
                if o.array.dtype.kind == "f":
                    o.requires_grad = True
                    o._node = node
                    o._out_index = i
        else:
            ctx._to_save = ()
            ctx._input_arrays = ()
        return outs if multi else outs[0]
