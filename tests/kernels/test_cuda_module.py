"""minigan._cuda without a GPU: it builds and imports, exports every kernel, the ``cuda``
backend's wrappers have the reference signatures, and every bad argument is a clear Python error
naming the kernel and the argument -- never a crash.

The arrays here are objects exposing a fake ``__cuda_array_interface__`` (pointers nothing ever
dereferences). Argument checks must come before any CUDA call: on a machine without a GPU a
check that ran after one would report "no CUDA device available" instead of the argument, so the
exact messages below also prove the order.
"""

from __future__ import annotations

import ast
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigan
from minigan import backends
from minigan.kernels import registry, table

_cuda = backends.cuda_module()
needs_module = pytest.mark.skipif(
    _cuda is None, reason=f"minigan._cuda is not built ({backends.import_error('minigan._cuda')})")
no_gpu = pytest.mark.skipif(_cuda is None or _cuda.device_count() > 0,
                            reason="needs minigan._cuda on a machine without a usable GPU")

KERNELS = ("im2col", "col2im", "conv2d_forward", "conv2d_backward_data", "conv2d_backward_weight",
           "conv_max_weight_splits", "sn_power_iteration", "sn_normalize", "sn_backward",
           "gan_loss", "bias_act", "bias_act_backward", "batch_norm_forward",
           "batch_norm_backward", "adam_step", "sgd_step")


class Dev:
    """A stand-in CUDA array: shape, dtype and strides through __cuda_array_interface__ only.
    Each gets its own fake pointer (far apart), so no two overlap unless asked to."""

    _next = 1 << 40

    def __init__(self, *shape, typestr="<f4", strides=None, readonly=False, ptr=None, **cai):
        Dev._next += 1 << 32
        self.__cuda_array_interface__ = {
            "shape": tuple(shape), "typestr": typestr, "strides": strides,
            "data": (Dev._next if ptr is None else ptr, readonly), "version": 3, **cai}


def f64(*shape, **kw):
    return Dev(*shape, typestr="<f8", **kw)


def _nvcc_present() -> bool:
    return bool(shutil.which("nvcc") or os.environ.get("CUDACXX")
                or Path("/usr/local/cuda/bin/nvcc").exists())


def test_module_is_built_where_nvcc_is():
    if not _nvcc_present():
        pytest.skip("no nvcc here: minigan._cuda is not expected to be built")
    assert _cuda is not None, backends.import_error("minigan._cuda")


@needs_module
def test_module_exports_every_kernel():
    for name in KERNELS:
        assert callable(getattr(_cuda, name)), name
    assert isinstance(_cuda.REDUCE_PARTIALS, int) and _cuda.REDUCE_PARTIALS >= 1
    info = _cuda.runtime_info()  # reports, never raises, with or without a driver
    assert info["status"] in {"ok", "no driver", "no device", "error"}
    assert info["compiled_archs"] and info["compiled_archs"] != "unknown"


# ---- the Python wrappers: one per registered kernel, the reference's exact signature ------------

def _cuda_entries() -> list[tuple[str, str, str]]:
    table.rows()  # imports every kernel family, which registers the entries
    out = []
    for name in registry._REFERENCE:
        impl = registry._PROVIDED[name].get("cuda")
        if isinstance(impl, str):
            module, _, attr = impl.partition(":")
            out.append((name, module, attr))
    return out


def test_every_kernel_has_a_cuda_entry():
    assert {name for name, _, _ in _cuda_entries()} == set(registry._REFERENCE)


@pytest.mark.parametrize("name,module,attr", _cuda_entries(), ids=lambda v: str(v))
def test_cuda_wrapper_has_the_reference_signature(name, module, attr):
    """Read from the source (importing it needs CuPy): the function exists at module level with
    the reference's parameter names, kinds and defaults."""
    path = Path(minigan.__file__).parent.joinpath(*module.split(".")[1:]).with_suffix(".py")
    assert path.exists(), f"{module} is missing"
    funcs = {n.name: n for n in ast.parse(path.read_text()).body
             if isinstance(n, ast.FunctionDef)}
    assert attr in funcs, f"{module} defines no {attr}"
    a = funcs[attr].args
    got = [p.arg for p in a.posonlyargs + a.args]
    want_sig = inspect.signature(registry.reference(name))
    want = [p for p in want_sig.parameters.values()]
    assert got == [p.name for p in want], f"{module}:{attr} parameters"
    defaults = [ast.literal_eval(d) for d in a.defaults]
    want_defaults = [p.default for p in want if p.default is not inspect.Parameter.empty]
    assert defaults == want_defaults, f"{module}:{attr} defaults"
    assert not a.vararg and not a.kwarg and not a.kwonlyargs


