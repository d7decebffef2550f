"""The paper exchange's universe: which contracts exist on a trading day, with Kite's tokens,
symbols and instruments dump.

From the simulated underlyings (``resources/exchange/underlyings.csv``, read by
:func:`parse_underlyings`), the dated contract specs and the trading calendar,
:func:`build_universe` lists for one trading day: each index's spot row (NSE ``INDICES``) or
each stock's NSE EQ row; futures for the next three monthly expiries; options (CE and PE) for
the next three monthlies and, for NIFTY only (NSE's one weekly index since 20 Nov 2024), the
next four weekly expiries as well. Strikes are the seed spot rounded to the strike step, ± the
configured number of steps. Symbols are written as Kite writes them: the designated monthly
contract in the monthly form (``NIFTY26DEC26000CE``), every other expiry in the weekly form
(``NIFTY26D0826000CE``). Lot size and freeze limit come from the contract specs in force on
the day.

Tokens are Kite's encoding, ``instrument_token = exchange_token << 8 | segment`` (segment 1 =
NSE, 2 = NFO, 9 = INDICES, as pykiteconnect's ticker decodes them), and the exchange token is
a pure function of the contract, never of the day the universe was built: the same contract
has the same token in every rebuild and after every :meth:`Universe.roll`, so positions and
orders that the exchange's state file keeps by token survive a restart or a new day. Layout of
the 24-bit exchange token of a derivative::

    bits 18-23  underlying id (1-63, the ``id`` column)
    bits 10-17  expiry week: whole weeks from Monday 3 Jan 2000, modulo 256 (about 4.9 years)
    bits  0-9   0 for the future; 1 + 2·(strike ÷ step mod 511) + (1 for PE) for options

so calls and puts of a strike are adjacent and strikes of a chain run sequentially. A spot row
has exchange token ``1000 + id`` (NIFTY 50 gets Kite's own 256265). Nothing here does I/O
except :func:`load_underlyings`, which reads the packaged CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from cockpit.domain.calendar import WEEKLY_UNDERLYINGS, TradingCalendar
from cockpit.domain.instruments import (
    ContractKind,
    ContractSpecTable,
    Exchange,
    Instrument,
    InstrumentType,
    UnknownInstrumentError,
    tradingsymbol_for,
)

SEGMENT_NSE = 1
SEGMENT_NFO = 2
SEGMENT_INDICES = 9

DERIVATIVE_TICK_PAISE = 5
STOCK_TICK_PAISE = 5

MONTHLY_EXPIRIES = 3
NIFTY_WEEKLY_EXPIRIES = 4

_TOKEN_EPOCH = date(2000, 1, 3)  # a Monday: expiry weeks run Monday-Sunday
_WEEK_SLOTS = 256
_STRIKE_SLOTS = 511
_MAX_ID = 63
_SPOT_TOKEN_BASE = 1000


class UnderlyingKind(StrEnum):
    INDEX = "index"
    STOCK = "stock"


@dataclass(frozen=True, slots=True)
class UnderlyingModel:
    """One simulated underlying: how its contracts are listed and how its price moves.

    ``spot`` is the simulation's seed level in rupees (not market data); ``volatility`` the
    annual ATM volatility; ``jump_intensity`` jumps per year and ``jump_sigma`` the standard
    deviation of a jump's log size. ``id`` fixes the underlying's tokens and random stream, so
    adding or reordering underlyings changes nobody else's.
    """

    id: int
    name: str
    kind: UnderlyingKind
    spot_symbol: str
    spot: float
    volatility: float
    strike_step: Decimal
    strikes_each_side: int
    jump_intensity: float
    jump_sigma: float

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise ValueError(f"underlying {self.name or '?'}: {problem}")

    def _problem(self) -> str | None:
        if not 1 <= self.id <= _MAX_ID:
            return f"id {self.id} is not 1-{_MAX_ID}"
        if not self.name or not self.spot_symbol:
            return "name and spot_symbol are needed"
        if not self.spot > 0:
            return f"spot {self.spot} is not positive"
        if not 0 < self.volatility < 5:
            return f"volatility {self.volatility} is not a fraction between 0 and 5"
        if not self.strike_step.is_finite() or self.strike_step <= 0:
            return f"strike_step {self.strike_step} is not positive"
        if not 1 <= self.strikes_each_side <= 200:
            return f"strikes_each_side {self.strikes_each_side} is not 1-200"
        if self.jump_intensity < 0 or self.jump_sigma < 0:
            return "jump_intensity and jump_sigma cannot be negative"
        return None

    @property
    def is_index(self) -> bool:
        return self.kind is UnderlyingKind.INDEX


_UNDERLYING_COLUMNS = (
    "id",
    "name",
    "kind",
    "spot_symbol",
    "spot",
    "volatility",
    "strike_step",
    "strikes_each_side",
    "jump_intensity",
    "jump_sigma",
)


def parse_underlyings(text: str) -> tuple[UnderlyingModel, ...]:
    """The underlyings CSV (see ``resources/exchange/README.md``) as models, in file order.

    A bad cell raises ValueError naming the line and column; names and ids must be unique.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise ValueError("underlyings CSV is empty: no header line")
    header = [h.strip() for h in header]
    missing = [c for c in _UNDERLYING_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"underlyings CSV header lacks column(s) {', '.join(missing)}")
    at = {c: header.index(c) for c in _UNDERLYING_COLUMNS}
    models: list[UnderlyingModel] = []
    for row in reader:
        if not row or not "".join(row).strip():
            continue
        line = reader.line_num
        if len(row) != len(header):
            raise ValueError(
                f"underlyings CSV line {line}: expected {len(header)} fields, found {len(row)}"
            )
        cell = {c: row[i].strip() for c, i in at.items()}
        column = ""
        try:
            column = "kind"
            kind = UnderlyingKind(cell["kind"])
            column = "strike_step"
            step = Decimal(cell["strike_step"])
            column = "id"
            ident = int(cell["id"])
            column = "strikes_each_side"
            each_side = int(cell["strikes_each_side"])
            floats = {}
            for column in ("spot", "volatility", "jump_intensity", "jump_sigma"):
                floats[column] = float(cell[column])
            column = ""
            model = UnderlyingModel(
                id=ident,
                name=cell["name"],
                kind=kind,
                spot_symbol=cell["spot_symbol"],
                spot=floats["spot"],
                volatility=floats["volatility"],
                strike_step=step,
                strikes_each_side=each_side,
                jump_intensity=floats["jump_intensity"],
                jump_sigma=floats["jump_sigma"],
            )
        except (ValueError, InvalidOperation) as e:
            where = f", column {column!r}" if column else ""
            raise ValueError(f"underlyings CSV line {line}{where}: {e}") from None
        models.append(model)
    _check_unique(models)
    return tuple(models)


