"""Reference data on disk: finds the ``resources/`` folder and loads the dated NSE files in it.

The domain stays free of I/O; this module is where its reference files are read and turned
into domain values: ``resources/nse/holidays.csv`` into a holiday mapping and a
:class:`~cockpit.domain.calendar.TradingCalendar`. ``resources/`` sits next to the
``cockpit/`` package at the repository root; the ``COCKPIT_RESOURCES`` environment variable
points elsewhere (a packaged build, a test's temporary folder). Every parse error names the
file, the line and the offending value, because these files are edited by hand.
"""

from __future__ import annotations

import csv
import os
import re
from datetime import date
from pathlib import Path

from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.instruments import ContractSpecTable

RESOURCES_ENV = "COCKPIT_RESOURCES"
HOLIDAY_COLUMNS = ("date", "description", "segment", "source")
# Segments a row may name, joined with "+" ("CM+FO"): the capital market (equity) and the
# equity derivatives (F&O) segment. Cockpit trades F&O, so its calendar uses FO rows.
SEGMENTS = frozenset({"CM", "FO"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReferenceDataError(ValueError):
    """A reference file is malformed; the message names the file, line and value."""


def resources_dir() -> Path:
    """The ``resources/`` folder: ``$COCKPIT_RESOURCES`` if set, else ``<repo>/resources``."""
    override = os.environ.get(RESOURCES_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"{RESOURCES_ENV}={override!r} is not a directory; point it at a folder "
                f"laid out like the repository's resources/ (nse/holidays.csv, icons/ …)"
            )
        return path
    return Path(__file__).resolve().parent.parent / "resources"


def holidays_path() -> Path:
    return resources_dir() / "nse" / "holidays.csv"


def load_holidays(path: Path | None = None, *, segment: str = "FO") -> dict[date, str]:
    """Read the NSE holiday CSV into ``{date: description}`` for one segment (default F&O).

    Columns: ``date`` (ISO ``YYYY-MM-DD``), ``description``, ``segment`` (``CM``, ``FO`` or
    ``CM+FO``), ``source``; every field is required and a date may appear only once.
    """
    if segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {sorted(SEGMENTS)}, got {segment!r}")
    file = path if path is not None else holidays_path()
    try:
        handle = file.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"NSE holiday file not found: {file} (set {RESOURCES_ENV} to the folder that "
            f"holds nse/holidays.csv)"
        ) from None
    holidays: dict[date, str] = {}
    first_line: dict[date, int] = {}
    with handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        missing = [column for column in HOLIDAY_COLUMNS if column not in header]
        if missing:
            raise ReferenceDataError(
                f"{file}: line 1: header {list(header)} lacks column(s) {missing}; expected "
                f"{list(HOLIDAY_COLUMNS)}"
            )
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ReferenceDataError(
                    f"{file}: line {line}: more fields than the header's {len(header)} "
                    f"(unquoted comma?): {row[None]!r}"
                )
            values = {column: (row.get(column) or "").strip() for column in HOLIDAY_COLUMNS}
            for column, value in values.items():
                if not value:
                    raise ReferenceDataError(f"{file}: line {line}: {column} is empty")
            day = _parse_date(values["date"], file, line)
            segments = _parse_segments(values["segment"], file, line)
            if day in first_line:
                raise ReferenceDataError(
                    f"{file}: line {line}: {day.isoformat()} is already listed on line "
                    f"{first_line[day]}"
                )
            first_line[day] = line
            if segment in segments:
                holidays[day] = values["description"]
    return holidays


def _parse_date(text: str, file: Path, line: int) -> date:
    if not _ISO_DATE.fullmatch(text):
        raise ReferenceDataError(f"{file}: line {line}: date {text!r} is not YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise ReferenceDataError(f"{file}: line {line}: date {text!r}: {error}") from None


def _parse_segments(text: str, file: Path, line: int) -> frozenset[str]:
    parts = frozenset(part.strip() for part in text.split("+"))
    unknown = sorted(parts - SEGMENTS)
    if unknown:
        raise ReferenceDataError(
            f"{file}: line {line}: segment {text!r} names {unknown}; use CM, FO or CM+FO"
        )
    return parts


def load_calendar(path: Path | None = None) -> TradingCalendar:
    """The F&O trading calendar from the holiday file."""
    return TradingCalendar(load_holidays(path, segment="FO"))


def contract_specs_path() -> Path:
    return resources_dir() / "nse" / "contract_specs.csv"


def load_contract_specs(path: Path | None = None) -> ContractSpecTable:
    """Dated lot sizes and freeze limits; a malformed file raises ReferenceDataError naming it."""
    file = path or contract_specs_path()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReferenceDataError(f"{file}: cannot read contract specs: {exc.strerror}") from None
    try:
        return ContractSpecTable.from_csv(text)
    except ValueError as exc:
        raise ReferenceDataError(f"{file}: {exc}") from None
