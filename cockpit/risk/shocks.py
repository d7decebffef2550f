"""Shock grids: what a portfolio (optionally plus a proposed group) would make or lose, and the
margin it would need, if the underlying, implied volatility and bid–ask spreads moved now.

This module is responsible for the grid. Every cell is an instantaneous shock (no time
passes): each underlying's spot and forwards move by the same relative price shock, every
leg's implied volatility by the same relative IV shock, and each leg's half-spread widens by
a multiplier. A leg's shocked mid is its current mark plus the change of its Black-76 model
value (:mod:`cockpit.pricing` via :func:`cockpit.risk.margin.option_value`; a future moves
with its forward), floored at zero, so an unshocked cell shows the model's view of nothing
but the liquidation cost. Liquidation takes the spread: a long is sold at shocked mid − w ×
half-spread (never below zero), a short bought back at shocked mid + w × half-spread. The
P&L of a cell is measured against each leg's current mark (:attr:`PnlBasis.MARK`, the
default: the change from now) or its entry average (:attr:`PnlBasis.ENTRY`). The margin of a
cell is :mod:`cockpit.risk.margin`'s estimate of the netted portfolio in the shocked state
(plus the premium the proposed buys would pay; premium received is never netted), and
utilisation is that margin over the funds available for margin (marked-to-market losses are
not deducted from the funds). Everything is vectorised over legs × cells with numpy; the
only loops are over legs to build arrays and the margin model's cache-sized blocks. The grid
reports the worst cell (lowest P&L) and, for each IV shock, the price shocks nearest zero on
each side where utilisation reaches 100%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from cockpit.clock import IST
from cockpit.domain.calendar import SESSION_CLOSE
from cockpit.domain.instruments import Instrument, InstrumentType
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise, paise
from cockpit.risk.margin import (
    DEFAULT_PARAMETERS,
    MarginLegs,
    MarginParameters,
    MarketState,
    ceil_paise,
    estimate_margin_arrays,
    option_value,
    premium_flows,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_YEAR_SECONDS = 365.0 * 24 * 3600

DEFAULT_PRICE_SHOCKS: tuple[float, ...] = tuple(p / 100 for p in range(-10, 11))
DEFAULT_IV_SHOCKS: tuple[float, ...] = tuple(s / 100 for s in range(-30, 101, 10))
DEFAULT_WIDENINGS: tuple[float, ...] = (1.0, 1.5, 2.0)


class PnlBasis(StrEnum):
    """What a cell's P&L is measured from: each leg's current mark or its entry average."""

    MARK = "mark"
    ENTRY = "entry"


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got naive {value}")


@dataclass(frozen=True, slots=True)
class ShockLeg:
    """One position or proposed order. ``quantity`` is signed units (+ long), a whole number
    of lots; prices, ``forward`` (of this expiry) and ``spot`` are paise; ``vol`` the implied
    volatility (annual fraction; ignored for futures); ``strike`` None for a future;
    ``expiry`` the aware moment trading ends; ``average_price`` the entry average (needed only
    for :attr:`PnlBasis.ENTRY`)."""

    instrument_token: int
    underlying: str
    expiry: datetime
    quantity: int
    lot_size: int
    bid: Paise
    ask: Paise
    mark: Paise
    forward: Paise
    spot: Paise
    vol: float = 0.0
    strike: Paise | None = None
    is_call: bool = False
    average_price: Paise | None = None

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise ValueError(
                f"shock leg {self.underlying} token {self.instrument_token}: {problem}"
            )

    def _problem(self) -> str | None:
        if self.expiry.tzinfo is None or self.expiry.utcoffset() is None:
            return f"expiry must be a timezone-aware datetime, got naive {self.expiry}"
        if self.lot_size <= 0:
            return f"lot size {self.lot_size} is not positive"
        if self.quantity % self.lot_size:
            return f"quantity {self.quantity} is not a whole number of lots of {self.lot_size}"
        if not 0 <= self.bid <= self.ask:
            return f"bid {self.bid} and ask {self.ask} must satisfy 0 <= bid <= ask"
        if self.mark < 0:
            return f"mark {self.mark} is negative"
        if self.forward <= 0 or self.spot <= 0:
            return f"forward {self.forward} and spot {self.spot} must be positive"
        if self.strike is not None and self.strike <= 0:
            return f"strike {self.strike} is not positive"
        if not (math.isfinite(self.vol) and self.vol >= 0):
            return f"vol {self.vol} must be finite and not negative"
        if self.average_price is not None and self.average_price < 0:
            return f"average price {self.average_price} is negative"
        return None

    @property
    def is_option(self) -> bool:
        return self.strike is not None


def shock_leg(
    instrument: Instrument,
    quantity: int,
    quote: Quote,
    *,
    forward: Paise,
    spot: Paise,
    vol: float,
    average_price: Paise | None = None,
) -> ShockLeg:
    """A :class:`ShockLeg` for ``quantity`` of an NFO option or future from its instrument
    row and quote: bid and ask are the touch (no bid counts as zero: a long would sell for
    nothing), the mark their midpoint rounded down, expiry the 15:30 IST close."""
    if instrument.instrument_type is InstrumentType.EQ or instrument.expiry is None:
        raise ValueError(f"{instrument.tradingsymbol}: only options and futures can be shocked")
    if quote.instrument_token != instrument.instrument_token:
        raise ValueError(
            f"{instrument.tradingsymbol}: quote is for token {quote.instrument_token}, "
            f"not {instrument.instrument_token}"
        )
    if quote.best_ask is None:
        raise ValueError(
            f"{instrument.tradingsymbol}: no ask in the quote, so the cost of buying it back "
            "is unknown; build the ShockLeg with an explicit ask"
        )
    bid = quote.best_bid.price if quote.best_bid is not None else Paise(0)
    ask = quote.best_ask.price
    strike = None if instrument.strike is None else paise(instrument.strike)
    return ShockLeg(
        instrument_token=instrument.instrument_token,
        underlying=instrument.name,
        expiry=datetime.combine(instrument.expiry, SESSION_CLOSE, tzinfo=IST),
        quantity=quantity,
        lot_size=instrument.lot_size,
        bid=bid,
        ask=ask,
        mark=Paise((bid + ask) // 2),
        forward=forward,
        spot=spot,
        vol=vol,
        strike=strike,
        is_call=instrument.instrument_type is InstrumentType.CE,
        average_price=average_price,
    )


def _axis(values: Sequence[float], name: str, floor: float, inclusive: bool) -> None:
    if len(values) == 0:
        raise ValueError(f"ShockAxes.{name} is empty: give at least one shock")
    bad = [v for v in values if not math.isfinite(v) or v < floor or (v == floor and not inclusive)]
    if bad:
        relation = ">=" if inclusive else ">"
        raise ValueError(f"ShockAxes.{name}: {bad[0]} is not a finite number {relation} {floor}")
    if any(b <= a for a, b in pairwise(values)):
        raise ValueError(f"ShockAxes.{name} must be strictly increasing, got {tuple(values)}")


@dataclass(frozen=True, slots=True)
class ShockAxes:
    """Relative price shocks (0.03 = +3%), relative IV shocks (0.5 = vol × 1.5) and half-spread
    multipliers, each strictly increasing."""

    price: tuple[float, ...] = DEFAULT_PRICE_SHOCKS
    iv: tuple[float, ...] = DEFAULT_IV_SHOCKS
    widening: tuple[float, ...] = DEFAULT_WIDENINGS

    def __post_init__(self) -> None:
        _axis(self.price, "price", -1.0, inclusive=False)
        _axis(self.iv, "iv", -1.0, inclusive=False)
        _axis(self.widening, "widening", 0.0, inclusive=True)


DEFAULT_AXES = ShockAxes()


@dataclass(frozen=True, slots=True)
class GridCell:
    """One cell: its indices (widening, iv, price), shocks and figures (P&L to the nearest
    paisa, margin rounded up)."""

    widening_index: int
    iv_index: int
    price_index: int
    widening: float
    iv_shock: float
    price_shock: float
    pnl: Paise
    margin: Paise
    utilisation: float


@dataclass(frozen=True, slots=True)
class FrontierRow:
    """For one IV shock: the price shock nearest zero on each side (``down`` ≤ 0 ≤ ``up``)
    at which utilisation reaches 100%, or None if no shock on that side reaches it."""

    iv_shock: float
    down: float | None
    up: float | None


@dataclass(frozen=True, slots=True)
class ShockGrid:
    """The grid. ``pnl``, ``margin`` and ``utilisation`` are float arrays shaped
    (widening, iv, price), unrounded paise (margin and utilisation do not depend on the
    widening; they are broadcast along it)."""

    price_shocks: FloatArray
    iv_shocks: FloatArray
    widenings: FloatArray
    pnl: FloatArray
    margin: FloatArray
    utilisation: FloatArray
    funds: Paise
    basis: PnlBasis
    worst: GridCell
    frontier: tuple[FrontierRow, ...]

    def pnl_paise(self) -> IntArray:
        """P&L rounded to the nearest paisa (halves up)."""
        return np.floor(self.pnl + 0.5).astype(np.int64)

    def margin_paise(self) -> IntArray:
        """Margin rounded up to the next paisa (as :func:`cockpit.risk.margin.ceil_paise`)."""
        return np.maximum(np.ceil(self.margin - 1e-6), 0).astype(np.int64)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: axes, P&L in paise as nested lists (widening, iv, price),
        margin in paise and utilisation as (iv, price) lists, the worst cell, the frontier."""
        return {
            "basis": self.basis.value,
            "funds": int(self.funds),
            "price_shocks": self.price_shocks.tolist(),
            "iv_shocks": self.iv_shocks.tolist(),
            "widenings": self.widenings.tolist(),
            "pnl": self.pnl_paise().tolist(),
            "margin": self.margin_paise()[0].tolist(),
            "utilisation": self.utilisation[0].tolist(),
            "worst": {
                "widening_index": self.worst.widening_index,
                "iv_index": self.worst.iv_index,
                "price_index": self.worst.price_index,
                "widening": self.worst.widening,
                "iv_shock": self.worst.iv_shock,
                "price_shock": self.worst.price_shock,
                "pnl": int(self.worst.pnl),
                "margin": int(self.worst.margin),
                "utilisation": self.worst.utilisation,
            },
            "frontier": [
                {"iv_shock": row.iv_shock, "down": row.down, "up": row.up} for row in self.frontier
            ],
        }


