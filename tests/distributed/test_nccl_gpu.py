"""The NCCL path on a real GPU, in a world of one rank (this pytest process): the reducer's sums,
one bucketed gradient all-reduce, and synchronized BatchNorm through NCCL equal to BatchNorm.
Larger worlds: `mpiexec -n <GPUs> minigan train --device cuda` on a machine with several GPUs."""

from __future__ import annotations

import numpy as np
import pytest

from .mpi_helpers import needs_mpi

pytestmark = [pytest.mark.gpu, needs_mpi]


@pytest.fixture(scope="module")
def reducer():
    pytest.importorskip("cupy")
    from minigan.distributed.allreduce import NCCLReducer
    from minigan.distributed.world import world

    r = NCCLReducer(world("the NCCL gpu tests"))
    assert r.size == 1
    return r


def test_nccl_sum_and_bucketed_gradients(reducer):
    import minigan as mg
    from minigan.distributed.allreduce import average_gradients

    cupy = reducer.cupy
    for dtype in (cupy.float32, cupy.float64):
        x = cupy.arange(1000, dtype=dtype) / 7
        np.testing.assert_array_equal(cupy.asnumpy(reducer.sum_(x.copy())), cupy.asnumpy(x))
    lin = mg.nn.Linear(3, 2).to("cuda")
    lin(mg.randn(4, 3, device="cuda")).sum().backward()
    before = [p.grad.numpy().copy() for p in lin.parameters()]
    assert average_gradients(reducer, list(lin.parameters())) == (6 + 2) * 4
    for b, p in zip(before, lin.parameters()):
        assert p.grad.device == "cuda"
        np.testing.assert_array_equal(p.grad.numpy(), b)


def test_sync_batch_norm_over_nccl_is_batch_norm(reducer):
    import minigan as mg
    from minigan.distributed import sync_bn

    x0 = np.random.default_rng(0).standard_normal((4, 3, 5, 5))
    ref = mg.nn.BatchNorm2d(3).double().to("cuda")
    syn = mg.nn.BatchNorm2d(3).double().to("cuda")
    sync_bn.convert(syn, reducer)
    grads = []
    for m in (ref, syn):
        x = mg.tensor(x0, device="cuda", requires_grad=True)
        y = m(x)
        (y * y).sum().backward()
        grads.append((y.numpy(), x.grad.numpy(), m.running_var.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
