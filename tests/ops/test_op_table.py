"""The op table drives three checks for every op: forward against its NumPy definition (float32
and float64), first derivatives against finite differences (float64), and for the ops on a
discriminator's path, second derivatives (the gradient of a gradient norm, as in WGAN-GP).

Rows live in ``tests/ops/table_*.py`` (one per op family), each defining ``CASES``."""

import importlib.util
import pathlib

import numpy as np
import pytest


def _load_cases() -> list:
    cases = []
    for path in sorted(pathlib.Path(__file__).parent.glob("table_*.py")):
        spec = importlib.util.spec_from_file_location(f"optable_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cases.extend(mod.CASES)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "op table names must be unique"
    return cases


CASES = _load_cases()
SECOND = [c for c in CASES if c.second_order]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", [c for c in CASES if c.reference is not None], ids=repr)
def test_forward_matches_numpy(case, dtype):
    case.check_forward(dtype)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_gradient_matches_finite_differences(case):
    case.check_grad()


@pytest.mark.parametrize("case", SECOND, ids=repr)
def test_second_order_gradient(case):
    case.check_gradgrad()


def test_table_covers_the_engine_ops():
    # A new op must get a row: every public op function appears in some case name.
    import minigan.ops as ops

    names = " ".join(c.name for c in CASES)
    internal = {"cast", "clone", "to_device", "sum_to", "cat", "getitem"}
    # No gradient (bool/int results): checked against NumPy in tests/test_tensor_api.py.
    internal |= {"allclose", "argmax", "argmin", "eq", "equal", "gt", "isfinite", "isinf",
                 "isnan", "lt", "all", "any", "argsort", "count_nonzero", "isclose",
                 "logical_and", "logical_not", "logical_or", "logical_xor", "nonzero"}
    # The fused GAN loss: checked against its composed form in tests/kernels/test_gan_loss.py.
    internal |= {"gan_loss", "composed_gan_loss"}
    missing = [n for n in ops.__all__ if n not in internal and n not in names]
    assert not missing, f"ops without a row in the op table: {missing}"


def test_every_public_op_function_is_in_all():
    # mg.<op>, t.<op>() and `from minigan.ops import *` come from ops.__all__: a public function
    # of an ops module that is missing there is an op users cannot reach by PyTorch's names.
    import importlib
    import inspect
    import pkgutil

    import minigan.ops as ops

    listed = set(ops.__all__) | set(ops.HELPERS)
    missing = []
    for info in pkgutil.iter_modules(ops.__path__):
        mod = importlib.import_module(f"minigan.ops.{info.name}")
        for name, fn in vars(mod).items():
            if (inspect.isfunction(fn) and fn.__module__ == mod.__name__
                    and not name.startswith("_") and name not in listed):
                missing.append(f"{info.name}.{name}")
    assert not missing, f"public op functions missing from minigan.ops.__all__: {missing}"
    assert all(callable(getattr(ops, n)) for n in ops.__all__)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_every_differentiated_input_gets_its_own_gradient(case):
    # PyTorch's rule (issue 13 item 4): a leaf the graph reaches gets a gradient tensor after
    # backward (zeros where the math says zero), never None; and each leaf's .grad is its own
    # writable storage (an in-place p.grad.mul_ changes no other gradient).
    import minigan as mg

    arrays = case.arrays()
    floats = case.float_inputs(arrays)
    wrt = floats if case.wrt is None else case.wrt
    ts = [mg.tensor(a, requires_grad=i in wrt) if i in floats else mg.tensor(a)
          for i, a in enumerate(arrays)]
    out = case.fn(*ts)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    loss = sum(o.sum() for o in outs if o.requires_grad)
    loss.backward()
    for i in wrt:
        g = ts[i].grad
        assert g is not None, f"{case.name}: input {i} got no gradient"
        assert g.shape == ts[i].shape and g.dtype == ts[i].dtype
        assert g.array.flags.writeable, f"{case.name}: input {i}'s gradient is read-only"
        for j in wrt:
            if j != i:
                assert not np.shares_memory(g.array, ts[j].grad.array), (
                    f"{case.name}: inputs {i} and {j} share one gradient array")
