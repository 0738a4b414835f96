"""Synchronized BatchNorm, in one process (a world of one rank): the composed statistics and
their gradients equal BatchNorm's fused kernels, and running statistics follow PyTorch's rule.
The 2-rank behaviour is checked end to end by test_data_parallel (DCGAN with sync_bn)."""

from __future__ import annotations

import numpy as np
import pytest

import minigan as mg
from minigan.distributed import sync_bn


class OneRank:
    """A reducer over a world of one rank: sums are the values themselves."""

    size = 1

    def sum_(self, buf):
        return buf


@pytest.mark.parametrize("cls,shape", [(mg.nn.BatchNorm2d, (4, 3, 5, 5)),
                                       (mg.nn.BatchNorm1d, (6, 4))])
def test_sync_bn_of_one_rank_is_batch_norm(cls, shape):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(shape) * 2 + 0.5
    up = rng.standard_normal(shape)
    ref, syn = cls(shape[1]).double(), cls(shape[1]).double()
    for m in (ref, syn):
        m.weight.array[...] = rng.standard_normal(shape[1]) if m is ref else ref.weight.array
        m.bias.array[...] = 0.3
    assert sync_bn.convert(syn, OneRank()) == 1
    assert type(syn).__name__ == f"Sync{cls.__name__}"
    outs = []
    for m in (ref, syn):
        x = mg.tensor(x0, requires_grad=True)
        y = m(x)
        # A first-order loss plus a gradient-norm term: double backprop through the statistics.
        (gx,) = mg.grad((y * mg.tensor(up)).sum(), x, create_graph=True)
        ((y * mg.tensor(up)).sum() + (gx * gx).sum()).backward()
        outs.append((y.numpy(), x.grad.numpy(), m.weight.grad.numpy(), m.bias.grad.numpy(),
                     m.running_mean.numpy(), m.running_var.numpy()))
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    assert set(syn.state_dict()) == set(ref.state_dict())


def test_eval_mode_uses_running_statistics_without_the_reducer():
    class Refuses(OneRank):
        def sum_(self, buf):
            raise AssertionError("eval mode must not reduce")

    m = mg.nn.BatchNorm2d(2).double()
    ref = mg.nn.BatchNorm2d(2).double()
    sync_bn.convert(m, Refuses())
    m.eval()
    ref.eval()
    x = mg.tensor(np.random.default_rng(1).standard_normal((2, 2, 3, 3)))
    np.testing.assert_array_equal(m(x).numpy(), ref(x).numpy())
