"""Each rank's rows of the global batch.

A data-parallel step on N ranks must see what one process sees: rank r gets rows
r*B/N ... (r+1)*B/N - 1 of the global batch of B rows -- of the data, of the latents, of the
penalties' interpolation weights, of the instance noise. Every rank therefore draws the *whole*
batch from the same random stream and keeps its rows (:func:`batch_rows` sets that up for
:mod:`minigan.random`). Drawing B rows where B/N are used costs a little generator time, and buys
two things: the generators stay identical on every rank (so a checkpoint does not depend on the
number of ranks, and ``--resume`` may change it), and an N-rank run follows the 1-process run.

Inside :func:`batch_rows`, a draw whose first dimension is the global batch B or the local batch
B/N is drawn with B rows and sliced; any other draw is unchanged.

Batch statistics that are not means (DRAGAN's std of the real batch) are computed over the
global batch by :func:`batch_std`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_ACTIVE: dict[str, Any] = {"rows": None, "reducer": None}


@contextlib.contextmanager
def batch_rows(lo: int, hi: int, total: int, reducer: Any = None) -> Iterator[None]:
    """Within the block, random draws of ``total`` or ``hi - lo`` rows give rows [lo, hi) of a
    ``total``-row draw; ``reducer`` (an all-reduce over the ranks) serves :func:`batch_std`."""
    if not 0 <= lo < hi <= total:
        raise ValueError(f"rows: expected 0 <= lo < hi <= total, got {lo}, {hi}, {total}")
    saved = dict(_ACTIVE)
    _ACTIVE.update(rows=(lo, hi, total), reducer=reducer)
    try:
        yield
    finally:
        _ACTIVE.update(saved)


def full_shape(shape: tuple) -> tuple[tuple, slice | None]:
    """(the shape to draw, the rows to keep) for a draw of ``shape``."""
    rows = _ACTIVE["rows"]
    if rows is None or not shape:
        return shape, None
    lo, hi, total = rows
    if shape[0] not in (total, hi - lo) or (lo, hi) == (0, total):
        return shape, None
    return (total, *shape[1:]), slice(lo, hi)


def batch_std(a: Any) -> Any:
    """std(a) over every element of the global batch (a: this rank's rows; population std as
    ``ndarray.std()``), two passes as NumPy does: mean, then mean squared deviation."""
    reducer = _ACTIVE["reducer"]
    if reducer is None:
        return a.std()
    xp_sum = reducer.sum_scalars
    n = a.size * reducer.size
    mean = xp_sum([a.sum()])[0] / n
    d = a - mean
    return (xp_sum([(d * d).sum()])[0] / n) ** 0.5
