"""Bucketed gradient averaging and module broadcast, in one process against a stand-in reducer
that plays a world of two ranks whose other rank holds known gradients."""

from __future__ import annotations

import numpy as np

import minigan as mg
from minigan.distributed.allreduce import average_gradients, broadcast_module


class TwoRanks:
    """sum_ adds the other rank's buffer (``other``); counts the calls and what it was given."""

    size = 2

    def __init__(self, other=None):
        self.other, self.calls = other, []

    def sum_(self, buf):
        self.calls.append(buf.copy())
        if self.other is not None:
            buf += self.other
        return buf

    def broadcast_(self, buf, root=0):
        self.calls.append(buf.copy())
        buf[...] = self.other
        return buf


def test_one_all_reduce_per_model_averages_every_gradient():
    mg.manual_seed(0)
    net = mg.nn.Sequential(mg.nn.Linear(3, 4), mg.nn.ReLU(), mg.nn.Linear(4, 2))
    unused = mg.nn.Linear(2, 2)  # no gradient: skipped on every rank alike
    net(mg.randn(5, 3)).sum().backward()
    params = [*net.parameters(), *unused.parameters()]
    mine = [p.grad.numpy().copy() for p in net.parameters()]
    other = np.concatenate([(np.arange(g.size) + 0.5 * k).ravel() for k, g in enumerate(mine)])
    red = TwoRanks(other)
    nbytes = average_gradients(red, params)
    assert len(red.calls) == 1  # one bucket, not one call per tensor
    assert nbytes == sum(g.nbytes for g in mine) == red.calls[0].nbytes
    np.testing.assert_array_equal(red.calls[0], np.concatenate([g.ravel() for g in mine]))
    off = 0
    for g, p in zip(mine, net.parameters()):
        theirs = other[off:off + g.size].reshape(g.shape)
        np.testing.assert_allclose(p.grad.numpy(), (g + theirs) / 2, rtol=1e-7)
        assert p.grad.dtype == g.dtype
        off += g.size
    assert all(p.grad is None for p in unused.parameters())


def test_broadcast_sets_parameters_and_float_buffers_from_root():
    bn = mg.nn.BatchNorm1d(3)
    root = np.arange(12, dtype=np.float32)  # weight, bias, running_mean, running_var
    red = TwoRanks(root)
    broadcast_module(red, bn)
    assert len(red.calls) == 1
    np.testing.assert_array_equal(bn.weight.numpy(), root[0:3])
    np.testing.assert_array_equal(bn.running_var.numpy(), root[9:12])
    assert int(bn.num_batches_tracked.item()) == 0  # integer buffers are not sent
