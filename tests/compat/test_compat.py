"""tests/compat: PyTorch-style GAN scripts run under minigan with only their imports
rewritten (see harness.py), and, where PyTorch is installed, compared with the same script
under PyTorch: float64 losses at every step and the final weights, rtol 1e-10."""

import importlib.util
import pathlib

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "compat_harness", pathlib.Path(__file__).parent / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

STEPS = 3
NAMES = harness.names()


def test_the_import_rule():
    src = ("import torch\nimport torch.nn as nn\nfrom torch import optim\n"
           "from torch.autograd import grad as torch_grad\nx = torch.zeros(2)  # torch\n")
    assert harness.rewrite_imports(src) == (
        "import minigan as torch\nimport minigan.nn as nn\nfrom minigan import optim\n"
        "from minigan.autograd import grad as torch_grad\nx = torch.zeros(2)  # torch\n")


def test_every_model_family_has_a_script():
    want = {"gan_mlp", "dcgan", "lsgan", "wgan", "wgan_gp", "dragan", "began", "cgan", "acgan",
            "infogan", "pix2pix", "cyclegan", "srgan", "sngan"}
    assert want <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_script_runs_under_minigan(name):
    out = harness.run(name, "minigan", STEPS)
    losses = np.asarray(out["losses"], dtype=np.float64)
    assert losses.size >= STEPS and np.isfinite(losses).all()
    assert out["params"] and all(np.isfinite(v).all() for v in out["params"].values())


@pytest.mark.parametrize("name", NAMES)
def test_script_matches_torch(name):
    pytest.importorskip("torch", reason="PyTorch is not installed: nothing to compare with")
    ours = harness.run(name, "minigan", STEPS)
    theirs = harness.run(name, "torch", STEPS)
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-10, atol=1e-12,
                               err_msg=f"{name}: losses")
    assert list(ours["params"]) == list(theirs["params"]), f"{name}: parameter names differ"
    for k, v in theirs["params"].items():
        np.testing.assert_allclose(ours["params"][k], v, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: {k}")
