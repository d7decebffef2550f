"""The shock grid's app service: turns the broker's net positions (and optionally a proposed
spread) into :class:`~cockpit.risk.shocks.ShockLeg`s and asks :mod:`cockpit.risk.shocks` for the
grid. One ``quotes`` call fetches every held or proposed contract together with each
underlying's spot and futures; a leg's forward is the same-expiry future's mid, else the spot
carried at :data:`~cockpit.marketdata.chain.DEFAULT_RATE` (as the paper market and the chain
dock do); its volatility is implied from its mid (or last price) by :mod:`cockpit.pricing`, else
a planned leg's chain IV, else the IV of the nearest-strike leg of the same underlying and
expiry, else :data:`DEFAULT_VOL` — every fallback is reported as a warning. Everything is valued
at the market's time (the latest quote's timestamp), so a paper exchange on its own calendar is
valued on that calendar. The funds a cell's margin is measured against are what the account
could block: ``available`` plus the SPAN and exposure margin the positions block now (the grid's
margin already includes those positions, so ``available`` alone would count them twice). The leg
building is pure (:func:`shock_legs`, given the quotes) so it is tested without a broker; a
position the quotes cannot value raises :class:`ShockError` naming it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from cockpit.broker.base import Broker, Position
from cockpit.clock import Clock
from cockpit.domain.instruments import Exchange, Instrument, InstrumentStore, InstrumentType
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise, format_inr
from cockpit.domain.orders import Side
from cockpit.marketdata.chain import DEFAULT_RATE, years_to_expiry
from cockpit.marketdata.feed import INDEX_SPOT_SYMBOLS, instrument_key
from cockpit.pricing import implied_vol_with_reasons
from cockpit.risk.margin import DEFAULT_PARAMETERS, MarginParameters
from cockpit.risk.shocks import DEFAULT_AXES, ShockAxes, ShockGrid, ShockLeg, shock_grid, shock_leg
from cockpit.strategies.spreads import SpreadPlan

log = logging.getLogger(__name__)

#: The volatility a leg gets when none can be implied or borrowed (annual, 20%).
DEFAULT_VOL = 0.20
_DERIVATIVE_EXCHANGES = frozenset({Exchange.NFO.value, Exchange.BFO.value})


class ShockError(ValueError):
    """The grid cannot be computed; the message names the instrument or figure at fault."""


class NothingToShockError(ShockError):
    """No option or future position and no proposed spread: there is nothing to shock."""


@dataclass(frozen=True, slots=True)
class Holding:
    """A signed quantity (units, + long) of an option or future, with its entry average and,
    for a planned leg, the chain's IV to fall back on."""

    instrument: Instrument
    quantity: int
    average_price: Paise | None = None
    chain_vol: float | None = None


@dataclass(frozen=True, slots=True)
class ShockReport:
    """A grid, the market time it was valued at, the legs that went in (positions first,
    then the proposed ones) and what had to be assumed."""

    grid: ShockGrid
    at: datetime
    positions: tuple[ShockLeg, ...]
    proposed: tuple[ShockLeg, ...]
    warnings: tuple[str, ...]
    symbols: Mapping[int, str]  # tradingsymbol of each leg's token


# ---- text: one wording for the dock and the command line --------------------------------------


def shock_text(value: float) -> str:
    """A relative shock as a signed percentage: ``−3%``, ``0%``, ``+30%``, ``+2.5%``."""
    pct = round(value * 100, 1)
    if pct == 0:
        return "0%"
    body = f"{abs(pct):.0f}" if pct == int(pct) else f"{abs(pct):.1f}"
    return f"{'+' if pct > 0 else '−'}{body}%"


def widening_text(value: float) -> str:
    return f"{value:g}×"


def rupees_text(amount_paise: float, *, signed: bool = False) -> str:
    """Whole rupees, Indian grouping: ``₹1,20,000``, ``−₹12,345`` (``+₹`` when signed)."""
    whole = round(amount_paise / 100)
    text = format_inr(Paise(abs(whole) * 100)).removesuffix(".00")
    if whole < 0:
        return "−" + text
    return ("+" + text) if signed and whole > 0 else text


