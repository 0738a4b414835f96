"""A NumPy-backed stand-in for the few CuPy calls minigan's cuda_*.py wrappers make, so that
run_emulated.py can drive the emulated minigan._cuda (host memory as device memory) through the
real wrappers. Only ever imported in that script's own process."""
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
    id = 0
    attributes = {"MultiProcessorCount": 132}


class cuda:  # noqa: N801
    @staticmethod
    def get_current_stream():
        return _Stream()

    Device = _Device
