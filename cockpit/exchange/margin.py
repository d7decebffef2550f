"""The paper exchange's margin: Kite's margin endpoints and funds checks on the SPAN-like estimate.

The model itself (16 SPAN scenarios per underlying, short option minimum, exposure margin,
premium never netted) is :mod:`cockpit.risk.margin`, Cockpit's one margin implementation; see
its docstring for the sources and simplifications. This module turns the exchange's orders
and positions into its arrays: legs are netted per instrument (EQ legs are ignored: delivered
shares are paid for in cash, not margined), forwards, spots and model vols come from the
simulated market, time to expiry runs to the 15:30 IST close, and contracts expiring today
pay the expiry-day exposure margin. On top of it sit Kite's shapes: ``POST /margins/orders``
(each order alone, or what it adds to the positions) and ``POST /margins/basket`` (the basket
netted, with and without the positions). Long options bought pay their premium (order price ×
quantity; the best ask, or the last price without one, for a MARKET order); premium received
is reported in ``premium_received`` and never subtracted from ``total`` (OpenAlgo #1620: Kite's
basket margin nets the credit of short legs, so a hedged basket looks cheaper than what will
be blocked while its legs fill); the credit reaches the account only as cash when a sell
fills. All amounts are integer paise, rounded up to the next paisa.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cockpit.clock import IST
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise
from cockpit.risk.margin import (
    DEFAULT_INDICES,
    DEFAULT_PARAMETERS,
    SCENARIOS,
    MarginEstimate,
    MarginLegs,
    MarginParameters,
    MarketState,
    estimate_margin,
    premium_flows,
)
from cockpit.risk.margin import option_value as black76

FloatArray = npt.NDArray[np.float64]

#: Derivatives stop trading at 15:30 IST on their expiry day.
EXPIRY_CLOSE = time(15, 30)
_YEAR_SECONDS = 365.0 * 24 * 3600

ZERO = Paise(0)


# ---- what the margin model reads ----------------------------------------------------------


class InstrumentLike(Protocol):
    """The fields of ``cockpit.domain.instruments.Instrument`` the exchange reads."""

    @property
    def instrument_token(self) -> int: ...
    @property
    def tradingsymbol(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def expiry(self) -> date | None: ...
    @property
    def strike(self) -> Decimal | None: ...
    @property
    def instrument_type(self) -> str: ...
    @property
    def lot_size(self) -> int: ...
    @property
    def tick_size_paise(self) -> int: ...
    @property
    def freeze_quantity(self) -> int | None: ...


class PricingMarket(Protocol):
    """The part of ``cockpit.exchange.market.Market`` the margin model calls."""

    @property
    def now(self) -> datetime: ...
    def quote(self, token: int) -> Quote: ...
    def spot(self, underlying: str) -> Paise: ...
    def forward(self, underlying: str, expiry: date) -> Paise: ...
    def model_vol(self, token: int) -> float: ...


@dataclass(frozen=True, slots=True)
class MarginLeg:
    """One order (as if filled) or position. ``quantity`` is signed: + long/buy, − short/sell.
    ``price`` is the order's limit price for premium; None means at market."""

    instrument: InstrumentLike
    quantity: int
    price: Paise | None = None


@dataclass(frozen=True, slots=True)
class MarginBreakdown:
    """Kite's per-order margin fields, in paise. ``total`` never includes ``premium_received``."""

    span: Paise = ZERO
    exposure: Paise = ZERO
    option_premium: Paise = ZERO
    additional: Paise = ZERO
    premium_received: Paise = ZERO

    @property
    def total(self) -> Paise:
        return Paise(self.span + self.exposure + self.option_premium + self.additional)

    def minus(self, other: MarginBreakdown) -> MarginBreakdown:
        """Component-wise difference floored at zero (an order that reduces risk frees
        margin, but an incremental requirement is never negative)."""
        return MarginBreakdown(
            span=Paise(max(0, self.span - other.span)),
            exposure=Paise(max(0, self.exposure - other.exposure)),
            option_premium=Paise(max(0, self.option_premium - other.option_premium)),
            additional=Paise(max(0, self.additional - other.additional)),
            premium_received=Paise(max(0, self.premium_received - other.premium_received)),
        )


