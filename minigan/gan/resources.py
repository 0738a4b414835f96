"""Checks on a resolved config before anything is allocated: sizes that cannot work.

``check(cfg)`` refuses, with a ConfigError naming the key, a config whose models and one
step's activations would need more memory than this machine has (``--set batch_size=10**8``
would otherwise start a 48 GiB allocation, ``g_hidden=10**9`` a 4 EB one), a PacGAN ``pack``
that does not divide the batch, and ``n_critic`` beyond :data:`MAX_N_CRITIC`.

The estimate is an order of magnitude, deliberately generous to real configs: float32
parameters held six times (weights, gradients, Adam's two moments, the EMA copy, slack) plus
one step's activations held about eight times (forward values, their gradients, the penalties'
double backward).

``check_sample`` bounds ``minigan sample --n`` the same way: the generator's activations, the
latents, the samples and their picture.

``run_threads(cfg, device)`` sets the CPU thread count of a run (config key ``threads``) for
its duration.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .config import ConfigError

MAX_N_CRITIC = 1000  # discriminator steps per generator step; papers use 1 to 5 (WGAN: 5)
_BYTES = 4  # float32


def _mlp(width: int, layers: int, d_in: int, d_out: int) -> int:
    return d_in * width + max(layers - 1, 0) * width * width + width * d_out


def _mlp_cfg(cfg: dict) -> bool:
    return cfg["model"] == "mlp" or cfg.get("backbone") == "mlp"


def _g_size(cfg: dict) -> tuple[int, int]:
    """(G's parameters, G's activations per sample): the generator alone, as sampling uses it."""
    z = cfg["z_dim"]
    if _mlp_cfg(cfg):
        return (_mlp(cfg["g_hidden"], cfg["g_layers"], z + cfg.get("n_classes", 0), 784),
                cfg["g_hidden"] * cfg["g_layers"])
    # convolutional: the widest layers hold 8 * base_width channels, 3x3 to 5x5 kernels;
    # ~ base_width channels at 32x32 per sample
    w = cfg["base_width"]
    return z * 8 * w * 16 + 3 * (8 * w) ** 2 * 16, w * 1024


def estimate_bytes(cfg: dict) -> tuple[int, str]:
    """(bytes, the key that dominates) for the models and one step of ``cfg`` (rough)."""
    b, pack = cfg["batch_size"], cfg["pack"]
    g_params, g_acts = _g_size(cfg)
    if _mlp_cfg(cfg):
        d_params = _mlp(cfg["d_hidden"], cfg["d_layers"], 784 * pack, 1)
        acts = b * (g_acts + cfg["d_hidden"] * cfg["d_layers"])
        parts = {"g_hidden": g_params, "d_hidden": d_params}
    else:
        w = cfg["base_width"]
        d_params = (3 * pack) * w * 16 + 3 * (8 * w) ** 2 * 16
        acts = b * g_acts * 2 * pack  # G and D
        parts = {"base_width": g_params + d_params}
    total = 6 * _BYTES * (g_params + d_params) + 8 * _BYTES * acts
    key = "batch_size" if 8 * acts > 6 * (g_params + d_params) else max(parts, key=parts.get)
    return total, key


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check(cfg: dict) -> None:
    """Raise ConfigError for a config that cannot run here (see the module docstring)."""
    if cfg["n_critic"] > MAX_N_CRITIC:
        raise ConfigError(f"config key 'n_critic': expected at most {MAX_N_CRITIC} "
                          f"discriminator steps per generator step, got {cfg['n_critic']}")
    if cfg["batch_size"] % cfg["pack"]:
        raise ConfigError(f"config key 'pack': PacGAN packs {cfg['pack']} samples into one D "
                          f"input, so batch_size ({cfg['batch_size']}) must be a multiple of it")
    need, key = estimate_bytes(cfg)
    have = _physical_memory()
    if have is not None and need > have:
        raise ConfigError(f"config key {key!r}: this config needs about {_gib(need)} of memory "
                          f"(batch_size {cfg['batch_size']}, models and one step), more than "
                          f"this machine's {_gib(have)}; use smaller sizes")


def sample_bytes(cfg: dict, n: int, sample_size: int, itemsize: int, latent_nbytes: int,
                 picture: str | None) -> int:
    """Memory of ``minigan sample --n n`` (rough, generous): G, the latents (``latent_nbytes``
    per sample), G's no-grad activations for the n samples (measured with tracemalloc: 113
    KiB a sample for dcgan-mnist's G, 1.5 KiB for grid25's; counted 256 and 6 KiB), the
    samples (``sample_size`` values of ``itemsize`` bytes each) and the picture
    (``picture``: "scatter", about 80 bytes a point as measured with matplotlib, counted 200;
    "grid", about 30 bytes a pixel, counted 64)."""
    g_params, g_acts = _g_size(cfg)
    per_sample = latent_nbytes + (g_acts + sample_size) * itemsize
    if picture == "scatter":
        per_sample += 200
    elif picture == "grid":
        per_sample += 64 * sample_size
    return 2 * _BYTES * g_params + n * per_sample


def check_sample(cfg: dict, n: int, sample_size: int, itemsize: int, latent_nbytes: int,
                 picture: str | None) -> None:
    """Raise ValueError naming --n when ``minigan sample --n n`` would need more than this
    machine's memory (see :func:`sample_bytes`); called before any latent is drawn."""
    need = sample_bytes(cfg, n, sample_size, itemsize, latent_nbytes, picture)
    have = _physical_memory()
    if have is not None and need > have:
        what = f" and a {picture} picture of them" if picture else ""
        raise ValueError(f"--n: {n:,} samples need about {_gib(need)} of memory (the samples "
                         f"alone {_gib(n * sample_size * itemsize)}{what}), more than this "
                         f"machine's {_gib(have)}; draw fewer")


