from __future__ import annotations

import dataclasses
import logging
import re
import stat
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest

from cockpit.config import (
    BrokerKind,
    HedgingSettings,
    LogLevel,
    RiskSettings,
    Settings,
    SettingsError,
    ShockSettings,
    Theme,
    UiSettings,
    load_settings,
    resolve_home,
    settings_problems,
    settings_to_mapping,
    write_settings,
)
from cockpit.execution.hedger import HedgePolicy
from cockpit.risk.checks import ExpiryDayRule, RiskLimits


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
        "(known sections: broker, paper, ui, log, reconcile, execution, risk, shock)",
    )
    assert [r.getMessage() for r in caplog.records] == list(settings.warnings)


def test_home_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "file"
    home.write_text("x")
    with pytest.raises(SettingsError, match="exists but is not a folder"):
        load_settings(home)


# ---- [execution], [risk], [shock], [ui] and writing the file ---------------------------------


def test_new_sections_default_to_the_coordinators_and_checks_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "fresh")
    assert settings.execution == HedgingSettings(HedgePolicy.CONFIRM, 10.0)
    assert settings.risk.risk_limits() == RiskLimits()
    assert settings.ui.theme is Theme.SYSTEM
    assert settings.ui.sound is True
    template = (tmp_path / "fresh" / "settings.toml").read_text()
    assert '# hedge_policy = "confirm"' in template
    assert "# max_loss_per_day_inr = (not set: no limit)" in template
    assert "# expiry_day_cutoff = 14:30:00" in template
    assert "# iv_shocks_pct = [-30.0, -20.0, -10.0, 0.0, 10.0" in template


def test_default_shock_axes_are_the_grids_defaults() -> None:
    from cockpit.risk.shocks import DEFAULT_IV_SHOCKS, DEFAULT_PRICE_SHOCKS

    shock = ShockSettings()
    assert shock.price_shocks() == pytest.approx(DEFAULT_PRICE_SHOCKS)
    assert len(shock.price_shocks()) == 21
    assert shock.iv_shocks() == pytest.approx(DEFAULT_IV_SHOCKS)


