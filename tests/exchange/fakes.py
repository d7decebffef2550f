"""Hand-written fakes for the exchange tests: instruments, a universe and a market whose
depth, last price, clock, forwards, vols and settlement prices the test sets by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from cockpit.clock import IST
from cockpit.domain.market_data import DepthLevel, Quote
from cockpit.domain.money import Paise
from cockpit.exchange.margin import InstrumentLike
from cockpit.exchange.matching import exchange_of

_I = TypeVar("_I", bound=InstrumentLike)

MONDAY_10AM = datetime(2026, 1, 12, 10, 0, tzinfo=IST)
WEEKLY = date(2026, 1, 13)  # a Tuesday
MONTHLY = date(2026, 1, 27)


@dataclass(frozen=True, slots=True)
class FakeInstrument:
    instrument_token: int
    tradingsymbol: str
    name: str
    expiry: date | None
    strike: Decimal | None
    instrument_type: str
    lot_size: int
    tick_size_paise: int = 5
    freeze_quantity: int | None = None
    exchange: str = "NFO"


class FakeUniverse:
    """Instruments by token and by (exchange, symbol); holds fakes or real domain Instruments."""

    def __init__(self, *instruments: InstrumentLike) -> None:
        self._by_token: dict[int, InstrumentLike] = {}
        for instrument in instruments:
            self.add(instrument)

    def add(self, instrument: _I) -> _I:
        self._by_token[instrument.instrument_token] = instrument
        return instrument

    def get(self, token: int) -> InstrumentLike | None:
        return self._by_token.get(token)

    def by_symbol(self, exchange: str, tradingsymbol: str) -> InstrumentLike | None:
        for instrument in self._by_token.values():
            if exchange_of(instrument) == exchange and instrument.tradingsymbol == tradingsymbol:
                return instrument
        return None


class FakeMarket:
    """Deterministic quotes the test controls. ``book()`` sets one instrument's depth and
    last price; ``advance()`` moves the clock."""

    def __init__(self, now: datetime = MONDAY_10AM) -> None:
        self.now = now
        self.spots: dict[str, int] = {}
        self.forwards: dict[tuple[str, date], int] = {}
        self.vols: dict[int, float] = {}
        self.settlements: dict[tuple[str, date], int] = {}
        self._quotes: dict[int, Quote] = {}

    def book(
        self,
        instrument: InstrumentLike | int,
        *,
        last: float | None = None,
        bids: list[tuple[float, int]] | None = None,
        asks: list[tuple[float, int]] | None = None,
    ) -> None:
        """Prices in rupees for readability (converted exactly to paise)."""
        token = instrument if isinstance(instrument, int) else instrument.instrument_token
        old = self._quotes.get(token)
        last_paise = (
            px(last) if last is not None else (old.last_price if old is not None else Paise(0))
        )
        self._quotes[token] = Quote(
            instrument_token=token,
            at=self.now,
            last_price=last_paise,
            bids=tuple(DepthLevel(px(p), q, 1) for p, q in (bids or [])),
            asks=tuple(DepthLevel(px(p), q, 1) for p, q in (asks or [])),
        )

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    # ---- MarketView ----------------------------------------------------------------------

    def quote(self, token: int) -> Quote:
        quote = self._quotes.get(token)
        if quote is None:
            return Quote(instrument_token=token, at=self.now, last_price=Paise(0))
        return quote

    def spot(self, underlying: str) -> Paise:
        return Paise(self.spots[underlying])

    def forward(self, underlying: str, expiry: date) -> Paise:
        return Paise(self.forwards.get((underlying, expiry), self.spots[underlying]))

    def model_vol(self, token: int) -> float:
        return self.vols.get(token, 0.15)

    def settlement_price(self, underlying: str, expiry: date) -> Paise:
        return Paise(self.settlements[(underlying, expiry)])


def px(rupees: float | str) -> Paise:
    """Rupees → paise, exactly (``px(100.05)`` == 10005)."""
    return Paise(int((Decimal(str(rupees)) * 100).to_integral_value()))


def nifty_option(
    token: int, strike: int, right: str, expiry: date = WEEKLY, *, freeze: int = 1800
) -> FakeInstrument:
    if expiry == WEEKLY:
        symbol = f"NIFTY26113{strike}{right}"
    else:
        symbol = f"NIFTY26{expiry:%b}".upper() + f"{strike}{right}"
    return FakeInstrument(
        instrument_token=token,
        tradingsymbol=symbol,
        name="NIFTY",
        expiry=expiry,
        strike=Decimal(strike),
        instrument_type=right,
        lot_size=65,
        freeze_quantity=freeze,
    )


def nifty_future(token: int = 900, expiry: date = MONTHLY) -> FakeInstrument:
    return FakeInstrument(
        instrument_token=token,
        tradingsymbol=f"NIFTY26{expiry:%b}FUT".upper(),
        name="NIFTY",
        expiry=expiry,
        strike=None,
        instrument_type="FUT",
        lot_size=65,
        freeze_quantity=1800,
    )


def stock_option(token: int, strike: int, right: str, expiry: date = MONTHLY) -> FakeInstrument:
    return FakeInstrument(
        instrument_token=token,
        tradingsymbol=f"RELIANCE26JAN{strike}{right}",
        name="RELIANCE",
        expiry=expiry,
        strike=Decimal(strike),
        instrument_type=right,
        lot_size=500,
        tick_size_paise=5,
        freeze_quantity=10_000,
    )


def reliance_equity(token: int = 738561) -> FakeInstrument:
    return FakeInstrument(
        instrument_token=token,
        tradingsymbol="RELIANCE",
        name="RELIANCE",
        expiry=None,
        strike=None,
        instrument_type="EQ",
        lot_size=1,
        tick_size_paise=10,
        freeze_quantity=None,
        exchange="NSE",
    )