def cell_text(grid: ShockGrid, widening: int, iv: int, price: int) -> str:
    """``price −3%, IV +30%, 1.5× spread: P&L −₹12,345, margin ₹1,20,000, utilisation 84%``"""
    return (
        f"price {shock_text(float(grid.price_shocks[price]))}, "
        f"IV {shock_text(float(grid.iv_shocks[iv]))}, "
        f"{widening_text(float(grid.widenings[widening]))} spread: "
        f"P&L {rupees_text(float(grid.pnl[widening, iv, price]), signed=True)}, "
        f"margin {rupees_text(math.ceil(float(grid.margin[widening, iv, price])))}, "
        f"utilisation {float(grid.utilisation[widening, iv, price]) * 100:.0f}%"
    )


def worst_text(grid: ShockGrid) -> str:
    """``worst: price −10%, IV +100%, 2×: −₹45,600``"""
    worst = grid.worst
    return (
        f"worst: price {shock_text(worst.price_shock)}, IV {shock_text(worst.iv_shock)}, "
        f"{widening_text(worst.widening)}: {rupees_text(worst.pnl, signed=True)}"
    )


# ---- pure: holdings and legs -----------------------------------------------------------------


def position_holdings(positions: Iterable[Position], store: InstrumentStore) -> list[Holding]:
    """The non-zero option and future positions; cash-segment rows are left out."""
    holdings = []
    for position in positions:
        if position.quantity == 0 or position.exchange not in _DERIVATIVE_EXCHANGES:
            continue
        try:
            instrument = store.get(position.instrument_token)
        except LookupError:
            raise ShockError(
                f"{position.tradingsymbol}: token {position.instrument_token} is not in the "
                "instruments dump; refresh the instruments and try again"
            ) from None
        if instrument.instrument_type is InstrumentType.EQ:
            continue
        holdings.append(Holding(instrument, position.quantity, position.average_price))
    return holdings


def plan_holdings(plan: SpreadPlan, store: InstrumentStore) -> list[Holding]:
    """The plan's legs as if filled at the prices it planned on."""
    holdings = []
    for leg in plan.legs:
        spec = leg.spec
        try:
            instrument = store.get(spec.instrument_token)
        except LookupError:
            raise ShockError(f"{spec.tradingsymbol}: not in the instruments dump") from None
        sign = 1 if spec.side is Side.BUY else -1
        holdings.append(Holding(instrument, sign * spec.quantity, leg.mid, leg.iv))
    return holdings


def spot_instrument(store: InstrumentStore, underlying: str) -> Instrument | None:
    try:
        return store.by_symbol(Exchange.NSE, INDEX_SPOT_SYMBOLS.get(underlying, underlying))
    except LookupError:
        return None


def market_instruments(store: InstrumentStore, holdings: Iterable[Holding]) -> list[Instrument]:
    """Every held contract, and each underlying's spot and futures (for the forwards)."""
    wanted: dict[int, Instrument] = {}
    for holding in holdings:
        instrument = holding.instrument
        wanted[instrument.instrument_token] = instrument
        spot = spot_instrument(store, instrument.name)
        if spot is not None:
            wanted[spot.instrument_token] = spot
        try:
            futures = store.futures(instrument.name, Exchange(instrument.exchange))
        except LookupError:
            futures = ()
        wanted.update((f.instrument_token, f) for f in futures)
    return list(wanted.values())


def _mid_or_last(quote: Quote | None) -> float | None:
    if quote is None:
        return None
    if quote.mid is not None:
        return float(quote.mid)
    return float(quote.last_price) if quote.last_price > 0 else None


def _spot(
    store: InstrumentStore,
    instrument: Instrument,
    quotes: Mapping[int, Quote],
    now: datetime,
    rate: float,
) -> float:
    """The spot's last price, else the nearest quoted future's mid brought back to today."""
    underlying = instrument.name
    spot = spot_instrument(store, underlying)
    quote = quotes.get(spot.instrument_token) if spot is not None else None
    if quote is not None and quote.last_price > 0:
        return float(quote.last_price)
    try:
        futures = store.futures(underlying, Exchange(instrument.exchange))
    except LookupError:
        futures = ()
    for future in futures:
        price = _mid_or_last(quotes.get(future.instrument_token))
        if price is not None and future.expiry is not None:
            return price * math.exp(-rate * years_to_expiry(future.expiry, now))
    raise ShockError(f"{underlying}: no quote for its spot or any future, so no forward is known")


