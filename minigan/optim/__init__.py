"""Optimizers: SGD, Adam, RMSprop, following PyTorch's documented update rules exactly.

An optimizer holds ``param_groups``, a list of dicts ``{"params": [tensors], "lr": ..., ...}``;
every hyperparameter is read from its group at each ``step()``, so changing
``opt.param_groups[0]["lr"]`` (a scheduler) takes effect on the next step. Per-parameter state
(momentum buffers, moment estimates, step counts) lives in ``opt.state[param]``.

Each update rule is a small function on arrays (``sgd_update``, ``adam_update``,
``rmsprop_update``): it modifies the parameter and its state buffers in place, keeps their dtype
(hyperparameters enter as Python floats, so float32 stays float32) and works unchanged on CuPy
arrays. SGD and Adam update a whole parameter group per step through the kernels ``sgd_step`` /
``adam_step`` of the backend in use (minigan/kernels/optim/, whose NumPy reference
applies the per-parameter rules above).

``state_dict()`` holds plain data and NumPy arrays only (parameters are referred to by their
index across all groups, as in PyTorch), so it can be saved with ``np.savez``/JSON and no pickle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..kernels import registry
from ..kernels.optim import adam_update, sgd_update
from ..tensor import Tensor, array_module, enable_grad, no_grad

# ---- per-parameter update rules (reference kernels) ------------------------------------------


def rmsprop_update(param: Any, grad: Any, square_avg: Any, grad_avg: Any, momentum_buffer: Any,
                   *, lr: float, alpha: float, eps: float, momentum: float,
                   weight_decay: float) -> None:
    """One RMSprop step in place on ``param`` and its buffers.

    g = grad + weight_decay * param
    v = alpha * v + (1 - alpha) * g^2
    centered (``grad_avg`` given): a = alpha * a + (1 - alpha) * g;  d = sqrt(v - a^2) + eps
    otherwise:                                                        d = sqrt(v) + eps
    with momentum (``momentum_buffer`` given): b = momentum * b + g / d;  param -= lr * b
    otherwise:                                                            param -= lr * g / d
    """
    xp = array_module(param)
    if weight_decay != 0:
        grad = grad + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * (grad * grad)
    if grad_avg is not None:
        grad_avg *= alpha
        grad_avg += (1 - alpha) * grad
        avg = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = xp.sqrt(square_avg) + eps
    if momentum_buffer is not None:
        momentum_buffer *= momentum
        momentum_buffer += grad / avg
        param -= lr * momentum_buffer
    else:
        param -= lr * (grad / avg)


# ---- the optimizer base -----------------------------------------------------------------------


def _check_range(name: str, value: Any, low: float, high: float | None = None,
                 high_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        bound = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ValueError(f"{name}: expected a number >= {low}{bound}, got {value!r}")


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, state_dict.

    ``params`` is an iterable of leaf tensors, or of dicts ``{"params": [...], "lr": ...}``
    whose missing hyperparameters take the optimizer's defaults (per-group learning rates).
    """

    # PyTorch options that this optimizer always has on (AdamW: decoupled_weight_decay=True):
    # a PyTorch state_dict saying so loads.
    _implied: dict = {}

    def __init__(self, params: Iterable[Any], defaults: dict) -> None:
        if isinstance(params, Tensor):
            raise TypeError("params: expected an iterable of Tensors or of dicts, got a single "
                            "Tensor (wrap it in a list)")
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[Tensor, dict] = {}
        groups = list(params)
        if not groups:
            raise ValueError("params: the optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        """Add ``{"params": [...], **hyperparameters}``; unspecified ones take the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"param group: expected a dict with a 'params' key, got {group!r}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"params[{i}]: expected a Tensor, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"params[{i}]: can't optimize a non-leaf tensor (shape "
                                 f"{p.shape}); optimize the leaf it was computed from")
            if p.dtype.kind != "f":
                raise TypeError(f"params[{i}]: expected a floating tensor, got {p.dtype}")
            if id(p) in seen:
                raise ValueError(f"params[{i}]: this tensor (shape {p.shape}) appears in more "
                                 "than one parameter group or twice in one")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"param group: unknown options {sorted(unknown)}; "
                             f"{type(self).__name__} takes {sorted(self.defaults)}")
        new = {**self.defaults, **group, "params": params}
        self._validate_group(new)
        self.param_groups.append(new)

    def _validate_group(self, group: dict) -> None:
        _check_range("lr", group["lr"], 0.0)
        _check_range("weight_decay", group["weight_decay"], 0.0)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad``: to None (default), or to a fresh zero array.

        Zeros are a new array rather than an in-place fill because the engine may hand the same
        gradient tensor to several leaves (``a + b`` gives a and b one gradient object).
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor(array_module(p.grad.array).zeros_like(p.grad.array))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` when one is given
        (it is called with grad mode on, to recompute the loss and gradients)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                for p in params:
                    if p not in self.state:
                        self.state[p] = self._init_state(p, group)
                # One kernel call per device present in the group (normally one).
                for device in dict.fromkeys(p.device for p in params):
                    self._step_group([p for p in params if p.device == device], group, device)
                for p in params:
                    p._version[0] += 1  # in-place write: saved-tensor checks must see it
        return loss

    def _step_group(self, params: list, group: dict, device: str) -> None:
        """Update ``params`` (all with a gradient and a state, all on ``device``) in place."""
        for p in params:
            self._update(p, p.grad.array, self.state[p], group)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        raise NotImplementedError

    def _update(self, p: Tensor, grad: Any, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ---- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {name: array or number}}, "param_groups": [{..., "params":
        [indices]}]}``: a copy holding plain data and NumPy arrays only."""
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _to_host(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state saved by ``state_dict()`` (of an optimizer of the
        same kind over parameters of the same shapes, in the same group structure)."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("state_dict: expected a dict with keys 'state' and 'param_groups'"
                             f", got {type(state_dict).__name__}"
                             + (f" with keys {sorted(state_dict)}"
                                if isinstance(state_dict, dict) else ""))
        state_dict = _plain(state_dict)  # minigan or PyTorch tensors -> arrays / numbers
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"state_dict: has {len(saved_groups)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}")
        params = []
        new_groups = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"state_dict: param_groups[{i}] has {len(saved['params'])} "
                                 f"parameters, this optimizer's has {len(group['params'])}")
            expected = set(group) - {"params"}
            # PyTorch's extra options (foreach, maximize, amsgrad, ...) load when they are off.
            extra = {k: v for k, v in saved.items() if k not in expected and k != "params"}
            on = sorted(k for k, v in extra.items()
                        if v not in (None, False) and self._implied.get(k) != v)
            if on:
                raise ValueError(f"state_dict: param_groups[{i}] has options {on} that "
                                 f"{type(self).__name__} does not support")
            saved = {k: v for k, v in saved.items() if k not in extra}
            keys = set(saved) - {"params"}
            if keys != expected:
                raise ValueError(f"state_dict: param_groups[{i}] has options {sorted(keys)}, "
                                 f"{type(self).__name__} expects {sorted(expected)}")
            new = {**{k: v for k, v in saved.items() if k != "params"},
                   "params": group["params"]}
            if "betas" in new:
                new["betas"] = tuple(new["betas"])  # JSON turns tuples into lists
            self._validate_group(new)
            new_groups.append(new)
            params.extend((p, new) for p in group["params"])
        new_state = {}
        for key, saved in state_dict["state"].items():
            k = int(key)  # JSON turns integer keys into strings
            if not 0 <= k < len(params):
                raise ValueError(f"state_dict: state refers to parameter {key!r}, but there are "
                                 f"only {len(params)} parameters")
            p, group = params[k]
            expected = self._init_state(p, group)
            if set(saved) != set(expected):
                raise ValueError(f"state_dict: state of parameter {k} has {sorted(saved)}, "
                                 f"{type(self).__name__} with these options expects "
                                 f"{sorted(expected)}")
            new_state[p] = {name: _from_host(name, v, p, k) for name, v in saved.items()}
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {opts}")
        return "\n".join(lines + [")"])


def _plain(obj: Any) -> Any:
    """Tensors (minigan's, or anything with PyTorch's ``.detach().cpu().numpy()``) as NumPy
    arrays, 0-d ones (PyTorch's tensor ``step``) as numbers; containers walked."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, Tensor):
        obj = obj.numpy()
    elif hasattr(obj, "detach") and hasattr(obj, "cpu"):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray) and obj.ndim == 0:
        return obj.item()
    return obj


def _to_host(v: Any) -> Any:
    if v is None or isinstance(v, (int, float)):
        return v
    return np.array(v.get() if hasattr(v, "get") else v, copy=True)


def _from_host(name: str, v: Any, p: Tensor, k: int) -> Any:
    if v is None or name == "step":
        if name == "step" and (isinstance(v, bool) or int(v) != v or v < 0):
            raise ValueError(f"state_dict: state of parameter {k}: step must be a "
                             f"non-negative integer, got {v!r}")
        return None if v is None else int(v)
    if tuple(np.shape(v)) != p.shape:
        raise ValueError(f"state_dict: state of parameter {k}: {name!r} has shape "
                         f"{tuple(np.shape(v))}, the parameter has shape {p.shape}")
    # A copy in the parameter's array module and dtype, so the loaded dict stays untouched.
    return array_module(p.array).array(v, dtype=p.dtype, copy=True)


# ---- the optimizers ---------------------------------------------------------------------------


def _pytorch_flags(flags: dict) -> None:
    """PyTorch's implementation switches, accepted where they change no result: ``foreach``,
    ``fused`` (how the update runs) and ``capturable`` (CUDA graphs); ``maximize`` and
    ``differentiable`` only when off."""
    for name, value in flags.items():
        if name in ("foreach", "fused", "capturable"):
            continue
        if name in ("maximize", "differentiable"):
            if value:
                raise NotImplementedError(f"{name}=True: not supported by minigan's optimizers")
            continue
        raise TypeError(f"unexpected keyword argument {name!r}")


def _grads(params: list) -> list:
    """The parameters' gradient arrays, in each parameter's dtype (a gradient assigned by hand
    may have another)."""
    return [p.grad.array if p.grad.dtype == p.dtype else p.grad.array.astype(p.dtype)
            for p in params]


# Hyperparameters are passed to the update rules as Python floats: a NumPy float64 scalar (say,
# an lr computed by a schedule) would otherwise promote float32 temporaries to float64.


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, **flags: Any) -> None:
        _pytorch_flags(flags)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _validate_group(self, group: dict) -> None:
        super()._validate_group(group)
        _check_range("momentum", group["momentum"], 0.0)
        _check_range("dampening", group["dampening"], 0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov: needs momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']}, dampening={group['dampening']}")

    def _init_state(self, p: Tensor, group: dict) -> dict:
        # None until the first step, which starts the buffer at the gradient itself.
        return {"momentum_buffer": None} if group["momentum"] != 0 else {}

    def _step_group(self, params: list, group: dict, device: str) -> None:
        states = [self.state[p] for p in params]
        bufs = registry.get("sgd_step", device)(
            [p.array for p in params], _grads(params), [s.get("momentum_buffer") for s in states],
            lr=float(group["lr"]), momentum=float(group["momentum"]),
            dampening=float(group["dampening"]), nesterov=bool(group["nesterov"]),
            weight_decay=float(group["weight_decay"]))
        if group["momentum"] != 0:
            for s, buf in zip(states, bufs):
                s["momentum_buffer"] = buf


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, L2 weight decay and optional AMSGrad."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, **flags: Any) -> None:
        _pytorch_flags(flags)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _validate_group(self, group: dict) -> None:
        super()._validate_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        _check_range("betas[0]", betas[0], 0.0, 1.0, high_open=True)
        _check_range("betas[1]", betas[1], 0.0, 1.0, high_open=True)
        _check_range("eps", group["eps"], 0.0)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        xp = array_module(p.array)
        state = {"step": 0, "exp_avg": xp.zeros_like(p.array), "exp_avg_sq": xp.zeros_like(p.array)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(p.array)
        return state

    def _step_group(self, params: list, group: dict, device: str) -> None:
        states = [self.state[p] for p in params]
        for s in states:
            s["step"] += 1
        beta1, beta2 = group["betas"]
        amsgrad = bool(group["amsgrad"])
        registry.get("adam_step", device)(
            [p.array for p in params], _grads(params), [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["max_exp_avg_sq"] for s in states] if amsgrad else None,
            [s["step"] for s in states], lr=float(group["lr"]), beta1=float(beta1),
            beta2=float(beta2), eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]), amsgrad=amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Hinton) with optional momentum, centering and L2 weight decay."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, **flags: Any) -> None:
        _pytorch_flags(flags)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _validate_group(self, group: dict) -> None:
        super()._validate_group(group)
        _check_range("alpha", group["alpha"], 0.0)
        _check_range("eps", group["eps"], 0.0)
        _check_range("momentum", group["momentum"], 0.0)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        xp = array_module(p.array)
        state = {"step": 0, "square_avg": xp.zeros_like(p.array)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(p.array)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(p.array)
        return state

    def _update(self, p: Tensor, grad: Any, state: dict, group: dict) -> None:
        state["step"] += 1
        rmsprop_update(p.array, grad, state["square_avg"], state.get("grad_avg"),
                       state.get("momentum_buffer"), lr=float(group["lr"]),
                       alpha=float(group["alpha"]), eps=float(group["eps"]),
                       momentum=float(group["momentum"]),
                       weight_decay=float(group["weight_decay"]))


__all__ = ["Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "adam_update", "lr_scheduler",
           "rmsprop_update", "sgd_update"]

from . import lr_scheduler  # noqa: E402  (mg.optim.lr_scheduler.StepLR, as in PyTorch)
from .adamw import AdamW  # noqa: E402
