"""A live option chain valued: bid, ask, LTP and OI per strike with implied volatility and
greeks, computed in one vectorised pass from the latest quotes.

Input is the listed chain (:class:`~cockpit.domain.instruments.OptionChain`), the latest
:class:`Quote` per token (any subset: a strike without a quote shows blanks), the underlying's
spot and, when there is one, the same expiry's future. The forward used for Black-76 is, in
order of preference: the future's mid (or last), put–call parity at the strike nearest the money
where both sides have a two-sided market (``F = K + (C − P)·e^{rT}``), else spot × e^{rT}. Each
option's implied volatility is solved from its mid when both sides are quoted, else from its
last price; greeks come from that volatility (delta and gamma per unit of the underlying, theta
in rupees per calendar day, vega in rupees per volatility point). Time to expiry runs to 15:30
IST on the expiry date, ACT/365. Prices stay integer paise; IV and greeks are floats because
they are model outputs, never order values. No Qt, no asyncio.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

import numpy as np

from cockpit.clock import IST
from cockpit.domain.instruments import Instrument, OptionChain
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise
from cockpit.pricing import greeks, implied_vol

EXPIRY_CLOSE = time(15, 30)
DAYS_PER_YEAR = 365.0
DEFAULT_RATE = 0.065
_MIN_YEARS = 1e-9


@dataclass(frozen=True, slots=True)
class ChainSide:
    """One option of a strike as the chain shows it. Prices in paise (None: not quoted)."""

    tradingsymbol: str
    instrument_token: int
    lot_size: int
    bid: Paise | None = None
    ask: Paise | None = None
    ltp: Paise | None = None
    oi: int | None = None
    iv: float | None = None  # annual, 0.15 = 15%
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None  # rupees per calendar day, per unit
    vega: float | None = None  # rupees per volatility point, per unit

    @property
    def mid(self) -> Paise | None:
        if self.bid is None or self.ask is None:
            return None
        return Paise((self.bid + self.ask) // 2)


@dataclass(frozen=True, slots=True)
class ChainStrike:
    strike: Decimal
    call: ChainSide | None
    put: ChainSide | None


@dataclass(frozen=True, slots=True)
class ChainView:
    underlying: str
    expiry: date
    at: datetime
    spot: Paise | None
    forward: Paise | None
    forward_source: str  # "future", "parity", "spot" or "none"
    years: float
    rows: tuple[ChainStrike, ...]

    @property
    def atm_index(self) -> int | None:
        """The row whose strike is nearest the forward (the spot if there is none)."""
        reference = self.forward if self.forward is not None else self.spot
        if reference is None or not self.rows:
            return None
        target = Decimal(int(reference)) / 100
        return min(range(len(self.rows)), key=lambda i: abs(self.rows[i].strike - target))


def years_to_expiry(expiry: date, now: datetime) -> float:
    close = datetime.combine(expiry, EXPIRY_CLOSE, tzinfo=IST)
    return max((close - now).total_seconds(), 0.0) / (DAYS_PER_YEAR * 86_400)


def mid_or_last(quote: Quote | None) -> float | None:
    """The mid of the touch in (fractional) paise, else the last price, else None."""
    if quote is None:
        return None
    if quote.bids and quote.asks:
        return (quote.bids[0].price + quote.asks[0].price) / 2
    return float(quote.last_price) if quote.last_price > 0 else None


def _parity_forward(
    chain: OptionChain, quotes: Mapping[int, Quote], near: float, years: float, rate: float
) -> float | None:
    best: tuple[float, float] | None = None
    for row in chain.rows:
        if row.call is None or row.put is None:
            continue
        call, put = quotes.get(row.call.instrument_token), quotes.get(row.put.instrument_token)
        if call is None or put is None or not (call.bids and call.asks and put.bids and put.asks):
            continue
        strike = float(row.strike) * 100
        distance = abs(strike - near)
        if best is None or distance < best[0]:
            c = (call.bids[0].price + call.asks[0].price) / 2
            p = (put.bids[0].price + put.asks[0].price) / 2
            best = (distance, strike + (c - p) * math.exp(rate * years))
    return None if best is None else best[1]


def _side(instrument: Instrument, quote: Quote | None) -> ChainSide:
    if quote is None:
        return ChainSide(instrument.tradingsymbol, instrument.instrument_token, instrument.lot_size)
    return ChainSide(
        tradingsymbol=instrument.tradingsymbol,
        instrument_token=instrument.instrument_token,
        lot_size=instrument.lot_size,
        bid=quote.bids[0].price if quote.bids else None,
        ask=quote.asks[0].price if quote.asks else None,
        ltp=quote.last_price if quote.last_price > 0 else None,
        oi=quote.open_interest,
    )


def value_chain(
    chain: OptionChain,
    quotes: Mapping[int, Quote],
    *,
    now: datetime,
    spot: Paise | None,
    future: Quote | None = None,
    rate: float = DEFAULT_RATE,
) -> ChainView:
    """Value every option of ``chain`` from ``quotes`` at ``now`` (see the module docstring)."""
    years = years_to_expiry(chain.expiry, now)
    forward: float | None = mid_or_last(future)
    source = "future"
    if forward is None:
        near = float(spot) if spot is not None else None
        forward = _parity_forward(chain, quotes, near, years, rate) if near is not None else None
        source = "parity"
    if forward is None and spot is not None:
        forward = float(spot) * math.exp(rate * years)
        source = "spot"
    if forward is None:
        source = "none"

    sides: list[tuple[int, bool, Instrument]] = []
    for i, row in enumerate(chain.rows):
        if row.call is not None:
            sides.append((i, True, row.call))
        if row.put is not None:
            sides.append((i, False, row.put))
    values: dict[tuple[int, bool], ChainSide] = {
        (i, is_call): _side(inst, quotes.get(inst.instrument_token)) for i, is_call, inst in sides
    }
    if forward is not None and sides:
        _add_analytics(chain, sides, values, quotes, forward, max(years, _MIN_YEARS), rate)
    rows = tuple(
        ChainStrike(row.strike, values.get((i, True)), values.get((i, False)))
        for i, row in enumerate(chain.rows)
    )
    return ChainView(
        underlying=chain.underlying,
        expiry=chain.expiry,
        at=now,
        spot=spot,
        forward=Paise(round(forward)) if forward is not None else None,
        forward_source=source,
        years=years,
        rows=rows,
    )


def _add_analytics(
    chain: OptionChain,
    sides: list[tuple[int, bool, Instrument]],
    values: dict[tuple[int, bool], ChainSide],
    quotes: Mapping[int, Quote],
    forward: float,
    years: float,
    rate: float,
) -> None:
    prices = np.array(
        [mid_or_last(quotes.get(inst.instrument_token)) or np.nan for _, _, inst in sides]
    )
    strikes = np.array([float(chain.rows[i].strike) * 100 for i, _, _ in sides])
    is_call = np.array([c for _, c, _ in sides])
    with np.errstate(all="ignore"):
        vols = implied_vol(prices, forward, strikes, years, rate=rate, is_call=is_call)
        g = greeks(forward, strikes, years, rate=rate, vol=np.nan_to_num(vols), is_call=is_call)
    for n, (i, call, _) in enumerate(sides):
        vol = float(vols[n])
        if not math.isfinite(vol):
            continue
        side = values[(i, call)]
        values[(i, call)] = ChainSide(
            **{
                **{f: getattr(side, f) for f in ChainSide.__dataclass_fields__},
                "iv": vol,
                "delta": float(g.delta[n]),
                # Prices are in paise: gamma is per paisa of the forward; per rupee it is ×100.
                "gamma": float(g.gamma[n]) * 100,
                "theta": float(g.theta[n]) / DAYS_PER_YEAR / 100,
                "vega": float(g.vega[n]) / 100 / 100,
            }
        )


__all__ = ["ChainSide", "ChainStrike", "ChainView", "value_chain", "years_to_expiry"]
