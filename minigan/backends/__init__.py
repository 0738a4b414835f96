"""Backends: which kernel sources this machine has, which one is in use, and CPU thread counts.

A backend is a device plus a source of kernels (DESIGN.md):

    cpu:   numpy (the reference, always present), numba, native (minigan._C: C++ and OpenMP)
    cuda:  cupy, numba_cuda, cuda (minigan._cuda: CUDA C++)

Nothing here imports numba or cupy, or loads a compiled module, until a function asks for it:
importing minigan must stay fast, compile nothing, and work on a machine that has none of them.
The backend in use and the thread count are process-wide settings.

Environment: ``MINIGAN_BACKEND`` picks the initial backend (default: the first available of
:data:`DEFAULT_CPU_ORDER`, i.e. ``native`` when minigan._C is built, else ``numpy``);
``MINIGAN_NUM_THREADS`` the CPU thread count (default: ``OMP_NUM_THREADS``, else the CPUs this
process may run on).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

CPU_BACKENDS = ("numpy", "numba", "native")
CUDA_BACKENDS = ("cupy", "numba_cuda", "cuda")
ALL_BACKENDS = CPU_BACKENDS + CUDA_BACKENDS
DEVICE = {**dict.fromkeys(CPU_BACKENDS, "cpu"), **dict.fromkeys(CUDA_BACKENDS, "cuda")}
# The default CPU backend, fastest first, by measurement (benchmarks/bench_step.py
# --choose-default: one dcgan-mnist step, 2-core machine; native 1.13-1.29x the NumPy reference,
# numba close behind but with JIT compile time on first use). numpy is always available.
DEFAULT_CPU_ORDER = ("native", "numpy")

__all__ = [
    "ALL_BACKENDS", "CPU_BACKENDS", "CUDA_BACKENDS", "DEFAULT_CPU_ORDER", "DEVICE", "available",
    "blas_threads_for",
    "cuda_module",
    "check_environment", "current", "get_array_module", "import_error", "native", "num_threads",
    "require_cupy",
    "set_blas_threads", "set_num_threads",
    "unavailable_reason", "use",
]

# Import results, cached: module or None, and for None the reason (shown by `minigan info`).
_modules: dict[str, ModuleType | None] = {}
_import_errors: dict[str, str] = {}
_gpu_reason_cache: list[str | None] = []  # empty until probed; then [reason or None]
_numba_cuda_cache: dict[str, str | None] = {}  # "numba_cuda" -> reason or None, once probed
_current: str | None = None  # resolved from MINIGAN_BACKEND on first use
_threads: int | None = None  # resolved from the environment on first use
_blas_threads: int | None = None  # what minigan last asked of NumPy's BLAS (None: nothing yet)
_blas_override: int | None = None  # set_blas_threads: a count that replaces blas_threads_for


def _load(modname: str) -> ModuleType | None:
    if modname not in _modules:
        try:
            _modules[modname] = importlib.import_module(modname)
        except Exception as exc:
            # Broad on purpose: a broken build raises ImportError or OSError alike, and neither
            # may stop minigan from working on the NumPy reference.
            _modules[modname] = None
            _import_errors[modname] = f"{type(exc).__name__}: {exc}"
    return _modules[modname]


def native() -> ModuleType | None:
    """The compiled CPU module ``minigan._C``, or None if it was not built. Cached.

    On first load its OpenMP pool is sized to :func:`num_threads`.
    """
    first = "minigan._C" not in _modules
    mod = _load("minigan._C")
    if mod is not None and first:
        try:
            mod.set_num_threads(num_threads())
        except ValueError as exc:
            # A bad MINIGAN_NUM_THREADS must not make the kernels unavailable; say so and keep
            # OpenMP's own default. num_threads() raises the same error where it is asked for.
            warnings.warn(f"{exc}; minigan._C keeps {mod.num_threads()} threads", stacklevel=2)
    return mod


def cuda_module() -> ModuleType | None:
    """The compiled CUDA module ``minigan._cuda``, or None if it was not built. Cached.

    Importing it needs no GPU or driver; ask ``cuda_module().runtime_info()`` what it found.
    """
    return _load("minigan._cuda")


def import_error(modname: str) -> str | None:
    """Why ``modname`` failed to import, if it was tried and failed."""
    return _import_errors.get(modname)


def _installed(top_level: str) -> bool:
    # find_spec on a top-level name locates it without importing it (numba takes ~1 s).
    return importlib.util.find_spec(top_level) is not None


def _gpu_reason() -> str | None:
    """None when CuPy imports and sees a GPU, else why not. Probed once (importing CuPy)."""
    if not _gpu_reason_cache:
        reason: str | None = None
        if not _installed("cupy"):
            reason = "CuPy is not installed (pip install 'minigan[cuda]')"
        elif (cupy := _load("cupy")) is None:
            reason = f"CuPy failed to import ({_import_errors['cupy']})"
        else:
            try:
                if cupy.cuda.runtime.getDeviceCount() == 0:
                    reason = "CuPy sees no GPU"
            except Exception as exc:  # CuPy raises CUDARuntimeError when there is no driver
                reason = f"CuPy sees no GPU ({type(exc).__name__}: {exc})"
        _gpu_reason_cache.append(reason)
    return _gpu_reason_cache[0]


def _numba_cuda_reason() -> str | None:
    """None when Numba's CUDA target sees a GPU and can compile for it, else why not. Probed
    once (imports Numba); asked only once CuPy has found a GPU."""
    if "numba_cuda" not in _numba_cuda_cache:
        reason: str | None = None
        try:
            from numba import cuda
            from numba.cuda.cudadrv import nvvm

            if not cuda.is_available():
                reason = "Numba's CUDA target finds no GPU (numba.cuda.is_available() is False)"
            elif not nvvm.is_available():
                # The numba_cuda kernels compile on first use, which needs libNVVM.
                reason = ("Numba's CUDA target finds no libNVVM to compile with (pip install "
                          "'numba-cuda[cu13]', or set CUDA_HOME to a CUDA toolkit)")
        except Exception as exc:  # a broken numba/numba-cuda install must not break minigan
            reason = f"numba.cuda failed ({type(exc).__name__}: {exc})"
        _numba_cuda_cache["numba_cuda"] = reason
    return _numba_cuda_cache["numba_cuda"]


def require_cupy() -> ModuleType:
    """CuPy, for a tensor on ``device="cuda"``; a RuntimeError naming what is missing (CuPy,
    the driver or a GPU) when it cannot be used."""
    if (reason := _gpu_reason()) is not None:
        raise RuntimeError(f"device 'cuda' is not available: {reason}")
    return _modules["cupy"]


def unavailable_reason(name: str) -> str | None:
    """None if backend ``name`` can be used here, else a sentence saying why not.

    Checking a CUDA backend imports CuPy (if installed) to look for a GPU.
    """
    name = _normalize(name)
    if name == "numpy":
        return None
    if name == "native":
        if native() is None:
            return f"minigan._C is not built ({_import_errors.get('minigan._C')})"
        return None
    if name == "numba":
        if not _installed("numba"):
            return "numba is not installed (pip install 'minigan[numba]')"
        return None
    if name not in CUDA_BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(ALL_BACKENDS)}")
    if (gpu := _gpu_reason()) is not None:
        return gpu
    if name == "numba_cuda":
        if not _installed("numba"):
            return "numba is not installed (pip install 'minigan[cuda]')"
        return _numba_cuda_reason()
    if name == "cuda" and cuda_module() is None:
        return f"minigan._cuda is not built ({_import_errors.get('minigan._cuda')})"
    return None


def available() -> list[str]:
    """The backends usable here, in the order of ALL_BACKENDS; ``numpy`` is always first."""
    return [name for name in ALL_BACKENDS if unavailable_reason(name) is None]


def _normalize(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"backend name: expected a str, got {type(name).__name__}")
    return name.strip().lower().replace("-", "_")


def _checked(name: str, source: str = "") -> str:
    """``name`` normalized, or ValueError listing what is available. ``source`` prefixes it."""
    norm = _normalize(name)
    prefix = f"{source}={name!r}: " if source else ""
    if norm not in ALL_BACKENDS:
        raise ValueError(f"{prefix}unknown backend {name!r}; available: {', '.join(available())}")
    reason = unavailable_reason(norm)
    if reason is not None:
        raise ValueError(
            f"{prefix}backend {norm!r} is not available: {reason}; "
            f"available: {', '.join(available())}"
        )
    return norm


def current() -> str:
    """The backend in use: the last :func:`use`, else ``MINIGAN_BACKEND``, else the first
    available of :data:`DEFAULT_CPU_ORDER`."""
    global _current
    if _current is None:
        check_environment()
        env = os.environ.get("MINIGAN_BACKEND", "").strip()
        if env:
            _current = _checked(env, source="MINIGAN_BACKEND")
        else:
            _current = next(b for b in DEFAULT_CPU_ORDER if unavailable_reason(b) is None)
        _sync_blas_threads()
    return _current


_FLAG_VALUES = ("", "0", "1", "false", "true", "no", "yes", "off", "on")


def check_environment() -> None:
    """Check minigan's environment variables before anything runs with them: ``MINIGAN_BACKEND``
    (a backend name), ``MINIGAN_NUM_THREADS`` / ``OMP_NUM_THREADS`` (1 to :data:`MAX_THREADS`),
    ``MINIGAN_ISA`` (a variant minigan._C has and this CPU runs), ``MINIGAN_CUDA_TF32`` (a
    flag), ``MINIGAN_DATA_DIR`` / ``MINIGAN_CACHE_DIR`` (directories, if they exist) and
    ``MINIGAN_DATA_CHECKSUMS`` (an existing file). A bad value is a ValueError naming the
    variable and what it expects, never a silent fallback (a mistyped MINIGAN_ISA used to run
    the NumPy reference instead of the native kernels without a word). :func:`current` calls it
    on first use; the ``minigan`` command before every subcommand but ``info``."""
    raw = os.environ.get("MINIGAN_BACKEND", "").strip()
    if raw and _normalize(raw) not in ALL_BACKENDS:
        _checked(raw, source="MINIGAN_BACKEND")  # raises, listing the available backends
    _default_threads()
    if os.environ.get("MINIGAN_ISA", "").strip() and native() is None:
        error = import_error("minigan._C") or ""
        if "MINIGAN_ISA" in error:  # the module exists but refused the variant: say so
            raise ValueError(error.removeprefix("ImportError: "))
    flag = os.environ.get("MINIGAN_CUDA_TF32", "")
    if flag.strip().lower() not in _FLAG_VALUES:
        raise ValueError(f"MINIGAN_CUDA_TF32={flag!r}: expected 1 or 0 (true/false, yes/no, "
                         f"on/off)")
    for var in ("MINIGAN_DATA_DIR", "MINIGAN_CACHE_DIR"):
        path = os.environ.get(var, "")
        if path and os.path.exists(os.path.expanduser(path)) \
                and not os.path.isdir(os.path.expanduser(path)):
            raise ValueError(f"{var}={path!r}: expected a directory, but it is a file")
    path = os.environ.get("MINIGAN_DATA_CHECKSUMS", "")
    if path and not os.path.isfile(os.path.expanduser(path)):
        raise ValueError(f"MINIGAN_DATA_CHECKSUMS={path!r}: expected a JSON file of data set "
                         f"checksums; no such file")


class _Using:
    """What :func:`use` returns: the switch already happened; leaving a ``with`` undoes it."""

    def __init__(self, name: str, previous: str | None) -> None:
        self.name = name
        self._previous = previous

    def __enter__(self) -> str:
        return self.name

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _current
        _current = self._previous
        _sync_blas_threads()

    def __repr__(self) -> str:
        return f"minigan.backends.use({self.name!r})"


def use(name: str) -> _Using:
    """Switch to backend ``name``, process-wide. Works as a call or as a context manager::

        minigan.backends.use("native")           # from now on
        with minigan.backends.use("native"):     # only inside the block
            ...

    Raises ValueError naming the available backends if ``name`` is unknown or unavailable.
    """
    global _current
    norm = _checked(name)
    using = _Using(norm, _current)
    _current = norm
    _sync_blas_threads()
    return using


def get_array_module(*arrays: Any) -> ModuleType:
    """``cupy`` if any argument is a CuPy array, else ``numpy`` (Chainer's xp idiom).

    Never imports CuPy itself: a CuPy array can only exist once CuPy has been imported.
    """
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            return importlib.import_module("cupy")
    return np


# ---- threads ----------------------------------------------------------------------------------


MAX_THREADS = 4096  # the most minigan._C's OpenMP pool accepts (set_num_threads)


def _positive_int(raw: str, var: str) -> int:
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"{var}={raw!r}: expected a positive integer number of threads "
                         f"(1 to {MAX_THREADS})")
    return n


def _default_threads() -> int:
    if raw := os.environ.get("MINIGAN_NUM_THREADS", "").strip():
        return _positive_int(raw, "MINIGAN_NUM_THREADS")
    if raw := os.environ.get("OMP_NUM_THREADS", "").strip():
        return _positive_int(raw.split(",")[0], "OMP_NUM_THREADS")
    # The CPUs this process may use (a container or taskset may allow fewer than cpu_count).
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def num_threads() -> int:
    """The CPU thread count minigan's kernels use (see the module docstring for the default)."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` CPU threads: the OpenMP pool of minigan._C, Numba's pool (once numba is
    imported), and NumPy's BLAS as :func:`blas_threads_for` says for the backend in use."""
    global _threads, _blas_threads
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n: expected an int number of threads, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"n: expected a number of threads from 1 to {MAX_THREADS}, got {n}")
    _threads = int(n)
    mod = native()
    if mod is not None:
        mod.set_num_threads(_threads)
    # Numba's pool, only if something already imported numba (importing it here costs ~1 s);
    # the numba kernel modules size it from num_threads() when they are first imported.
    if (numba := sys.modules.get("numba")) is not None:
        numba.set_num_threads(min(_threads, numba.config.NUMBA_NUM_THREADS))
    _blas_threads = None
    _sync_blas_threads()


