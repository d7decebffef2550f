"""A SPAN-like margin estimate for the paper exchange: funds checks and the margin endpoints.

Per underlying, the portfolio (existing positions plus the orders in question, as if filled)
is revalued under NSE Clearing's 16 risk scenarios (../shared/reference/nse-fo.md, SPAN): the
underlying moves 0, ±1/3, ±2/3 and ±1 × PSR, each with volatility up and down by VSR (14
scenarios, loss counted in full), and ±2 × PSR with volatility unchanged (loss counted 35%).
Options are revalued with Black-76 on the forward, all legs and all scenarios at once as numpy
arrays; futures move one for one with their forward. The SPAN charge of an underlying is its
worst weighted loss, less any net long option value (a long option's worst case is its premium,
which is paid in cash, not blocked as margin), never below zero; underlyings add up (no
inter-commodity credit, no calendar-spread charge, no short-option minimum — documented gaps).

Figures (dated in nse-fo.md; kept in :class:`MarginParameters`, per-underlying overridable):
PSR 9.3% of the underlying for index derivatives, 14.2% for stocks; VSR 25% of the option's
own model volatility, at least 4 vol points for indices and 10 for stocks; exposure margin
(ELM) 2% of notional for index derivatives and 3.5% for stock derivatives (NSE's stock ELM),
charged on futures and short options only, plus 2% on short index options on their expiry day
(SEBI, Nov 2024). Notional is the underlying's spot (options) or the future's forward times the
absolute quantity. Long options bought pay their premium (order price × quantity; the best ask,
or the model price without one, for a MARKET order).

Premium received is **not** netted (OpenAlgo #1620: Kite's basket margin nets the credit of
short legs, so a hedged basket looks cheaper than what will be blocked while its legs fill).
Here ``option_premium`` is what buys pay and ``premium_received`` is reported beside it but
never subtracted from ``total``; the credit reaches the account only as cash when a sell fills.
All amounts are integer paise; every float result is rounded up to the next paisa.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cockpit import pricing
from cockpit.clock import IST
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise

FloatArray = npt.NDArray[np.float64]

#: Derivatives stop trading at 15:30 IST on their expiry day.
EXPIRY_CLOSE = time(15, 30)
_YEAR_SECONDS = 365.0 * 24 * 3600
_MIN_T = 1e-6  # years; at expiry Black-76 collapses to intrinsic value
_MIN_VOL = 0.01

#: (price move as a fraction of PSR, volatility move as a multiple of VSR, loss weight)
SCENARIOS: tuple[tuple[float, int, float], ...] = (
    (0.0, +1, 1.0),
    (0.0, -1, 1.0),
    (+1 / 3, +1, 1.0),
    (+1 / 3, -1, 1.0),
    (-1 / 3, +1, 1.0),
    (-1 / 3, -1, 1.0),
    (+2 / 3, +1, 1.0),
    (+2 / 3, -1, 1.0),
    (-2 / 3, +1, 1.0),
    (-2 / 3, -1, 1.0),
    (+1.0, +1, 1.0),
    (+1.0, -1, 1.0),
    (-1.0, +1, 1.0),
    (-1.0, -1, 1.0),
    (+2.0, 0, 0.35),
    (-2.0, 0, 0.35),
)
_PRICE_MOVES = np.array([s[0] for s in SCENARIOS])[:, None]
_VOL_MOVES = np.array([s[1] for s in SCENARIOS], dtype=np.float64)[:, None]
_WEIGHTS = np.array([s[2] for s in SCENARIOS])[:, None]

ZERO = Paise(0)

DEFAULT_INDICES = frozenset(
    {"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX"}
)


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
class MarginParameters:
    index_underlyings: frozenset[str] = DEFAULT_INDICES
    index_psr: float = 0.093
    stock_psr: float = 0.142
    psr_override: dict[str, float] = field(default_factory=dict)
    vsr_fraction: float = 0.25
    index_vsr_floor: float = 0.04
    stock_vsr_floor: float = 0.10
    index_elm: float = 0.02
    stock_elm: float = 0.035
    expiry_day_extra_elm: float = 0.02
    rate: float = 0.0

    def is_index(self, underlying: str) -> bool:
        return underlying in self.index_underlyings

    def psr(self, underlying: str) -> float:
        if underlying in self.psr_override:
            return self.psr_override[underlying]
        return self.index_psr if self.is_index(underlying) else self.stock_psr


DEFAULT_PARAMETERS = MarginParameters()


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


# ---- Black-76 ---------------------------------------------------------------------------


def black76(
    forward: FloatArray,
    strike: FloatArray,
    years: FloatArray,
    *,
    rate: float,
    vol: FloatArray,
    is_call: npt.NDArray[np.bool_],
) -> FloatArray:
    """Black-76 option prices (:func:`cockpit.pricing.price`) with the margin model's floors:
    time at least ``_MIN_T`` years and volatility at least ``_MIN_VOL``, broadcast over any
    matching shapes (same units as inputs)."""
    return pricing.price(
        forward,
        strike,
        np.maximum(years, _MIN_T),
        rate=rate,
        vol=np.maximum(vol, _MIN_VOL),
        is_call=is_call,
    )


def market_now(market: PricingMarket) -> datetime:
    """The market's clock in IST, whether the market exposes ``now`` as a value or a method."""
    now: Any = market.now
    value = now() if callable(now) else now
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError(f"market.now must be an aware datetime, got {value!r}")
    return value.astimezone(IST)


def years_to_expiry(expiry: date, now: datetime) -> float:
    close = datetime.combine(expiry, EXPIRY_CLOSE, tzinfo=IST)
    return max((close - now).total_seconds() / _YEAR_SECONDS, 0.0)


def _ceil_paise(value: float) -> Paise:
    return Paise(max(0, math.ceil(value - 1e-6)))


