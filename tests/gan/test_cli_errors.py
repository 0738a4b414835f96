"""User errors are one line on stderr and exit code 2, never a traceback, and leave nothing
behind: bad --out paths, unknown backends, sizes the machine cannot hold, CLI rough edges."""

import errno
import json
import pathlib

import numpy as np
import pytest

from minigan import backends
from minigan.cli import main
from minigan.gan import config, resources

TINY = ["--set", "g_hidden=16", "--set", "d_hidden=16", "--set", "log_every=5",
        "--set", "sample_every=0", "--set", "checkpoint_every=5", "--set", "eval_samples=300",
        "--quiet"]


def _err(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "run"
    assert main(["train", "--out", str(out), "--steps", "10", *TINY]) == 0
    return out


def test_train_out_at_a_file_under_a_file_and_read_only(tmp_path, capsys, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "--out", str(f), "--steps", "2", *TINY]) == 2
    assert "is a file, expected a directory" in _err(capsys)
    assert main(["train", "--out", str(f / "sub"), "--steps", "2", *TINY]) == 2
    assert "cannot create the run directory" in _err(capsys)

    def read_only(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
    assert main(["train", "--out", str(tmp_path / "ro"), "--steps", "2", *TINY]) == 2
    assert "Read-only file system" in _err(capsys)


def test_out_into_a_non_empty_directory_that_is_not_a_run_is_refused(tmp_path, capsys):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "cat.jpg").write_bytes(b"...")
    assert main(["train", "--out", str(d), "--steps", "2", *TINY]) == 2
    assert "not a minigan run" in _err(capsys)
    assert sorted(p.name for p in d.iterdir()) == ["cat.jpg"]


def test_bogus_backend_from_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINIGAN_BACKEND", "bogus")
    monkeypatch.setattr(backends, "_current", None)
    assert main(["train", "--out", str(tmp_path / "r"), "--steps", "2", *TINY]) == 2
    assert "MINIGAN_BACKEND='bogus'" in _err(capsys)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("var,value", [("MINIGAN_NUM_THREADS", "abc"),
                                       ("MINIGAN_NUM_THREADS", "0"),
                                       ("MINIGAN_NUM_THREADS", "99999999999"),
                                       ("MINIGAN_CUDA_TF32", "maybe")])
def test_bad_environment_variables_are_one_line_before_any_work(tmp_path, capsys, monkeypatch,
                                                               var, value):
    monkeypatch.setenv(var, value)
    for cmd in (["train", "--out", str(tmp_path / "r"), "--steps", "2", *TINY],
                ["sample", "--checkpoint", str(tmp_path / "r"), "--n", "4",
                 "--out", str(tmp_path / "s")]):
        assert main(cmd) == 2
        err = _err(capsys)
        assert err.startswith(f"minigan {cmd[0]}: error: {var}={value!r}: expected "), err
        assert err.count("\n") == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("setting,match", [
    ("batch_size=100000000", "'batch_size': this config needs about"),
    ("g_hidden=1000000000", "'g_hidden': this config needs about"),
    ("pack=1000", "'pack': PacGAN packs 1000"),
    ("n_critic=100000000000", "'n_critic': expected at most 1000"),
    ("lr_g=-1", "'lr_g': expected a learning rate > 0"),
])
def test_sizes_and_values_refused_before_anything_is_allocated(tmp_path, capsys, setting,
                                                               match, monkeypatch):
    monkeypatch.setattr(resources, "_physical_memory", lambda: 64 << 30)
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--steps", "2", *TINY, "--set", setting]) == 2
    assert match in _err(capsys)
    assert not out.exists()  # a refused config leaves no run directory


def test_refused_config_from_the_trainer_leaves_no_empty_directory(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--steps", "2", *TINY,
                 "--set", "model=dcgan"]) == 2  # 2-D data needs the mlp: the Trainer says so
    assert "needs model 'mlp'" in _err(capsys)
    assert not out.exists()


def test_estimate_accepts_every_preset():
    for name in config.list_presets():
        resources.check(config.resolve(name))


def test_resume_with_fewer_steps_than_reached_is_refused(run_dir, capsys):
    before = (run_dir / "config.toml").read_text()
    assert main(["train", "--resume", "--out", str(run_dir), "--steps", "4", "--quiet"]) == 2
    assert "already at step 10; pass --steps >= 10" in _err(capsys)
    assert (run_dir / "config.toml").read_text() == before


