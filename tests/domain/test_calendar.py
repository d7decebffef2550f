from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.domain.calendar import (
    IST,
    Expiry,
    MarketSession,
    SessionState,
    TradingCalendar,
)

GURPURB = "Prakash Gurpurb Sri Guru Nanak Dev"

# A small synthetic list, so these tests pin the rules and not the data file (the real file
# is checked in tests/test_reference_data.py).
HOLIDAYS = {
    date(2026, 3, 3): "Holi",
    date(2026, 3, 31): "Shri Mahavir Jayanti",
    date(2026, 11, 10): "Diwali-Balipratipada",
    date(2026, 11, 24): GURPURB,
    date(2026, 12, 25): "Christmas",
}


@pytest.fixture
def cal() -> TradingCalendar:
    return TradingCalendar(HOLIDAYS)


def ist(day: tuple[int, int, int], hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(*day, hour, minute, second, tzinfo=IST)


# --- trading days ---------------------------------------------------------------------------


def test_a_holiday_is_not_a_trading_day(cal: TradingCalendar) -> None:
    assert not cal.is_trading_day(date(2026, 11, 24))
    assert cal.holiday(date(2026, 11, 24)) == GURPURB
    assert cal.closed_reason(date(2026, 11, 24)) == f"holiday: {GURPURB}"


def test_weekends_are_closed(cal: TradingCalendar) -> None:
    assert not cal.is_trading_day(date(2026, 11, 28))  # Saturday
    assert not cal.is_trading_day(date(2026, 11, 29))  # Sunday
    assert cal.closed_reason(date(2026, 11, 28)) == "weekend"


def test_an_ordinary_weekday_trades(cal: TradingCalendar) -> None:
    assert cal.is_trading_day(date(2026, 11, 25))
    assert cal.closed_reason(date(2026, 11, 25)) is None
    assert cal.holiday(date(2026, 11, 25)) is None


def test_previous_and_next_trading_day_skip_holidays_and_weekends(cal: TradingCalendar) -> None:
    assert cal.previous_trading_day(date(2026, 11, 25)) == date(2026, 11, 23)
    assert cal.next_trading_day(date(2026, 11, 23)) == date(2026, 11, 25)
    assert cal.next_trading_day(date(2026, 11, 27)) == date(2026, 11, 30)  # Fri → Mon
    assert cal.previous_trading_day(date(2026, 11, 30)) == date(2026, 11, 27)
    assert cal.next_trading_day(date(2026, 12, 24)) == date(2026, 12, 28)  # over Christmas


def test_holiday_list_must_hold_dates_with_descriptions() -> None:
    with pytest.raises(ValueError, match="holiday 2026-11-24 needs a description"):
        TradingCalendar({date(2026, 11, 24): " "})
    with pytest.raises(TypeError, match="needs a date, got datetime"):
        TradingCalendar({ist((2026, 11, 24), 0, 0): "x"})


def test_covers_only_the_years_of_the_list(cal: TradingCalendar) -> None:
    assert cal.covers(date(2026, 1, 1))
    assert not cal.covers(date(2027, 1, 1))


def test_holidays_are_read_only(cal: TradingCalendar) -> None:
    with pytest.raises(TypeError):
        cal.holidays[date(2026, 1, 1)] = "x"  # type: ignore[index]
    assert list(cal.holidays) == sorted(HOLIDAYS)


# --- session state --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "state", "reason"),
    [
        (time(8, 59, 59), SessionState.CLOSED, "before pre-open (09:00)"),
        (time(9, 0, 0), SessionState.PRE_OPEN, "order entry until 09:08"),
        (time(9, 7, 59), SessionState.PRE_OPEN, "order entry until 09:08"),
        (time(9, 8, 0), SessionState.PRE_OPEN, "matching; opens 09:15"),
        (time(9, 14, 0), SessionState.PRE_OPEN, "matching; opens 09:15"),
        (time(9, 14, 59), SessionState.PRE_OPEN, "matching; opens 09:15"),
        (time(9, 15, 0), SessionState.OPEN, "until 15:30"),
        (time(15, 29, 59), SessionState.OPEN, "until 15:30"),
        (time(15, 30, 0), SessionState.CLOSED, "after close"),
        (time(15, 31, 0), SessionState.CLOSED, "after close"),
    ],
)
def test_session_state_through_a_trading_day(
    cal: TradingCalendar, clock: time, state: SessionState, reason: str
) -> None:
    now = datetime.combine(date(2026, 11, 25), clock, tzinfo=IST)
    assert cal.session_state(now) == MarketSession(state, reason)


def test_session_state_on_a_holiday_and_a_weekend(cal: TradingCalendar) -> None:
    holiday = cal.session_state(ist((2026, 11, 24), 10, 0))
    assert holiday == MarketSession(SessionState.CLOSED, f"holiday: {GURPURB}")
    assert holiday.label == "Closed"
    weekend = cal.session_state(ist((2026, 11, 28), 10, 0))
    assert weekend == MarketSession(SessionState.CLOSED, "weekend")