def threads_for(cfg: dict, device: str = "cpu") -> int | None:
    """The CPU thread count a run sets for minigan's own kernels, or None to keep the process's
    own (``MINIGAN_NUM_THREADS``, else ``OMP_NUM_THREADS``, else every CPU it may use).

    ``threads`` > 0 is that count. 0 (auto) is 1 for the MLP models on the compiled CPU
    backends (native, numba) when neither environment variable chose, else None: their
    elementwise kernels see 32K values, which a second thread splits at a loss (the default job
    measured 8.0 ms a step with 2 kernel threads, 7.2 ms with 1; 2-core AMD EPYC, quiet). The
    cores go to BLAS instead (:func:`blas_threads_for_run`)."""
    n = cfg.get("threads", 0)  # absent in the checkpoints of older runs
    if n > 0:
        return n
    if device != "cpu" or cfg.get("model") != "mlp":
        return None
    if any(os.environ.get(v, "").strip() for v in ("MINIGAN_NUM_THREADS", "OMP_NUM_THREADS")):
        return None
    from .. import backends

    return 1 if backends.current() in ("native", "numba") else None


def blas_threads_for_run(cfg: dict, device: str = "cpu") -> int | None:
    """NumPy's BLAS thread count for a run whose kernels :func:`threads_for` put on one thread
    by its auto rule, else None (BLAS follows backends.blas_threads_for).

    The MLP jobs are their matrix products (the default job: ~57 per step, most 256 x 128 x
    128): with the kernels on one thread, BLAS takes every CPU the process may use. Measured
    on the default job, 2-core AMD EPYC (AVX2), quiet: 5.1-6.1 ms a step with BLAS on 2
    threads against 6.7-7.3 ms on 1. The thread count changes BLAS's summation split, so a
    run's numbers depend on it as they depend on the CPU count; it is fixed for the whole run
    (``--resume`` on the same machine continues bit for bit). On a machine whose other core is
    busy the split is slower (15 ms against 8 ms a step with one busy process beside it);
    ``--set threads=1`` or ``MINIGAN_NUM_THREADS=1`` keeps BLAS on one thread."""
    if cfg.get("threads", 0) > 0 or threads_for(cfg, device) != 1:
        return None
    from .. import backends

    return backends.num_threads()


@contextlib.contextmanager
def run_threads(cfg: dict, device: str = "cpu") -> Iterator[None]:
    """Use :func:`threads_for`'s count for the kernels and :func:`blas_threads_for_run`'s for
    BLAS while the block runs, then the process's own again."""
    from .. import backends

    n = threads_for(cfg, device)
    blas = blas_threads_for_run(cfg, device)
    if n is None or (n == backends.num_threads() and blas is None):
        yield
        return
    before = backends.num_threads()
    backends.set_num_threads(n)
    if blas is not None:
        backends.set_blas_threads(blas)
    try:
        yield
    finally:
        if blas is not None:
            backends.set_blas_threads(None)
        backends.set_num_threads(before)
