"""The NSE trading calendar: trading days, the session clock and F&O expiry dates (pure).

:class:`TradingCalendar` is built from a holiday mapping (date → NSE's description) that the
caller loads (``cockpit.reference_data.load_calendar`` reads ``resources/nse/holidays.csv``);
nothing here reads files or the clock. A trading day is a weekday that is not a holiday. The
regular session runs 09:15–15:30 IST, half-open: 09:15:00 is open, 15:30:00 is closed. The
pre-open call auction runs 09:00–09:15 (order entry until 09:08, then matching and a buffer)
and is reported as :attr:`SessionState.PRE_OPEN`. Expiries follow the rules NSE applies since
1 Sep 2025: every NSE derivative expires on a Tuesday, the monthly contract on the last
Tuesday of the month, NIFTY (the one NSE index with weeklies) every Tuesday, and an expiry
that falls on a holiday moves to the previous trading day. Earlier expiries followed other
rules (Thursday, and weeklies on several indices); they are not modelled, and asking for an
expiry before 1 Sep 2025 raises ``ValueError`` naming the date. These are the exchange's
rules, not its listings: the instruments dump remains the truth for which contracts exist.
Special sessions (a Budget-day session on a weekend, Diwali's Muhurat hour) are not modelled;
on those days the calendar says closed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")

PRE_OPEN_START = time(9, 0)
PRE_OPEN_ORDER_ENTRY_END = time(9, 8)
SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)

TUESDAY_EXPIRY_START = date(2025, 9, 1)
"""First day the Tuesday expiry rules apply (NSE contracts expired on Thursday before)."""

WEEKLY_UNDERLYINGS = frozenset({"NIFTY"})
"""Underlyings with weekly options on NSE (only NIFTY since 20 Nov 2024)."""

_TUESDAY = 1
_SATURDAY = 5
# No real calendar has this many closed days in a row; more means a broken holiday list.
_MAX_CLOSED_RUN = 31


class SessionState(StrEnum):
    PRE_OPEN = "pre-open"
    OPEN = "open"
    CLOSED = "closed"


_LABELS = {
    SessionState.PRE_OPEN: "Pre-open",
    SessionState.OPEN: "Open",
    SessionState.CLOSED: "Closed",
}


@dataclass(frozen=True, slots=True)
class MarketSession:
    """The market's state at one instant and why: ``CLOSED`` with ``"holiday: Christmas"``."""

    state: SessionState
    reason: str

    @property
    def label(self) -> str:
        """Capitalised state for display: ``Open``, ``Pre-open``, ``Closed``."""
        return _LABELS[self.state]

    @property
    def is_open(self) -> bool:
        return self.state is SessionState.OPEN


@dataclass(frozen=True, slots=True)
class Expiry:
    """One expiry date of an underlying's options; ``is_monthly`` marks the monthly contract.

    ``holidays_known`` is False when the calendar has no holiday list for the expiry's year:
    the date then assumes no holiday and may still move (e.g. a Tuesday 26 January).
    """

    underlying: str
    expiry: date
    is_monthly: bool
    holidays_known: bool


def _require_aware(now: datetime, what: str) -> datetime:
    if not isinstance(now, datetime):
        raise TypeError(f"{what} needs a datetime, got {type(now).__name__} {now!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            f"{what} needs a timezone-aware datetime, got naive {now.isoformat()}; "
            f"attach a zone (e.g. ZoneInfo('Asia/Kolkata'))"
        )
    return now.astimezone(IST)


def _require_date(d: date, what: str) -> date:
    # datetime is a subclass of date; a datetime here is almost always a mistake.
    if not isinstance(d, date) or isinstance(d, datetime):
        raise TypeError(f"{what} needs a date, got {type(d).__name__} {d!r}")
    return d


def _require_tuesday_rules(d: date, what: str) -> None:
    if d < TUESDAY_EXPIRY_START:
        raise ValueError(
            f"{what}: {d.isoformat()} is before {TUESDAY_EXPIRY_START.isoformat()}, when NSE "
            f"moved expiries to Tuesday; earlier (Thursday) expiry rules are not supported"
        )