def test_session_labels() -> None:
    assert MarketSession(SessionState.OPEN, "").label == "Open"
    assert MarketSession(SessionState.PRE_OPEN, "").label == "Pre-open"
    assert MarketSession(SessionState.OPEN, "").is_open
    assert not MarketSession(SessionState.PRE_OPEN, "").is_open


def test_session_state_judges_other_zones_in_ist(cal: TradingCalendar) -> None:
    # 03:45 UTC is 09:15 IST.
    assert cal.session_state(datetime(2026, 11, 25, 3, 45, tzinfo=UTC)).is_open
    assert not cal.session_state(datetime(2026, 11, 25, 3, 44, tzinfo=UTC)).is_open
    # 20:00 UTC on the 23rd is 01:30 IST on the 24th, a holiday.
    late = cal.session_state(datetime(2026, 11, 23, 20, 0, tzinfo=UTC))
    assert late.reason == f"holiday: {GURPURB}"


def test_naive_datetimes_are_refused(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError) as error:
        cal.session_state(datetime(2026, 11, 25, 10, 0))
    assert str(error.value) == (
        "session_state needs a timezone-aware datetime, got naive 2026-11-25T10:00:00; "
        "attach a zone (e.g. ZoneInfo('Asia/Kolkata'))"
    )
    with pytest.raises(ValueError, match="next_open needs a timezone-aware datetime"):
        cal.next_open(datetime(2026, 11, 25, 10, 0))


def test_next_open(cal: TradingCalendar) -> None:
    assert cal.next_open(ist((2026, 11, 25), 8, 0)) == ist((2026, 11, 25), 9, 15)
    assert cal.next_open(ist((2026, 11, 25), 9, 14, 59)) == ist((2026, 11, 25), 9, 15)
    assert cal.next_open(ist((2026, 11, 25), 9, 15)) == ist((2026, 11, 26), 9, 15)
    assert cal.next_open(ist((2026, 11, 23), 16, 0)) == ist(
        (2026, 11, 25), 9, 15
    )  # over the holiday
    assert cal.next_open(ist((2026, 11, 24), 10, 0)) == ist((2026, 11, 25), 9, 15)
    assert cal.next_open(ist((2026, 11, 27), 15, 30)) == ist((2026, 11, 30), 9, 15)  # weekend
    assert cal.next_open(ist((2026, 11, 25), 9, 15)).tzinfo is IST


# --- expiries ---------------------------------------------------------------------------------


def test_monthly_expiry_is_the_last_tuesday(cal: TradingCalendar) -> None:
    assert cal.monthly_expiry(2026, 12) == date(2026, 12, 29)
    assert cal.monthly_expiry(2026, 12).weekday() == 1
    assert cal.monthly_expiry(2026, 9) == date(2026, 9, 29)
    assert cal.monthly_expiry(2025, 9) == date(2025, 9, 30)
    assert cal.monthly_expiry(2027, 2) == date(2027, 2, 23)


def test_monthly_expiry_on_a_holiday_moves_to_the_previous_trading_day(
    cal: TradingCalendar,
) -> None:
    # Last Tuesdays that are holidays in this list: 31 Mar 2026 and 24 Nov 2026.
    assert cal.monthly_expiry(2026, 3) == date(2026, 3, 30)
    assert cal.monthly_expiry(2026, 11) == date(2026, 11, 23)


def test_monthly_expiry_skips_back_over_a_long_weekend() -> None:
    # Synthetic: the last Tuesday and the Monday before it are holidays, then a weekend,
    # then Christmas on the Friday → Thursday 24 Dec.
    cal = TradingCalendar(
        {
            date(2026, 12, 29): "Synthetic A",
            date(2026, 12, 28): "Synthetic B",
            date(2026, 12, 25): "Christmas",
        }
    )
    assert cal.monthly_expiry(2026, 12) == date(2026, 12, 24)
    without_christmas = TradingCalendar(
        {date(2026, 12, 29): "Synthetic A", date(2026, 12, 28): "Synthetic B"}
    )
    assert without_christmas.monthly_expiry(2026, 12) == date(2026, 12, 25)


def test_expiries_before_the_tuesday_rules_are_refused(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError) as error:
        cal.monthly_expiry(2025, 8)
    assert str(error.value) == (
        "monthly_expiry: 2025-08-26 is before 2025-09-01, when NSE moved expiries to Tuesday; "
        "earlier (Thursday) expiry rules are not supported"
    )
    with pytest.raises(ValueError, match="weekly_expiries: 2025-08-31 is before 2025-09-01"):
        cal.weekly_expiries(date(2025, 8, 31), 1)
    with pytest.raises(ValueError, match="expiry_calendar: 2024-12-01 is before 2025-09-01"):
        cal.expiry_calendar("NIFTY", date(2024, 12, 1))


