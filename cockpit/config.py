"""Settings: where Cockpit keeps its data and what the trader configured in ``settings.toml``.

The data folder is ``COCKPIT_HOME`` when set, else platformdirs' user data dir. ``settings.toml``
in it is read into a typed, frozen :class:`Settings`; every key has a default, so a missing file
means defaults (and a commented template is written for the trader to edit). An invalid value
raises :class:`SettingsError` naming the file, the key and what is expected; an unknown key is
kept out and reported as a warning, never silently ignored. Secrets (API secret, access token)
never live here: they belong to the OS keyring.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.toml"
HOME_ENV = "COCKPIT_HOME"


class SettingsError(ValueError):
    """A settings value (or the file itself) is not usable; the message says where and why."""


class BrokerKind(enum.StrEnum):
    PAPER = "paper"
    KITE = "kite"


class Theme(enum.StrEnum):
    AUTO = "auto"
    LIGHT = "light"
    DARK = "dark"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def _bounded(low: float | None = None, high: float | None = None) -> dict[str, float | None]:
    return {"min": low, "max": high}


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Which broker the cockpit trades through. Secrets are in the keyring, not here."""

    kind: BrokerKind = BrokerKind.PAPER
    base_url: str = "https://api.kite.trade"
    ws_url: str = "wss://ws.kite.trade"
    api_key: str = ""
    request_timeout_s: float = field(default=7.0, metadata=_bounded(0.5, 60.0))


@dataclass(frozen=True, slots=True)
class PaperSettings:
    """The embedded paper exchange: a simulated NSE market on loopback."""

    host: str = "127.0.0.1"
    port: int = field(default=0, metadata=_bounded(0, 65535))  # 0: pick a free port
    seed: int = 20261124
    speed: float = field(default=1.0, metadata=_bounded(0.1, 1000.0))


@dataclass(frozen=True, slots=True)
class UiSettings:
    theme: Theme = Theme.AUTO
    # Repaints of live tables are coalesced to at most this rate.
    table_refresh_hz: int = field(default=8, metadata=_bounded(1, 30))


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: LogLevel = LogLevel.INFO
    keep_files: int = field(default=7, metadata=_bounded(1, 365))


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """Broker-wins reconciliation; the WebSocket is the fast path, this is the safety net."""

    interval_s: float = field(default=12.0, metadata=_bounded(1.0, 600.0))


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    paper: PaperSettings = field(default_factory=PaperSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    log: LogSettings = field(default_factory=LogSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    # Unknown keys found in the file, reported once at start-up (and shown in the log dock).
    warnings: tuple[str, ...] = ()

    @property
    def settings_path(self) -> Path:
        return self.home / SETTINGS_FILE

    @property
    def journal_path(self) -> Path:
        return self.home / "cockpit.db"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


_SECTIONS: dict[str, type[Any]] = {
    "broker": BrokerSettings,
    "paper": PaperSettings,
    "ui": UiSettings,
    "log": LogSettings,
    "reconcile": ReconcileSettings,
}


def resolve_home(environ: Mapping[str, str] | None = None) -> Path:
    """The data folder: ``COCKPIT_HOME`` if set, else platformdirs' user data dir."""
    env = os.environ if environ is None else environ
    raw = env.get(HOME_ENV, "").strip()
    if raw:
        return Path(raw).expanduser().resolve()
    return Path(platformdirs.user_data_dir("cockpit", "Cockpit"))


def ensure_home(home: Path) -> Path:
    """Create the data folder (private to the user) if it does not exist."""
    if home.exists() and not home.is_dir():
        raise SettingsError(f"the data folder {home} exists but is not a folder")
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"cannot create the data folder {home}: {exc.strerror}") from exc
    return home


def load_settings(home: Path | None = None) -> Settings:
    """Read ``settings.toml`` from ``home`` (defaults where keys are missing)."""
    home = ensure_home(home if home is not None else resolve_home())
    path = home / SETTINGS_FILE
    if not path.exists():
        write_template(path)
        return Settings(home=home)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror}") from exc
    return settings_from_mapping(raw, home=home, source=str(path))


def settings_from_mapping(raw: Mapping[str, Any], *, home: Path, source: str) -> Settings:
    """Build Settings from parsed TOML; ``source`` names the file in every message."""
    warnings: list[str] = []
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        section_type = _SECTIONS.get(name)
        if section_type is None:
            warnings.append(
                f"{source}: unknown section or key '{name}' ignored "
                f"(known sections: {', '.join(_SECTIONS)})"
            )
            continue
        if not isinstance(value, Mapping):
            raise SettingsError(
                f"{source}: '{name}' must be a table ([{name}]), not {type(value).__name__}"
            )
        sections[name] = _build_section(section_type, name, value, source, warnings)
    for message in warnings:
        log.warning("%s", message)
    return Settings(home=home, warnings=tuple(warnings), **sections)


def _build_section(
    cls: type[Any], section: str, values: Mapping[str, Any], source: str, warnings: list[str]
) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        fld = known.get(key)
        if fld is None:
            warnings.append(
                f"{source}: unknown key [{section}] {key} ignored (known keys: {', '.join(known)})"
            )
            continue
        where = f"{source}: [{section}] {key}"
        kwargs[key] = _coerce(hints[key], value, where)
        _check_bounds(fld, kwargs[key], where)
    return cls(**kwargs)


def _coerce(expected: Any, value: Any, where: str) -> Any:
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        allowed = [m.value for m in expected]
        if isinstance(value, str):
            for member in expected:
                if member.value.lower() == value.lower():
                    return member
        shown = ", ".join(repr(a) for a in allowed)
        raise SettingsError(f"{where} = {value!r} is invalid: expected one of {shown}")
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{where} = {value!r} is invalid: expected true or false")
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SettingsError(f"{where} = {value!r} is invalid: expected a whole number")
    if expected is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise SettingsError(f"{where} = {value!r} is invalid: expected a number")
    if expected is str:
        if isinstance(value, str):
            return value
        raise SettingsError(f"{where} = {value!r} is invalid: expected a string in quotes")
    if expected is Path:
        if isinstance(value, str) and value:
            return Path(value).expanduser()
        raise SettingsError(f"{where} = {value!r} is invalid: expected a path in quotes")
    raise TypeError(f"{where}: unsupported settings type {expected!r}")


def _check_bounds(fld: dataclasses.Field[Any], value: Any, where: str) -> None:
    low = fld.metadata.get("min")
    high = fld.metadata.get("max")
    if low is not None and value < low:
        raise SettingsError(f"{where} = {value!r} is too small: expected at least {low:g}")
    if high is not None and value > high:
        raise SettingsError(f"{where} = {value!r} is too large: expected at most {high:g}")


def write_template(path: Path) -> None:
    """Write a commented settings file listing every key with its default value."""
    lines = [
        "# Cockpit settings. Every key is optional; the value shown is the default.",
        "# Secrets (API secret, access token) are kept in the OS keyring, never here.",
        "",
    ]
    for name, cls in _SECTIONS.items():
        lines.append(f"[{name}]")
        for fld in dataclasses.fields(cls):
            default = fld.default if fld.default is not dataclasses.MISSING else None
            lines.append(f"# {fld.name} = {_toml_literal(default)}")
        lines.append("")
    try:
        path.write_text("\n".join(lines), encoding="utf-8")
    except OSError as exc:
        # Defaults still work; the template is a convenience.
        log.warning("could not write the settings template %s: %s", path, exc.strerror)


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return f'"{value.value}"'
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