# ---- the computation ------------------------------------------------------------------------


def _years(legs: Sequence[ShockLeg], now: datetime) -> FloatArray:
    return np.array(
        [max((leg.expiry - now).total_seconds() / _YEAR_SECONDS, 0.0) for leg in legs],
        dtype=np.float64,
    )


def _model_values(
    legs: Sequence[ShockLeg],
    years: FloatArray,
    forward: FloatArray,
    vol: FloatArray,
    rate: float,
) -> FloatArray:
    """Model value of every leg (last axis) in every state: options by Black-76, futures at
    their forward; ``forward`` and ``vol`` broadcast to (..., n)."""
    is_option = np.array([leg.is_option for leg in legs], dtype=np.bool_)
    strike = np.array([leg.strike or 0 for leg in legs], dtype=np.float64)
    is_call = np.array([leg.is_call for leg in legs], dtype=np.bool_)
    shape = np.broadcast_shapes(forward.shape, vol.shape)
    values = np.array(np.broadcast_to(forward, shape), dtype=np.float64)
    opt = np.flatnonzero(is_option)
    if opt.size:
        values[..., opt] = option_value(
            np.broadcast_to(forward, shape)[..., opt],
            strike[opt],
            years[opt],
            rate=rate,
            vol=np.broadcast_to(vol, shape)[..., opt],
            is_call=is_call[opt],
        )
    return values


