"""A NumPy-backed stand-in for the CuPy calls minigan makes, host memory as device memory:
run_emulated.py drives the emulated minigan._cuda through the real cuda_*.py wrappers with it,
and run_cupy_emulated.py runs the cupy_*.py modules on it, their user-defined kernels compiled
for the CPU (_kernels.py). Only ever imported in those scripts' own processes."""
import os

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

    def get(self):
        return np.array(self)


def _v(a):
    return a.view(ndarray)


def empty(shape, dtype=float):
    return _v(np.empty(shape, dtype))


def empty_like(a):
    return _v(np.empty_like(a))


def zeros(shape, dtype=float):
    return _v(np.zeros(shape, dtype))


def ascontiguousarray(a):
    return _v(np.ascontiguousarray(a))


def asarray(a, dtype=None):
    return _v(np.asarray(a, dtype=dtype))


class _Stream:
    ptr = 0


class _Device:
    # An H100's 132 SMs, unless a script sets fewer (FAKE_CUPY_SMS) so that grid-stride loops
    # really loop and emulation, a std::thread per CUDA thread, stays fast.
    attributes = {"MultiProcessorCount": int(os.environ.get("FAKE_CUPY_SMS", "132"))}

    def __init__(self, id=0):
        self.id = id


class _Runtime:
    @staticmethod
    def getDeviceCount():  # noqa: N802
        return 1


class cuda:  # noqa: N801
    @staticmethod
    def get_current_stream():
        return _Stream()

    Device = _Device
    runtime = _Runtime


from ._kernels import ElementwiseKernel, RawModule, ReductionKernel  # noqa: E402,F401
