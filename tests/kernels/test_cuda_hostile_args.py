"""No minigan._cuda entry point crashes or touches the device for bad argument values, on a
machine without a GPU (as CI is): each is called with hostile values in one argument at a time
(ints beyond int64, int64 overflow in shapes and geometry, NaN/inf, wrong types, hostile
``__cuda_array_interface__`` dicts: null, misaligned, negative or wrapping pointers, huge or
negative shapes, wrong dtypes and strides, read-only outputs) and must raise TypeError or
ValueError whose message names the kernel and the argument. Argument checks come before the
first CUDA call, so a value that passes them reaches "no CUDA device available": only values
that are valid (listed in ``accepted``) may. The sweep runs in a child process, so a crash fails
the test with the signal. The pointers are fake: nothing ever dereferences them.

Beside the sweep, the checks a kernel on a real GPU relies on, one by one: int32 sizes and
grids, aliasing between the optimizers' buffers, in-place bias_act only on x itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from minigan import backends

_cuda = backends.cuda_module()
pytestmark = pytest.mark.skipif(
    _cuda is None or _cuda.device_count() > 0,
    reason="needs minigan._cuda on a machine without a usable GPU (the fake pointers of these "
           "tests would reach a real device's pointer checks)")

# Shared by the child and the tests below: fake device arrays, every entry point's valid call.
_COMMON = textwrap.dedent('''
    import minigan._cuda as C

    class A:
        """A stand-in CUDA array: only __cuda_array_interface__; a fresh, far-apart, aligned
        pointer unless given."""
        next_ptr = 1 << 40

        def __init__(self, shape, typestr="<f4", ptr=None, readonly=False, **cai):
            if ptr is None:
                A.next_ptr += 1 << 42  # 4 TiB apart: room for the huge fake arrays
                ptr = A.next_ptr
            self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr,
                                             "strides": None, "data": (ptr, readonly),
                                             "version": 3, **cai}

        def __repr__(self):
            return f"A({self.__cuda_array_interface__})"

    f4 = lambda *s: A(s)
    f8 = lambda *s: A(s, "<f8")
    P = C.REDUCE_PARTIALS
    OPT = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    SGD = dict(lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0)

    def calls():
        """name -> (function, positional args, keyword args): a valid call of each."""
        x, w = f4(2, 3, 6, 6), f4(4, 3, 3, 3)
        geo = [(1, 1), (1, 1), (1, 1)]
        return {
            "im2col": (C.im2col, [x, 3, 3, *geo], {"out": f4(72, 27), "stream": 0}),
            "col2im": (C.col2im, [f4(72, 27), (2, 3, 6, 6), 3, 3, *geo],
                       {"out": f4(2, 3, 6, 6), "stream": 0}),
            "conv2d_forward": (C.conv2d_forward, [x, w, *geo, 1],
                               {"out": f4(2, 4, 6, 6), "tf32": False, "stream": 0}),
            "conv2d_backward_data": (C.conv2d_backward_data,
                                     [f4(2, 4, 6, 6), w, (2, 3, 6, 6), *geo, 1],
                                     {"out": f4(2, 3, 6, 6), "tf32": False, "stream": 0}),
            "conv2d_backward_weight": (C.conv2d_backward_weight,
                                       [f4(2, 4, 6, 6), x, (4, 3, 3, 3), *geo, 1],
                                       {"out": f4(4, 3, 3, 3), "workspace": f4(2, 4, 3, 3, 3),
                                        "splits": 2, "tf32": False, "stream": 0}),
            "conv_max_weight_splits": (C.conv_max_weight_splits,
                                       [(2, 3, 6, 6), (4, 3, 3, 3), 1, 1, 1, 1], {}),
            "sn_power_iteration": (C.sn_power_iteration, [f4(4, 6), f4(4), 2, 1e-12],
                                   {"u_out": f4(4), "v_out": f4(6), "sigma": f4(), "stream": 0}),
            "sn_normalize": (C.sn_normalize, [f4(4, 6), f4(4), f4(6)],
                             {"out": f4(4, 6), "sigma": f4(), "stream": 0}),
            "sn_backward": (C.sn_backward, [f4(4, 6), f4(4, 6), f4(4), f4(6), f4()],
                            {"out": f4(4, 6), "partials": f8(P), "stream": 0}),
            "gan_loss": (C.gan_loss, [3, f4(7)],
                         {"out_grad": f4(7), "loss": f4(), "partials": f8(P), "stream": 0}),
            "bias_act": (C.bias_act, [f4(2, 3, 36), f4(3), "leaky_relu", 0.2],
                         {"out": f4(2, 3, 36), "stream": 0}),
            "bias_act_backward": (C.bias_act_backward, [f4(2, 3, 36), f4(2, 3, 36), "relu", 0.2],
                                  {"out": f4(2, 3, 36), "gbias": f4(3), "stream": 0}),
            "batch_norm_forward": (C.batch_norm_forward,
                                   [f4(2, 3, 36), f4(3), f4(3), f4(3), f4(3), True, 0.1, 1e-5],
                                   {"out": f4(2, 3, 36), "mean": f4(3), "invstd": f4(3),
                                    "stream": 0}),
            "batch_norm_backward": (C.batch_norm_backward,
                                    [f4(2, 3, 36), f4(2, 3, 36), f4(3), f4(3), f4(3)],
                                    {"out": f4(2, 3, 36), "gweight": f4(3), "gbias": f4(3),
                                     "stream": 0}),
            "adam_step": (C.adam_step, [[f4(5)], [f4(5)], [f4(5)], [f4(5)], [f4(5)], [1]],
                          {**OPT, "stream": 0}),
            "sgd_step": (C.sgd_step, [[f4(5)], [f4(5)], [f4(5)], [True]], {**SGD, "stream": 0}),
        }
''')

_CHILD = _COMMON + textwrap.dedent('''
    import itertools, json, re
    import numpy as np

    class NotADict:
        __cuda_array_interface__ = "not a dict"

    BAD = [-1, 0, 1, 2**31, 2**62 + 1, -2**63, 2**63 - 1, 2**63, 2**64, -2**64, 10**30,
           float("nan"), float("inf"), -1e300, -1.0, 0.5, True, None, "x", b"x", {}, object(),
           (2**62, 2**62), (-1, 1), (1, 2, 3), [], [None], NotADict(),
           np.zeros((2, 3, 6, 6), np.float32),
           # hostile interface dicts (shape 11 matches no valid slot)
           A((0,)), A((11,)), A((2, 11)), A((2**62, 2**62)), A((2**40,) * 3), A((-1, 11)),
           A((2**63,)), A(("a",)), A([11]), A((11,), "<i4"), A((11,), "<f2"), A((11,), 5),
           A((11,), ptr=0), A((11,), ptr=3), A((11,), ptr=-8), A((11,), ptr=2**64 - 8),
           A((11,), ptr=2**70), A((11,), ptr=1.5), A((11,), ptr=True), A((11,), readonly=True),
           A((2, 11), strides=(4, 8)), A((11,), strides=7), A((11,), mask=object()),
           A((11,), data=(8,)), A((11,), data=(8, "no")), A((), readonly=True), A((), ptr=0)]

    FLOATS = {"sn_power_iteration": {3}, "bias_act": {3}, "bias_act_backward": {3},
              "batch_norm_forward": {6, 7},
              "adam_step": {"lr", "beta1", "beta2", "eps", "weight_decay"},
              "sgd_step": {"lr", "momentum", "dampening", "weight_decay"}}
    OPTIONAL = {"bias_act": {1}, "bias_act_backward": {"gbias"}, "batch_norm_forward": {1, 2},
                "batch_norm_backward": {2}, "adam_step": {4}}
    BOOLS = {"batch_norm_forward": {5}, "sgd_step": {"nesterov"}}
    # stride, padding, dilation (and groups): 1 is the valid calls' own value
    GEOMETRY = {"im2col": {3, 4, 5}, "col2im": {4, 5, 6}, "conv2d_forward": {2, 3, 4, 5},
                "conv2d_backward_data": {3, 4, 5, 6}, "conv2d_backward_weight": {3, 4, 5, 6}}

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def accepted(name, slot, v):
        """Is v a valid value for this argument (so reaching the device is right)?"""
        if name == "conv_max_weight_splits":
            return True  # a host computation: returning is all it does
        if slot == "stream":  # any handle in range: only the caller knows a live stream
            return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63
        if slot in FLOATS.get(name, ()):  # hyperparameters: any number is computable, but
            # spectral norm's eps must not be negative (NaN computes, as in the reference),
            # leaky_relu's slope must be >= 0 (the backward reads the output's sign)
            if name == "sn_power_iteration":
                return number(v) and not v < 0
            if name == "bias_act":
                return number(v) and v >= 0
            return number(v)
        if slot in GEOMETRY.get(name, ()):
            return type(v) is int and v == 1
        if slot == "tf32":  # the valid calls are float32: both paths exist
            return isinstance(v, bool)
        if v is None and slot in OPTIONAL.get(name, ()):
            return True
        if isinstance(v, bool) and slot in BOOLS.get(name, ()):
            return True
        if name == "sn_power_iteration" and slot == 2:  # n_iter
            return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 2**20
        if name == "conv2d_backward_weight" and slot == "splits":  # 1 ignores the workspace
            return type(v) is int and 1 <= v <= 2
        if name == "sn_backward" and slot == 4:  # sigma is read here: read-only is fine
            return isinstance(v, A) and v.__cuda_array_interface__["shape"] == () and \
                v.__cuda_array_interface__["data"][0] > 0
        if name == "gan_loss" and slot == 0:  # code = 3 * kind + side
            return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 15
        return False

    def outcome(fn, args, kw):
        try:
            fn(*args, **kw)
            return "returned", ""
        except RuntimeError as e:
            return ("device" if "no CUDA device available" in str(e) else "RuntimeError"), str(e)
        except (TypeError, ValueError) as e:
            return "refused", str(e)
        except BaseException as e:
            return type(e).__name__, str(e)

    failures, counts = [], {}
    for name in calls():
        fn, args, kw = calls()[name]
        got, msg = outcome(fn, args, kw)
        if got != ("returned" if name == "conv_max_weight_splits" else "device"):
            failures.append(f"{name}: the valid call gave {got}: {msg}")
        slots = [*range(len(args)), *kw]
        if name in ("adam_step", "sgd_step"):  # one entry of a list at a time, too
            slots += [(k, 0) for k in range(len(args))]
        for slot, bad in itertools.product(slots, BAD):
            fn, args, kw = calls()[name]
            if isinstance(slot, tuple):
                if args[slot[0]] is None:
                    continue
                args[slot[0]] = [bad]
                if name == "adam_step" and slot[0] == 5:  # steps[0]: an int >= 1
                    ok = isinstance(bad, int) and not isinstance(bad, bool) and 1 <= bad < 2**63
                elif name == "sgd_step" and slot[0] == 3:
                    ok = isinstance(bad, bool)
                else:
                    ok = False
            else:
                if isinstance(slot, int):
                    args[slot] = bad
                else:
                    kw[slot] = bad
                ok = accepted(name, slot, bad)
            got, msg = outcome(fn, args, kw)
            counts[got] = counts.get(got, 0) + 1
            where = f"{name}[{slot}] = {bad!r}"[:160]
            if got == "refused":
                if not re.match(rf"{name}: [\\w\\[\\], ]+: ", msg):
                    failures.append(f"{where}: the message does not name kernel and argument: "
                                    f"{msg}")
            elif got in ("device", "returned"):
                if not ok:
                    failures.append(f"{where}: reached the device unchecked")
            else:
                failures.append(f"{where}: {got}: {msg}")
    print(json.dumps({"failures": failures, "counts": counts}))
''')


def test_no_entry_point_crashes_or_reaches_the_device_with_bad_arguments(tmp_path):
    res = subprocess.run([sys.executable, "-c", _CHILD], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, (res.returncode, res.stdout[-3000:], res.stderr[-3000:])
    report = json.loads(res.stdout.splitlines()[-1])
    assert report["failures"] == [], "\n".join(report["failures"][:40])
    # The sweep really ran: thousands of refusals, and the valid values reached the device.
    assert report["counts"]["refused"] > 4000 and report["counts"]["device"] > 100, report


# ---- one check at a time ----------------------------------------------------------------------

_NS: dict = {}
if _cuda is not None:
    exec(_COMMON, _NS)  # the child's fake arrays and valid calls, for the tests below too
A, f4, C, P, OPT, SGD, calls = (_NS.get(k) for k in ("A", "f4", "C", "P", "OPT", "SGD",
                                                     "calls"))


def _call(name, *, args=None, **kw):
    fn, a, k = calls()[name]
    for i, v in (args or {}).items():
        a[i] = v
    return fn(*a, **{**k, **kw})


def _refused(exc, msg, name, **change):
    with pytest.raises(exc, match=msg):
        _call(name, **change)


def _reaches_device(name, **change):
    with pytest.raises(RuntimeError, match=rf"^{name}: no CUDA device available"):
        _call(name, **change)


def test_shapes_and_pointers_that_cannot_be_arrays():
    _refused(ValueError, r"^im2col: x: sizes too large: .* overflows int64", "im2col",
             args={0: A((2**31, 2**31, 2**31, 4))})
    _refused(ValueError, r"^im2col: x: expected an int in \[-2\^63, 2\^63\), got one above",
             "im2col", args={0: A((2**64, 1, 1, 1))})
    _refused(ValueError, r"^gan_loss: logits: .*not an address in \[0, 2\^64\)", "gan_loss",
             args={1: A((7,), ptr=-8)})
    _refused(ValueError, r"^gan_loss: logits: data pointer 6 is not aligned to the 4-byte",
             "gan_loss", args={1: A((7,), ptr=6)})
    _refused(ValueError, r"^gan_loss: partials: data pointer \+ 8192 bytes wraps around",
             "gan_loss", partials=A((P,), "<f8", ptr=2**64 - 8))
    _refused(TypeError, r"^gan_loss: logits: .*\['data'\]\[1\] \(readonly\) must be a bool",
             "gan_loss", args={1: A((7,), data=(1 << 40, "no"))})
    _refused(ValueError, r"^gan_loss: stream: expected a cudaStream_t handle", "gan_loss",
             stream=-1)
    _refused(ValueError, r"^gan_loss: code: expected an int in \[-2\^63, 2\^63\)", "gan_loss",
             args={0: 2**64})


def test_geometry_beyond_int32_is_refused_before_the_device():
    # x_shape of 2^32 elements: im2col/col2im index with int64 and would take it, the implicit
    # GEMM kernels index with int32 and must not.
    _refused(ValueError, r"^conv2d_backward_data: x_shape: 12884901888 elements: the CUDA conv "
             r"kernels index with int32", "conv2d_backward_data",
             args={0: f4(1, 4, 2**16, 2**16), 2: (1, 3, 2**16, 2**16)},
             out=f4(1, 3, 2**16, 2**16))
    _refused(ValueError, r"^conv2d_forward: stride: expected at most 2\^31 - 1", "conv2d_forward",
             args={0: f4(2, 3, 6, 6), 2: (2**40, 1)}, out=f4(2, 4, 1, 6))
    _refused(ValueError, r"^conv2d_forward: groups: sizes too large", "conv2d_forward",
             args={0: f4(2, 0, 6, 6), 1: f4(0, 2, 3, 3), 5: 2**62}, out=f4(2, 0, 6, 6))
    _refused(ValueError, r"^conv2d_backward_weight: groups: groups \(1000\) x splits \(100\) "
             r"exceeds the 65535 of gridDim.z", "conv2d_backward_weight",
             args={0: f4(64, 1000, 160, 160), 1: f4(64, 1000, 160, 160), 2: (1000, 1, 3, 3),
                   6: 1000}, out=f4(1000, 1, 3, 3), workspace=f4(100, 1000, 1, 3, 3), splits=100)
    _refused(ValueError, r"^bias_act: x: shape \(65536, 1, 65536\): a channel's outer\*inner "
             r"elements", "bias_act", args={0: f4(2**16, 1, 2**16), 1: f4(1)},
             out=f4(2**16, 1, 2**16))
    _refused(ValueError, r"^batch_norm_forward: x: shape \(65536, 3, 65536\)",
             "batch_norm_forward", args={0: f4(2**16, 3, 2**16)}, out=f4(2**16, 3, 2**16))
    _refused(ValueError, r"^sn_normalize: w2d: 4294967296 elements: the CUDA kernel indexes "
             r"with int32", "sn_normalize", args={0: f4(2**16, 2**16), 1: f4(2**16),
                                                  2: f4(2**16)}, out=f4(2**16, 2**16))
    _reaches_device("conv2d_forward", args={0: f4(2, 3, 6, 6), 2: (2**31 - 1, 1)},
                    out=f4(2, 4, 1, 6))


def test_optimizers_refuse_buffers_that_share_memory():
    p, g, m, v = f4(5), f4(5), f4(5), f4(5)
    ptr = lambda a: a.__cuda_array_interface__["data"][0]  # noqa: E731
    cases = [
        ([p], [p], [m], [v], r"grads\[0\]: shares memory with params\[0\]"),
        ([p], [g], [m], [m], r"exp_avg_sqs\[0\]: shares memory with exp_avgs\[0\]"),
        ([p], [g], [m], [A((5,), ptr=ptr(m) + 12)], r"exp_avg_sqs\[0\]: shares memory with "
         r"exp_avgs\[0\]"),
        ([p, p], [g, f4(5)], [m, f4(5)], [v, f4(5)], r"params\[1\]: shares memory with "
         r"params\[0\]"),
    ]
    for params, grads, ms, vs, msg in cases:
        with pytest.raises(ValueError, match=rf"^adam_step: {msg}; an array updated in place"):
            C.adam_step(params, grads, ms, vs, None, [1] * len(params), **OPT)
    with pytest.raises(ValueError, match=r"^sgd_step: momentum_buffers\[0\]: shares memory "
                       r"with params\[0\]"):
        C.sgd_step([p], [g], [p], [False], **SGD)
    # A gradient read by two parameters, and adjacent (touching, not overlapping) buffers: fine.
    q = A((5,), ptr=ptr(p) + 20)
    with pytest.raises(RuntimeError, match="^adam_step: no CUDA device available"):
        C.adam_step([p, q], [g, g], [m, f4(5)], [v, f4(5)], None, [1, 1], **OPT)


def test_in_place_overlap_is_refused_except_where_the_kernel_allows_it():
    x = f4(2, 3, 36)
    xp = x.__cuda_array_interface__["data"][0]
    _reaches_device("bias_act", args={0: x}, out=x)  # in place on x itself: elementwise
    _refused(ValueError, r"^bias_act: out: must not share memory with x", "bias_act",
             args={0: x}, out=A((2, 3, 36), ptr=xp + 4))
    rm = f4(3)
    _refused(ValueError, r"^batch_norm_forward: running_mean: must not share memory with "
             r"running_var", "batch_norm_forward", args={3: rm, 4: rm})
    _refused(ValueError, r"^batch_norm_forward: running_var: must not share memory with x",
             "batch_norm_forward", args={0: x, 4: A((3,), ptr=xp + 8)})
    _refused(ValueError, r"^batch_norm_forward: mean: must not share memory with weight",
             "batch_norm_forward", args={1: rm}, mean=rm)
