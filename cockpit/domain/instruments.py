"""Instruments: Kite's instruments dump, NSE F&O trading symbols and dated contract specs.

This module turns the text of Kite Connect's instruments dump into typed :class:`Instrument`
values held by an :class:`InstrumentStore` that finds them by token, by exchange and trading
symbol, and by underlying and expiry as option chains; it parses and formats NSE F&O trading
symbols exactly as Kite writes them (monthly, weekly and futures forms); and it looks up dated
contract specifications (market lot, quantity freeze limit) from rows such as
``resources/nse/contract_specs.csv``. It does no I/O and reads no clock: callers pass the text
and the trading date. Strikes are exact :class:`~decimal.Decimal` rupees and tick sizes whole
paise; nothing here uses float.
"""

from __future__ import annotations

import calendar
import csv
import io
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise


class Exchange(StrEnum):
    """Exchanges as Kite names them in the dump's ``exchange`` column."""

    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    CDS = "CDS"
    BCD = "BCD"
    MCX = "MCX"
    NCO = "NCO"


class InstrumentType(StrEnum):
    """Kite's ``instrument_type``: cash (and index) rows are EQ."""

    EQ = "EQ"
    FUT = "FUT"
    CE = "CE"
    PE = "PE"


class Right(StrEnum):
    """The right an option gives: call (CE) or put (PE)."""

    CE = "CE"
    PE = "PE"


class ContractKind(StrEnum):
    """What an F&O trading symbol names: a future, a call or a put."""

    FUT = "FUT"
    CE = "CE"
    PE = "PE"


class UnknownInstrumentError(KeyError):
    """A lookup named an instrument, underlying or expiry that the dump does not hold."""

    def __str__(self) -> str:
        # KeyError quotes its argument; the message is meant to be read as a sentence.
        return str(self.args[0]) if self.args else ""


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Weekly symbols write the month as one character: 1-9 for Jan-Sep, O/N/D for Oct-Dec.
WEEKLY_MONTH_CODES = "123456789OND"

_DIGITS = frozenset("0123456789")
_STRIKE_CHARS = frozenset("0123456789.")
_UNDERLYING_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789&-")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_digits(text: str) -> bool:
    # str.isdigit() also accepts characters such as '²'; symbols use ASCII digits only.
    return bool(text) and all(c in _DIGITS for c in text)


def underlying_problem(underlying: str) -> str | None:
    """Why ``underlying`` cannot be an NSE underlying symbol, or None if it can.

    Underlyings are upper-case letters, digits, ``&`` and ``-`` (``M&M``, ``BAJAJ-AUTO``,
    ``NIFTYNXT50``). NSE also lists ``360ONE``, so the first character may be a digit, but
    there must be at least one letter.
    """
    if not underlying:
        return "empty underlying"
    bad = [c for c in underlying if c not in _UNDERLYING_CHARS]
    if bad:
        return f"underlying {underlying!r} has {bad[0]!r}, which is not A-Z, 0-9, '&' or '-'"
    if underlying[0] not in _LETTERS and underlying[0] not in _DIGITS:
        return f"underlying {underlying!r} must start with a letter or digit"
    if not any(c in _LETTERS for c in underlying):
        return f"underlying {underlying!r} has no letter"
    return None


def _strike_text_problem(text: str) -> str | None:
    if not text:
        return "missing strike"
    whole, dot, fraction = text.partition(".")
    if not _is_digits(whole) or (dot and not _is_digits(fraction)):
        return f"strike {text!r} is not a decimal number"
    if len(whole) > 1 and whole.startswith("0"):
        return f"strike {text!r} has a leading zero"
    if fraction.endswith("0"):
        return f"strike {text!r} has a trailing zero"
    if not fraction and int(whole) == 0:
        return f"strike {text!r} is zero"
    return None


def strike_text(strike: Decimal) -> str:
    """The canonical text of a strike as Kite writes it in symbols: ``24000``, ``7.5``."""
    if not strike.is_finite() or strike <= 0:
        raise ValueError(f"strike {strike} is not a positive number")
    return format(strike.normalize(), "f")


def _weekly_day_problem(year: int, month: int, day: int) -> str | None:
    if 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return f"weekly day {day} does not exist in {year}-{month:02d}"