@dataclass(frozen=True, slots=True)
class BasketMargin:
    initial: MarginBreakdown
    final: MarginBreakdown
    orders: tuple[MarginBreakdown, ...]


def market_now(market: PricingMarket) -> datetime:
    """The market's clock in IST, whether the market exposes ``now`` as a value or a method."""
    now: Any = market.now
    value = now() if callable(now) else now
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError(f"market.now must be an aware datetime, got {value!r}")
    return value.astimezone(IST)


def expiry_close(expiry: date) -> datetime:
    return datetime.combine(expiry, EXPIRY_CLOSE, tzinfo=IST)


def years_to_expiry(expiry: date, now: datetime) -> float:
    return max((expiry_close(expiry) - now).total_seconds() / _YEAR_SECONDS, 0.0)


# ---- from orders and positions to the model's arrays ----------------------------------------


def _is_option(instrument: InstrumentLike) -> bool:
    return str(instrument.instrument_type) in {"CE", "PE"}


def _is_future(instrument: InstrumentLike) -> bool:
    return str(instrument.instrument_type) == "FUT"


def _net_derivatives(legs: Iterable[MarginLeg]) -> list[tuple[InstrumentLike, int]]:
    """Non-zero net quantity per option or future, in first-seen order."""
    net: dict[int, tuple[InstrumentLike, int]] = {}
    for leg in legs:
        token = leg.instrument.instrument_token
        held = net.get(token)
        net[token] = (leg.instrument, (held[1] if held else 0) + leg.quantity)
    return [
        (instrument, quantity)
        for instrument, quantity in net.values()
        if quantity != 0 and (_is_option(instrument) or _is_future(instrument))
    ]


def _estimate(
    legs: Iterable[MarginLeg], market: PricingMarket, params: MarginParameters
) -> MarginEstimate | None:
    members = _net_derivatives(legs)
    if not members:
        return None
    now = market_now(market)
    n = len(members)
    forward, spot, vol = np.empty(n), np.empty(n), np.zeros(n)
    strike, years = np.zeros(n), np.empty(n)
    expiry_key = np.empty(n, dtype=np.int64)
    for i, (instrument, _) in enumerate(members):
        expiry = instrument.expiry
        if expiry is None:
            raise ValueError(f"{instrument.tradingsymbol}: a derivative without an expiry")
        forward[i] = float(market.forward(instrument.name, expiry))
        spot[i] = float(market.spot(instrument.name))
        years[i] = years_to_expiry(expiry, now)
        expiry_key[i] = expiry.toordinal()
        if _is_option(instrument):
            strike[i] = float(instrument.strike or 0) * 100.0  # rupees → paise, like forwards
            vol[i] = float(market.model_vol(instrument.instrument_token))
    today = now.date().toordinal()
    arrays = MarginLegs(
        underlying=tuple(instrument.name for instrument, _ in members),
        quantity=np.array([q for _, q in members], dtype=np.float64),
        is_option=np.array([_is_option(i) for i, _ in members], dtype=np.bool_),
        is_call=np.array([str(i.instrument_type) == "CE" for i, _ in members], dtype=np.bool_),
        strike=strike,
        years=years,
        expiry=expiry_key,
        expires_today=expiry_key == today,
    )
    return estimate_margin(arrays, MarketState(forward=forward, spot=spot, vol=vol), params)


def span_by_underlying(
    legs: Iterable[MarginLeg],
    market: PricingMarket,
    params: MarginParameters = DEFAULT_PARAMETERS,
) -> dict[str, Paise]:
    """SPAN charge per underlying for a portfolio of derivative legs."""
    estimate = _estimate(legs, market, params)
    return {} if estimate is None else estimate.span_by_underlying


