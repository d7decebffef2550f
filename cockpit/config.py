"""Settings: where Cockpit keeps its data and what the trader configured in ``settings.toml``.

The data folder is ``COCKPIT_HOME`` when set, else platformdirs' user data dir. ``settings.toml``
in it is read into a typed, frozen :class:`Settings`; every key has a default, so a missing file
means defaults (and a commented template is written for the trader to edit). An invalid value
raises :class:`SettingsError` naming the file, the key and what is expected (its ``key`` and
``reason`` let the settings dialog show the same words at the field); an unknown key is kept
out and reported as a warning, never silently ignored. :func:`settings_problems` checks a
whole mapping and returns every problem at once; :func:`write_settings` writes the file back
(private to the user, 0600, replaced atomically). Secrets (API secret, access token) never live
here: they belong to the OS keyring (:mod:`cockpit.credentials`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import os
import re
import stat
import tempfile
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from cockpit.execution.hedger import HedgePolicy
from cockpit.risk.checks import ExpiryDayRule

if TYPE_CHECKING:
    from cockpit.risk.checks import RiskLimits

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.toml"
HOME_ENV = "COCKPIT_HOME"
PRIVATE_FILE_MODE = stat.S_IRUSR | stat.S_IWUSR  # 0600: the file says which broker and limits


class SettingsError(ValueError):
    """A settings value (or the file itself) is not usable; the message says where and why.

    For a bad value, ``key`` is ``"section.key"`` and ``reason`` the part a field can show
    (``"too small: expected at least 1"``)."""

    def __init__(self, message: str, *, key: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.key = key
        self.reason = reason


class BrokerKind(enum.StrEnum):
    PAPER = "paper"
    KITE = "kite"


class Theme(enum.StrEnum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"

    @classmethod
    def _missing_(cls, value: object) -> Theme | None:
        # Files written before the settings dialog said "auto" for the system's scheme.
        return cls.SYSTEM if isinstance(value, str) and value.lower() == "auto" else None


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def _bounded(low: Any = None, high: Any = None, **more: Any) -> dict[str, Any]:
    return {"min": low, "max": high, **more}


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Which broker the cockpit trades through. Secrets are in the keyring, not here."""

    kind: BrokerKind = BrokerKind.PAPER
    base_url: str = "https://api.kite.trade"
    ws_url: str = "wss://ws.kite.trade"
    # The Kite app's api_key is not a secret (it is in every login URL); letters and digits.
    api_key: str = field(default="", metadata={"pattern": "alphanumeric"})
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
    theme: Theme = Theme.SYSTEM
    # Repaints of live tables are coalesced to at most this rate.
    table_refresh_hz: int = field(default=8, metadata=_bounded(1, 30))
    # Play a sound with every CRITICAL alert (a naked short, a rejected hedge).
    sound: bool = True


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: LogLevel = LogLevel.INFO
    keep_files: int = field(default=7, metadata=_bounded(1, 365))


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """Broker-wins reconciliation; the WebSocket is the fast path, this is the safety net."""

    interval_s: float = field(default=12.0, metadata=_bounded(1.0, 600.0))