@dataclass(frozen=True, slots=True)
class TradingSymbol:
    """The parts of an NSE F&O trading symbol.

    ``day`` is None for the monthly form (``NIFTY24DEC24000CE``, ``NIFTY24DECFUT``) and set for
    the weekly form (``NIFTY2491924000CE``). Which form a contract uses is the exchange's
    choice (the designated monthly contract uses the monthly form), so it is recorded, not
    derived from the date.
    """

    underlying: str
    kind: ContractKind
    year: int
    month: int
    day: int | None = None
    strike: Decimal | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise ValueError(f"invalid trading symbol parts: {problem}")

    def _problem(self) -> str | None:
        problem = underlying_problem(self.underlying)
        if problem is not None:
            return problem
        if not 2000 <= self.year <= 2099:
            return f"year {self.year} cannot be written as two digits after 2000"
        if not 1 <= self.month <= 12:
            return f"month {self.month} is not 1-12"
        if self.kind is ContractKind.FUT:
            if self.day is not None:
                return "futures have no weekly form"
            if self.strike is not None:
                return "futures have no strike"
            return None
        if self.strike is None:
            return f"a {self.kind} option needs a strike"
        if not self.strike.is_finite() or self.strike <= 0:
            return f"strike {self.strike} is not a positive number"
        if self.day is not None:
            return _weekly_day_problem(self.year, self.month, self.day)
        return None

    @property
    def is_weekly_form(self) -> bool:
        return self.day is not None

    @property
    def right(self) -> Right | None:
        return None if self.kind is ContractKind.FUT else Right(self.kind.value)

    def describe(self) -> str:
        """A reading a person can check: ``NIFTY 2024-09-19 weekly, strike 24000 CE``."""
        if self.kind is ContractKind.FUT:
            return f"{self.underlying} {MONTHS[self.month - 1]} {self.year} FUT"
        assert self.strike is not None
        strike = strike_text(self.strike)
        if self.day is None:
            when = f"{MONTHS[self.month - 1]} {self.year} monthly"
        else:
            when = f"{self.year}-{self.month:02d}-{self.day:02d} weekly"
        return f"{self.underlying} {when}, strike {strike} {self.kind}"


def format_tradingsymbol(ts: TradingSymbol) -> str:
    """The trading symbol exactly as Kite writes it for these parts."""
    yy = f"{ts.year % 100:02d}"
    if ts.kind is ContractKind.FUT:
        return f"{ts.underlying}{yy}{MONTHS[ts.month - 1]}FUT"
    assert ts.strike is not None
    strike = strike_text(ts.strike)
    if ts.day is None:
        return f"{ts.underlying}{yy}{MONTHS[ts.month - 1]}{strike}{ts.kind}"
    code = WEEKLY_MONTH_CODES[ts.month - 1]
    return f"{ts.underlying}{yy}{code}{ts.day:02d}{strike}{ts.kind}"


def tradingsymbol_for(
    underlying: str,
    expiry: date,
    kind: ContractKind,
    strike: Decimal | None = None,
    *,
    weekly: bool,
) -> str:
    """Build the symbol of a contract. ``weekly`` is explicit: NSE gives the designated
    monthly contract the monthly form and every other expiry the weekly form, whatever its date.
    """
    if kind is ContractKind.FUT and weekly:
        raise ValueError(f"{underlying} {expiry}: futures have no weekly form")
    ts = TradingSymbol(
        underlying=underlying,
        kind=kind,
        year=expiry.year,
        month=expiry.month,
        day=expiry.day if weekly else None,
        strike=strike,
    )
    return format_tradingsymbol(ts)


@dataclass(frozen=True, slots=True)
class _Reading:
    """One way of splitting a symbol: a valid reading, or the reason it fails.

    ``rank`` orders failed readings by how likely they are to be what the writer meant, so the
    error names the most plausible problem.
    """

    underlying: str
    symbol: TradingSymbol | None
    problem: str | None
    rank: int


def _read_future(body: str) -> _Reading:
    if len(body) < 5:
        return _Reading(body, None, "expected UNDERLYING + YY + MMM before FUT", 0)
    mon, yy, underlying = body[-3:], body[-5:-3], body[:-5]
    problem: str | None
    if mon not in MONTHS:
        problem = f"month {mon!r} is not one of JAN..DEC"
    elif not _is_digits(yy):
        problem = f"expected a two-digit year before month {mon!r}, found {yy!r}"
    else:
        problem = underlying_problem(underlying)
    if problem is not None:
        return _Reading(underlying, None, problem, 0)
    ts = TradingSymbol(underlying, ContractKind.FUT, 2000 + int(yy), MONTHS.index(mon) + 1)
    return _Reading(underlying, ts, None, 0)


def _read_monthly(head: str, strike: str, kind: ContractKind, rank: int) -> _Reading:
    mon, pre = head[-3:], head[:-3]
    yy, underlying = pre[-2:], pre[:-2]
    problem: str | None
    if len(yy) < 2 or not _is_digits(yy):
        problem = f"expected a two-digit year before month {mon!r}, found {yy!r}"
    elif mon not in MONTHS:
        problem = f"month {mon!r} is not one of JAN..DEC"
    else:
        problem = underlying_problem(underlying) or _strike_text_problem(strike)
    if problem is not None:
        return _Reading(underlying, None, problem, rank)
    month = MONTHS.index(mon) + 1
    ts = TradingSymbol(underlying, kind, 2000 + int(yy), month, None, Decimal(strike))
    return _Reading(underlying, ts, None, rank)