def test_monthly_expiry_rejects_a_bad_month(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="month must be 1-12, got 13"):
        cal.monthly_expiry(2026, 13)


def test_weekly_expiries_are_every_tuesday(cal: TradingCalendar) -> None:
    assert cal.weekly_expiries(date(2026, 12, 1), 5) == [
        date(2026, 12, 1),
        date(2026, 12, 8),
        date(2026, 12, 15),
        date(2026, 12, 22),
        date(2026, 12, 29),
    ]
    assert cal.weekly_expiries(date(2026, 12, 2), 1) == [date(2026, 12, 8)]
    assert cal.weekly_expiries(date(2026, 12, 2), 0) == []


def test_weekly_expiry_on_a_holiday_tuesday_moves_to_monday(cal: TradingCalendar) -> None:
    assert cal.weekly_expiries(date(2026, 11, 2), 4) == [
        date(2026, 11, 3),
        date(2026, 11, 9),  # Tue 10 Nov Diwali-Balipratipada
        date(2026, 11, 17),
        date(2026, 11, 23),  # Tue 24 Nov Guru Nanak Jayanti
    ]


def test_weekly_expiries_from_a_holiday_tuesday_start_after_it(cal: TradingCalendar) -> None:
    # On Tue 24 Nov the week's expiry (Mon 23 Nov) has already passed.
    assert cal.weekly_expiries(date(2026, 11, 24), 2) == [date(2026, 12, 1), date(2026, 12, 8)]
    # On Mon 23 Nov it is today.
    assert cal.weekly_expiries(date(2026, 11, 23), 1) == [date(2026, 11, 23)]


def test_weekly_expiries_rejects_a_negative_count(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="count must be a whole number ≥ 0, got -1"):
        cal.weekly_expiries(date(2026, 12, 1), -1)


def test_nifty_expiry_calendar_flags_the_monthly_contracts(cal: TradingCalendar) -> None:
    expiries = cal.expiry_calendar("nifty", date(2026, 11, 12), months=2)
    assert expiries == [
        Expiry("NIFTY", date(2026, 11, 17), False, True),
        Expiry("NIFTY", date(2026, 11, 23), True, True),
        Expiry("NIFTY", date(2026, 12, 1), False, True),
        Expiry("NIFTY", date(2026, 12, 8), False, True),
        Expiry("NIFTY", date(2026, 12, 15), False, True),
        Expiry("NIFTY", date(2026, 12, 22), False, True),
        Expiry("NIFTY", date(2026, 12, 29), True, True),
    ]


def test_other_underlyings_have_monthly_expiries_only(cal: TradingCalendar) -> None:
    assert cal.expiry_calendar("BANKNIFTY", date(2026, 11, 24)) == [
        Expiry("BANKNIFTY", date(2026, 12, 29), True, True),
        Expiry("BANKNIFTY", date(2027, 1, 26), True, False),
        Expiry("BANKNIFTY", date(2027, 2, 23), True, False),
    ]
    assert cal.expiry_calendar("RELIANCE", date(2026, 11, 23), months=1) == [
        Expiry("RELIANCE", date(2026, 11, 23), True, True)
    ]


def test_expiry_calendar_flags_years_without_a_holiday_list(cal: TradingCalendar) -> None:
    # 26 Jan 2027 is a Tuesday and Republic Day, but the list does not cover 2027 yet.
    january = cal.expiry_calendar("BANKNIFTY", date(2027, 1, 1), months=1)
    assert january == [Expiry("BANKNIFTY", date(2027, 1, 26), True, False)]


def test_expiry_calendar_rejects_bad_arguments(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="months must be a whole number ≥ 1, got 0"):
        cal.expiry_calendar("NIFTY", date(2026, 12, 1), months=0)
    with pytest.raises(ValueError, match="underlying must be given"):
        cal.expiry_calendar(" ", date(2026, 12, 1))


@given(st.dates(min_value=date(2025, 9, 1), max_value=date(2030, 12, 31)))
def test_every_weekly_expiry_is_a_trading_day_at_most_a_week_ahead(start: date) -> None:
    cal = TradingCalendar(HOLIDAYS)
    (first,) = cal.weekly_expiries(start, 1)
    assert cal.is_trading_day(first)
    assert start <= first < start + timedelta(days=8)
    assert first.weekday() <= 1  # Tuesday, or Monday when the Tuesday is a holiday here


@given(st.integers(min_value=2025, max_value=2035), st.integers(min_value=1, max_value=12))
def test_monthly_expiry_is_within_the_last_week(year: int, month: int) -> None:
    if (year, month) < (2025, 9):
        return
    cal = TradingCalendar(HOLIDAYS)
    expiry = cal.monthly_expiry(year, month)
    assert expiry.month == month
    assert cal.is_trading_day(expiry)
    next_week = expiry + timedelta(days=7)
    assert next_week.month != month or next_week.weekday() != 1
