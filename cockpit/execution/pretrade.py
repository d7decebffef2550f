"""The pre-trade gate: what the coordinator asks before an entry group leaves VALIDATED.

:class:`PreTradeGate` gathers what :func:`cockpit.risk.checks.pre_trade_checks` needs from the
broker at that moment — the funds available, the broker's basket margin, quotes for the legs and
their underlying — works out our own SPAN-like margin estimate of the group as if filled
(:mod:`cockpit.risk.margin`, implied vols solved from the legs' mids) and the group's worst loss
at expiry, and returns the checks' failures. The broker's basket margin nets the premium the
short legs receive, so a hedged basket looks cheaper before its legs fill (OpenAlgo #1620): the
checks take the larger of the two. Only ENTRY groups are gated: an exit or an emergency hedge
reduces risk and is never held back by a limit. When the broker cannot be asked, the group is
refused with the reason (a hard failure) rather than sent unchecked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

import numpy as np

from cockpit import pricing
from cockpit.broker.base import Broker, BrokerError
from cockpit.domain.calendar import TradingCalendar
from cockpit.domain.groups import GroupKind, OrderGroup
from cockpit.domain.instruments import Exchange, InstrumentStore
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderRequest, OrderType
from cockpit.marketdata.chain import mid_or_last, years_to_expiry
from cockpit.marketdata.feed import instrument_key, resolve_selection
from cockpit.risk.checks import (
    CheckCode,
    CheckContext,
    CheckFailure,
    RateBudget,
    RiskLimits,
    pre_trade_checks,
)
from cockpit.risk.margin import MarginLegs, MarketState, estimate_margin
from cockpit.strategies.payoff import PayoffLeg, expiry_payoff

log = logging.getLogger(__name__)

_DEFAULT_VOL = 0.15  # when a leg's IV cannot be solved from its quote (documented fallback)


class PreTradeGate:
    def __init__(
        self,
        broker: Broker,
        store: InstrumentStore,
        calendar: TradingCalendar,
        now: Callable[[], datetime],
        *,
        limits: RiskLimits | None = None,
        day_pnl: Callable[[], tuple[Paise, Paise]] | None = None,
        rate_budget: Callable[[], RateBudget | None] | None = None,
    ) -> None:
        self._broker = broker
        self._store = store
        self._calendar = calendar
        self._now = now
        self.limits = limits or RiskLimits()
        self._day_pnl = day_pnl
        self._rate_budget = rate_budget

    async def check(self, group: OrderGroup) -> list[CheckFailure]:
        if group.kind is not GroupKind.ENTRY:
            return []
        try:
            funds = (await self._broker.margins()).available
            quotes = await self._quotes(group)
            broker_margin = await self._broker_margin(group)
        except BrokerError as error:
            return [
                CheckFailure(
                    CheckCode.MARGIN_EXCEEDS_FUNDS,
                    f"margin and funds could not be checked with the broker: {error}",
                    True,
                )
            ]
        # The market's own time (the exchange stamps its quotes): a paper exchange may run on a
        # clock of its own, and a real one is the authority on whether it is open.
        now = max((q.at for q in quotes.values()), default=None) or self._now()
        estimate = self.estimate_margin(group, quotes, now)
        realised, open_pnl = self._day_pnl() if self._day_pnl else (Paise(0), Paise(0))
        context = CheckContext(
            now=now,
            calendar=self._calendar,
            margin_estimate=estimate,
            available_funds=funds,
            broker_margin=broker_margin,
            group_max_loss=self.max_loss(group, quotes),
            day_realised_pnl=realised,
            day_open_pnl=open_pnl,
            rate_budget=self._rate_budget() if self._rate_budget else None,
            instruments=self._store.get,
        )
        failures = pre_trade_checks(group, context, self.limits)
        if failures:
            log.warning(
                "group %s: pre-trade checks: %s",
                group.group_id,
                "; ".join(f.message for f in failures),
            )
        return failures

    # ---- figures ---------------------------------------------------------------------------

    async def _quotes(self, group: OrderGroup) -> dict[int, Quote]:
        tokens = {leg.spec.instrument_token for leg in group.legs}
        for leg in group.legs:
            selection = resolve_selection(self._store, leg.spec.underlying, leg.spec.expiry)
            tokens.update(t for t in (selection.spot_token, selection.future_token) if t)
        keys = [k for t in sorted(tokens) if (k := instrument_key(self._store, t))]
        answer = await self._broker.quotes(keys)
        return {q.instrument_token: q for q in answer.values()}

    async def _broker_margin(self, group: OrderGroup) -> Paise | None:
        try:
            basket = await self._broker.basket_margins(
                margin_requests_for(group.legs), consider_positions=True
            )
        except BrokerError as error:
            log.warning("basket margin unavailable (%s): our estimate alone decides", error)
            return None
        return basket.final.total

    def _forward(self, underlying: str, expiry: date, quotes: dict[int, Quote]) -> float | None:
        """The same-expiry future's price, else the spot's, in paise."""
        selection = resolve_selection(self._store, underlying, expiry)
        for token in (selection.future_token, selection.spot_token):
            quote = quotes.get(token) if token else None
            if quote is not None and quote.last_price > 0:
                return float(quote.last_price)
        return None

    def estimate_margin(self, group: OrderGroup, quotes: dict[int, Quote], now: datetime) -> Paise:
        """Our SPAN-like estimate of the group as if filled, premium for the buys included."""
        legs = group.legs
        years = np.array([max(years_to_expiry(leg.spec.expiry, now), 1e-6) for leg in legs])
        strikes = np.array([float(leg.spec.strike) * 100 for leg in legs])
        mids = np.array(
            [mid_or_last(quotes.get(leg.spec.instrument_token)) or np.nan for leg in legs]
        )
        is_call = np.array([leg.spec.right == "CE" for leg in legs])
        forwards = np.array(
            [
                self._forward(leg.spec.underlying, leg.spec.expiry, quotes) or float(strike)
                for leg, strike in zip(legs, strikes, strict=True)
            ]
        )
        vols = np.full(len(legs), _DEFAULT_VOL)
        known = np.isfinite(mids) & (mids > 0)
        if known.any():
            solved = pricing.implied_vol(
                mids[known],
                forwards[known],
                strikes[known],
                years[known],
                rate=0.0,
                is_call=is_call[known],
            )
            vols[known] = np.where(np.isfinite(solved), solved, _DEFAULT_VOL)
        margin_legs = MarginLegs(
            underlying=tuple(leg.spec.underlying for leg in legs),
            quantity=np.array([float(leg.spec.signed_quantity) for leg in legs]),
            is_option=np.ones(len(legs), dtype=bool),
            is_call=is_call,
            strike=strikes,
            years=years,
            expiry=np.array([leg.spec.expiry.toordinal() for leg in legs]),
            expires_today=np.array([leg.spec.expiry == now.date() for leg in legs]),
        )
        state = MarketState(forward=forwards, spot=forwards, vol=vols)
        estimate = estimate_margin(margin_legs, state, premium_price=np.where(known, mids, 0.0))
        return estimate.total

    def max_loss(self, group: OrderGroup, quotes: dict[int, Quote]) -> Paise | None:
        """The worst P&L at expiry over every underlying price (None when unbounded: more
        short calls than long on an underlying), premiums at today's mids."""
        legs = [
            PayoffLeg(
                float(leg.spec.strike),
                leg.spec.right,
                leg.spec.signed_quantity,
                (mid_or_last(quotes.get(leg.spec.instrument_token)) or 0.0) / 100,
            )
            for leg in group.legs
        ]
        calls = sum(leg.quantity for leg in legs if leg.right == "CE")
        if calls < 0:
            return None
        strikes = [leg.strike for leg in legs]
        # Piecewise linear in the price: its minimum is at a strike or at zero.
        prices = np.array([0.0, *strikes, max(strikes) * 2])
        worst = float(np.min(expiry_payoff(legs, prices)))
        return Paise(max(0, round(-worst * 100)))


def margin_requests_for(legs: Iterable[Any]) -> list[OrderRequest]:
    """Legs (anything with a ``spec``: a group's or a plan's) as MARKET order requests, for the
    broker's basket margin calculator."""
    return [
        OrderRequest(
            tradingsymbol=leg.spec.tradingsymbol,
            exchange=Exchange(leg.spec.exchange),
            side=leg.spec.side,
            quantity=leg.spec.quantity,
            order_type=OrderType.MARKET,
            product=leg.spec.product,
            market_protection=-1,
        )
        for leg in legs
    ]