def test_new_sections_are_read_and_typed(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[execution]\nhedge_policy = "AUTO"\nhedge_countdown_s = 15\n'
        "[risk]\nmax_loss_per_group_inr = 20000\nmax_loss_per_day_inr = 50000\n"
        'margin_buffer_pct = 12.5\nexpiry_day_rule = "no_entry"\nexpiry_day_cutoff = "13:05"\n'
        "[shock]\nprice_range_pct = 5\nprice_step_pct = 2.5\niv_shocks_pct = [50, -20, 0]\n"
        '[ui]\ntheme = "auto"\nsound = false\n',
    )
    settings = load_settings(tmp_path)
    assert settings.execution == HedgingSettings(HedgePolicy.AUTO, 15.0)
    assert settings.risk == RiskSettings(20000, 50000, 12.5, ExpiryDayRule.NO_ENTRY, time(13, 5))
    assert settings.risk.risk_limits() == RiskLimits(
        margin_buffer_pct=Decimal("12.5"),
        max_loss_per_group=2_000_000,
        max_loss_per_day=5_000_000,
        expiry_day_rule=ExpiryDayRule.NO_ENTRY,
        expiry_day_cutoff=time(13, 5),
    )
    assert settings.shock.iv_shocks_pct == (50.0, -20.0, 0.0)
    assert settings.shock.price_shocks() == (-0.05, -0.025, 0.0, 0.025, 0.05)
    assert settings.shock.iv_shocks() == (-0.2, 0.0, 0.5)
    # "auto" is what files written before the dialog said for the system's scheme.
    assert settings.ui == UiSettings(theme=Theme.SYSTEM, sound=False)
    assert settings.warnings == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[execution]\nhedge_policy = "yolo"\n',
            "[execution] hedge_policy = 'yolo' is invalid: expected one of 'auto', 'confirm'",
        ),
        (
            "[execution]\nhedge_countdown_s = 1\n",
            "[execution] hedge_countdown_s = 1 is too small: expected at least 3",
        ),
        (
            "[risk]\nmax_loss_per_day_inr = -5\n",
            "[risk] max_loss_per_day_inr = -5 is too small: expected at least 0",
        ),
        (
            "[risk]\nmax_loss_per_day_inr = 100.5\n",
            "[risk] max_loss_per_day_inr = 100.5 is invalid: expected a whole number",
        ),
        (
            "[risk]\nmax_loss_per_group_inr = 60000\nmax_loss_per_day_inr = 50000\n",
            "[risk] max_loss_per_group_inr = 60000 is too large: "
            "a group's limit cannot exceed the day's (₹50,000)",
        ),
        (
            '[risk]\nexpiry_day_cutoff = "16:00"\n',
            "[risk] expiry_day_cutoff = '16:00' is too large: expected at most 15:30",
        ),
        (
            '[risk]\nexpiry_day_cutoff = "half past two"\n',
            "[risk] expiry_day_cutoff = 'half past two' is invalid: "
            "expected a time of day like 14:30",
        ),
        (
            "[risk]\nmargin_buffer_pct = nan\n",
            "[risk] margin_buffer_pct = nan is invalid: expected a finite number",
        ),
        (
            "[shock]\nprice_range_pct = 2\nprice_step_pct = 3\n",
            "[shock] price_step_pct = 3.0 is too large: expected at most the price range (2%)",
        ),
        (
            "[shock]\nprice_range_pct = 50\nprice_step_pct = 0.1\n",
            "[shock] price_step_pct = 0.1 is too small for a ±50% range: "
            "1001 price columns, at most 201",
        ),
        (
            "[shock]\niv_shocks_pct = [-95, 0]\n",
            "[shock] iv_shocks_pct = [-95, 0] is invalid: -95 is too small: expected at least -90",
        ),
        (
            '[shock]\niv_shocks_pct = [10, "x"]\n',
            "[shock] iv_shocks_pct = [10, 'x'] is invalid: 'x' in the list: "
            "invalid: expected a number",
        ),
        (
            "[shock]\niv_shocks_pct = []\n",
            "[shock] iv_shocks_pct = [] is too short: expected at least 1 value",
        ),
        (
            "[shock]\niv_shocks_pct = [10, 0, 10]\n",
            "[shock] iv_shocks_pct = (10.0, 0.0, 10.0) is invalid: 10 is listed twice",
        ),
        ("[ui]\nsound = 1\n", "[ui] sound = 1 is invalid: expected true or false"),
        (
            '[broker]\napi_key = "ab c"\n',
            "[broker] api_key = 'ab c' is invalid: expected letters and digits only",
        ),
    ],
)
def test_invalid_new_values_name_file_key_and_expectation(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    assert str(info.value) == f"{path}: {message}"
    where = re.match(r"\[(\w+)\] (\w+) ", message)
    assert where is not None
    assert info.value.key == f"{where[1]}.{where[2]}"
    assert info.value.reason is not None
    assert message.endswith(info.value.reason)


def test_settings_problems_reports_every_field_at_once() -> None:
    problems = settings_problems(
        {
            "execution": {"hedge_countdown_s": 0.5, "hedge_policy": "confirm"},
            "risk": {"margin_buffer_pct": "ten", "max_loss_per_day_inr": 100},
            "shock": {"price_range_pct": 5.0, "price_step_pct": 6.0},
            "ui": {"theme": "dark"},
        }
    )
    assert problems == {
        "execution.hedge_countdown_s": "too small: expected at least 3",
        "risk.margin_buffer_pct": "invalid: expected a number",
        "shock.price_step_pct": "too large: expected at most the price range (5%)",
    }
    assert settings_problems(settings_to_mapping(Settings(home=Path("/x")))) == {}


def test_write_settings_is_private_and_loads_back_the_same(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = dataclasses.replace(
        load_settings(home),
        broker=dataclasses.replace(Settings(home=home).broker, kind=BrokerKind.KITE, api_key="k1"),
        execution=HedgingSettings(HedgePolicy.AUTO, 20.0),
        risk=RiskSettings(max_loss_per_day_inr=75000, expiry_day_cutoff=time(13, 0)),
        shock=ShockSettings(price_range_pct=7.5, price_step_pct=0.5, iv_shocks_pct=(-50.0, 25.0)),
        ui=UiSettings(theme=Theme.DARK, sound=False),
    )
    path = write_settings(settings)
    assert path == home / "settings.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "max_loss_per_day_inr = 75000" in text
    assert "# max_loss_per_group_inr = (not set: no limit)" in text
    assert 'hedge_policy = "auto"' in text
    assert "expiry_day_cutoff = 13:00:00" in text
    assert load_settings(home) == settings
    assert [p.name for p in home.iterdir() if p.name.endswith(".tmp")] == []


def test_write_settings_tightens_a_file_others_could_read(tmp_path: Path) -> None:
    path = write(tmp_path, '[ui]\ntheme = "light"\n')
    path.chmod(0o644)
    write_settings(load_settings(tmp_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_template_is_written_private(tmp_path: Path) -> None:
    load_settings(tmp_path / "fresh")
    assert stat.S_IMODE((tmp_path / "fresh" / "settings.toml").stat().st_mode) == 0o600


def test_strings_are_escaped_when_written(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    odd = dataclasses.replace(settings.broker, base_url='https://x/"q"\\')
    write_settings(dataclasses.replace(settings, broker=odd))
    assert load_settings(tmp_path).broker.base_url == 'https://x/"q"\\'