# ---- bad arguments: (call, exception, message) ---------------------------------------------

def _conv_cases():
    c = _cuda
    x, w, y = Dev(2, 3, 5, 5), Dev(4, 3, 3, 3), Dev(2, 4, 5, 5)
    geo = ((1, 1), (1, 1), (1, 1), 1)
    return [
        (lambda: c.conv2d_forward(x, f64(4, 3, 3, 3), *geo, out=y), TypeError,
         r"conv2d_forward: weight: expected dtype float32 to match x, got float64"),
        (lambda: c.conv2d_forward(np.zeros((2, 3, 5, 5), np.float32), w, *geo, out=y), TypeError,
         r"conv2d_forward: x: expected a CUDA array .* got ndarray \(a host array"),
        (lambda: c.conv2d_forward(x, w, *geo, out=Dev(2, 4, 5, 4)), ValueError,
         r"conv2d_forward: out: expected shape \(2, 4, 5, 5\), got \(2, 4, 5, 4\)"),
        (lambda: c.conv2d_forward(Dev(2, 3, 5, 5, strides=(300, 100, 20, 8)), w, *geo, out=y),
         ValueError, r"conv2d_forward: x: expected a C-contiguous array"),
        (lambda: c.conv2d_forward(Dev(2, 3, 5, 5, typestr="<f2"), w, *geo, out=y), TypeError,
         r"conv2d_forward: x: expected dtype float32 or float64 .* got '<f2'"),
        (lambda: c.conv2d_forward(Dev(3, 5, 5), w, *geo, out=y), ValueError,
         r"conv2d_forward: x: expected a 4-d array \(N, C, H, W\), got shape \(3, 5, 5\)"),
        (lambda: c.conv2d_forward(x, Dev(4, 2, 3, 3), *geo, out=y), ValueError,
         r"conv2d_forward: weight: input has 3 channels but weight"),
        (lambda: c.conv2d_forward(x, w, (1, 1), (1, 1), (1, 1), 0, out=y), ValueError,
         r"conv2d_forward: groups: expected a positive int"),
        (lambda: c.conv2d_forward(x, w, (0, 1), (1, 1), (1, 1), 1, out=y), ValueError,
         r"conv2d_forward: stride: expected"),
        (lambda: c.conv2d_forward(x, w, *geo, out=Dev(2, 4, 5, 5, readonly=True)), ValueError,
         r"conv2d_forward: out: expected a writeable array"),
        (lambda: c.conv2d_forward(x, w, *geo, out=Dev(2, 4, 5, 5, ptr=x.__cuda_array_interface__[
            "data"][0] + 8)), ValueError, r"conv2d_forward: out: must not share memory with x"),
        (lambda: c.conv2d_forward(x, w, *geo, out=y, stream="default"), TypeError,
         r"conv2d_forward: stream: expected an int"),
        (lambda: c.conv2d_forward(f64(2, 3, 5, 5), f64(4, 3, 3, 3), *geo, out=f64(2, 4, 5, 5),
                                  tf32=True), ValueError,
         r"conv2d_forward: tf32: the TF32 path exists for float32 only"),
        (lambda: c.conv2d_forward(x, w, *geo, out=y, tf32=1), TypeError,
         r"conv2d_forward: tf32: expected a bool"),
        (lambda: c.conv2d_forward(object(), w, *geo, out=y), TypeError,
         r"conv2d_forward: x: expected a CUDA array exposing __cuda_array_interface__"),
        (lambda: c.conv2d_forward(Dev(2, 3, 5, 5, mask=object()), w, *geo, out=y), ValueError,
         r"conv2d_forward: x: masked arrays are not supported"),
        (lambda: c.conv2d_backward_data(Dev(2, 4, 4, 5), w, (2, 3, 5, 5), *geo,
                                        out=Dev(2, 3, 5, 5)), ValueError,
         r"conv2d_backward_data: grad_output: expected shape \(2, 4, 5, 5\)"),
        (lambda: c.conv2d_backward_weight(y, x, (4, 3, 3, 3), *geo, out=Dev(4, 3, 3, 3),
                                          splits=10**6), ValueError,
         r"conv2d_backward_weight: splits: expected an int in \[1, 1\]"),
        (lambda: c.conv2d_backward_weight(Dev(8, 4, 5, 5), Dev(8, 3, 5, 5), (4, 3, 3, 3), *geo,
                                          out=Dev(4, 3, 3, 3), splits=2), ValueError,
         r"conv2d_backward_weight: workspace: splits=2 needs a workspace"),
        (lambda: c.conv2d_backward_weight(Dev(8, 4, 5, 5), Dev(8, 3, 5, 5), (4, 3, 3, 3), *geo,
                                          out=Dev(4, 3, 3, 3), workspace=Dev(3, 4, 3, 3, 3),
                                          splits=2), ValueError,
         r"conv2d_backward_weight: workspace: expected shape \(2, 4, 3, 3, 3\)"),
        (lambda: c.im2col(x, 7, 7, 1, 0, 1, out=Dev(1, 1)), ValueError,
         r"im2col: kernel: dilated kernel \(7, 7\) is larger than the padded input"),
        (lambda: c.col2im(Dev(49, 27), (2, 3, 5, 5), 3, 3, 1, 1, 1, out=Dev(2, 3, 5, 5)),
         ValueError, r"col2im: cols: expected shape \(50, 27\), got \(49, 27\)"),
    ]


