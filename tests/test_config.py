from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from cockpit.config import (
    BrokerKind,
    LogLevel,
    Settings,
    SettingsError,
    Theme,
    load_settings,
    resolve_home,
)


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cockpit_home_env_selects_the_data_folder(tmp_path: Path) -> None:
    assert resolve_home({"COCKPIT_HOME": str(tmp_path / "x")}) == (tmp_path / "x").resolve()


def test_default_home_is_platformdirs_user_data_dir() -> None:
    import platformdirs

    assert resolve_home({}) == Path(platformdirs.user_data_dir("cockpit", "Cockpit"))


def test_missing_file_gives_defaults_and_writes_a_commented_template(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    settings = load_settings(home)
    assert settings == Settings(home=home)
    assert settings.broker.kind is BrokerKind.PAPER
    assert settings.reconcile.interval_s == 12.0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    template = (home / "settings.toml").read_text()
    assert '# kind = "paper"' in template
    assert "# interval_s = 12.0" in template
    # The template itself must load back to the defaults.
    assert load_settings(home) == Settings(home=home)


def test_values_are_read_and_typed(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[broker]\nkind = "KITE"\napi_key = "abc"\n[ui]\ntheme = "dark"\n'
        '[paper]\nport = 8123\nspeed = 10\n[log]\nlevel = "debug"\n',
    )
    settings = load_settings(tmp_path)
    assert settings.broker.kind is BrokerKind.KITE
    assert settings.broker.api_key == "abc"
    assert settings.ui.theme is Theme.DARK
    assert settings.paper.port == 8123
    assert settings.paper.speed == 10.0
    assert isinstance(settings.paper.speed, float)
    assert settings.log.level is LogLevel.DEBUG
    assert settings.warnings == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[broker]\nkind = "kyte"\n',
            "[broker] kind = 'kyte' is invalid: expected one of 'paper', 'kite'",
        ),
        ('[paper]\nport = "80"\n', "[paper] port = '80' is invalid: expected a whole number"),
        ("[paper]\nport = 70000\n", "[paper] port = 70000 is too large: expected at most 65535"),
        (
            "[reconcile]\ninterval_s = 0.2\n",
            "[reconcile] interval_s = 0.2 is too small: expected at least 1",
        ),
        ("[paper]\nseed = true\n", "[paper] seed = True is invalid: expected a whole number"),
        ("broker = 3\n", "'broker' must be a table ([broker]), not int"),
    ],
)
def test_invalid_value_names_file_key_and_expectation(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    assert str(info.value) == f"{path}: {message}"


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[broker]\nkind = paper\n")
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    assert str(info.value).startswith(f"{path}: not valid TOML:")
    assert "line 2" in str(info.value)


def test_unknown_keys_warn_and_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, '[broker]\nkindd = "kite"\n[colours]\nx = 1\n')
    with caplog.at_level(logging.WARNING, logger="cockpit.config"):
        settings = load_settings(tmp_path)
    assert settings.broker.kind is BrokerKind.PAPER
    assert settings.warnings == (
        f"{path}: unknown key [broker] kindd ignored "
        "(known keys: kind, base_url, ws_url, api_key, request_timeout_s)",
        f"{path}: unknown section or key 'colours' ignored "
        "(known sections: broker, paper, ui, log, reconcile)",
    )
    assert [r.getMessage() for r in caplog.records] == list(settings.warnings)


def test_home_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "file"
    home.write_text("x")
    with pytest.raises(SettingsError, match="exists but is not a folder"):
        load_settings(home)
