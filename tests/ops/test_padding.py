"""Index padding's backward: the slice-add by runs equals NumPy's element-wise ``np.add.at``
(the definition of the gather's adjoint), for every mode and border width."""

import numpy as np
import pytest

from minigan.ops.padding import _index_add, _index_runs, pad_index


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_index_add_by_runs_is_np_add_at(mode):
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 5, 8):
        for lo in range(0, 7):
            for hi in (0, 1, 3, 6):
                try:
                    idx = pad_index(n, lo, hi, mode)
                except ValueError:  # reflect needs borders < n, circular <= n
                    continue
                for axis in (0, 1, 2):
                    shape = [3, 2, 4]
                    shape[axis] = len(idx)
                    # Integer values: float sums in any order are exact, so equality is exact.
                    g = rng.integers(-50, 50, shape).astype(np.float64)
                    want = np.zeros([n if a == axis else s for a, s in enumerate(shape)])
                    key = (slice(None),) * axis + (idx,)
                    np.add.at(want, key, g)
                    np.testing.assert_array_equal(_index_add(g, idx, n, axis), want)
                # At most a reversed border, the middle, a reversed border, and the runs of
                # one where reflect turns: a handful of slice-adds whatever the sizes.
                assert len(_index_runs(idx)) <= 5


def test_index_runs_cut_where_the_step_changes():
    assert _index_runs(np.array([2, 1, 0, 1, 2, 3, 2, 1])) == [(0, 3, 2, -1), (3, 6, 1, 1),
                                                              (6, 8, 2, -1)]
    assert _index_runs(np.array([0, 0, 0, 1, 2, 2])) == [(0, 3, 0, 0), (3, 5, 1, 1), (5, 6, 2, 1)]
    assert _index_runs(np.array([2, 3, 0, 1, 2, 3, 0])) == [(0, 2, 2, 1), (2, 6, 0, 1),
                                                           (6, 7, 0, 1)]
    assert _index_runs(np.array([4, 0, 7])) == [(0, 1, 4, 1), (1, 2, 0, 1), (2, 3, 7, 1)]
