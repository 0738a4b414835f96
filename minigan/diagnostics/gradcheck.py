"""Finite-difference checks of first and second derivatives, and a dtype-aware comparison.

``gradcheck(fn, inputs)`` compares the autograd gradient of ``L = sum(fn(*inputs) * R)`` (R a
fixed random projection, so every output element matters) with central differences
(L(x + eps) - L(x - eps)) / 2eps, element by element, in float64.

``gradgradcheck(fn, inputs)`` does the same for ``S = sum_i ||dL/dx_i||^2``, a gradient-norm
penalty like WGAN-GP's: its autograd gradient needs the backward of every op to be differentiable
(double backprop), and its finite differences only need first-order gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor, grad

# (rtol, atol relative to the reference's scale) by dtype: float32 results are compared with a
# float64 reference, so they carry float32 rounding of sums; float64 results should agree with
# a float64 reference to near machine precision.
TOLERANCE = {np.dtype(np.float32): (1.3e-6, 1e-5), np.dtype(np.float64): (1e-10, 1e-12)}


def _np(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.array
    return x.get() if hasattr(x, "get") else np.asarray(x)


def assert_close(actual: Any, reference: Any, dtype: Any = None, rtol: float | None = None,
                 atol: float | None = None, what: str = "result") -> None:
    """Assert |actual - reference| <= atol * scale + rtol * |reference| elementwise, where scale
    = max(1, max|finite reference|) and the default tolerances come from ``dtype`` (of
    ``actual``); where the reference is NaN or +-inf, actual must be NaN or that infinity."""
    a, r = _np(actual), _np(reference)
    if a.shape != r.shape:
        raise AssertionError(f"{what}: shape {a.shape} != reference shape {r.shape}")
    d_rtol, d_atol = TOLERANCE[np.dtype(dtype or a.dtype)]
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    r64, a64 = r.astype(np.float64), a.astype(np.float64)
    # Where the reference is NaN or infinite the result must be the same (NaN, or the same
    # infinity); the scale and the tolerance come from the finite elements only.
    finite = np.isfinite(r64)
    r_fin = np.where(finite, r64, 0.0)
    scale = max(1.0, float(np.max(np.abs(r_fin)))) if r64.size else 1.0
    err = np.where(finite, np.abs(a64 - r_fin), 0.0)
    err[np.isnan(err)] = np.inf
    same = np.where(np.isnan(r64), np.isnan(a64), a64 == r64)
    err = np.where(finite, err, np.where(same, 0.0, np.inf))
    bad = ~(err <= atol * scale + rtol * np.abs(r_fin))
    if bad.any():
        i = np.unravel_index(int(np.argmax(np.where(bad, err, -1))), a.shape) if a.ndim else ()
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {a.size} elements differ; worst at {i}: "
            f"{a64[i]!r} vs reference {r64[i]!r} (abs err {err[i]:.3e}, "
            f"rtol {rtol:g}, atol {atol:g} x scale {scale:.3g})")


def assert_outputs_close(got: Sequence, want: Sequence, dtype: Any, rtol: float | None = None,
                         atol: float | None = None, what: str = "result") -> None:
    """A kernel's outputs against its reference's (the parity tests' comparison): as many
    outputs, None exactly where the reference gives None, each in ``dtype``, each within
    :func:`assert_close`."""
    if len(got) != len(want):
        raise AssertionError(f"{what}: {len(got)} outputs, expected {len(want)}")
    for k, (a, r) in enumerate(zip(got, want)):
        if r is None:
            if a is not None:
                raise AssertionError(f"{what} output {k}: expected None")
            continue
        a = _np(a)
        if a.dtype != dtype:
            raise AssertionError(f"{what} output {k}: dtype {a.dtype}, expected "
                                 f"{np.dtype(dtype)}")
        assert_close(a, r, dtype, rtol=rtol, atol=atol, what=f"{what} output {k}")


def _projected_loss(fn: Callable, inputs: Sequence[Tensor], proj: dict) -> Tensor:
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    total = None
    for k, o in enumerate(outs):
        if k not in proj:
            proj[k] = np.random.default_rng(1234 + k).standard_normal(o.shape)
        term = (o * Tensor(proj[k].astype(o.dtype))).sum()
        total = term if total is None else total + term
    return total


def _numerical(scalar: Callable[[], float], arrays: Sequence[np.ndarray], eps: float) -> list:
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        flat, gflat = a.reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            hi = scalar()
            flat[j] = old - eps
            lo = scalar()
            flat[j] = old
            gflat[j] = (hi - lo) / (2 * eps)
        grads.append(g)
    return grads


def _leaves(inputs: Sequence[Any]) -> list[Tensor]:
    leaves = []
    for x in inputs:
        arr = np.array(_np(x), dtype=np.float64)
        leaves.append(Tensor(arr, requires_grad=True))
    return leaves


def gradcheck(fn: Callable, inputs: Sequence[Any], eps: float = 1e-6, rtol: float = 1e-6,
              atol: float = 1e-7, wrt: Sequence[int] | None = None) -> bool:
    """Check first derivatives of fn at inputs (converted to float64). Raises AssertionError
    naming the input and element that disagree; returns True otherwise."""
    xs = _leaves(inputs)
    wrt = list(range(len(xs))) if wrt is None else list(wrt)
    proj: dict = {}
    analytic = grad(_projected_loss(fn, xs, proj), [xs[i] for i in wrt], allow_unused=True)

    def loss() -> float:
        return float(_projected_loss(fn, xs, proj).array)

    numeric = _numerical(loss, [xs[i].array for i in wrt], eps)
    for i, a, n in zip(wrt, analytic, numeric):
        a = np.zeros_like(n) if a is None else a.array
        assert_close(a, n, rtol=rtol, atol=atol, what=f"gradient of input {i}")
    return True


def gradgradcheck(fn: Callable, inputs: Sequence[Any], eps: float = 1e-6, rtol: float = 1e-5,
                  atol: float = 1e-6, wrt: Sequence[int] | None = None) -> bool:
    """Check the gradient of S = sum ||dL/dx_i||^2 (a gradient-norm penalty) against finite
    differences of S, where dL/dx comes from first-order autograd."""
    xs = _leaves(inputs)
    wrt = list(range(len(xs))) if wrt is None else list(wrt)
    proj: dict = {}

    def penalty(create_graph: bool) -> Tensor:
        gs = grad(_projected_loss(fn, xs, proj), [xs[i] for i in wrt], create_graph=create_graph,
                  allow_unused=True)
        total = None
        for g in gs:
            if g is not None:
                term = (g * g).sum()
                total = term if total is None else total + term
        return total

    s = penalty(create_graph=True)
    if s is None or not s.requires_grad:
        # Every gradient is constant in x (a linear op): the second derivative is zero.
        analytic = [None] * len(wrt)
    else:
        analytic = grad(s, [xs[i] for i in wrt], allow_unused=True)

    def value() -> float:
        p = penalty(create_graph=False)
        return 0.0 if p is None else float(p.array)

    numeric = _numerical(value, [xs[i].array for i in wrt], eps)
    for i, a, n in zip(wrt, analytic, numeric):
        a = np.zeros_like(n) if a is None else a.array
        assert_close(a, n, rtol=rtol, atol=atol, what=f"second-order gradient of input {i}")
    return True


class OpCase:
    """One row of an op table: the op, its NumPy definition, and a maker of test inputs.

    ``fn(*tensors)`` is the minigan op; ``reference(*arrays)`` computes the same thing with plain
    NumPy in float64; ``inputs(rng)`` returns float64 arrays (integer arrays pass through
    untouched and are never differentiated). ``second_order`` asks for gradgradcheck too (every op
    a discriminator uses). ``wrt`` limits which inputs are differentiated.
    """

    def __init__(self, name: str, fn: Callable, reference: Callable | None,
                 inputs: Callable[[np.random.Generator], list], second_order: bool = False,
                 wrt: Sequence[int] | None = None, tol32: tuple | None = None) -> None:
        self.name, self.fn, self.reference, self.inputs = name, fn, reference, inputs
        self.second_order, self.wrt, self.tol32 = second_order, wrt, tol32

    def __repr__(self) -> str:
        return self.name

    def arrays(self, seed: int = 0) -> list:
        return list(self.inputs(np.random.default_rng(seed)))

    def float_inputs(self, arrays: list) -> list[int]:
        return [i for i, a in enumerate(arrays) if np.asarray(a).dtype.kind == "f"]

    def check_forward(self, dtype: Any) -> None:
        dtype = np.dtype(dtype)
        arrays = [a.astype(dtype) if np.asarray(a).dtype.kind == "f" else a
                  for a in self.arrays()]
        out = self.fn(*[Tensor(a) for a in arrays])
        ref = self.reference(*[a.astype(np.float64) if a.dtype.kind == "f" else a
                               for a in arrays])
        outs = out if isinstance(out, (tuple, list)) else (out,)
        refs = ref if isinstance(ref, (tuple, list)) else (ref,)
        assert len(outs) == len(refs), f"{self.name}: {len(outs)} outputs vs {len(refs)}"
        for k, (o, r) in enumerate(zip(outs, refs)):
            if o.dtype != dtype:
                raise AssertionError(
                    f"{self.name}: output {k} has dtype {o.dtype}, expected {dtype}")
            rtol, atol = (self.tol32 if dtype == np.float32 and self.tol32 else (None, None))
            assert_close(o, r, dtype, rtol, atol, what=f"{self.name} output {k} ({dtype})")

    def _split(self) -> tuple:
        # gradcheck differentiates float inputs; integer inputs are bound into the function.
        arrays = self.arrays()
        floats = self.float_inputs(arrays)
        wrt = [floats.index(i) for i in self.wrt] if self.wrt is not None else None

        def f(*ts: Tensor) -> Any:
            args = list(arrays)
            for i, t in zip(floats, ts):
                args[i] = t
            args = [a if isinstance(a, Tensor) else Tensor(a) for a in args]
            return self.fn(*args)

        return f, [arrays[i] for i in floats], wrt

    def check_grad(self) -> None:
        f, xs, wrt = self._split()
        gradcheck(f, xs, wrt=wrt)

    def check_gradgrad(self) -> None:
        f, xs, wrt = self._split()
        gradgradcheck(f, xs, wrt=wrt)