class TradingCalendar:
    """NSE trading days and session state from a holiday list.

    ``holidays`` maps each exchange holiday to its description (``"Christmas"``); a holiday on
    a weekend is allowed and changes nothing. The calendar only knows the years its list
    covers (:meth:`covers`): in a year without holidays every weekday looks like a trading
    day.
    """

    __slots__ = ("_holidays", "_years")

    def __init__(self, holidays: Mapping[date, str]) -> None:
        checked: dict[date, str] = {}
        for day, description in holidays.items():
            _require_date(day, "TradingCalendar holiday")
            if not isinstance(description, str) or not description.strip():
                raise ValueError(f"holiday {day.isoformat()} needs a description")
            checked[day] = description.strip()
        self._holidays: Mapping[date, str] = MappingProxyType(dict(sorted(checked.items())))
        self._years = frozenset(day.year for day in checked)

    def __repr__(self) -> str:
        years = ", ".join(str(y) for y in sorted(self._years)) or "none"
        return f"TradingCalendar({len(self._holidays)} holidays; years {years})"

    @property
    def holidays(self) -> Mapping[date, str]:
        """The holiday list, read-only, in date order."""
        return self._holidays

    def covers(self, d: date) -> bool:
        """Whether the holiday list includes ``d``'s year (else holidays there are unknown)."""
        return _require_date(d, "covers").year in self._years

    def holiday(self, d: date) -> str | None:
        """The holiday's description, or None when ``d`` is not an exchange holiday."""
        return self._holidays.get(_require_date(d, "holiday"))

    def is_trading_day(self, d: date) -> bool:
        _require_date(d, "is_trading_day")
        return d.weekday() < _SATURDAY and d not in self._holidays

    def closed_reason(self, d: date) -> str | None:
        """``"weekend"``, ``"holiday: <description>"``, or None on a trading day."""
        _require_date(d, "closed_reason")
        if d.weekday() >= _SATURDAY:
            return "weekend"
        description = self._holidays.get(d)
        return f"holiday: {description}" if description is not None else None

    def session_state(self, now: datetime) -> MarketSession:
        """The market's state at ``now`` (any aware datetime; judged in IST)."""
        local = _require_aware(now, "session_state")
        closed = self.closed_reason(local.date())
        if closed is not None:
            return MarketSession(SessionState.CLOSED, closed)
        clock = local.time().replace(tzinfo=None)
        if clock < PRE_OPEN_START:
            return MarketSession(SessionState.CLOSED, "before pre-open (09:00)")
        if clock < PRE_OPEN_ORDER_ENTRY_END:
            return MarketSession(SessionState.PRE_OPEN, "order entry until 09:08")
        if clock < SESSION_OPEN:
            return MarketSession(SessionState.PRE_OPEN, "matching; opens 09:15")
        if clock < SESSION_CLOSE:
            return MarketSession(SessionState.OPEN, "until 15:30")
        return MarketSession(SessionState.CLOSED, "after close")

    def session_open(self, d: date) -> datetime:
        """09:15 IST on ``d`` (whether or not ``d`` trades)."""
        return datetime.combine(_require_date(d, "session_open"), SESSION_OPEN, tzinfo=IST)

    def session_close(self, d: date) -> datetime:
        """15:30 IST on ``d`` (whether or not ``d`` trades)."""
        return datetime.combine(_require_date(d, "session_close"), SESSION_CLOSE, tzinfo=IST)

    def next_open(self, now: datetime) -> datetime:
        """The start (09:15 IST) of the first regular session that begins after ``now``.

        During a session this is the next trading day's open, not the current session's.
        """
        local = _require_aware(now, "next_open")
        today = local.date()
        if self.is_trading_day(today) and local < self.session_open(today):
            return self.session_open(today)
        return self.session_open(self.next_trading_day(today))

    def _step(self, d: date, step: int, what: str) -> date:
        current = d
        for _ in range(_MAX_CLOSED_RUN):
            current += timedelta(days=step)
            if self.is_trading_day(current):
                return current
        raise ValueError(
            f"{what}: no trading day within {_MAX_CLOSED_RUN} days of {d.isoformat()}; "
            f"check the holiday list"
        )

    def previous_trading_day(self, d: date) -> date:
        """The last trading day strictly before ``d``."""
        return self._step(_require_date(d, "previous_trading_day"), -1, "previous_trading_day")

    def next_trading_day(self, d: date) -> date:
        """The first trading day strictly after ``d``."""
        return self._step(_require_date(d, "next_trading_day"), 1, "next_trading_day")

    def _on_or_before(self, d: date) -> date:
        """``d`` if it trades, else the previous trading day: the holiday rule for expiries."""
        return d if self.is_trading_day(d) else self.previous_trading_day(d)

    # --- expiries (rules from 1 Sep 2025) -------------------------------------------------

    def monthly_expiry(self, year: int, month: int) -> date:
        """The monthly contract's expiry: the month's last Tuesday, or the trading day before
        it when that Tuesday is a holiday."""
        if not 1 <= month <= 12:
            raise ValueError(f"monthly_expiry: month must be 1-12, got {month}")
        first_of_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        last_day = first_of_next - timedelta(days=1)
        last_tuesday = last_day - timedelta(days=(last_day.weekday() - _TUESDAY) % 7)
        _require_tuesday_rules(last_tuesday, "monthly_expiry")
        return self._on_or_before(last_tuesday)

    def _tuesdays_from(self, start: date) -> Iterator[date]:
        tuesday = start + timedelta(days=(_TUESDAY - start.weekday()) % 7)
        while True:
            yield tuesday
            tuesday += timedelta(days=7)

    def _weekly_from(self, start: date) -> Iterator[tuple[date, bool]]:
        """(expiry, is_monthly) for every Tuesday expiry on or after ``start``."""
        # The Tuesday of start's own week may expire on the Monday before it (a holiday);
        # that expiry is then already behind start and is skipped.
        for tuesday in self._tuesdays_from(start - timedelta(days=7)):
            expiry = self._on_or_before(tuesday)
            if expiry < start:
                continue
            yield expiry, expiry == self.monthly_expiry(tuesday.year, tuesday.month)

    def weekly_expiries(self, start: date, count: int) -> list[date]:
        """The next ``count`` NIFTY weekly expiries on or after ``start`` (the monthly
        expiry is one of them: NIFTY options expire every Tuesday). Dates in a year the
        holiday list does not cover (:meth:`covers`) assume no holiday."""
        _require_date(start, "weekly_expiries")
        _require_tuesday_rules(start, "weekly_expiries")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"weekly_expiries: count must be a whole number ≥ 0, got {count!r}")
        result: list[date] = []
        for expiry, _ in self._weekly_from(start):
            if len(result) == count:
                break
            result.append(expiry)
        return result

    def expiry_calendar(self, underlying: str, from_date: date, months: int = 3) -> list[Expiry]:
        """Expiries of ``underlying``'s options from ``from_date`` (inclusive) through its
        ``months``-th monthly expiry: every Tuesday for NIFTY, the monthlies for the rest.

        NSE also lists quarterly and half-yearly index contracts further out; those are
        monthly contracts of later months and appear here when ``months`` reaches them.
        """
        _require_date(from_date, "expiry_calendar")
        _require_tuesday_rules(from_date, "expiry_calendar")
        if isinstance(months, bool) or not isinstance(months, int) or months < 1:
            raise ValueError(f"expiry_calendar: months must be a whole number ≥ 1, got {months!r}")
        name = underlying.strip().upper()
        if not name:
            raise ValueError("expiry_calendar: underlying must be given")
        result: list[Expiry] = []
        monthlies = 0
        if name in WEEKLY_UNDERLYINGS:
            for expiry, is_monthly in self._weekly_from(from_date):
                result.append(Expiry(name, expiry, is_monthly, self.covers(expiry)))
                monthlies += is_monthly
                if monthlies == months:
                    break
            return result
        year, month = from_date.year, from_date.month
        while monthlies < months:
            expiry = self.monthly_expiry(year, month)
            if expiry >= from_date:
                result.append(Expiry(name, expiry, True, self.covers(expiry)))
                monthlies += 1
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return result
