"""The autograd engine: graph bookkeeping, accumulation, hooks, version counters, grad()."""

import numpy as np
import pytest

import minigan as mg
from minigan.diagnostics.gradcheck import assert_close
from minigan.function import Function


def leaf(values, dtype=np.float64):
    return mg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def test_gradient_accumulates_over_uses_and_calls():
    x = leaf([1.0, -2.0, 3.0])
    y = (x * x + x).sum()  # dy/dx = 2x + 1
    y.backward()
    assert_close(x.grad, 2 * x.array + 1)
    z = (3 * x).sum()
    z.backward()  # .grad accumulates with +=
    assert_close(x.grad, 2 * x.array + 1 + 3)


def test_broadcast_gradients_sum_back_to_input_shape():
    a = leaf(np.ones((3, 1)))
    b = leaf(np.arange(4.0))
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    assert_close(a.grad, np.full((3, 1), 6.0))
    assert_close(b.grad, np.full(4, 3.0))


def test_python_scalars_keep_float32():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (2.5 * x + 1) / 3 - x ** 2
    assert x.dtype == np.float32 and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_retain_graph():
    x = leaf([2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, [2 * np.exp(2.0) * 3])
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_no_grad_and_detach_record_nothing():
    x = leaf([1.0, 2.0])
    with mg.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    d = x.detach()
    assert not d.requires_grad and d.array is x.array
    z = (x * d).sum()
    z.backward()
    assert_close(x.grad, d.array)  # d is a constant: no gradient flows through it


def test_second_derivative_closed_form():
    x = leaf([0.5, -1.5, 2.0])
    (g,) = mg.grad((x ** 3).sum(), x, create_graph=True)
    assert_close(g, 3 * x.array ** 2)
    (h,) = mg.grad(g.sum(), x, create_graph=True)
    assert_close(h, 6 * x.array)
    (k,) = mg.grad(h.sum(), x)
    assert_close(k, np.full(3, 6.0))
    assert x.grad is None  # mg.grad never touches .grad


def test_grad_wrt_intermediate_and_unused_inputs():
    x = leaf([1.0, 2.0])
    u = x * 3
    y = (u * u).sum()
    gu, gx = mg.grad(y, [u, x], retain_graph=True)
    assert_close(gu, 2 * u.array)
    assert_close(gx, 18 * x.array)
    other = leaf([1.0])
    with pytest.raises(RuntimeError, match=r"inputs\[1\] is not used"):
        mg.grad(y, [x, other], retain_graph=True)
    assert mg.grad(y, [x, other], allow_unused=True)[1] is None


def test_hooks_see_and_replace_gradients():
    x = leaf([1.0, 2.0])
    seen = []
    h = x * 2
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    remove = x.register_hook(lambda g: g * 10)
    (h * h).sum().backward()
    assert_close(seen[0], 2 * h.array)
    assert_close(x.grad, 10 * 4 * h.array)
    remove()
    x.grad = None
    (x * 1).sum().backward()
    assert_close(x.grad, np.ones(2))


def test_inplace_change_of_saved_tensor_is_caught():
    x = leaf([1.0, 2.0])
    b = x * 2
    c = (b * b).sum()  # Mul saved b
    with mg.no_grad():
        b.mul_(3)
    with pytest.raises(RuntimeError, match="modified in place"):
        c.backward()


def test_inplace_through_a_view_is_caught():
    x = leaf(np.ones((2, 2)))
    b = x.exp()  # Exp saves its output b
    y = b.sum()
    view = b.reshape(4)
    with mg.no_grad():
        view[0] = 5.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_on_leaf_requiring_grad_is_refused():
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="in-place"):
        x.add_(1.0)
    with mg.no_grad():
        x.add_(1.0)
    assert x.array[0] == 2.0


def test_deep_graph_has_no_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(20000):
        y = y * 1.0001
    y.sum().backward()
    assert_close(x.grad, [1.0001 ** 20000], rtol=1e-9)


def test_backward_checks_gradient_shapes():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g.sum()

    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="Bad.backward returned a gradient of shape"):
        Bad.apply(x).sum().backward()


def test_nonscalar_backward_needs_a_gradient():
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(mg.tensor(np.array([1.0, 0.5])))
    assert_close(x.grad, [2.0, 1.0])


def test_manual_seed_reproduces_draws():
    mg.manual_seed(7)
    a = mg.randn(3, 4)
    mg.manual_seed(7)
    b = mg.randn(3, 4)
    assert np.array_equal(a.numpy(), b.numpy()) and a.dtype == np.float32
    assert not np.array_equal(mg.randn(3, 4).numpy(), a.numpy())


def test_tensor_construction_dtypes():
    assert mg.tensor([1.0, 2.0]).dtype == np.float32
    assert mg.tensor(np.zeros(2)).dtype == np.float64  # NumPy arrays keep their dtype
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.zeros(2, 3).shape == (2, 3) and mg.ones((4,), dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="floating"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match="device"):
        mg.tensor([1.0], device="tpu")


def test_methods_and_errors_name_things():
    x = mg.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(axis=1).shape == (2,) and x.T.shape == (3, 2) and x.view(3, 2).shape == (3, 2)
    with pytest.raises(AttributeError, match="no_such_thing"):
        x.no_such_thing()
    with pytest.raises(ValueError, match="axis"):
        x.sum(axis=5)
    with pytest.raises(ValueError, match="inner dims"):
        mg.matmul(x, x)


def test_inplace_on_a_copy_made_by_reshape_is_not_flagged():
    # Reshaping a transposed array copies: writing to the copy must not poison b's saved value.
    x = leaf(np.arange(6.0).reshape(2, 3))
    b = x.exp()
    y = b.sum()
    flat = b.T.reshape(6)
    with mg.no_grad():
        flat[0] = 100.0
    y.backward()
    assert_close(x.grad, np.exp(x.array))


def test_cuda_without_a_gpu_is_one_clear_error():
    from minigan.backends import unavailable_reason

    reason = unavailable_reason("cupy")
    if reason is None:
        pytest.skip("a GPU is present: the error path cannot be shown here")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        mg.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="not available"):
        mg.tensor([1.0]).to("cuda")


def test_truth_value_only_for_single_elements():
    assert bool(mg.tensor([2.0])) and not bool(mg.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(mg.tensor([1.0, 2.0]))
