"""`minigan study sweep`: a tiny grid in two worker processes writes the table (Markdown, CSV),
the per-run CSV and the heatmap from the runs' own summaries; bad axes are refused clearly."""

import csv
import json
import math

import pytest

from minigan.cli import main
from minigan.gan import config
from minigan.study import sweep

TINY = ["--set", "g_hidden=8", "--set", "d_hidden=8", "--set", "eval_samples=300",
        "--set", "log_every=10", "--set", "sample_every=0", "--set", "checkpoint_every=0"]


def run_cli(out, *extra):
    return main(["study", "sweep", "--preset", "grid25", "--set", "loss=ns,hinge", *TINY,
                 "--seeds", "1", "--steps", "30", "--jobs", "2", "--out", str(out), *extra])


def test_tiny_sweep_writes_the_table_from_the_runs(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert run_cli(out) == 0
    printed = capsys.readouterr()
    assert "[2/2]" in printed.err
    with open(out / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["loss"] for r in table] == ["ns", "hinge"]
    for row in table:
        run = out / f"loss-{row['loss']}" / "seed0"
        summary = json.loads((run / "summary.json").read_text())
        m = summary["metrics"]
        cfg = config.load_toml(run / "config.toml")
        assert cfg["loss"] == row["loss"] and cfg["steps"] == 30 and cfg["g_hidden"] == 8
        assert cfg["seed"] == 0
        assert float(row["modes_covered_mean"]) == m["modes_covered"]
        assert float(row["high_quality_mean"]) == pytest.approx(100 * m["high_quality"])
        kl = float(row["reverse_kl_mean"])
        assert kl == m["reverse_kl"] or (math.isinf(kl) and math.isinf(m["reverse_kl"]))
        assert row["verdict"] == summary["diagnosis"]["verdict"]
        assert row["verdicts"] == f"{row['verdict']} 1/1" and row["runs"] == "1"
        assert float(row["seconds_mean"]) == summary["train_seconds"]
    md = (out / "sweep.md").read_text().splitlines()
    body = [ln for ln in md if ln.startswith("| ns") or ln.startswith("| hinge")]
    assert len(body) == 2 and md[2].startswith("| loss | modes | HQ % | reverse KL | verdict")
    assert "g_hidden=8" in md[0]  # one-valued axes are the sweep's fixed settings
    with open(out / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert sorted((r["loss"], r["seed"]) for r in runs) == [("hinge", "0"), ("ns", "0")]
    import matplotlib.image

    img = matplotlib.image.imread(out / "sweep.png")
    assert img.ndim == 3 and img.shape[0] > 100 and img[..., :3].std() > 0
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["axes"] == {"loss": ["ns", "hinge"]} and len(doc["runs"]) == 2

    # The same command again reuses the finished runs and writes the same table.
    before = (out / "sweep.csv").read_text()
    assert run_cli(out) == 0
    assert "reused" in capsys.readouterr().err
    assert (out / "sweep.csv").read_text() == before


def test_a_different_config_in_the_output_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert run_cli(out) == 0
    capsys.readouterr()
    assert run_cli(out, "--set", "lr_g=0.01") == 2
    assert "holds a run with another config" in capsys.readouterr().err


def test_the_grid_is_the_cartesian_product_times_the_seeds(tmp_path):
    axes = sweep.parse_axes(["loss=ns,hinge,wgan-gp", "d_sn=on,off", "g_hidden=8"])
    assert axes == {"loss": ["ns", "hinge", "wgan-gp"], "d_sn": ["on", "off"],
                    "g_hidden": ["8"]}
    jobs = sweep.plan("grid25", axes, 3, 50, tmp_path)
    assert len(jobs) == 3 * 2 * 3
    seen = {(j["cfg"]["loss"], j["cfg"]["d_sn"], j["cfg"]["seed"]) for j in jobs}
    assert seen == {(lo, sn, s) for lo in ("ns", "hinge", "wgan-gp") for sn in (True, False)
                    for s in range(3)}
    assert all(j["cfg"]["steps"] == 50 and j["cfg"]["g_hidden"] == 8 for j in jobs)
    assert jobs[0]["point"] == {"loss": "ns", "d_sn": "on"}
    assert jobs[0]["dir"] == str(tmp_path / "loss-ns__d_sn-on" / "seed0")
    assert len({j["dir"] for j in jobs}) == len(jobs)


@pytest.mark.parametrize("items,match", [
    (["lossy=ns,hinge"], "unknown config key 'lossy'"),
    (["d_sn=on,maybe"], "d_sn"),
    (["lr_g=1e-3,fast"], "lr_g"),
    (["loss=ns,,hinge"], "empty value"),
    (["loss=ns,ns"], "repeated value"),
    (["loss=ns", "loss=hinge"], "given twice"),
    (["loss"], "expected key=value"),
    (["seed=1,2"], "--seeds"),
])
def test_bad_axes_are_refused_clearly(items, match):
    with pytest.raises(sweep.SweepError, match=match):
        sweep.parse_axes(items)


def test_bad_input_on_the_command_line_exits_2(tmp_path, capsys):
    base = ["study", "sweep", "--out", str(tmp_path / "s")]
    assert main([*base, "--set", "lossy=ns"]) == 2
    assert "unknown config key 'lossy'" in capsys.readouterr().err
    assert main([*base, "--set", "loss=ns", "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert main([*base, "--preset", "nope", "--set", "loss=ns"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main([*base, "--set", "loss=ns", *TINY, "--steps", "2", "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err
    assert not (tmp_path / "s" / "sweep.csv").exists()
