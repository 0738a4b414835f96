"""A NumPy-backed stand-in for CuPy, host memory as device memory, strict where CuPy is: its
functions return device arrays (0-d ones for reductions and elements), a host numpy.ndarray
beside device arrays is refused, ``asarray`` copies host data, and the ways a value reaches the
host are caught under ``cupyx.allow_synchronize(False)``.

run_emulated.py drives the emulated minigan._cuda through the real cuda_*.py wrappers with it;
run_cupy_emulated.py runs the cupy_*.py modules on it, their user-defined kernels compiled for
the CPU (_kernels.py); tests/kernels/test_gpu_tests_emulated.py runs gpu-marked tests on it.
Only ever imported in those processes of their own, never beside the real CuPy."""
import functools
import os
import time

import numpy as np
from numpy import *  # noqa: F401,F403


class _Mem:
    def __init__(self, ptr):
        self.ptr = ptr


class ndarray(np.ndarray):
    @property
    def __cuda_array_interface__(self):
        ai = self.__array_interface__
        return {"shape": ai["shape"], "typestr": ai["typestr"], "strides": ai["strides"],
                "data": ai["data"], "version": 3}

    @property
    def data(self):
        return _Mem(self.__array_interface__["data"][0])

    # get() and the conversions _syncing installs below each copy a device value to the host
    # and synchronize on a GPU; cupyx.allow_synchronize(False) makes them raise, as CuPy does.
    def get(self):
        _host_copy("get()")
        return np.array(self)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        # CuPy refuses NumPy arrays beside its own ("Unsupported type"): so does this stand-in,
        # so that a host array on the device path fails here as it would on a GPU.
        for x in (*inputs, *(out or ())):
            if type(x) is np.ndarray:
                raise TypeError(f"fake cupy: {ufunc.__name__}.{method} got a host "
                                f"numpy.ndarray {x.shape} beside device arrays")
        inputs = tuple(x.view(np.ndarray) if isinstance(x, ndarray) else x for x in inputs)
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) for o in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _device(result)

    def __getitem__(self, key):
        return _device(super().__getitem__(key))


def _syncing(name: str, what: str):
    base = getattr(np.ndarray, name)

    def method(self, *args):
        _host_copy(what)
        return base(self, *args)
    return method


for _name, _what in (("item", "item()"), ("tolist", "tolist()"), ("__float__", "float()"),
                     ("__int__", "int()"), ("__index__", "an index"), ("__bool__", "bool()")):
    setattr(ndarray, _name, _syncing(_name, _what))

SYNC_ALLOWED = [True]


class DeviceSynchronized(RuntimeError):
    pass


def _host_copy(what: str) -> None:
    if not SYNC_ALLOWED[-1]:
        raise DeviceSynchronized(f"fake cupy: {what} of a device array synchronizes the device")


def _device(r):
    """Results of NumPy calls as device arrays, as CuPy returns them: a NumPy scalar (a full
    reduction, an element) becomes a 0-d device array, never a host value."""
    if type(r) is np.ndarray:
        return r.view(ndarray)
    if isinstance(r, np.generic):
        return np.asarray(r).view(ndarray)
    if isinstance(r, tuple):
        return tuple(_device(x) for x in r)
    if isinstance(r, list):
        return [_device(x) for x in r]
    return r


def _wrap(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        return _device(fn(*args, **kwargs))
    return call


# Every NumPy function, returning device arrays; ufuncs as they are (they keep the subclass).
for _name in np.__all__:
    _obj = getattr(np, _name, None)
    if callable(_obj) and not isinstance(_obj, (type, np.ufunc)):
        globals()[_name] = _wrap(_obj)


def _v(a):
    return a.view(ndarray)


def asarray(a, dtype=None):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return _v(np.array(a, dtype=dtype))  # host data: a copy to the device, as on a GPU


def asnumpy(a):
    if isinstance(a, ndarray):
        _host_copy("asnumpy()")
    return np.array(a)


class _Generator:
    """cupy.random.default_rng: NumPy's generator, drawing device arrays."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name):
        return _wrap(getattr(self._rng, name))


class random:  # noqa: N801
    default_rng = _Generator


class _Stream:
    ptr = 0

    def synchronize(self):
        pass


_SMS = int(os.environ.get("FAKE_CUPY_SMS", "132"))


class _Device:
    # An H100's 132 SMs, unless a script sets fewer (FAKE_CUPY_SMS) so that grid-stride loops
    # really loop and emulation, a std::thread per CUDA thread, stays fast.
    attributes = {"MultiProcessorCount": _SMS}
    compute_capability = "90"
    mem_info = (1 << 30, 1 << 30)

    def __init__(self, id=0):
        self.id = id

    def synchronize(self):
        pass


class _Runtime:
    # The CUDA runtime's attribute numbers (cudaDeviceAttr) that minigan asks for.
    cudaDevAttrClockRate = 13  # noqa: N815
    cudaDevAttrMultiProcessorCount = 16  # noqa: N815
    cudaDevAttrMemoryClockRate = 36  # noqa: N815
    cudaDevAttrGlobalMemoryBusWidth = 37  # noqa: N815
    cudaDevAttrL2CacheSize = 38  # noqa: N815
    _ATTRS = {13: 1_980_000, 16: _SMS, 36: 2_619_000, 37: 6144, 38: 1 << 20}

    @staticmethod
    def getDeviceCount():  # noqa: N802
        return 1

    @staticmethod
    def deviceGetAttribute(attr, device):  # noqa: N802
        return _Runtime._ATTRS[attr]

    @staticmethod
    def getDeviceProperties(device):  # noqa: N802
        return {"name": b"Emulated GPU (fake cupy)"}

    @staticmethod
    def runtimeGetVersion():  # noqa: N802
        return 13000

    @staticmethod
    def driverGetVersion():  # noqa: N802
        return 13000


class _Event:
    """Host wall-clock time, where CUDA events time the device."""

    def record(self, stream=None):
        self.t = time.perf_counter()

    def synchronize(self):
        pass


class cuda:  # noqa: N801
    @staticmethod
    def get_current_stream():
        return _Stream()

    @staticmethod
    def get_elapsed_time(start, end):
        return (end.t - start.t) * 1e3

    Device = _Device
    Event = _Event
    runtime = _Runtime


__version__ = "0.0-fake"

from ._kernels import ElementwiseKernel, RawModule, ReductionKernel  # noqa: E402,F401
