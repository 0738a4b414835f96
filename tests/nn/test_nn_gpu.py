"""A model moved to CUDA computes what it computes on the CPU (needs a GPU; skipped otherwise)."""

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn
import minigan.nn.functional as F
from minigan.diagnostics.gradcheck import assert_close

pytestmark = pytest.mark.gpu


def make():
    return nn.Sequential(nn.spectral_norm(nn.Linear(6, 16, dtype=np.float64)),
                         nn.BatchNorm1d(16, dtype=np.float64), nn.LeakyReLU(0.2),
                         nn.LayerNorm(16, dtype=np.float64), nn.Linear(16, 1, dtype=np.float64))


def test_model_on_cuda_matches_cpu():
    mg.manual_seed(0)
    cpu = make()
    gpu = make()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    assert all(p.device == "cuda" for p in gpu.parameters())
    assert all(b.device == "cuda" for b in gpu.buffers())
    x = np.random.default_rng(0).standard_normal((8, 6))
    t = (np.arange(8) % 2).astype(np.float64).reshape(8, 1)
    for model, dev in ((cpu, "cpu"), (gpu, "cuda")):
        xt, tt = mg.tensor(x, device=dev), mg.tensor(t, device=dev)
        F.binary_cross_entropy_with_logits(model(xt), tt).backward()
    for (name, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert_close(pg.grad, pc.grad.numpy(), what=name)
    ref = cpu.state_dict()
    for key, value in gpu.state_dict().items():  # running stats, u and v after one iteration
        value = mg.Tensor(value).numpy()
        if value.dtype.kind == "f":
            assert_close(value, ref[key], what=key)
        else:
            np.testing.assert_array_equal(value, ref[key])
    cpu.eval()
    gpu.eval()
    assert_close(gpu(mg.tensor(x, device="cuda")), cpu(mg.tensor(x)).numpy())
    back = make()
    back.load_state_dict(gpu.state_dict())  # CuPy arrays load into a CPU model
    assert_close(back.eval()(mg.tensor(x)), cpu(mg.tensor(x)).numpy())


def test_dropout_and_init_on_cuda():
    w = nn.Parameter(mg.zeros(64, 32, dtype=np.float32, device="cuda"))
    nn.init.kaiming_normal_(w)
    nn.init.orthogonal_(w)
    m = w.numpy().astype(np.float64)
    np.testing.assert_allclose(m.T @ m, np.eye(32), atol=1e-5)
    y = F.dropout(mg.ones(100, 100, device="cuda"), 0.5)
    assert y.device == "cuda" and set(np.unique(y.numpy())) <= {0.0, 2.0}