def _margin(
    legs: Sequence[ShockLeg],
    years: FloatArray,
    now: datetime,
    price: FloatArray,
    iv: FloatArray,
    params: MarginParameters,
) -> FloatArray:
    """SPAN + exposure of the legs netted per contract, in every (iv, price) state."""
    tokens = np.array([leg.instrument_token for leg in legs], dtype=np.int64)
    _, first, inverse = np.unique(tokens, return_index=True, return_inverse=True)
    net = np.bincount(inverse, weights=[leg.quantity for leg in legs])
    keep = first[net != 0]
    if keep.size == 0:
        return np.zeros((iv.size, price.size))
    members = [legs[i] for i in keep]
    today = now.astimezone(IST).date()
    margin_legs = MarginLegs(
        underlying=tuple(leg.underlying for leg in members),
        quantity=net[net != 0].astype(np.float64),
        is_option=np.array([leg.is_option for leg in members], dtype=np.bool_),
        is_call=np.array([leg.is_call for leg in members], dtype=np.bool_),
        strike=np.array([leg.strike or 0 for leg in members], dtype=np.float64),
        years=years[keep],
        expiry=np.array([leg.expiry.astimezone(IST).toordinal() for leg in members]),
        expires_today=np.array(
            [leg.expiry.astimezone(IST).date() == today for leg in members], dtype=np.bool_
        ),
    )
    move = (1.0 + price)[None, :, None]
    state = MarketState(
        forward=np.array([leg.forward for leg in members], dtype=np.float64) * move,
        spot=np.array([leg.spot for leg in members], dtype=np.float64) * move,
        vol=np.array([leg.vol for leg in members], dtype=np.float64) * (1.0 + iv)[:, None, None],
    )
    estimate = estimate_margin_arrays(margin_legs, state, params)
    return np.asarray(estimate.span + estimate.exposure, dtype=np.float64)


