"""Label scores: the Hungarian best assignment against brute force over every permutation,
known permuted confusion matrices, SciPy where installed; code and class accuracy."""

import itertools

import numpy as np
import pytest

from minigan.metrics import labels as lab


def brute_force(w):
    """max over one-to-one maps row -> column of sum w[i, col[i]] (n <= m), by enumeration."""
    n, m = w.shape
    return max(sum(w[i, c] for i, c in enumerate(cols))
               for cols in itertools.permutations(range(m), n))


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (3, 5),
                                   (2, 6), (4, 7)])
def test_best_assignment_matches_brute_force(shape):
    rng = np.random.default_rng(sum(shape))
    for trial in range(20):
        # Integer counts give ties (several optimal maps); the sum must still be optimal.
        w = rng.integers(0, 6, shape) if trial % 2 else rng.normal(size=shape)
        col = lab.best_assignment(w)
        assert col.shape == (shape[0],) and len(set(col.tolist())) == shape[0]
        assert 0 <= col.min() and col.max() < shape[1]
        got = w[np.arange(shape[0]), col].sum()
        assert got == pytest.approx(brute_force(w), abs=1e-12)


def test_permuted_diagonal_confusion_recovers_the_permutation():
    # Code k draws digit perm[k] 90% of the time, the rest spread evenly: the best map is perm
    # and the accuracy is exactly the diagonal's share.
    rng = np.random.default_rng(0)
    perm = rng.permutation(10)
    conf = np.full((10, 10), 1)
    conf[np.arange(10), perm] = 91  # 91 of 100 samples per code on its digit
    codes = np.repeat(np.arange(10), 100)
    pred = np.concatenate([np.repeat(np.arange(10), conf[k]) for k in range(10)])
    np.testing.assert_array_equal(lab.confusion_matrix(codes, pred, 10, 10), conf)
    r = lab.code_accuracy(codes, pred, 10)
    assert r.code_to_class == perm.tolist()
    assert r.code_accuracy == 0.91 and r.n_samples == 1000 and r.n_codes == 10


def test_best_map_is_not_the_greedy_one():
    # Greedy (each code its majority digit, first come first served) takes 0 -> 0 (5) and then
    # must give 1 -> 1 (0): 5 of 12. The best map 0 -> 1, 1 -> 0 gets 4 + 3 = 7 of 12.
    conf = np.array([[5, 4], [3, 0]])
    codes = np.repeat([0, 0, 1, 1], [5, 4, 3, 0])
    pred = np.repeat([0, 1, 0, 1], [5, 4, 3, 0])
    np.testing.assert_array_equal(lab.confusion_matrix(codes, pred, 2, 2), conf)
    r = lab.code_accuracy(codes, pred, 2, 2)
    assert r.code_to_class == [1, 0] and r.code_accuracy == pytest.approx(7 / 12)


def test_more_codes_than_classes_leave_codes_unmatched():
    codes = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 1, 1])
    r = lab.code_accuracy(codes, pred, 3, 2)
    # Best: code 0 -> 0 (2) and code 2 -> 1 (3); code 1 is left without a class.
    assert r.code_to_class == [0, -1, 1] and r.code_accuracy == pytest.approx(5 / 7)


def test_matches_scipy_linear_sum_assignment():
    opt = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(3)
    for n, m in [(10, 10), (8, 10), (25, 25), (12, 30)]:
        w = rng.integers(0, 50, (n, m))
        rows, cols = opt.linear_sum_assignment(w, maximize=True)
        ours = lab.best_assignment(w)
        assert w[np.arange(n), ours].sum() == w[rows, cols].sum()


def test_class_accuracy_and_errors():
    assert lab.class_accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75
    with pytest.raises(ValueError, match="labels, predicted"):
        lab.class_accuracy(np.array([1, 2]), np.array([1]))
    with pytest.raises(ValueError, match="rows: expected a 1-D integer array"):
        lab.confusion_matrix(np.array([0.5]), np.array([0]))
    with pytest.raises(ValueError, match="exceed the matrix shape"):
        lab.confusion_matrix(np.array([0, 3]), np.array([0, 1]), 2, 2)
    with pytest.raises(ValueError, match="weight: expected a finite"):
        lab.best_assignment(np.ones((3, 2)))