def _forward(
    store: InstrumentStore,
    instrument: Instrument,
    quotes: Mapping[int, Quote],
    spot: float,
    now: datetime,
    rate: float,
) -> float:
    """The same-expiry future's mid (a future's own), else the spot carried to the expiry."""
    assert instrument.expiry is not None
    candidates = [instrument] if instrument.is_future else []
    with contextlib.suppress(LookupError):
        listed = store.futures(instrument.name, Exchange(instrument.exchange))
        candidates += [f for f in listed if f.expiry == instrument.expiry]
    for future in candidates:
        price = _mid_or_last(quotes.get(future.instrument_token))
        if price is not None:
            return price
    return spot * math.exp(rate * years_to_expiry(instrument.expiry, now))


def _solve_vols(
    holdings: Sequence[Holding],
    quotes: Mapping[int, Quote],
    forwards: Sequence[float],
    now: datetime,
    rate: float,
) -> tuple[list[float], list[str]]:
    """Implied vols of the option holdings (0 for futures), with fallbacks and warnings."""
    options = [i for i, h in enumerate(holdings) if h.instrument.is_option]
    vols = [0.0] * len(holdings)
    solved: dict[int, float] = {}
    reasons: dict[int, str] = {}
    for i in options:
        instrument = holdings[i].instrument
        assert instrument.expiry is not None and instrument.strike is not None
        price = _mid_or_last(quotes.get(instrument.instrument_token))
        vol, reason = implied_vol_with_reasons(
            math.nan if price is None else price,
            forwards[i],
            float(instrument.strike) * 100,
            years_to_expiry(instrument.expiry, now),
            rate=rate,
            is_call=instrument.instrument_type is InstrumentType.CE,
        )
        if math.isfinite(float(vol)):
            solved[i] = float(vol)
        else:
            reasons[i] = "no price" if price is None else str(reason)
    warnings = []
    for i in options:
        if i in solved:
            vols[i] = solved[i]
            continue
        holding = holdings[i]
        instrument = holding.instrument
        if holding.chain_vol is not None and math.isfinite(holding.chain_vol):
            vols[i], source = holding.chain_vol, "the chain's IV"
        else:
            vols[i], source = _nearest_vol(holdings, solved, i)
        message = (
            f"{instrument.tradingsymbol}: implied volatility could not be solved "
            f"({reasons[i]}); using {vols[i] * 100:.1f}% ({source})"
        )
        log.warning("%s", message)
        warnings.append(message)
    return vols, warnings


def _nearest_vol(
    holdings: Sequence[Holding], solved: Mapping[int, float], i: int
) -> tuple[float, str]:
    target = holdings[i].instrument
    same_expiry = [
        j
        for j in solved
        if holdings[j].instrument.name == target.name
        and holdings[j].instrument.expiry == target.expiry
    ]
    if not same_expiry:
        return DEFAULT_VOL, "the default"
    strike = target.strike or Decimal(0)

    def distance(k: int) -> Decimal:
        return abs((holdings[k].instrument.strike or Decimal(0)) - strike)

    j = min(same_expiry, key=distance)
    return solved[j], f"the IV of {holdings[j].instrument.tradingsymbol}"


def shock_legs(
    holdings: Sequence[Holding],
    quotes: Mapping[int, Quote],
    store: InstrumentStore,
    *,
    now: datetime,
    rate: float = DEFAULT_RATE,
) -> tuple[list[ShockLeg], list[str]]:
    """The :class:`ShockLeg` of each holding from ``quotes`` (by token) at ``now``, and the
    warnings of what had to be assumed. A holding without a usable quote raises
    :class:`ShockError` naming it."""
    spots: dict[str, float] = {}
    forwards = []
    for holding in holdings:
        instrument = holding.instrument
        if instrument.instrument_token not in quotes:
            raise ShockError(
                f"{instrument.tradingsymbol}: the broker returned no quote, so the position "
                "cannot be valued"
            )
        name = instrument.name
        if name not in spots:
            spots[name] = _spot(store, instrument, quotes, now, rate)
        forwards.append(_forward(store, instrument, quotes, spots[name], now, rate))
    vols, warnings = _solve_vols(holdings, quotes, forwards, now, rate)
    legs = []
    for holding, forward, vol in zip(holdings, forwards, vols, strict=True):
        instrument = holding.instrument
        try:
            legs.append(
                shock_leg(
                    instrument,
                    holding.quantity,
                    quotes[instrument.instrument_token],
                    forward=Paise(round(forward)),
                    spot=Paise(round(spots[instrument.name])),
                    vol=vol,
                    average_price=holding.average_price,
                )
            )
        except ValueError as error:
            raise ShockError(f"{instrument.tradingsymbol}: {error}") from None
    return legs, warnings