def test_sample_takes_a_run_directory_and_reports_bad_out(run_dir, tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(run_dir), "--n", "5",
                 "--out", str(tmp_path / "s.npy")]) == 0
    capsys.readouterr()
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["sample", "--checkpoint", str(run_dir), "--n", "5",
                 "--out", str(f / "s.npy")]) == 2
    assert "cannot write" in _err(capsys)
    assert main(["sample", "--checkpoint", str(run_dir), "--n", "5",
                 "--out", str(tmp_path)]) == 2
    (tmp_path / "d.npy").mkdir()
    assert main(["sample", "--checkpoint", str(run_dir), "--n", "5",
                 "--out", str(tmp_path / "d.npy")]) == 2
    assert "is a directory" in _err(capsys)
    assert main(["sample", "--checkpoint", str(tmp_path / "none"), "--n", "5",
                 "--out", str(tmp_path / "s.npy")]) == 2
    assert "does not exist" in _err(capsys)


def test_eval_prints_the_figures_train_printed_and_reports_unwritable_runs(run_dir, capsys,
                                                                          monkeypatch):
    summary = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert main(["eval", str(run_dir), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["metrics"]
    for key in ("modes_covered", "high_quality", "n_samples"):
        assert got[key] == summary[key], key

    def read_only(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(pathlib.Path, "write_text", read_only)
    assert main(["eval", str(run_dir)]) == 2
    assert "cannot write" in _err(capsys)


def test_list_presets_prints_whole_sentences(capsys):
    assert main(["train", "--list-presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(config.list_presets())
    assert all(line.rstrip().endswith(".") for line in lines), lines


def test_data_download_takes_out_like_every_command():
    from minigan.cli import build_parser

    args = build_parser().parse_args(["data", "download", "mnist", "--out", "d"])
    assert args.dir == "d"
    assert build_parser().parse_args(["data", "download", "mnist", "--dir", "e"]).dir == "e"


def test_sample_n_beyond_memory_is_refused_before_allocating(run_dir, tmp_path, capsys,
                                                             monkeypatch):
    # 10**12 2-D samples: 8 TB of float32 alone; refused by the estimate, nothing written.
    out = tmp_path / "s.npy"
    assert main(["sample", "--checkpoint", str(run_dir), "--n", str(10**12),
                 "--out", str(out)]) == 2
    err = _err(capsys)
    assert err.startswith("minigan sample: error: --n: 1,000,000,000,000 samples need about")
    assert "the samples alone 7,450.6 GiB" in err and "draw fewer" in err
    assert not out.exists()
    # The bound is this machine's memory: with 1 MiB, 100 samples' scatter picture is refused
    # (100 x (latent + G's activations + 200 B for the picture) > 1 MiB), 10 are drawn.
    cfg = config.resolve("grid25", overrides=["g_hidden=16", "d_hidden=16"])
    need = resources.sample_bytes(cfg, 100, 2, 4, 4 * cfg["z_dim"], "scatter")
    monkeypatch.setattr(resources, "_physical_memory", lambda: need - 1)
    assert main(["sample", "--checkpoint", str(run_dir), "--n", "100",
                 "--out", str(tmp_path / "s.png")]) == 2
    assert "a scatter picture of them" in _err(capsys)
    assert main(["sample", "--checkpoint", str(run_dir), "--n", "10",
                 "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (10, 2)


def test_sample_estimate_counts_what_sampling_holds():
    cfg = config.resolve("grid25")
    g_params, g_acts = resources._g_size(cfg)
    base = resources.sample_bytes(cfg, 0, 2, 4, 32, None)
    assert base == 2 * 4 * g_params
    # Linear in n: latents + G's activations + the samples, and the picture's share.
    assert resources.sample_bytes(cfg, 10, 2, 4, 32, None) == base + 10 * (32 + 4 * (g_acts + 2))
    assert (resources.sample_bytes(cfg, 10, 2, 4, 32, "scatter")
            == resources.sample_bytes(cfg, 10, 2, 4, 32, None) + 10 * 200)
    assert (resources.sample_bytes(cfg, 10, 784, 4, 32, "grid")
            == resources.sample_bytes(cfg, 10, 784, 4, 32, None) + 10 * 64 * 784)
