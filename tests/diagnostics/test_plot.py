"""`minigan plot RUN_DIR`: one PNG per telemetry view from metrics.jsonl, the diagnosis printed,
bad input refused."""

import json

import numpy as np

from minigan.cli import main
from minigan.diagnostics.plot import _nested, plot_run
from minigan.gan import config
from minigan.gan.trainer import Trainer

VIEWS = ["losses", "d_outputs", "grad_norms", "layer_grad_norms", "spectral_norms",
         "weight_norms", "lr"]


def tiny_run(path, **kw):
    items = {"g_hidden": 8, "d_hidden": 8, "log_every": 5, "sample_every": 0,
             "checkpoint_every": 0, "eval_samples": 200, "steps": 30, **kw}
    cfg = config.resolve("grid25", overrides=[f"{k}={v}" for k, v in items.items()])
    Trainer(cfg, path, progress=False).run()
    return path


def read_png(path):
    import matplotlib.image

    return matplotlib.image.imread(path)


def test_plot_draws_every_view_and_prints_the_diagnosis(tmp_path, capsys):
    run = tiny_run(tmp_path / "run")
    assert main(["plot", str(run)]) == 0
    out = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert f"diagnosis: {summary['diagnosis']['verdict']}" in out
    for view in VIEWS:
        path = run / "plots" / f"{view}.png"
        assert str(path) in out
        img = read_png(path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert img[..., :3].std() > 0  # something was drawn


def test_plot_run_returns_the_views_and_extracts_the_layer_series(tmp_path):
    run = tiny_run(tmp_path / "run")
    paths = plot_run(run, tmp_path / "pics")
    assert sorted(paths) == sorted(VIEWS)
    assert all(p.parent == tmp_path / "pics" and p.is_file() for p in paths.values())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    series = _nested(rows, "sigma", "D")
    assert sorted(series) == sorted(rows[0]["sigma"]["D"])
    for name, v in series.items():
        assert np.array_equal(v, [r["sigma"]["D"][name] for r in rows])


def test_without_telemetry_only_the_basic_views(tmp_path):
    run = tiny_run(tmp_path / "run", telemetry="false")
    assert sorted(plot_run(run)) == ["d_outputs", "losses", "lr"]


def test_bad_run_dirs_are_refused(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text("")
    assert main(["plot", str(tmp_path)]) == 2
    assert "no rows" in capsys.readouterr().err