def blas_threads_for(backend: str) -> int:
    """The thread count NumPy's BLAS gets while ``backend`` is in use.

    One pool owns the cores: with the compiled CPU backends (native's OpenMP, numba's pool)
    BLAS runs on the calling thread only. Two pools on the same cores take turns badly: after
    each call OpenBLAS's workers spin, waiting for the next one, on the very cores the next
    OpenMP kernel needs. Measured (one dcgan-mnist step, native, 2-core machine, 2 threads):
    71.9 ms with BLAS on 2 threads, 46.3 ms with BLAS on 1. The numpy backend is BLAS-bound
    and keeps every thread.

    (Earlier minigan forced ``OMP_WAIT_POLICY=PASSIVE`` against the same contention; with BLAS
    out of the way OpenMP's own default -- spin briefly, then sleep -- is faster: 46.5 ms
    PASSIVE vs 40.6 ms default for native, 152 vs 144 ms for numba.)"""
    return 1 if backend in ("native", "numba") else num_threads()


def set_blas_threads(n: int | None) -> None:
    """Give NumPy's BLAS ``n`` threads whatever the backend, or with None go back to
    :func:`blas_threads_for`'s policy. For work whose products dominate and whose compiled
    kernels are tiny (the MLP GAN jobs, see gan.resources.run_threads): there the OpenMP pool
    idles and BLAS can have the cores."""
    global _blas_override, _blas_threads
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n: expected an int number of threads or None, got "
                            f"{type(n).__name__}")
        if not 1 <= n <= MAX_THREADS:
            raise ValueError(f"n: expected a number of threads from 1 to {MAX_THREADS}, got {n}")
        n = int(n)
    _blas_override = n
    _blas_threads = None
    _sync_blas_threads()


def _sync_blas_threads() -> None:
    """Apply :func:`set_blas_threads`'s count, else :func:`blas_threads_for` the backend in use,
    through threadpoolctl (a dependency; without it BLAS keeps its own setting). Only on a
    change: each call costs ~0.3 ms, and the limit stays in force until the next one."""
    global _blas_threads
    if _current is None and _blas_override is None:
        return
    want = _blas_override if _blas_override is not None else blas_threads_for(_current)
    if want == _blas_threads:
        return
    _blas_threads = want
    if _installed("threadpoolctl"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=want, user_api="blas")  # called, not entered: it stays
