"""Hand-made NIFTY chains for the strategy tests: listed instruments and a valued view whose
quotes, implied volatilities and deltas are set by the test, so every number can be checked by
hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from cockpit.clock import IST
from cockpit.domain.instruments import ChainRow, Exchange, Instrument, InstrumentType, OptionChain
from cockpit.domain.money import Paise, paise
from cockpit.marketdata.chain import ChainSide, ChainStrike, ChainView, years_to_expiry

NOW = datetime(2026, 12, 2, 11, 0, tzinfo=IST)
EXPIRY = date(2026, 12, 29)
LOT = 65
STRIKES = tuple(range(25000, 26901, 100))


@dataclass(frozen=True, slots=True)
class Q:
    """A hand-made quote in rupees (strings, as a trader writes them)."""

    bid: str | None = None
    ask: str | None = None
    ltp: str | None = None
    iv: float | None = None
    delta: float | None = None


def flat_iv(strike: int) -> float:
    return 0.15


def symbol(strike: int, right: str) -> str:
    return f"NIFTY26DEC{strike}{right}"


def _instrument(strike: int, right: str) -> Instrument:
    return Instrument(
        instrument_token=strike * 10 + (1 if right == "CE" else 2),
        exchange_token=strike,
        exchange=Exchange.NFO,
        segment="NFO-OPT",
        tradingsymbol=symbol(strike, right),
        name="NIFTY",
        expiry=EXPIRY,
        strike=Decimal(strike),
        instrument_type=InstrumentType(right),
        lot_size=LOT,
        tick_size_paise=5,
        freeze_quantity=1800,
    )


def _side(instrument: Instrument, q: Q, iv: float) -> ChainSide:
    def p(text: str | None) -> Paise | None:
        return None if text is None else paise(text)

    return ChainSide(
        tradingsymbol=instrument.tradingsymbol,
        instrument_token=instrument.instrument_token,
        lot_size=instrument.lot_size,
        bid=p(q.bid),
        ask=p(q.ask),
        ltp=p(q.ltp),
        iv=q.iv if q.iv is not None else iv,
        delta=q.delta,
    )


def make_world(
    quotes: Mapping[tuple[int, str], Q],
    *,
    strikes: tuple[int, ...] = STRIKES,
    spot: str = "25900",
    forward: str | None = "25950",
    iv: Callable[[int], float] = flat_iv,
    now: datetime = NOW,
) -> tuple[OptionChain, ChainView]:
    """An OptionChain of ``strikes`` (calls and puts) and its ChainView at ``now``: the given
    quotes, every other option unquoted with ``iv(strike)`` and no delta."""
    rows: list[ChainRow] = []
    valued: list[ChainStrike] = []
    for k in strikes:
        call, put = _instrument(k, "CE"), _instrument(k, "PE")
        rows.append(ChainRow(Decimal(k), call, put))
        valued.append(
            ChainStrike(
                Decimal(k),
                _side(call, quotes.get((k, "CE"), Q()), iv(k)),
                _side(put, quotes.get((k, "PE"), Q()), iv(k)),
            )
        )
    chain = OptionChain(Exchange.NFO, "NIFTY", EXPIRY, tuple(rows))
    view = ChainView(
        underlying="NIFTY",
        expiry=EXPIRY,
        at=now,
        spot=paise(spot),
        forward=paise(forward) if forward is not None else None,
        forward_source="future" if forward is not None else "none",
        years=years_to_expiry(EXPIRY, now),
        rows=tuple(valued),
    )
    return chain, view


def expired(view: ChainView) -> ChainView:
    return replace(view, years=0.0)