def _read_weekly(
    underlying: str, kind: ContractKind, rank: int, *, yy: str, code: str, dd: str, strike: str
) -> _Reading:
    problem: str | None = None
    month = WEEKLY_MONTH_CODES.find(code) + 1 if len(code) == 1 else 0
    if not _is_digits(yy):
        problem = f"expected a two-digit year, found {yy!r}"
    elif month == 0:
        problem = f"weekly month code {code!r} is not one of 1-9, O, N, D"
    elif len(dd) < 2 or not _is_digits(dd):
        problem = f"expected a two-digit day after weekly month code {code!r}, found {dd!r}"
    else:
        problem = (
            _weekly_day_problem(2000 + int(yy), month, int(dd))
            or underlying_problem(underlying)
            or _strike_text_problem(strike)
        )
    if problem is not None:
        return _Reading(underlying, None, problem, rank)
    ts = TradingSymbol(underlying, kind, 2000 + int(yy), month, int(dd), Decimal(strike))
    return _Reading(underlying, ts, None, rank)


def _read_option(body: str, kind: ContractKind) -> list[_Reading]:
    run_start = len(body)
    while run_start > 0 and body[run_start - 1] in _STRIKE_CHARS:
        run_start -= 1
    head, run = body[:run_start], body[run_start:]
    if not run:
        return [_Reading(head, None, f"no strike before {kind}", 0)]
    letters_start = len(head)
    while letters_start > 0 and head[letters_start - 1] in _LETTERS:
        letters_start -= 1
    letters = len(head) - letters_start
    readings: list[_Reading] = []
    # Monthly: UNDERLYING YY MMM STRIKE. "Strong" when exactly three letters follow two digits.
    if letters >= 3:
        strong = letters == 3 and _is_digits(head[-5:-3]) and len(head) >= 5
        readings.append(_read_monthly(head, run, kind, 0 if strong else 90))
    # Weekly, Oct-Dec: UNDERLYING YY (O|N|D) DD STRIKE.
    if letters == 1 and len(head) >= 3 and _is_digits(head[-3:-1]):
        readings.append(
            _read_weekly(
                head[:-3], kind, 1, yy=head[-3:-1], code=head[-1], dd=run[:2], strike=run[2:]
            )
        )
    # Weekly, Jan-Sep: UNDERLYING YY M DD STRIKE is all digits after the underlying, and an
    # underlying may itself end in digits (NIFTYNXT50), so every split point is a candidate.
    digits_end = run.find(".")
    if digits_end < 0:
        digits_end = len(run)
    for k in range(digits_end + 1):
        rest = run[k:]
        if len(rest) < 6:
            break
        underlying = head + run[:k]
        readings.append(
            _read_weekly(
                underlying, kind, 2 + k, yy=rest[:2], code=rest[2], dd=rest[3:5], strike=rest[5:]
            )
        )
    if not readings:
        readings.append(
            _Reading(
                head,
                None,
                f"expected UNDERLYING + YY + MMM + STRIKE or UNDERLYING + YY + M + DD + STRIKE "
                f"before {kind}",
                0,
            )
        )
    return readings


def parse_tradingsymbol(symbol: str, underlyings: Collection[str] | None = None) -> TradingSymbol:
    """Split an NSE F&O trading symbol as Kite writes it into its parts.

    The digits of a Jan-Sep weekly (``NIFTY2491924000CE``) can be split in more than one
    place because an underlying may end in digits: ``NIFTYNXT5026123...`` reads as valid
    dates with underlying ``NIFTYNXT5`` or ``NIFTYNXT50``, and ``NIFTY2611326200CE`` could be
    ``NIFTY26`` on 2011-03-26. So:

    * with ``underlyings`` (the names in the instruments dump), only readings whose
      underlying is in the set count, and more than one of them is an error;
    * without it, the reading is the one whose underlying ends in a letter, ``&`` or ``-``
      (as almost every NSE underlying does) and is shortest, since a spurious split moves
      date characters into the underlying (``NIFTY26``, ``NIFTY25O``). Readings whose
      underlying ends in a digit count only when no such reading fits, and must then be
      unique. For a digit-ending underlying such as NIFTYNXT50 this is a guess: pass
      ``underlyings`` to be sure.

    Every problem raises ValueError naming the symbol; an ambiguous symbol raises naming the
    candidate readings.
    """
    if symbol.endswith("FUT"):
        readings = [_read_future(symbol[:-3])]
    elif symbol.endswith(("CE", "PE")):
        readings = _read_option(symbol[:-2], ContractKind(symbol[-2:]))
    else:
        raise ValueError(f"{symbol!r}: missing CE/PE/FUT suffix")
    valid = [r.symbol for r in readings if r.symbol is not None]
    failed = [r for r in readings if r.symbol is None]
    if underlyings is not None:
        known = [ts for ts in valid if ts.underlying in underlyings]
        if not known:
            relevant = [r for r in failed if r.underlying in underlyings]
            if relevant:
                best = min(relevant, key=lambda r: r.rank)
                raise ValueError(f"{symbol!r}: {best.problem}")
            if valid:
                found = "; ".join(ts.describe() for ts in valid)
                raise ValueError(
                    f"{symbol!r}: no reading has a known underlying (it reads as {found})"
                )
        valid = known
    else:
        # A spurious split moves date characters into the underlying: year digits (NIFTY26)
        # or a whole date part (NIFTY25O). So prefer an underlying that ends in a non-digit,
        # and of those the shortest; all candidates are prefixes of the symbol, so that one
        # is unique.
        preferred = [ts for ts in valid if ts.underlying[-1] not in _DIGITS]
        if preferred:
            valid = [min(preferred, key=lambda ts: len(ts.underlying))]
    if len(valid) == 1:
        return valid[0]
    if len(valid) > 1:
        found = "; ".join(ts.describe() for ts in valid)
        raise ValueError(
            f"{symbol!r} is ambiguous: it reads as {found}; "
            "pass the known underlyings to choose one"
        )
    best = min(failed, key=lambda r: r.rank)
    raise ValueError(f"{symbol!r}: {best.problem}")


