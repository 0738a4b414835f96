"""TOML config files: any bytes give a config or a ConfigError naming the file."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan.gan import config

SEED = b'loss = "hinge"\nsteps = 10\nlr_g = 2e-4\nd_sn = true\n'


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | st.lists(
    st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), min_size=1, max_size=5).map(
    lambda ms: bytes(b if i not in dict(ms) else dict(ms)[i] for i, b in enumerate(SEED))))
def test_fuzz_config_file(tmp_path, blob):
    p = tmp_path / "c.toml"
    p.write_bytes(blob)
    try:
        cfg = config.resolve(None, str(p), [])
    except config.ConfigError as e:
        assert "c.toml" in str(e) or "config key" in str(e) or "unknown config key" in str(e)
    else:
        assert isinstance(cfg, dict)


def test_deeply_nested_directory_and_unreadable_files(tmp_path):
    p = tmp_path / "deep.toml"
    p.write_text("v = " + "[" * 100000)
    with pytest.raises(config.ConfigError, match="deep.toml.*not valid TOML"):
        config.load_toml(p)
    with pytest.raises(config.ConfigError, match="is a directory"):
        config.load_toml(tmp_path)
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(config.ConfigError, match="deep.toml.*not valid TOML"):
        config.load_toml(p)