def exposure_margin(
    legs: Iterable[MarginLeg],
    market: PricingMarket,
    params: MarginParameters = DEFAULT_PARAMETERS,
) -> Paise:
    """ELM on futures and short options of the netted portfolio."""
    estimate = _estimate(legs, market, params)
    return ZERO if estimate is None else estimate.exposure


def market_price_for(leg: MarginLeg, market: PricingMarket) -> Paise:
    """The price a leg is valued at for premium: its limit price, else the touch it would
    take (ask for a buy, bid for a sell), else the last price."""
    if leg.price is not None and leg.price > 0:
        return leg.price
    quote = market.quote(leg.instrument.instrument_token)
    level = quote.best_ask if leg.quantity > 0 else quote.best_bid
    return level.price if level is not None else quote.last_price


def premiums(orders: Iterable[MarginLeg], market: PricingMarket) -> tuple[Paise, Paise]:
    """(premium payable by option buys, premium received by option sells)."""
    options = [leg for leg in orders if _is_option(leg.instrument) and leg.quantity != 0]
    return premium_flows(
        [leg.quantity for leg in options],
        [market_price_for(leg, market) for leg in options],
        [True] * len(options),
    )


def portfolio_margin(
    orders: Sequence[MarginLeg],
    positions: Sequence[MarginLeg],
    market: PricingMarket,
    params: MarginParameters = DEFAULT_PARAMETERS,
) -> MarginBreakdown:
    """Margin of positions plus orders taken together; premium only for the orders."""
    estimate = _estimate([*positions, *orders], market, params)
    paid, received = premiums(orders, market)
    return MarginBreakdown(
        span=ZERO if estimate is None else estimate.span,
        exposure=ZERO if estimate is None else estimate.exposure,
        option_premium=paid,
        premium_received=received,
    )


def order_margins(
    orders: Sequence[MarginLeg],
    positions: Sequence[MarginLeg],
    market: PricingMarket,
    params: MarginParameters = DEFAULT_PARAMETERS,
) -> list[MarginBreakdown]:
    """Each order on its own, like ``POST /margins/orders``. With positions, each order's
    margin is what it adds to them (incremental, floored at zero per component)."""
    base = portfolio_margin([], positions, market, params) if positions else MarginBreakdown()
    result = []
    for order in orders:
        alone = portfolio_margin([order], positions, market, params)
        result.append(alone.minus(base) if positions else alone)
    return result


def basket_margin(
    orders: Sequence[MarginLeg],
    positions: Sequence[MarginLeg],
    market: PricingMarket,
    *,
    consider_positions: bool,
    params: MarginParameters = DEFAULT_PARAMETERS,
) -> BasketMargin:
    """``POST /margins/basket``: ``initial`` is the basket alone (legs hedge each other),
    ``final`` what the basket adds to the existing positions (equal to ``initial`` when
    ``consider_positions`` is false), ``orders`` each order alone."""
    initial = portfolio_margin(orders, [], market, params)
    if consider_positions and positions:
        together = portfolio_margin(orders, positions, market, params)
        final = together.minus(portfolio_margin([], positions, market, params))
    else:
        final = initial
    return BasketMargin(
        initial=initial,
        final=final,
        orders=tuple(order_margins(orders, [], market, params)),
    )


__all__ = [
    "DEFAULT_INDICES",
    "DEFAULT_PARAMETERS",
    "SCENARIOS",
    "BasketMargin",
    "InstrumentLike",
    "MarginBreakdown",
    "MarginLeg",
    "MarginParameters",
    "PricingMarket",
    "basket_margin",
    "black76",
    "expiry_close",
    "exposure_margin",
    "market_now",
    "market_price_for",
    "order_margins",
    "portfolio_margin",
    "premiums",
    "span_by_underlying",
    "years_to_expiry",
]
