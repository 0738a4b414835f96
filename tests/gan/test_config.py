import pytest

from minigan.gan import config


def test_default_preset_resolves_and_round_trips_through_toml(tmp_path):
    cfg = config.resolve()
    assert cfg["preset"] == "grid25" and cfg["dataset"] == "grid25"
    path = tmp_path / "c.toml"
    body = {k: v for k, v in cfg.items() if k != "preset"}
    path.write_text(config.to_toml(body))
    again = config.resolve(config_file=str(path))
    assert {k: again[k] for k in body} == body


def test_overrides_are_typed():
    cfg = config.resolve(overrides=["steps=50", "lr_g=0.002", "d_sn=on", "loss=hinge",
                                    "lr_d=1"])
    assert cfg["steps"] == 50 and cfg["lr_g"] == 0.002 and cfg["d_sn"] is True
    assert cfg["loss"] == "hinge" and isinstance(cfg["lr_d"], float)


@pytest.mark.parametrize("item, message", [
    ("stepz=5", "unknown config key 'stepz'; valid keys: dataset"),
    ("steps=fast", "expected int"),
    ("steps=2.5", "expected int"),
    ("steps=0", "positive integer"),
    ("r1_interval=0", "'r1_interval': expected a positive integer"),
    ("lr_g=nan", "finite"),
    ("d_sn=maybe", "expected bool"),
    ("steps", "expected key=value"),
])
def test_bad_overrides_name_the_key(item, message):
    with pytest.raises(config.ConfigError, match=message):
        config.resolve(overrides=[item])


def test_unknown_preset_and_bad_files(tmp_path):
    with pytest.raises(config.ConfigError, match="unknown preset 'nope'; available: .*grid25"):
        config.resolve("nope")
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.resolve(config_file=str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.resolve(config_file=str(bad))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('steps = "many"\n')
    with pytest.raises(config.ConfigError, match="'steps': expected int"):
        config.resolve(config_file=str(wrong))


def test_every_shipped_preset_is_valid():
    names = config.list_presets()
    assert "grid25" in names
    for name in names:
        cfg = config.resolve(name)
        assert cfg["preset"] == name