def _check_unique(models: Sequence[UnderlyingModel]) -> None:
    seen_names: set[str] = set()
    seen_ids: dict[int, str] = {}
    for m in models:
        if m.name in seen_names:
            raise ValueError(f"underlying {m.name} is listed twice")
        if m.id in seen_ids:
            raise ValueError(f"underlyings {seen_ids[m.id]} and {m.name} share id {m.id}")
        seen_names.add(m.name)
        seen_ids[m.id] = m.name


def load_underlyings() -> tuple[UnderlyingModel, ...]:
    """The packaged ``resources/exchange/underlyings.csv``."""
    from cockpit.reference_data import resources_dir

    path = resources_dir() / "exchange" / "underlyings.csv"
    return parse_underlyings(path.read_text(encoding="utf-8"))


# ---- expiries ---------------------------------------------------------------------------


def next_monthly_expiries(today: date, count: int, calendar: TradingCalendar) -> tuple[date, ...]:
    """The next ``count`` monthly expiries on or after ``today`` (an expiry trades until
    15:30 on its day, so today's expiry is still listed)."""
    found: list[date] = []
    year, month = today.year, today.month
    while len(found) < count:
        expiry = calendar.monthly_expiry(year, month)
        if expiry >= today:
            found.append(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(found)


# ---- tokens -----------------------------------------------------------------------------


def instrument_token(exchange_token: int, segment_code: int) -> int:
    """Kite's instrument token: the exchange token shifted left a byte, the segment below."""
    if not 0 <= exchange_token < 1 << 24:
        raise ValueError(f"exchange token {exchange_token} does not fit in 24 bits")
    return (exchange_token << 8) | segment_code


def segment_code(token: int) -> int:
    return token & 0xFF


def derivative_exchange_token(
    model: UnderlyingModel, expiry: date, strike: Decimal | None, right: InstrumentType
) -> int:
    """The exchange token of a future (``strike`` None) or option; see the module docstring."""
    week = ((expiry - _TOKEN_EPOCH).days // 7) % _WEEK_SLOTS
    if right is InstrumentType.FUT:
        contract = 0
    else:
        if strike is None:
            raise ValueError(f"{model.name} {expiry} {right}: an option needs a strike")
        slots = strike / model.strike_step
        if slots != slots.to_integral_value():
            raise ValueError(
                f"{model.name} strike {strike} is not a multiple of its step {model.strike_step}"
            )
        contract = 1 + 2 * (int(slots) % _STRIKE_SLOTS) + (1 if right is InstrumentType.PE else 0)
    return (model.id << 18) | (week << 10) | contract


# ---- the universe -----------------------------------------------------------------------


_NFO_OPT = "NFO-OPT"
_NFO_FUT = "NFO-FUT"
_INDICES = "INDICES"
_NSE = "NSE"


@dataclass(frozen=True, slots=True)
class _Listing:
    """One underlying's contracts on one day."""

    model: UnderlyingModel
    spot: Instrument
    futures: tuple[Instrument, ...]
    expiries: tuple[date, ...]
    monthly: frozenset[date]
    chains: dict[date, tuple[Instrument, ...]]


class Universe:
    """Every contract the paper exchange lists on ``today``, found by token, by symbol, and
    by underlying and expiry. Built by :func:`build_universe`; immutable."""

    def __init__(
        self,
        today: date,
        listings: Sequence[_Listing],
        *,
        specs: ContractSpecTable,
        calendar: TradingCalendar,
    ) -> None:
        self._today = today
        self._specs = specs
        self._calendar = calendar
        self._listings = {x.model.name: x for x in listings}
        ordered: list[Instrument] = []
        for listing in listings:
            ordered.append(listing.spot)
            ordered.extend(listing.futures)
            for expiry in listing.expiries:
                ordered.extend(listing.chains[expiry])
        self._instruments = tuple(ordered)
        self._by_token: dict[int, Instrument] = {}
        self._by_symbol: dict[tuple[str, str], Instrument] = {}
        self._underlying_of: dict[int, str] = {}
        for listing in listings:
            name = listing.model.name
            for inst in (listing.spot, *listing.futures):
                self._add(inst, name)
            for chain in listing.chains.values():
                for inst in chain:
                    self._add(inst, name)

    def _add(self, inst: Instrument, underlying: str) -> None:
        token = inst.instrument_token
        if token in self._by_token:
            raise ValueError(
                f"token {token} of {inst.tradingsymbol} is already "
                f"{self._by_token[token].tradingsymbol}"
            )
        key = (str(inst.exchange), inst.tradingsymbol)
        if key in self._by_symbol:
            raise ValueError(f"{inst.exchange}:{inst.tradingsymbol} is listed twice")
        self._by_token[token] = inst
        self._by_symbol[key] = inst
        self._underlying_of[token] = underlying

    # ---- lookups ------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return self._today

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """Every row: per underlying its spot row, futures, then options by expiry, strike,
        call before put."""
        return self._instruments

    @property
    def underlyings(self) -> tuple[UnderlyingModel, ...]:
        return tuple(x.model for x in self._listings.values())

    def __len__(self) -> int:
        return len(self._instruments)

    def __contains__(self, token: object) -> bool:
        return token in self._by_token

    def model(self, underlying: str) -> UnderlyingModel:
        return self._listing(underlying).model

    def get(self, token: int) -> Instrument:
        try:
            return self._by_token[token]
        except KeyError:
            raise UnknownInstrumentError(
                f"no instrument with token {token} on the paper exchange"
            ) from None

    def by_symbol(self, exchange: Exchange | str, tradingsymbol: str) -> Instrument:
        try:
            return self._by_symbol[(str(exchange), tradingsymbol)]
        except KeyError:
            raise UnknownInstrumentError(
                f"no instrument {exchange}:{tradingsymbol} on the paper exchange"
            ) from None

    def underlying_of(self, token: int) -> str:
        """The underlying a token belongs to (its spot row included)."""
        try:
            return self._underlying_of[token]
        except KeyError:
            raise UnknownInstrumentError(
                f"no instrument with token {token} on the paper exchange"
            ) from None

    def _listing(self, underlying: str) -> _Listing:
        try:
            return self._listings[underlying]
        except KeyError:
            listed = ", ".join(self._listings)
            raise UnknownInstrumentError(
                f"no underlying {underlying} on the paper exchange (listed: {listed})"
            ) from None

    def spot_instrument(self, underlying: str) -> Instrument:
        return self._listing(underlying).spot

    def spot_token(self, underlying: str) -> int:
        return self._listing(underlying).spot.instrument_token

    def futures(self, underlying: str) -> tuple[Instrument, ...]:
        """Futures, nearest expiry first."""
        return self._listing(underlying).futures

    def expiries(self, underlying: str) -> tuple[date, ...]:
        """Option expiries, earliest first."""
        return self._listing(underlying).expiries

    def is_monthly(self, underlying: str, expiry: date) -> bool:
        """Whether ``expiry`` is the designated monthly contract (monthly symbol form)."""
        return expiry in self._listing(underlying).monthly

    def options(self, underlying: str, expiry: date) -> tuple[Instrument, ...]:
        """The chain by ascending strike, the call before the put at each strike."""
        listing = self._listing(underlying)
        try:
            return listing.chains[expiry]
        except KeyError:
            listed = ", ".join(str(d) for d in listing.expiries)
            raise UnknownInstrumentError(
                f"no {underlying} options expiring {expiry} (expiries: {listed})"
            ) from None

    # ---- the dump and the next day --------------------------------------------------------

    def to_kite_csv(self) -> str:
        """Kite's instruments dump (``GET /instruments``) for this universe, byte for byte in
        Kite's format: strikes ``24000.0``, ticks ``0.05``, ``name`` quoted for derivatives
        and stocks, index rows with zero tick and lot."""
        lines = [
            "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
            "tick_size,lot_size,instrument_type,segment,exchange"
        ]
        for inst in self._instruments:
            lines.append(_dump_row(inst))
        return "\n".join(lines) + "\n"

    def roll(self, today: date) -> Universe:
        """The universe for a later trading day: expired contracts drop out, new expiries
        are listed, and contracts listed on both days keep their tokens and symbols.

        Positions in contracts that drop out must be settled first: the matching engine's
        expiry settlement runs at the expiry's close, before the server rolls the universe,
        so no position refers to a token that disappears.
        """
        if today < self._today:
            raise ValueError(f"cannot roll the universe back from {self._today} to {today}")
        return build_universe(self.underlyings, self._specs, self._calendar, today)


def _dump_row(inst: Instrument) -> str:
    expiry = inst.expiry.isoformat() if inst.expiry is not None else ""
    tick = _rupees_text(inst.tick_size_paise)
    if inst.segment == _INDICES:
        name = inst.name
        strike = "0"
    elif inst.instrument_type is InstrumentType.EQ:
        name = _quoted(inst.name)
        strike = "0"
    else:
        name = _quoted(inst.name)
        strike = _strike_cell(inst.strike)
    return (
        f"{inst.instrument_token},{inst.exchange_token},{inst.tradingsymbol},{name},0,"
        f"{expiry},{strike},{tick},{inst.lot_size},{inst.instrument_type},{inst.segment},"
        f"{inst.exchange}"
    )


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _strike_cell(strike: Decimal | None) -> str:
    # Kite writes the strike as a Python float would: 24000.0, 7.5, and 0.0 for futures.
    if strike is None:
        return "0.0"
    text = format(strike.normalize(), "f")
    return text if "." in text else text + ".0"


def _rupees_text(paise: int) -> str:
    # 5 → "0.05", 10 → "0.1", 0 → "0", as Kite writes tick sizes.
    if paise == 0:
        return "0"
    rupees = Decimal(paise) / 100
    text = format(rupees.normalize(), "f")
    return text if "." in text else text + ".0"


def build_universe(
    models: Iterable[UnderlyingModel],
    specs: ContractSpecTable,
    calendar: TradingCalendar,
    today: date,
) -> Universe:
    """The contracts listed on ``today`` (see the module docstring for what is listed).

    Lot size and freeze limit are the contract specs in force on ``today``; an underlying
    without a spec raises ValueError naming it.
    """
    models = tuple(models)
    _check_unique(models)
    listings = [_list_underlying(m, specs, calendar, today) for m in models]
    return Universe(today, listings, specs=specs, calendar=calendar)


def _list_underlying(
    model: UnderlyingModel, specs: ContractSpecTable, calendar: TradingCalendar, today: date
) -> _Listing:
    spec = specs.lookup(model.name, today)
    if spec is None:
        raise ValueError(
            f"underlying {model.name}: no contract spec (lot size, freeze limit) in force on "
            f"{today}; add it to resources/nse/contract_specs.csv"
        )
    lot, freeze = spec.lot_size, spec.freeze_quantity
    spot = _spot_instrument(model)
    monthlies = next_monthly_expiries(today, MONTHLY_EXPIRIES, calendar)
    expiries = set(monthlies)
    if model.name in WEEKLY_UNDERLYINGS:
        expiries.update(calendar.weekly_expiries(today, NIFTY_WEEKLY_EXPIRIES))
    monthly = frozenset(monthlies)

    futures = tuple(
        _derivative(model, expiry, None, InstrumentType.FUT, lot=lot, freeze=freeze, weekly=False)
        for expiry in monthlies
    )
    step = model.strike_step
    atm = (Decimal(repr(model.spot)) / step).to_integral_value() * step
    strikes = [atm + k * step for k in range(-model.strikes_each_side, model.strikes_each_side + 1)]
    strikes = [s for s in strikes if s > 0]
    chains: dict[date, tuple[Instrument, ...]] = {}
    for expiry in sorted(expiries):
        weekly = expiry not in monthly
        chains[expiry] = tuple(
            _derivative(model, expiry, strike, right, lot=lot, freeze=freeze, weekly=weekly)
            for strike in strikes
            for right in (InstrumentType.CE, InstrumentType.PE)
        )
    return _Listing(
        model=model,
        spot=spot,
        futures=futures,
        expiries=tuple(sorted(expiries)),
        monthly=monthly,
        chains=chains,
    )


def _spot_instrument(model: UnderlyingModel) -> Instrument:
    exchange_token = _SPOT_TOKEN_BASE + model.id
    if model.is_index:
        # Kite's index rows: segment INDICES, tick and lot 0, name = the index's symbol.
        return Instrument(
            instrument_token=instrument_token(exchange_token, SEGMENT_INDICES),
            exchange_token=exchange_token,
            exchange=Exchange.NSE,
            segment=_INDICES,
            tradingsymbol=model.spot_symbol,
            name=model.spot_symbol,
            expiry=None,
            strike=None,
            instrument_type=InstrumentType.EQ,
            lot_size=0,
            tick_size_paise=0,
        )
    return Instrument(
        instrument_token=instrument_token(exchange_token, SEGMENT_NSE),
        exchange_token=exchange_token,
        exchange=Exchange.NSE,
        segment=_NSE,
        tradingsymbol=model.spot_symbol,
        name=model.name,
        expiry=None,
        strike=None,
        instrument_type=InstrumentType.EQ,
        lot_size=1,
        tick_size_paise=STOCK_TICK_PAISE,
    )


def _derivative(
    model: UnderlyingModel,
    expiry: date,
    strike: Decimal | None,
    kind: InstrumentType,
    *,
    lot: int,
    freeze: int | None,
    weekly: bool,
) -> Instrument:
    exchange_token = derivative_exchange_token(model, expiry, strike, kind)
    symbol = tradingsymbol_for(model.name, expiry, ContractKind(kind.value), strike, weekly=weekly)
    return Instrument(
        instrument_token=instrument_token(exchange_token, SEGMENT_NFO),
        exchange_token=exchange_token,
        exchange=Exchange.NFO,
        segment=_NFO_FUT if kind is InstrumentType.FUT else _NFO_OPT,
        tradingsymbol=symbol,
        name=model.name,
        expiry=expiry,
        strike=None if strike is None else Decimal(format(strike.normalize(), "f")),
        instrument_type=kind,
        lot_size=lot,
        tick_size_paise=DERIVATIVE_TICK_PAISE,
        freeze_quantity=freeze,
    )


__all__ = [
    "DERIVATIVE_TICK_PAISE",
    "SEGMENT_INDICES",
    "SEGMENT_NFO",
    "SEGMENT_NSE",
    "UnderlyingKind",
    "UnderlyingModel",
    "Universe",
    "build_universe",
    "derivative_exchange_token",
    "instrument_token",
    "load_underlyings",
    "next_monthly_expiries",
    "parse_underlyings",
    "segment_code",
]
