from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cockpit.domain.calendar import SessionState
from cockpit.reference_data import (
    RESOURCES_ENV,
    ReferenceDataError,
    holidays_path,
    load_calendar,
    load_holidays,
    resources_dir,
)

IST = ZoneInfo("Asia/Kolkata")
REPO = Path(__file__).resolve().parent.parent

# NSE/FAOP/71777 and NSE/CMTR/71775 (12 Dec 2025) plus 15 Jan (NSE/CMTR/72260, 12 Jan 2026).
NSE_2026 = {
    date(2026, 1, 15): "Municipal Corporation Election - Maharashtra",
    date(2026, 1, 26): "Republic Day",
    date(2026, 3, 3): "Holi",
    date(2026, 3, 26): "Shri Ram Navami",
    date(2026, 3, 31): "Shri Mahavir Jayanti",
    date(2026, 4, 3): "Good Friday",
    date(2026, 4, 14): "Dr. Baba Saheb Ambedkar Jayanti",
    date(2026, 5, 1): "Maharashtra Day",
    date(2026, 5, 28): "Bakri Id",
    date(2026, 6, 26): "Muharram",
    date(2026, 9, 14): "Ganesh Chaturthi",
    date(2026, 10, 2): "Mahatma Gandhi Jayanti",
    date(2026, 10, 20): "Dussehra",
    date(2026, 11, 10): "Diwali-Balipratipada",
    date(2026, 11, 24): "Prakash Gurpurb Sri Guru Nanak Dev",
    date(2026, 12, 25): "Christmas",
}
# NSE/CMTR/65587 (13 Dec 2024).
NSE_2025_DATES = [
    date(2025, 2, 26),
    date(2025, 3, 14),
    date(2025, 3, 31),
    date(2025, 4, 10),
    date(2025, 4, 14),
    date(2025, 4, 18),
    date(2025, 5, 1),
    date(2025, 8, 15),
    date(2025, 8, 27),
    date(2025, 10, 2),
    date(2025, 10, 21),
    date(2025, 10, 22),
    date(2025, 11, 5),
    date(2025, 12, 25),
]

HEADER = "date,description,segment,source\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "holidays.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


# --- finding resources/ --------------------------------------------------------------------


def test_resources_dir_is_next_to_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESOURCES_ENV, raising=False)
    assert resources_dir() == REPO / "resources"
    assert holidays_path() == REPO / "resources" / "nse" / "holidays.csv"


def test_resources_dir_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(RESOURCES_ENV, str(tmp_path))
    assert resources_dir() == tmp_path
    (tmp_path / "nse").mkdir()
    write(tmp_path / "nse", "2026-12-25,Christmas,CM+FO,test\n")
    assert load_holidays() == {date(2026, 12, 25): "Christmas"}


def test_resources_dir_rejects_a_missing_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(RESOURCES_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=f"{RESOURCES_ENV}=.*nowhere.* is not a directory"):
        resources_dir()


# --- the real file ---------------------------------------------------------------------------


def test_the_real_file_has_the_2026_nse_holidays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESOURCES_ENV, raising=False)
    holidays = load_holidays()
    in_2026 = {d: text for d, text in holidays.items() if d.year == 2026}
    assert in_2026 == NSE_2026


def test_the_real_file_has_the_2025_nse_holidays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESOURCES_ENV, raising=False)
    assert sorted(d for d in load_holidays() if d.year == 2025) == NSE_2025_DATES


def test_the_real_file_lists_weekdays_only_and_every_row_names_a_source() -> None:
    lines = (REPO / "resources" / "nse" / "holidays.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "date,description,segment,source"
    for line in lines[1:]:
        day = date.fromisoformat(line[:10])
        assert day.weekday() < 5, line
        assert "NSE/" in line, line


def test_today_2026_11_24_is_a_holiday_in_the_real_calendar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(RESOURCES_ENV, raising=False)
    cal = load_calendar()
    assert not cal.is_trading_day(date(2026, 11, 24))
    session = cal.session_state(datetime(2026, 11, 24, 10, 0, tzinfo=IST))
    assert session.state is SessionState.CLOSED
    assert session.reason == "holiday: Prakash Gurpurb Sri Guru Nanak Dev"
    assert cal.next_open(datetime(2026, 11, 24, 10, 0, tzinfo=IST)) == datetime(
        2026, 11, 25, 9, 15, tzinfo=IST
    )


def test_real_2026_expiries_move_off_holiday_tuesdays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESOURCES_ENV, raising=False)
    cal = load_calendar()
    assert cal.monthly_expiry(2026, 11) == date(2026, 11, 23)
    assert cal.monthly_expiry(2026, 12) == date(2026, 12, 29)
    assert cal.monthly_expiry(2026, 3) == date(2026, 3, 30)
    assert cal.weekly_expiries(date(2026, 10, 13), 2) == [date(2026, 10, 13), date(2026, 10, 19)]


# --- parse errors name the file, the line and the value ----------------------------------------


def test_a_bad_date_names_file_line_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-25,Christmas,CM+FO,x\n2026-13-01,Nonsense,CM+FO,x\n")
    with pytest.raises(ReferenceDataError) as error:
        load_holidays(path)
    assert str(error.value) == (f"{path}: line 3: date '2026-13-01': month must be in 1..12")


def test_a_non_iso_date_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "25-12-2026,Christmas,CM+FO,x\n")
    with pytest.raises(ReferenceDataError) as error:
        load_holidays(path)
    assert str(error.value) == f"{path}: line 2: date '25-12-2026' is not YYYY-MM-DD"


def test_a_duplicate_date_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-25,Christmas,CM+FO,x\n2026-12-25,Again,CM+FO,x\n")
    with pytest.raises(ReferenceDataError) as error:
        load_holidays(path)
    assert str(error.value) == f"{path}: line 3: 2026-12-25 is already listed on line 2"


def test_an_empty_field_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-25,Christmas,CM+FO,\n")
    with pytest.raises(ReferenceDataError) as error:
        load_holidays(path)
    assert str(error.value) == f"{path}: line 2: source is empty"


def test_an_unknown_segment_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-25,Christmas,MCX,x\n")
    with pytest.raises(ReferenceDataError) as error:
        load_holidays(path)
    assert str(error.value) == (f"{path}: line 2: segment 'MCX' names ['MCX']; use CM, FO or CM+FO")


def test_a_missing_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-25,Christmas,x\n", header="date,description,source\n")
    with pytest.raises(ReferenceDataError) as error:
        load_holidays(path)
    assert str(error.value) == (
        f"{path}: line 1: header ['date', 'description', 'source'] lacks column(s) ['segment']; "
        f"expected ['date', 'description', 'segment', 'source']"
    )


def test_an_extra_field_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-25,Christmas,CM+FO,x,extra\n")
    with pytest.raises(ReferenceDataError, match="line 2: more fields than the header's 4"):
        load_holidays(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"NSE holiday file not found: .*absent\.csv"):
        load_holidays(tmp_path / "absent.csv")


def test_segment_filter_keeps_only_rows_for_that_segment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "2026-12-24,Cash only,CM,x\n2026-12-25,Christmas,CM+FO,x\n2026-12-28,F&O only,FO,x\n",
    )
    assert set(load_holidays(path)) == {date(2026, 12, 25), date(2026, 12, 28)}
    assert set(load_holidays(path, segment="CM")) == {date(2026, 12, 24), date(2026, 12, 25)}
    assert load_calendar(path).is_trading_day(date(2026, 12, 24))