def largest_lot_multiple(quantity_limit: int, lot_size: int) -> int:
    """The largest whole number of lots not above ``quantity_limit``, in units."""
    if lot_size <= 0:
        raise ValueError(f"lot size {lot_size} is not positive")
    return (quantity_limit // lot_size) * lot_size


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of Kite's instruments dump.

    ``name`` is Kite's ``name`` column: the underlying (``NIFTY``) for derivatives, a company
    or index name for cash rows, possibly empty. ``freeze_quantity`` is not in the dump; the
    store fills it from the contract-spec table for NFO derivatives.
    """

    instrument_token: int
    exchange_token: int
    exchange: Exchange
    segment: str
    tradingsymbol: str
    name: str
    expiry: date | None
    strike: Decimal | None
    instrument_type: InstrumentType
    lot_size: int
    tick_size_paise: int
    freeze_quantity: int | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise ValueError(f"{self.tradingsymbol!r} (token {self.instrument_token}): {problem}")

    def _problem(self) -> str | None:
        if self.instrument_token <= 0:
            return f"instrument_token {self.instrument_token} is not positive"
        if self.exchange_token < 0:
            return f"exchange_token {self.exchange_token} is negative"
        if not self.tradingsymbol:
            return "empty tradingsymbol"
        if not self.segment:
            return "empty segment"
        if self.lot_size < 0 or self.tick_size_paise < 0:
            return "lot size and tick size cannot be negative"
        if self.freeze_quantity is not None and self.freeze_quantity <= 0:
            return f"freeze quantity {self.freeze_quantity} is not positive"
        kind = self.instrument_type
        if kind is InstrumentType.EQ:
            if self.expiry is not None:
                return "an EQ row has no expiry"
            if self.strike is not None:
                return "an EQ row has no strike"
            return None
        if self.expiry is None:
            return f"a {kind} contract needs an expiry"
        if not self.name:
            return f"a {kind} contract needs its underlying in 'name'"
        if self.lot_size <= 0:
            return f"a {kind} contract needs a positive lot size"
        if kind is InstrumentType.FUT:
            return None if self.strike is None else "a FUT contract has no strike"
        if self.strike is None or not self.strike.is_finite() or self.strike <= 0:
            return f"a {kind} option needs a positive strike"
        return None

    @property
    def is_option(self) -> bool:
        return self.instrument_type in (InstrumentType.CE, InstrumentType.PE)

    @property
    def is_future(self) -> bool:
        return self.instrument_type is InstrumentType.FUT

    @property
    def is_derivative(self) -> bool:
        return self.instrument_type is not InstrumentType.EQ

    @property
    def right(self) -> Right | None:
        return Right(self.instrument_type.value) if self.is_option else None

    @property
    def underlying(self) -> str | None:
        """The underlying of a derivative (Kite's ``name``); None for cash and index rows."""
        return self.name if self.is_derivative else None

    @property
    def max_order_quantity(self) -> int | None:
        """Largest single order in units (whole lots within the freeze limit), if known."""
        if self.freeze_quantity is None or self.lot_size <= 0:
            return None
        return largest_lot_multiple(self.freeze_quantity, self.lot_size)


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """An underlying's market lot and quantity freeze limit from ``valid_from`` on.

    ``freeze_quantity`` is None where no source for it was found (stock freeze limits are
    published in NSE's contract file, not in circulars).
    """

    underlying: str
    lot_size: int
    freeze_quantity: int | None
    valid_from: date
    source: str

    def __post_init__(self) -> None:
        problem = underlying_problem(self.underlying)
        if problem is None and self.lot_size <= 0:
            problem = f"lot size {self.lot_size} is not positive"
        if problem is None and self.freeze_quantity is not None and self.freeze_quantity <= 0:
            problem = f"freeze quantity {self.freeze_quantity} is not positive"
        if problem is None and not self.source.strip():
            problem = "empty source"
        if problem is not None:
            raise ValueError(f"contract spec {self.underlying} from {self.valid_from}: {problem}")


def max_order_quantity(spec: ContractSpec) -> int | None:
    """Largest legal single order in units: floor(freeze / lot) x lot (NIFTY 1800/65 -> 1755).

    None when the spec records no freeze limit.
    """
    if spec.freeze_quantity is None:
        return None
    return largest_lot_multiple(spec.freeze_quantity, spec.lot_size)


_SPEC_COLUMNS = ("underlying", "lot_size", "freeze_quantity", "valid_from", "source")


class _CellError(Exception):
    def __init__(self, column: str, problem: str) -> None:
        super().__init__(problem)
        self.column = column
        self.problem = problem


class ContractSpecTable:
    """Dated contract specs; a lookup takes the row with the latest ``valid_from`` <= the date."""

    def __init__(self, specs: Iterable[ContractSpec]) -> None:
        history: dict[str, list[ContractSpec]] = {}
        for spec in specs:
            history.setdefault(spec.underlying, []).append(spec)
        self._history: dict[str, tuple[ContractSpec, ...]] = {}
        self._dates: dict[str, tuple[date, ...]] = {}
        for underlying, rows in history.items():
            rows.sort(key=lambda s: s.valid_from)
            for earlier, later in pairwise(rows):
                if earlier.valid_from == later.valid_from:
                    raise ValueError(
                        f"contract specs: two rows for {underlying} from {later.valid_from}"
                    )
            self._history[underlying] = tuple(rows)
            self._dates[underlying] = tuple(s.valid_from for s in rows)

    @classmethod
    def from_csv(cls, text: str) -> ContractSpecTable:
        """Rows of ``underlying,lot_size,freeze_quantity,valid_from,source`` with a header;
        an empty ``freeze_quantity`` means no sourced limit."""
        reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
        header = next(reader, None)
        if header is None:
            raise ValueError("contract specs CSV is empty: no header line")
        header = [h.strip() for h in header]
        missing = [c for c in _SPEC_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"contract specs CSV header lacks column(s) {', '.join(missing)}")
        at = {c: header.index(c) for c in _SPEC_COLUMNS}
        specs: list[ContractSpec] = []
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"contract specs CSV line {line}: expected {len(header)} fields, "
                    f"found {len(row)}"
                )
            try:
                freeze_text = row[at["freeze_quantity"]].strip()
                spec = ContractSpec(
                    underlying=row[at["underlying"]].strip(),
                    lot_size=_int_cell(row[at["lot_size"]], "lot_size", 1),
                    freeze_quantity=(
                        _int_cell(freeze_text, "freeze_quantity", 1) if freeze_text else None
                    ),
                    valid_from=_date_cell(row[at["valid_from"]], "valid_from"),
                    source=row[at["source"]].strip(),
                )
            except _CellError as e:
                raise ValueError(
                    f"contract specs CSV line {line}, column {e.column!r}: {e.problem}"
                ) from None
            except ValueError as e:
                raise ValueError(f"contract specs CSV line {line}: {e}") from None
            specs.append(spec)
        return cls(specs)

    def lookup(self, underlying: str, on: date) -> ContractSpec | None:
        """The spec in force for ``underlying`` on ``on``, or None if none is recorded."""
        dates = self._dates.get(underlying)
        if dates is None:
            return None
        i = bisect_right(dates, on)
        return self._history[underlying][i - 1] if i else None

    def history(self, underlying: str) -> tuple[ContractSpec, ...]:
        return self._history.get(underlying, ())

    def underlyings(self) -> frozenset[str]:
        return frozenset(self._history)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._history.values())