@dataclass(frozen=True, slots=True)
class HedgingSettings:
    """The ``[execution]`` section: how an uncovered short is hedged. ``confirm`` shows the
    proposal and sends it when the countdown ends unless the trader holds; ``auto`` sends at
    once. Under 3 s nobody can read the proposal; over 60 s a short stays naked too long."""

    hedge_policy: HedgePolicy = HedgePolicy.CONFIRM
    hedge_countdown_s: float = field(default=10.0, metadata=_bounded(3.0, 60.0))


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """The ``[risk]`` section: the trader's own limits (soft: an override with a reason lifts
    them), in whole rupees. A missing ``max_loss_*`` key means no limit. Mirrors
    :class:`cockpit.risk.checks.RiskLimits`; :meth:`risk_limits` builds one."""

    max_loss_per_group_inr: int | None = field(default=None, metadata=_bounded(0))
    max_loss_per_day_inr: int | None = field(default=None, metadata=_bounded(0))
    margin_buffer_pct: float = field(default=10.0, metadata=_bounded(0.0, 100.0))
    expiry_day_rule: ExpiryDayRule = ExpiryDayRule.NO_SHORT_AFTER_CUTOFF
    expiry_day_cutoff: time = field(
        default=time(14, 30), metadata=_bounded(time(9, 15), time(15, 30))
    )

    def cross_check(self) -> list[tuple[str, str]]:
        group, day = self.max_loss_per_group_inr, self.max_loss_per_day_inr
        if group is not None and day is not None and group > day:
            return [
                (
                    "max_loss_per_group_inr",
                    f"too large: a group's limit cannot exceed the day's (₹{day:,})",
                )
            ]
        return []

    def risk_limits(self) -> RiskLimits:
        """These limits as the pre-trade checks take them (money in paise)."""
        from cockpit.domain.money import Paise
        from cockpit.risk.checks import RiskLimits

        def paise(rupees: int | None) -> Paise | None:
            return None if rupees is None else Paise(rupees * 100)

        return RiskLimits(
            margin_buffer_pct=Decimal(repr(self.margin_buffer_pct)),
            max_loss_per_group=paise(self.max_loss_per_group_inr),
            max_loss_per_day=paise(self.max_loss_per_day_inr),
            expiry_day_rule=self.expiry_day_rule,
            expiry_day_cutoff=self.expiry_day_cutoff,
        )


MAX_PRICE_COLUMNS = 201
MAX_IV_SHOCKS = 25