def _train_cases():
    c = _cuda
    P = c.REDUCE_PARTIALS if c is not None else 1
    w, u, v = Dev(7, 13), Dev(7), Dev(13)
    x3 = Dev(3, 5, 4)
    return [
        (lambda: c.sn_power_iteration(w, Dev(8), 1, 1e-12, u_out=Dev(7), v_out=Dev(13),
                                      sigma=Dev()), ValueError,
         r"sn_power_iteration: u: expected shape \(7,\), got \(8,\)"),
        (lambda: c.sn_power_iteration(w, u, 0, 1e-12, u_out=Dev(7), v_out=Dev(13), sigma=Dev()),
         ValueError, r"sn_power_iteration: n_iter: expected an int >= 1"),
        (lambda: c.sn_normalize(w, u, v, out=Dev(7, 13), sigma=Dev(1)), ValueError,
         r"sn_normalize: sigma: expected a 0-d array"),
        (lambda: c.sn_backward(Dev(7, 13), w, u, v, f64(), out=Dev(7, 13), partials=f64(P)),
         TypeError, r"sn_backward: sigma: expected dtype float32 to match w2d"),
        (lambda: c.gan_loss(15, Dev(5), out_grad=Dev(5), loss=Dev(), partials=f64(P)), ValueError,
         r"gan_loss: code: expected 3 \* kind \+ side in \[0, 15\)"),
        (lambda: c.gan_loss(3, Dev(5), out_grad=Dev(5), loss=Dev(), partials=Dev(P)), TypeError,
         r"gan_loss: partials: expected dtype float64"),
        (lambda: c.gan_loss(3, Dev(0), out_grad=Dev(0), loss=Dev(), partials=f64(P)), ValueError,
         r"gan_loss: logits: expected at least one logit"),
        (lambda: c.gan_loss(3, Dev(5, 2), out_grad=Dev(10), loss=Dev(), partials=f64(P)),
         ValueError, r"gan_loss: out_grad: expected shape \(5, 2\), got \(10,\)"),
        (lambda: c.bias_act(x3, None, "gelu", 0.2, out=Dev(3, 5, 4)), ValueError,
         r"bias_act: act: expected one of none, relu"),
        (lambda: c.bias_act(x3, None, "leaky_relu", -0.1, out=Dev(3, 5, 4)), ValueError,
         r"bias_act: alpha: expected >= 0 for leaky_relu"),
        (lambda: c.bias_act(x3, Dev(4), "relu", 0.0, out=Dev(3, 5, 4)), ValueError,
         r"bias_act: bias: expected shape \(5,\), got \(4,\)"),
        (lambda: c.bias_act_backward(x3, Dev(3, 5, 4), "tanh", 0.0, out=Dev(3, 5, 4),
                                     gbias=f64(5)), TypeError,
         r"bias_act_backward: gbias: expected dtype float32 to match grad_output"),
        (lambda: c.batch_norm_forward(x3, None, None, Dev(5), None, True, 0.1, 1e-5,
                                      out=Dev(3, 5, 4), mean=Dev(5), invstd=Dev(5)), ValueError,
         r"batch_norm_forward: running_mean, running_var: pass both or neither"),
        (lambda: c.batch_norm_forward(Dev(1, 5, 1), None, None, None, None, True, 0.1, 1e-5,
                                      out=Dev(1, 5, 1), mean=Dev(5), invstd=Dev(5)), ValueError,
         r"batch_norm_forward: x: batch norm in training needs more than 1 value"),
        (lambda: c.batch_norm_forward(x3, None, None, None, None, False, 0.1, 1e-5,
                                      out=Dev(3, 5, 4), mean=Dev(5), invstd=Dev(5)), ValueError,
         r"batch_norm_forward: running_mean: evaluation mode needs the running statistics"),
        (lambda: c.batch_norm_backward(x3, Dev(3, 5, 4), None, Dev(5), Dev(4), out=Dev(3, 5, 4),
                                       gweight=Dev(5), gbias=Dev(5)), ValueError,
         r"batch_norm_backward: invstd: expected shape \(5,\), got \(4,\)"),
        (lambda: c.adam_step([Dev(3)], [Dev(3), Dev(3)], [Dev(3)], [Dev(3)], None, [1], lr=1e-3,
                             beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0), ValueError,
         r"adam_step: grads: expected 1 entries \(one per parameter\), got 2"),
        (lambda: c.adam_step([Dev(3)], [Dev(4)], [Dev(3)], [Dev(3)], None, [1], lr=1e-3,
                             beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0), ValueError,
         r"adam_step: grads\[0\]: expected shape \(3,\), got \(4,\)"),
        (lambda: c.adam_step([Dev(3)], [Dev(3)], [Dev(3)], [Dev(3)], None, [0], lr=1e-3,
                             beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0), ValueError,
         r"adam_step: steps\[0\]: expected an int >= 1"),
        (lambda: c.adam_step([Dev(3), f64(2)], [Dev(3), f64(2)], [Dev(3), f64(2)],
                             [Dev(3), f64(2)], None, [1, 1], lr=1e-3, beta1=0.9, beta2=0.999,
                             eps=1e-8, weight_decay=0.0), TypeError,
         r"adam_step: params\[1\]: expected dtype float32 to match params\[0\]"),
        (lambda: c.adam_step([Dev(3, readonly=True)], [Dev(3)], [Dev(3)], [Dev(3)], None, [1],
                             lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
         ValueError, r"adam_step: params\[0\]: expected a writeable array"),
        (lambda: c.sgd_step([Dev(3)], [Dev(3)], None, [True], lr=0.1, momentum=0.9,
                            dampening=0.0, nesterov=False, weight_decay=0.0), ValueError,
         r"sgd_step: momentum_buffers: expected a list of arrays when momentum != 0"),
        (lambda: c.sgd_step([Dev(3)], [np.zeros(3, np.float32)], None, [False], lr=0.1,
                            momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
         TypeError, r"sgd_step: grads\[0\]: expected a CUDA array .*host array"),
    ]


CONV_CASES, TRAIN_CASES = _conv_cases(), _train_cases()


def _case_id(case) -> str:
    return case[2].split(":")[0] + ":" + case[2].split(":")[1].strip()[:40]


@needs_module
@pytest.mark.parametrize("call,exc,msg", CONV_CASES, ids=[_case_id(c) for c in CONV_CASES])
def test_conv_bad_arguments_raise_naming_kernel_and_argument(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


@needs_module
@pytest.mark.parametrize("call,exc,msg", TRAIN_CASES, ids=[_case_id(c) for c in TRAIN_CASES])
def test_training_kernels_bad_arguments_raise_naming_kernel_and_argument(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


@no_gpu
@pytest.mark.parametrize("call", [
    lambda c: c.conv2d_forward(Dev(2, 3, 5, 5), Dev(4, 3, 3, 3), 1, 1, 1, 1, out=Dev(2, 4, 5, 5)),
    lambda c: c.gan_loss(0, Dev(5), out_grad=Dev(5), loss=Dev(), partials=f64(c.REDUCE_PARTIALS)),
    lambda c: c.adam_step([Dev(3)], [Dev(3)], [Dev(3)], [Dev(3)], None, [1], lr=1e-3, beta1=0.9,
                          beta2=0.999, eps=1e-8, weight_decay=0.0),
], ids=["conv2d_forward", "gan_loss", "adam_step"])
def test_valid_arguments_without_a_gpu_raise_a_clear_runtime_error(call):
    """Everything checks out, so the next step is the first CUDA call: no device -> an error
    naming the kernel (not a crash, not a silent no-op)."""
    with pytest.raises(RuntimeError, match=r"^\w+: no CUDA device available"):
        call(_cuda)


@needs_module
def test_empty_outputs_launch_nothing():
    """Zero-size work returns before touching CUDA, so it works even without a GPU."""
    out = Dev(0, 4, 5, 5)
    assert _cuda.conv2d_forward(Dev(0, 3, 5, 5), Dev(4, 3, 3, 3), 1, 1, 1, 1, out=out) is out
    _cuda.bias_act(Dev(0, 5, 4), None, "relu", 0.0, out=Dev(0, 5, 4))
    _cuda.adam_step([], [], [], [], None, [], lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.0)


def _gxx_has_barrier() -> bool:
    if shutil.which("g++") is None:
        return False
    version = subprocess.run(["g++", "-dumpversion"], capture_output=True, text=True).stdout
    return int(version.split(".")[0] or 0) >= 11  # <barrier> (C++20) from GCC 11


def _run_emulation(script: str, tmp_path: Path) -> str:
    """Run cuda_emulator/<script> in a process of its own (its fake cupy must never meet the
    real one), one thread per pool; its stdout, after checking that every comparison passed."""
    env = {**os.environ, "MINIGAN_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("MINIGAN_BACKEND", None)
    res = subprocess.run([sys.executable, str(Path(__file__).parent / "cuda_emulator" / script),
                          str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=1800)
    assert res.returncode == 0, (res.stdout[-6000:] + res.stderr[-6000:])
    assert "emulated comparisons passed" in res.stdout
    return res.stdout


@pytest.mark.slow
def test_kernels_match_the_references_under_cpu_emulation(tmp_path):
    """The CUDA kernels themselves, without a GPU: csrc/cuda/*.cu compiled for the CPU against a
    stand-in runtime (one thread per CUDA thread, real barriers), driven through the bindings
    and the cuda backend's wrappers over the parity table (cuda_emulator/run_emulated.py).
    Catches wrong index math, missing bounds checks and missing barriers before any GPU run;
    says nothing about speed, and the real-GPU parity tests (tests/gpu/) still decide."""
    if not _gxx_has_barrier():
        pytest.skip("needs g++ >= 11 (C++20 <barrier>) to build the emulated kernels")
    pytest.importorskip("pybind11")
    _run_emulation("run_emulated.py", tmp_path)


@pytest.mark.slow
def test_cupy_backend_matches_the_references_under_cpu_emulation(tmp_path):
    """The cupy backend's own CUDA C++ (its ElementwiseKernel, ReductionKernel and RawModule
    sources), without a GPU: compiled for the CPU behind a NumPy-backed cupy that follows CuPy's
    argument rules, run over the parity table and the edge cases the table does not reach
    (cuda_emulator/run_cupy_emulated.py); then every kernel source, as CuPy would hand it to
    NVRTC, compiled with the real nvcc where nvcc is. The real-GPU parity tests still decide."""
    if not _gxx_has_barrier():
        pytest.skip("needs g++ >= 11 (C++20 <barrier>) to build the emulated kernels")
    out = _run_emulation("run_cupy_emulated.py", tmp_path)
    if _nvcc_present():
        assert "nvcc compiled the" in out, out[-2000:]