def _int_cell(text: str, column: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _CellError(column, f"{text!r} is not a whole number") from None
    if value < minimum:
        raise _CellError(column, f"{text!r} is below {minimum}")
    return value


def _date_cell(text: str, column: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _CellError(column, f"{text!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One strike of an option chain: its call and put, either possibly missing."""

    strike: Decimal
    call: Instrument | None
    put: Instrument | None


@dataclass(frozen=True, slots=True)
class OptionChain:
    """The options of one underlying and expiry on one exchange, by ascending strike."""

    exchange: Exchange
    underlying: str
    expiry: date
    rows: tuple[ChainRow, ...]
    strikes: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        strikes = tuple(r.strike for r in self.rows)
        if not strikes or any(a >= b for a, b in pairwise(strikes)):
            raise ValueError(
                f"{self.underlying} {self.expiry} chain needs rows in ascending strike order"
            )
        object.__setattr__(self, "strikes", strikes)

    def row(self, strike: Decimal) -> ChainRow:
        strikes = self.strikes
        i = bisect_left(strikes, strike)
        if i < len(strikes) and strikes[i] == strike:
            return self.rows[i]
        raise UnknownInstrumentError(
            f"{self.underlying} {self.expiry} on {self.exchange} has no strike {strike}"
        )

    def nearest_strike(self, price: Decimal) -> Decimal:
        """The listed strike closest to ``price`` (rupees); a tie goes to the lower strike."""
        strikes = self.strikes
        i = bisect_left(strikes, price)
        if i == 0:
            return strikes[0]
        if i == len(strikes):
            return strikes[-1]
        below, above = strikes[i - 1], strikes[i]
        return above if above - price < price - below else below

    def instruments(self) -> tuple[Instrument, ...]:
        """Every contract in the chain, calls and puts, by ascending strike."""
        return tuple(i for r in self.rows for i in (r.call, r.put) if i is not None)


_DUMP_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)
_EXCHANGES = {e.value: e for e in Exchange}
_TYPES = {t.value: t for t in InstrumentType}
_HUNDRED = Decimal(100)


class _DumpRows:
    """Turns dump rows into instruments: finds the columns by name, caches the dates, strikes
    and ticks (they repeat across thousands of rows) and each underlying's freeze limit."""

    def __init__(
        self, header: list[str], specs: ContractSpecTable | None, today: date | None
    ) -> None:
        at = {c: header.index(c) for c in _DUMP_COLUMNS}
        self._token, self._xtoken = at["instrument_token"], at["exchange_token"]
        self._symbol, self._name, self._expiry = at["tradingsymbol"], at["name"], at["expiry"]
        self._strike, self._tick, self._lot = at["strike"], at["tick_size"], at["lot_size"]
        self._type, self._segment = at["instrument_type"], at["segment"]
        self.exchange_column = at["exchange"]
        self._specs = specs
        self._today = today
        self._dates: dict[str, date | None] = {"": None}
        self._strikes: dict[str, Decimal | None] = {"": None}
        self._ticks: dict[str, int] = {}
        self._freeze: dict[str, int | None] = {}

    def instrument(self, row: list[str]) -> Instrument:
        exchange_text = row[self.exchange_column]
        exchange = _EXCHANGES.get(exchange_text)
        if exchange is None:
            known = ", ".join(_EXCHANGES)
            raise _CellError("exchange", f"{exchange_text!r} is not one of {known}")
        type_text = row[self._type]
        kind = _TYPES.get(type_text)
        if kind is None:
            known = ", ".join(_TYPES)
            raise _CellError("instrument_type", f"{type_text!r} is not one of {known}")
        name = row[self._name]
        expiry = self._expiry_cell(row[self._expiry])
        strike = self._strike_cell(row[self._strike])
        lot_size = _int_cell(row[self._lot], "lot_size", 0)
        _check_row_shape(
            kind,
            name=name,
            expiry=expiry,
            strike=strike,
            lot_size=lot_size,
            strike_cell=row[self._strike],
        )
        freeze = None
        if exchange is Exchange.NFO and kind is not InstrumentType.EQ:
            freeze = self._freeze_limit(name)
        return Instrument(
            instrument_token=_int_cell(row[self._token], "instrument_token", 1),
            exchange_token=_int_cell(row[self._xtoken], "exchange_token", 0),
            exchange=exchange,
            segment=_nonempty_cell(row[self._segment], "segment"),
            tradingsymbol=_nonempty_cell(row[self._symbol], "tradingsymbol"),
            name=name,
            expiry=expiry,
            strike=strike,
            instrument_type=kind,
            lot_size=lot_size,
            tick_size_paise=self._tick_cell(row[self._tick]),
            freeze_quantity=freeze,
        )

    def _freeze_limit(self, underlying: str) -> int | None:
        if self._specs is None or self._today is None:
            return None
        try:
            return self._freeze[underlying]
        except KeyError:
            pass
        spec = self._specs.lookup(underlying, self._today)
        freeze = None if spec is None else spec.freeze_quantity
        self._freeze[underlying] = freeze
        return freeze

    def _expiry_cell(self, text: str) -> date | None:
        try:
            return self._dates[text]
        except KeyError:
            pass
        value = _date_cell(text, "expiry")
        self._dates[text] = value
        return value

    def _strike_cell(self, text: str) -> Decimal | None:
        try:
            return self._strikes[text]
        except KeyError:
            pass
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise _CellError("strike", f"{text!r} is not a decimal number") from None
        if not value.is_finite() or value < 0:
            raise _CellError("strike", f"{text!r} is not a non-negative number")
        # Kite writes "0" or "0.0" where there is no strike, and "24000.0" for 24000.
        canonical = None if value == 0 else Decimal(format(value.normalize(), "f"))
        self._strikes[text] = canonical
        return canonical

    def _tick_cell(self, text: str) -> int:
        try:
            return self._ticks[text]
        except KeyError:
            pass
        try:
            rupees = Decimal(text)
        except InvalidOperation:
            raise _CellError("tick_size", f"{text!r} is not a decimal number") from None
        if not rupees.is_finite() or rupees < 0:
            raise _CellError("tick_size", f"{text!r} is not a non-negative number")
        paise = rupees * _HUNDRED
        if paise != paise.to_integral_value():
            raise _CellError("tick_size", f"{text!r} rupees is not a whole number of paise")
        self._ticks[text] = int(paise)
        return int(paise)


class InstrumentStore:
    """Kite's instruments, indexed for the cockpit's lookups.

    Built from the dump text with :meth:`from_csv`. Lookups that find nothing raise
    :class:`UnknownInstrumentError` (a KeyError) with a message a trader can act on. Chains and
    expiries are per exchange and default to NFO, the segment Cockpit trades.
    """

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._index((f"instrument #{i}", x) for i, x in enumerate(instruments, 1))

    @classmethod
    def from_csv(
        cls,
        text: str,
        specs: ContractSpecTable | None = None,
        today: date | None = None,
        *,
        exchanges: Collection[Exchange] | None = None,
    ) -> InstrumentStore:
        """Load the dump's CSV text (``GET /instruments`` or ``/instruments/:exchange``).

        Every row is loaded and checked; a row that cannot be represented raises ValueError
        naming its line, column and value. ``exchanges``, if given, loads only rows of those
        exchanges: the full dump holds currency rows whose 0.0025-rupee ticks are not whole
        paise, so a caller that does not trade them should load only the exchanges it trades.
        With ``specs``, NFO derivatives get the freeze limit in force on ``today``.
        """
        if specs is not None and today is None:
            raise ValueError("the trading date 'today' is needed to look up freeze limits")
        reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
        header = next(reader, None)
        if header is None:
            raise ValueError("instruments CSV is empty: no header line")
        header = [h.strip() for h in header]
        missing = [c for c in _DUMP_COLUMNS if c not in header]
        if missing:
            raise ValueError(
                f"instruments CSV header lacks column(s) {', '.join(missing)}; "
                f"found {', '.join(header)}"
            )
        width = len(header)
        rows = _DumpRows(header, specs, today)
        wanted = None if exchanges is None else frozenset(e.value for e in exchanges)
        pairs: list[tuple[str, Instrument]] = []
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            if len(row) != width:
                raise ValueError(
                    f"instruments CSV line {line}: expected {width} fields, found {len(row)}"
                )
            if wanted is not None and row[rows.exchange_column] not in wanted:
                continue
            try:
                instrument = rows.instrument(row)
            except _CellError as e:
                raise ValueError(
                    f"instruments CSV line {line}, column {e.column!r}: {e.problem}"
                ) from None
            except ValueError as e:
                raise ValueError(f"instruments CSV line {line}: {e}") from None
            pairs.append((f"line {line}", instrument))
        store = cls.__new__(cls)
        store._index(pairs)
        return store

    def _index(self, labelled: Iterable[tuple[str, Instrument]]) -> None:
        by_token: dict[int, Instrument] = {}
        token_at: dict[int, str] = {}
        by_symbol: dict[tuple[Exchange, str], Instrument] = {}
        symbol_at: dict[tuple[Exchange, str], str] = {}
        options: dict[tuple[Exchange, str, date], dict[Decimal, list[Instrument | None]]] = {}
        futures: dict[tuple[Exchange, str], list[Instrument]] = {}
        for where, inst in labelled:
            token = inst.instrument_token
            if token in by_token:
                raise ValueError(
                    f"{where}: instrument_token {token} ({inst.tradingsymbol}) repeats "
                    f"{token_at[token]} ({by_token[token].tradingsymbol})"
                )
            key = (inst.exchange, inst.tradingsymbol)
            if key in by_symbol:
                raise ValueError(
                    f"{where}: {inst.exchange}:{inst.tradingsymbol} repeats {symbol_at[key]}"
                )
            by_token[token] = inst
            token_at[token] = where
            by_symbol[key] = inst
            symbol_at[key] = where
            if inst.is_option:
                assert inst.expiry is not None and inst.strike is not None
                strikes = options.setdefault((inst.exchange, inst.name, inst.expiry), {})
                pair = strikes.setdefault(inst.strike, [None, None])
                side = 0 if inst.instrument_type is InstrumentType.CE else 1
                first = pair[side]
                if first is not None:
                    first_at = symbol_at[(first.exchange, first.tradingsymbol)]
                    raise ValueError(
                        f"{where}: {inst.tradingsymbol} is a second {inst.name} {inst.expiry} "
                        f"{inst.strike} {inst.instrument_type} on {inst.exchange} "
                        f"(first: {first.tradingsymbol}, {first_at})"
                    )
                pair[side] = inst
            elif inst.is_future:
                futures.setdefault((inst.exchange, inst.name), []).append(inst)
        self._by_token = by_token
        self._by_symbol = by_symbol
        self._chains: dict[tuple[Exchange, str, date], OptionChain] = {}
        expiries: dict[tuple[Exchange, str], list[date]] = {}
        for (exchange, name, expiry), strikes in options.items():
            rows = tuple(ChainRow(s, pair[0], pair[1]) for s, pair in sorted(strikes.items()))
            self._chains[(exchange, name, expiry)] = OptionChain(exchange, name, expiry, rows)
            expiries.setdefault((exchange, name), []).append(expiry)
        self._expiries = {k: tuple(sorted(v)) for k, v in expiries.items()}
        self._futures = {
            k: tuple(sorted(v, key=lambda f: (f.expiry, f.tradingsymbol)))
            for k, v in futures.items()
        }
        names: dict[Exchange, set[str]] = {}
        for exchange, name in [*self._expiries, *self._futures]:
            names.setdefault(exchange, set()).add(name)
        self._underlyings = {k: frozenset(v) for k, v in names.items()}

    def __len__(self) -> int:
        return len(self._by_token)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_token.values())

    def get(self, token: int) -> Instrument:
        try:
            return self._by_token[token]
        except KeyError:
            raise UnknownInstrumentError(
                f"no instrument with token {token} in the instruments dump"
            ) from None

    def by_symbol(self, exchange: Exchange, symbol: str) -> Instrument:
        try:
            return self._by_symbol[(exchange, symbol)]
        except KeyError:
            raise UnknownInstrumentError(
                f"no instrument {exchange}:{symbol} in the instruments dump"
            ) from None

    def underlyings(self, exchange: Exchange = Exchange.NFO) -> frozenset[str]:
        """Names of the underlyings with options or futures on ``exchange``."""
        return self._underlyings.get(exchange, frozenset())

    def expiries(self, underlying: str, exchange: Exchange = Exchange.NFO) -> tuple[date, ...]:
        """Option expiries of ``underlying``, earliest first."""
        try:
            return self._expiries[(exchange, underlying)]
        except KeyError:
            raise UnknownInstrumentError(f"no {underlying} options on {exchange}") from None

    def chain(
        self, underlying: str, expiry: date, exchange: Exchange = Exchange.NFO
    ) -> OptionChain:
        try:
            return self._chains[(exchange, underlying, expiry)]
        except KeyError:
            pass
        listed = ", ".join(str(d) for d in self.expiries(underlying, exchange))
        raise UnknownInstrumentError(
            f"no {underlying} options expiring {expiry} on {exchange}; expiries: {listed}"
        )

    def option(
        self,
        underlying: str,
        expiry: date,
        strike: Decimal,
        right: Right,
        exchange: Exchange = Exchange.NFO,
    ) -> Instrument:
        """The contract for (underlying, expiry, strike, right): the reliable way to find one,
        since the symbol's weekly or monthly form is the exchange's choice."""
        row = self.chain(underlying, expiry, exchange).row(strike)
        found = row.call if right is Right.CE else row.put
        if found is None:
            raise UnknownInstrumentError(
                f"{underlying} {expiry} {strike_text(strike)} has no {right} on {exchange}"
            )
        return found

    def futures(self, underlying: str, exchange: Exchange = Exchange.NFO) -> tuple[Instrument, ...]:
        """Futures of ``underlying``, nearest expiry first."""
        try:
            return self._futures[(exchange, underlying)]
        except KeyError:
            raise UnknownInstrumentError(f"no {underlying} futures on {exchange}") from None

    def parse_symbol(self, symbol: str, exchange: Exchange = Exchange.NFO) -> TradingSymbol:
        """Parse an F&O symbol, resolving ambiguous splits with this dump's underlyings."""
        return parse_tradingsymbol(symbol, self.underlyings(exchange))


def _nonempty_cell(text: str, column: str) -> str:
    if not text:
        raise _CellError(column, "empty")
    return text


def _check_row_shape(
    kind: InstrumentType,
    *,
    name: str,
    expiry: date | None,
    strike: Decimal | None,
    lot_size: int,
    strike_cell: str,
) -> None:
    """Cross-column rules, reported against the column a trader would fix."""
    if kind is InstrumentType.EQ:
        if expiry is not None:
            raise _CellError("expiry", "an EQ row has no expiry")
        if strike is not None:
            raise _CellError("strike", f"{strike_cell!r}, but an EQ row has no strike")
        return
    if expiry is None:
        raise _CellError("expiry", f"empty, but a {kind} contract needs an expiry")
    if not name:
        raise _CellError("name", f"empty, but a {kind} contract needs its underlying here")
    if lot_size <= 0:
        raise _CellError("lot_size", f"{lot_size}, but a {kind} contract needs a positive lot")
    if kind is InstrumentType.FUT:
        if strike is not None:
            raise _CellError("strike", f"{strike_cell!r}, but a FUT contract has no strike")
    elif strike is None:
        raise _CellError("strike", f"{strike_cell!r}, but a {kind} option needs a positive strike")
