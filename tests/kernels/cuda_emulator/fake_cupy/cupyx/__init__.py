"""The stand-in for ``cupyx.allow_synchronize``, CuPy's detector of device synchronization,
over the fake cupy beside it: inside ``allow_synchronize(False)`` each device-to-host copy
(get, item, float, bool, an index, asnumpy) raises ``DeviceSynchronized``."""
import contextlib

from cupy import SYNC_ALLOWED, DeviceSynchronized  # noqa: F401


@contextlib.contextmanager
def allow_synchronize(allow: bool):
    SYNC_ALLOWED.append(bool(allow))
    try:
        yield
    finally:
        SYNC_ALLOWED.pop()