def _frontier(
    utilisation: FloatArray, price: FloatArray, iv: FloatArray
) -> tuple[FrontierRow, ...]:
    reached = utilisation >= 1.0  # (iv, price)
    down = np.where(reached & (price <= 0), price, -np.inf).max(axis=1)
    up = np.where(reached & (price >= 0), price, np.inf).min(axis=1)
    return tuple(
        FrontierRow(
            iv_shock=float(s),
            down=float(d) if np.isfinite(d) else None,
            up=float(u) if np.isfinite(u) else None,
        )
        for s, d, u in zip(iv, down, up, strict=True)
    )


def shock_grid(
    legs: Sequence[ShockLeg],
    *,
    funds: Paise,
    now: datetime,
    proposed: Sequence[ShockLeg] = (),
    axes: ShockAxes = DEFAULT_AXES,
    params: MarginParameters = DEFAULT_PARAMETERS,
    basis: PnlBasis = PnlBasis.MARK,
) -> ShockGrid:
    """The shock grid of ``legs`` plus ``proposed`` (as if filled) against ``funds`` (paise
    available for margin, positive) at the aware moment ``now``."""
    _require_aware(now, "now")
    if isinstance(funds, bool) or not isinstance(funds, int) or funds <= 0:
        raise ValueError(f"funds must be a positive number of paise, got {funds!r}")
    everything = [*legs, *proposed]
    if not everything:
        raise ValueError("no legs to shock: give at least one position or proposed leg")
    if basis is PnlBasis.ENTRY:
        missing = [leg.instrument_token for leg in everything if leg.average_price is None]
        if missing:
            raise ValueError(f"P&L from entry needs an average price; tokens {missing} have none")
    price = np.array(axes.price, dtype=np.float64)
    iv = np.array(axes.iv, dtype=np.float64)
    widening = np.array(axes.widening, dtype=np.float64)

    years = _years(everything, now)
    forward = np.array([leg.forward for leg in everything], dtype=np.float64)
    vol = np.array([leg.vol for leg in everything], dtype=np.float64)
    quantity = np.array([leg.quantity for leg in everything], dtype=np.float64)
    mark = np.array([leg.mark for leg in everything], dtype=np.float64)
    half_spread = np.array([(leg.ask - leg.bid) / 2 for leg in everything], dtype=np.float64)
    reference = np.array(
        [leg.mark if basis is PnlBasis.MARK else (leg.average_price or 0) for leg in everything],
        dtype=np.float64,
    )

    value_now = _model_values(everything, years, forward, vol, params.rate)
    shocked = _model_values(
        everything,
        years,
        forward * (1.0 + price)[None, :, None],
        vol * (1.0 + iv)[:, None, None],
        params.rate,
    )  # (iv, price, n)
    mid = np.maximum(mark + (shocked - value_now), 0.0)
    cost = np.sign(quantity) * half_spread  # what each unit gives up to the spread at 1×
    exit_price = np.maximum(mid[None] - widening[:, None, None, None] * cost, 0.0)
    pnl = (exit_price - reference) @ quantity  # (widening, iv, price)

    margin = _margin(everything, years, now, price, iv, params)
    proposed_q = [leg.quantity for leg in proposed]
    paid, _ = premium_flows(
        proposed_q, [leg.ask for leg in proposed], [leg.is_option for leg in proposed]
    )
    margin = margin + float(paid)
    utilisation = margin / float(funds)

    shape = pnl.shape
    w_i, i_i, p_i = (int(i) for i in np.unravel_index(int(np.argmin(pnl)), shape))
    worst = GridCell(
        widening_index=w_i,
        iv_index=i_i,
        price_index=p_i,
        widening=float(widening[w_i]),
        iv_shock=float(iv[i_i]),
        price_shock=float(price[p_i]),
        pnl=Paise(math.floor(float(pnl[w_i, i_i, p_i]) + 0.5)),
        margin=ceil_paise(float(margin[i_i, p_i])),
        utilisation=float(utilisation[i_i, p_i]),
    )
    return ShockGrid(
        price_shocks=price,
        iv_shocks=iv,
        widenings=widening,
        pnl=pnl,
        margin=np.broadcast_to(margin, shape),
        utilisation=np.broadcast_to(utilisation, shape),
        funds=funds,
        basis=basis,
        worst=worst,
        frontier=_frontier(utilisation, price, iv),
    )


__all__ = [
    "DEFAULT_AXES",
    "DEFAULT_IV_SHOCKS",
    "DEFAULT_PRICE_SHOCKS",
    "DEFAULT_WIDENINGS",
    "FrontierRow",
    "GridCell",
    "PnlBasis",
    "ShockAxes",
    "ShockGrid",
    "ShockLeg",
    "shock_grid",
    "shock_leg",
]
