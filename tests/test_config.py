"""Settings: defaults < TOML < environment; unknown keys refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from floodwarn.cli import main
from floodwarn.config import load_settings
from floodwarn.errors import ConfigError


def test_defaults() -> None:
    s = load_settings(env={})
    assert s.cycle.interval_min == 10
    assert s.store.url.startswith("sqlite:///")
    assert s.api.host == "127.0.0.1"


def test_toml_then_environment_wins(tmp_path: Path) -> None:
    f = tmp_path / "fw.toml"
    f.write_text('[api]\nport = 9001\ntoken = "t"\n[warn]\nmargin_m = 0.2\n', encoding="utf-8")
    s = load_settings(f, env={"FLOODWARN_API__PORT": "9002"})
    assert s.api.port == 9002 and s.api.token == "t" and s.warn.margin_m == 0.2
    s2 = load_settings(env={"FLOODWARN_CONFIG": str(f), "FLOODWARN_LOGGING__JSON": "true"})
    assert s2.api.port == 9001 and s2.logging.json is True


def test_unknown_key_is_named(tmp_path: Path) -> None:
    f = tmp_path / "fw.toml"
    f.write_text("[api]\nprot = 9001\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(f, env={})
    assert "api.prot" in str(err.value) and str(f) in str(err.value)


def test_wrong_type_is_named() -> None:
    with pytest.raises(ConfigError, match="cycle.interval_min"):
        load_settings(env={"FLOODWARN_CYCLE__INTERVAL_MIN": "ten"})
    with pytest.raises(ConfigError, match="logging.json"):
        load_settings(env={"FLOODWARN_LOGGING__JSON": "maybe"})


def test_malformed_toml_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[api\nport = 1\n", encoding="utf-8")
    rc = main(["--config", str(f), "stations"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "invalid TOML" in err and str(f) in err and "Traceback" not in err


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings("/nonexistent/fw.toml", env={})