def margin_funds(available: Paise, span: Paise, exposure: Paise) -> Paise:
    """What positions and new trades could block: free funds plus the margin blocked now."""
    funds = Paise(available + span + exposure)
    if funds <= 0:
        raise ShockError(
            f"no funds for margin (available {format_inr(available)}, blocked "
            f"{format_inr(Paise(span + exposure))}): utilisation cannot be measured"
        )
    return funds


# ---- the service -----------------------------------------------------------------------------


class ShockService:
    """Reads positions, funds and quotes from the broker and computes shock grids."""

    def __init__(
        self,
        broker: Broker,
        store: InstrumentStore,
        clock: Clock,
        *,
        rate: float = DEFAULT_RATE,
        params: MarginParameters = DEFAULT_PARAMETERS,
    ) -> None:
        self._broker = broker
        self.store = store
        self._clock = clock
        self._rate = rate
        self._params = params

    async def portfolio_legs(self) -> list[ShockLeg]:
        holdings = position_holdings(await self._broker.positions(), self.store)
        legs, _, _ = await self._legs(holdings)
        return legs

    async def proposed_legs(self, plan: SpreadPlan) -> list[ShockLeg]:
        legs, _, _ = await self._legs(plan_holdings(plan, self.store))
        return legs

    async def grid(
        self, plan: SpreadPlan | None = None, axes: ShockAxes = DEFAULT_AXES
    ) -> ShockGrid:
        return (await self.report(plan, axes)).grid

    async def report(
        self, plan: SpreadPlan | None = None, axes: ShockAxes = DEFAULT_AXES
    ) -> ShockReport:
        """The grid of the positions (plus ``plan`` as if filled), with its market time and
        warnings. Raises :class:`NothingToShockError` when there is nothing to shock."""
        held = position_holdings(await self._broker.positions(), self.store)
        proposed = plan_holdings(plan, self.store) if plan is not None else []
        if not held and not proposed:
            raise NothingToShockError("no option or future positions and no proposed spread")
        m = await self._broker.margins()
        funds = margin_funds(m.available, m.span, m.exposure)
        legs, warnings, at = await self._legs([*held, *proposed])
        grid = shock_grid(
            legs[: len(held)],
            funds=funds,
            now=at,
            proposed=legs[len(held) :],
            axes=axes,
            params=self._params,
        )
        return ShockReport(
            grid=grid,
            at=at,
            positions=tuple(legs[: len(held)]),
            proposed=tuple(legs[len(held) :]),
            warnings=tuple(warnings),
            symbols={
                h.instrument.instrument_token: h.instrument.tradingsymbol
                for h in [*held, *proposed]
            },
        )

    async def _legs(
        self, holdings: Sequence[Holding]
    ) -> tuple[list[ShockLeg], list[str], datetime]:
        """The legs, warnings and market time, from one ``quotes`` call."""
        instruments = market_instruments(self.store, holdings)
        keys = [k for i in instruments if (k := instrument_key(self.store, i.instrument_token))]
        answered = await self._broker.quotes(keys) if keys else {}
        quotes = {q.instrument_token: q for q in answered.values()}
        at = max((q.at for q in quotes.values()), default=None) or self._clock.now()
        legs, warnings = shock_legs(holdings, quotes, self.store, now=at, rate=self._rate)
        return legs, warnings, at


__all__ = [
    "DEFAULT_VOL",
    "Holding",
    "NothingToShockError",
    "ShockError",
    "ShockReport",
    "ShockService",
    "cell_text",
    "margin_funds",
    "market_instruments",
    "plan_holdings",
    "position_holdings",
    "rupees_text",
    "shock_legs",
    "shock_text",
    "widening_text",
    "worst_text",
]