@dataclass(frozen=True, slots=True)
class ShockSettings:
    """The ``[shock]`` section: the margin shock grid's axes, in percent. Price shocks run from
    −range to +range in steps of ``price_step_pct`` (zero included); IV shocks are relative
    (−30 means implied volatility × 0.7)."""

    price_range_pct: float = field(default=10.0, metadata=_bounded(0.5, 50.0))
    price_step_pct: float = field(default=1.0, metadata=_bounded(0.1, 10.0))
    iv_shocks_pct: tuple[float, ...] = field(
        default=(
            -30.0,
            -20.0,
            -10.0,
            0.0,
            10.0,
            20.0,
            30.0,
            40.0,
            50.0,
            60.0,
            70.0,
            80.0,
            90.0,
            100.0,
        ),
        metadata={"item_min": -90.0, "item_max": 500.0, "min_items": 1, "max_items": MAX_IV_SHOCKS},
    )

    def cross_check(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if self.price_step_pct > self.price_range_pct:
            problems.append(
                (
                    "price_step_pct",
                    f"too large: expected at most the price range ({self.price_range_pct:g}%)",
                )
            )
        elif self.price_columns() > MAX_PRICE_COLUMNS:
            problems.append(
                (
                    "price_step_pct",
                    f"too small for a ±{self.price_range_pct:g}% range: "
                    f"{self.price_columns()} price columns, at most {MAX_PRICE_COLUMNS}",
                )
            )
        seen: set[float] = set()
        for shock in self.iv_shocks_pct:
            if shock in seen:
                problems.append(("iv_shocks_pct", f"invalid: {shock:g} is listed twice"))
                break
            seen.add(shock)
        return problems

    def price_columns(self) -> int:
        return 2 * math.floor(self.price_range_pct / self.price_step_pct + 1e-9) + 1

    def price_shocks(self) -> tuple[float, ...]:
        """Relative price shocks (fractions, ascending, zero included) for the shock grid."""
        n = (self.price_columns() - 1) // 2
        return tuple(round(k * self.price_step_pct, 10) / 100 for k in range(-n, n + 1))

    def iv_shocks(self) -> tuple[float, ...]:
        """Relative IV shocks (fractions, ascending) for the shock grid."""
        return tuple(s / 100 for s in sorted(self.iv_shocks_pct))


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    paper: PaperSettings = field(default_factory=PaperSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    log: LogSettings = field(default_factory=LogSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    execution: HedgingSettings = field(default_factory=HedgingSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    shock: ShockSettings = field(default_factory=ShockSettings)
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
    "execution": HedgingSettings,
    "risk": RiskSettings,
    "shock": ShockSettings,
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


def settings_problems(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Every invalid value in ``raw`` (sections of keys, as TOML would give them), as
    ``{"section.key": reason}``; empty when :func:`settings_from_mapping` would accept it.
    A section whose own values are valid is also checked as a whole (a step larger than its
    range, a group limit above the day's)."""
    problems: dict[str, str] = {}
    for name, values in raw.items():
        cls = _SECTIONS.get(name)
        if cls is None:
            problems[name] = f"unknown section (known sections: {', '.join(_SECTIONS)})"
            continue
        try:
            _build_section(cls, name, values, name, [], collect=problems)
        except SettingsError as exc:
            if exc.key is not None and exc.reason is not None:
                problems.setdefault(exc.key, exc.reason)
    return problems


def _build_section(
    cls: type[Any],
    section: str,
    values: Mapping[str, Any],
    source: str,
    warnings: list[str],
    *,
    collect: dict[str, str] | None = None,
) -> Any:
    """The section's dataclass from ``values``. Raises :class:`SettingsError` on the first
    invalid value, unless ``collect`` is given: then every per-key problem goes there (and
    the section is not built)."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        fld = known.get(key)
        if fld is None:
            warnings.append(
                f"{source}: unknown key [{section}] {key} ignored (known keys: {', '.join(known)})"
            )
            if collect is not None:
                collect[f"{section}.{key}"] = f"unknown key (known keys: {', '.join(known)})"
            continue
        try:
            kwargs[key] = _checked(hints[key], fld, value)
        except _InvalidValueError as bad:
            error = SettingsError(
                f"{source}: [{section}] {key} = {value!r} is {bad.reason}",
                key=f"{section}.{key}",
                reason=bad.reason,
            )
            if collect is None:
                raise error from None
            collect[f"{section}.{key}"] = bad.reason
    if collect is not None and any(k.startswith(f"{section}.") for k in collect):
        return None
    built = cls(**kwargs)
    cross_check = getattr(built, "cross_check", None)
    if cross_check is not None:
        for key, reason in cross_check():
            error = SettingsError(
                f"{source}: [{section}] {key} = {getattr(built, key)!r} is {reason}",
                key=f"{section}.{key}",
                reason=reason,
            )
            if collect is None:
                raise error
            collect.setdefault(f"{section}.{key}", reason)
    return built


_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]*")


class _InvalidValueError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _checked(expected: Any, fld: dataclasses.Field[Any], value: Any) -> Any:
    coerced = _coerce(expected, value)
    if isinstance(coerced, tuple):
        _check_items(fld, coerced)
    elif coerced is not None:
        _check_bounds(fld.metadata, coerced)
    if fld.metadata.get("pattern") == "alphanumeric" and not _ALPHANUMERIC.fullmatch(coerced):
        raise _InvalidValueError("invalid: expected letters and digits only")
    return coerced


def _coerce(expected: Any, value: Any) -> Any:
    origin = typing.get_origin(expected)
    if origin is types.UnionType or origin is typing.Union:
        # ``X | None``: a key that is present has a value; absence is what means None.
        (inner,) = [a for a in typing.get_args(expected) if a is not type(None)]
        return _coerce(inner, value)
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(expected)
        if not isinstance(value, list | tuple):
            raise _InvalidValueError("invalid: expected a list like [-10, 0, 10]")
        items: list[Any] = []
        for item in value:
            try:
                items.append(_coerce(item_type, item))
            except _InvalidValueError as bad:
                raise _InvalidValueError(f"invalid: {item!r} in the list: {bad.reason}") from None
        return tuple(items)
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        if isinstance(value, str):
            for member in expected:
                if member.value.lower() == value.lower():
                    return member
            try:
                return expected(value)  # aliases (an enum's _missing_)
            except ValueError:
                pass
        shown = ", ".join(repr(m.value) for m in expected)
        raise _InvalidValueError(f"invalid: expected one of {shown}")
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise _InvalidValueError("invalid: expected true or false")
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _InvalidValueError("invalid: expected a whole number")
    if expected is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise _InvalidValueError("invalid: expected a finite number")
            return float(value)
        raise _InvalidValueError("invalid: expected a number")
    if expected is str:
        if isinstance(value, str):
            return value
        raise _InvalidValueError("invalid: expected a string in quotes")
    if expected is Path:
        if isinstance(value, str) and value:
            return Path(value).expanduser()
        raise _InvalidValueError("invalid: expected a path in quotes")
    if expected is time:
        return _coerce_time(value)
    raise TypeError(f"unsupported settings type {expected!r}")


def _coerce_time(value: Any) -> time:
    if isinstance(value, time) and value.tzinfo is None:
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str):
        try:
            hours, minutes = value.strip().split(":")
            return time(int(hours), int(minutes))
        except ValueError:
            pass
    raise _InvalidValueError("invalid: expected a time of day like 14:30")


def _shown(bound: Any) -> str:
    if isinstance(bound, time):
        return bound.strftime("%H:%M")
    return f"{bound:g}"


def _check_bounds(metadata: Mapping[str, Any], value: Any, *, prefix: str = "") -> None:
    low = metadata.get("min")
    high = metadata.get("max")
    if low is not None and value < low:
        raise _InvalidValueError(f"{prefix}too small: expected at least {_shown(low)}")
    if high is not None and value > high:
        raise _InvalidValueError(f"{prefix}too large: expected at most {_shown(high)}")


def _check_items(fld: dataclasses.Field[Any], items: tuple[Any, ...]) -> None:
    meta = fld.metadata
    fewest, most = meta.get("min_items"), meta.get("max_items")
    if fewest is not None and len(items) < fewest:
        raise _InvalidValueError(
            f"too short: expected at least {fewest} value{'s' * (fewest != 1)}"
        )
    if most is not None and len(items) > most:
        raise _InvalidValueError(f"too long: {len(items)} values, expected at most {most}")
    bounds = {"min": meta.get("item_min"), "max": meta.get("item_max")}
    for item in items:
        try:
            _check_bounds(bounds, item)
        except _InvalidValueError as bad:
            raise _InvalidValueError(f"invalid: {item:g} is {bad.reason}") from None


def settings_to_mapping(settings: Settings) -> dict[str, dict[str, Any]]:
    """``settings`` as the sections and keys of ``settings.toml`` (a ``None`` value — no
    limit — is left out, which is how the file says it)."""
    out: dict[str, dict[str, Any]] = {}
    for name in _SECTIONS:
        section = getattr(settings, name)
        out[name] = {
            f.name: getattr(section, f.name)
            for f in dataclasses.fields(section)
            if getattr(section, f.name) is not None
        }
    return out


def write_settings(settings: Settings) -> Path:
    """Write every section of ``settings`` to its ``settings.toml`` (0600, replaced
    atomically: a crash leaves the old file or the new one, never half of one). Comments the
    trader added by hand and keys the loader ignored are not kept."""
    ensure_home(settings.home)
    path = settings.settings_path
    lines = [
        "# Cockpit settings, written by Cockpit (File → Settings…). Every key is optional.",
        "# Secrets (API secret, access token) are kept in the OS keyring, never here.",
        "",
    ]
    values = settings_to_mapping(settings)
    for name, cls in _SECTIONS.items():
        lines.append(f"[{name}]")
        for fld in dataclasses.fields(cls):
            if fld.name in values[name]:
                lines.append(f"{fld.name} = {_toml_literal(values[name][fld.name])}")
            else:
                lines.append(f"# {fld.name} = (not set: no limit)")
        lines.append("")
    _write_private(path, "\n".join(lines))
    log.info("settings written to %s", path)
    return path


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
            shown = "(not set: no limit)" if default is None else _toml_literal(default)
            lines.append(f"# {fld.name} = {shown}")
        lines.append("")
    try:
        _write_private(path, "\n".join(lines))
    except SettingsError as exc:
        # Defaults still work; the template is a convenience.
        log.warning("could not write the settings template: %s", exc)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 through a temporary file in the same folder
    (created 0600, so the content is never readable by others, not even for a moment)."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be written: {exc.strerror}") from exc
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise SettingsError(f"{path}: cannot be written: {exc.strerror}") from exc


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return json.dumps(value.value, ensure_ascii=False)
    if isinstance(value, str | Path):
        # A JSON string is a TOML basic string (same escapes).
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_literal(item) for item in value) + "]"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SettingsError(f"cannot write {value!r} to settings: not a finite number")
        return repr(value)
    return str(value)
