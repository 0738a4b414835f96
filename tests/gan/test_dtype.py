"""The ``dtype`` config key: float32 by default, float64 on request (weights, data, latents and
optimizer state alike), anything else refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from minigan.gan import config
from minigan.gan.trainer import Trainer

TINY = ["g_hidden=8", "d_hidden=8", "g_layers=1", "d_layers=1", "batch_size=8", "steps=2",
        "eval_samples=16", "sample_every=0", "checkpoint_every=0"]


def test_default_is_float32_and_other_names_are_refused():
    assert config.resolve()["dtype"] == "float32"
    assert config.resolve("dcgan-mnist")["dtype"] == "float32"
    with pytest.raises(config.ConfigError, match="config key 'dtype': expected one of "
                       "float32, float64, got 'float16'"):
        config.resolve(overrides=["dtype=float16"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_step_runs_in_the_configured_dtype(tmp_path, dtype):
    cfg = config.resolve(overrides=[*TINY, f"dtype={dtype}"])
    tr = Trainer(cfg, tmp_path, progress=False)
    real, _ = tr.source.real_batch(8)
    fake, _ = tr.source.generate(tr.G, 8)
    assert real.dtype == fake.dtype == np.dtype(dtype)
    rec = tr.train_step()
    assert np.isfinite(rec["d_loss"]) and np.isfinite(rec["g_loss"])
    for m in (tr.G, tr.D, tr.G_ema):
        assert {p.dtype for p in m.parameters()} == {np.dtype(dtype)}
    moments = [v for st in tr.opt_d.state.values() for v in st.values()
               if hasattr(v, "dtype") and getattr(v, "ndim", 0) > 0]
    assert moments and {v.dtype for v in moments} == {np.dtype(dtype)}