# ---- the model ----------------------------------------------------------------------------


def _is_option(instrument: InstrumentLike) -> bool:
    return str(instrument.instrument_type) in {"CE", "PE"}


def _is_future(instrument: InstrumentLike) -> bool:
    return str(instrument.instrument_type) == "FUT"


def _net(legs: Iterable[MarginLeg]) -> dict[int, tuple[InstrumentLike, int]]:
    net: dict[int, tuple[InstrumentLike, int]] = {}
    for leg in legs:
        token = leg.instrument.instrument_token
        held = net.get(token)
        net[token] = (leg.instrument, (held[1] if held else 0) + leg.quantity)
    return net


def span_by_underlying(
    legs: Iterable[MarginLeg],
    market: PricingMarket,
    params: MarginParameters = DEFAULT_PARAMETERS,
) -> dict[str, Paise]:
    """SPAN charge per underlying for a portfolio of derivative legs (EQ legs are ignored:
    delivered shares are paid for in cash, not margined)."""
    groups: dict[str, list[tuple[InstrumentLike, int]]] = defaultdict(list)
    for instrument, quantity in _net(legs).values():
        if quantity != 0 and (_is_option(instrument) or _is_future(instrument)):
            groups[instrument.name].append((instrument, quantity))
    return {
        underlying: _span_of_group(underlying, members, market, params)
        for underlying, members in groups.items()
    }


def _span_of_group(
    underlying: str,
    members: Sequence[tuple[InstrumentLike, int]],
    market: PricingMarket,
    params: MarginParameters,
) -> Paise:
    now = market_now(market)
    n = len(members)
    qty = np.empty(n)
    fwd = np.empty(n)
    strike = np.ones(n)
    years = np.empty(n)
    vol = np.empty(n)
    is_call = np.zeros(n, dtype=np.bool_)
    is_opt = np.zeros(n, dtype=np.bool_)
    for i, (instrument, quantity) in enumerate(members):
        expiry = instrument.expiry
        if expiry is None:
            raise ValueError(f"{instrument.tradingsymbol}: a derivative without an expiry")
        qty[i] = quantity
        fwd[i] = float(market.forward(underlying, expiry))
        years[i] = years_to_expiry(expiry, now)
        if _is_option(instrument):
            is_opt[i] = True
            is_call[i] = str(instrument.instrument_type) == "CE"
            strike[i] = float(instrument.strike or 0) * 100.0  # rupees → paise, like forwards
            vol[i] = float(market.model_vol(instrument.instrument_token))
        else:
            vol[i] = 0.0
    index = params.is_index(underlying)
    psr = params.psr(underlying)
    vsr = np.maximum(
        params.vsr_fraction * vol, params.index_vsr_floor if index else params.stock_vsr_floor
    )

    base = np.where(
        is_opt, black76(fwd, strike, years, rate=params.rate, vol=vol, is_call=is_call), fwd
    )
    fwd_s = fwd[None, :] * (1.0 + _PRICE_MOVES * psr)  # (16, n)
    vol_s = np.maximum(vol[None, :] + _VOL_MOVES * vsr[None, :], _MIN_VOL)
    revalued = np.where(
        is_opt[None, :],
        black76(
            fwd_s,
            strike[None, :],
            years[None, :],
            rate=params.rate,
            vol=vol_s,
            is_call=is_call[None, :],
        ),
        fwd_s,
    )
    losses = -((revalued - base[None, :]) * qty[None, :]).sum(axis=1, keepdims=True) * _WEIGHTS
    worst = float(losses.max())
    net_long_option_value = float(np.sum(np.where(is_opt, base * qty, 0.0)))
    return _ceil_paise(worst - max(0.0, net_long_option_value))


def exposure_margin(
    legs: Iterable[MarginLeg],
    market: PricingMarket,
    params: MarginParameters = DEFAULT_PARAMETERS,
) -> Paise:
    """ELM on futures and short options of the netted portfolio."""
    today = market_now(market).date()
    total = 0.0
    for instrument, quantity in _net(legs).values():
        if quantity == 0:
            continue
        index = params.is_index(instrument.name)
        rate = params.index_elm if index else params.stock_elm
        if _is_future(instrument) and instrument.expiry is not None:
            notional = float(market.forward(instrument.name, instrument.expiry)) * abs(quantity)
        elif _is_option(instrument) and quantity < 0:
            notional = float(market.spot(instrument.name)) * abs(quantity)
            if index and instrument.expiry == today:
                rate += params.expiry_day_extra_elm
        else:
            continue
        total += notional * rate
    return _ceil_paise(total)


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
    paid = received = 0
    for leg in orders:
        if not _is_option(leg.instrument) or leg.quantity == 0:
            continue
        value = market_price_for(leg, market) * abs(leg.quantity)
        if leg.quantity > 0:
            paid += value
        else:
            received += value
    return Paise(paid), Paise(received)


def portfolio_margin(
    orders: Sequence[MarginLeg],
    positions: Sequence[MarginLeg],
    market: PricingMarket,
    params: MarginParameters = DEFAULT_PARAMETERS,
) -> MarginBreakdown:
    """Margin of positions plus orders taken together; premium only for the orders."""
    legs = [*positions, *orders]
    span = sum(span_by_underlying(legs, market, params).values())
    paid, received = premiums(orders, market)
    return MarginBreakdown(
        span=Paise(span),
        exposure=exposure_margin(legs, market, params),
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


def expiry_close(expiry: date) -> datetime:
    return datetime.combine(expiry, EXPIRY_CLOSE, tzinfo=IST)


__all__ = [
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
    "exposure_margin",
    "market_now",
    "order_margins",
    "portfolio_margin",
    "premiums",
    "span_by_underlying",
]
