"""The strategy builder's app service: plans credit spreads from the live chain, asks the broker
for the basket margin, and places a plan through the coordinator.

Widgets call this, never the broker: :class:`SpreadService` selects the chain in the
:class:`~cockpit.marketdata.feed.ChainFeed` (so the chain dock shows what is being built),
values it, and hands it to the pure planner in :mod:`cockpit.strategies.spreads`. Margin is the
broker's basket margin for the legs together (hedge benefit included); when the broker cannot
answer, the plan's maximum loss stands in, labelled as an estimate.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cockpit.broker.base import Broker, BrokerError
from cockpit.domain.groups import OrderGroup
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderRequest
from cockpit.execution.coordinator import Coordinator
from cockpit.execution.pretrade import margin_requests_for
from cockpit.marketdata.feed import ChainFeed
from cockpit.strategies.spreads import (
    SpreadError,
    SpreadPlan,
    SpreadRequest,
    Structure,
    plan_spread,
)

log = logging.getLogger(__name__)

BROKER_MARGIN = "broker basket margin"
ESTIMATED_MARGIN = "estimate: max loss"


def margin_requests(plan: SpreadPlan) -> list[OrderRequest]:
    """The plan's legs as orders for the broker's margin calculator."""
    return margin_requests_for(plan.legs)


async def basket_margin(broker: Broker, plan: SpreadPlan) -> tuple[Paise | None, str]:
    try:
        basket = await broker.basket_margins(margin_requests(plan), consider_positions=True)
    except BrokerError as error:
        log.warning("basket margin unavailable (%s); using the plan's max loss", error)
        return plan.max_loss, ESTIMATED_MARGIN
    return basket.final.total, BROKER_MARGIN


def structure_from_picks(picks: Sequence[Any]) -> tuple[Structure, SpreadRequest]:
    """What a set of chain clicks (``LegPick``s) builds: a sold put over a bought lower put
    is a bull put credit spread, a sold call under a bought higher call a bear call credit
    spread, both together an iron condor."""
    puts = [p for p in picks if p.right == "PE"]
    calls = [p for p in picks if p.right == "CE"]

    def side(picked: list[Any], right: str) -> tuple[Decimal, Decimal]:
        sells = [p for p in picked if p.side == "SELL"]
        buys = [p for p in picked if p.side == "BUY"]
        if len(sells) != 1 or len(buys) != 1:
            raise SpreadError(
                "short_strike",
                f"pick one sell and one buy {right} (the short and its protection); "
                f"got {len(sells)} sells and {len(buys)} buys",
            )
        short, long = sells[0].strike, buys[0].strike
        if (right == "PE" and long >= short) or (right == "CE" and long <= short):
            raise SpreadError(
                "width",
                f"the bought {right} at {long} must be further out of the money than the "
                f"sold one at {short}",
            )
        return short, abs(short - long)

    if puts and calls:
        put_short, put_width = side(puts, "PE")
        call_short, call_width = side(calls, "CE")
        return Structure.IRON_CONDOR, SpreadRequest(
            structure=Structure.IRON_CONDOR,
            short_strike=put_short,
            call_short_strike=call_short,
            width_points=max(put_width, call_width),
            short_delta=None,
        )
    if puts:
        short, width = side(puts, "PE")
        return Structure.BULL_PUT, SpreadRequest(
            structure=Structure.BULL_PUT, short_strike=short, width_points=width, short_delta=None
        )
    if calls:
        short, width = side(calls, "CE")
        return Structure.BEAR_CALL, SpreadRequest(
            structure=Structure.BEAR_CALL, short_strike=short, width_points=width, short_delta=None
        )
    raise SpreadError(
        "short_strike", "pick the legs in the chain: click a bid to sell, an ask to buy"
    )


class SpreadService:
    def __init__(
        self,
        broker: Broker,
        feed: ChainFeed,
        coordinator: Coordinator,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._broker = broker
        self.feed = feed
        self._coordinator = coordinator
        self._now = now

    def underlyings(self) -> list[str]:
        return self.feed.underlyings()

    def expiries(self, underlying: str) -> tuple[date, ...]:
        return self.feed.expiries(underlying)

    async def plan(
        self, request: SpreadRequest, underlying: str, expiry: date | None
    ) -> SpreadPlan:
        selection = self.feed.selection
        if (
            selection is None
            or selection.underlying != underlying
            or (expiry is not None and selection.expiry != expiry)
        ):
            try:
                await self.feed.select(underlying, expiry)
            except LookupError as error:
                raise SpreadError("expiry", str(error.args[0] if error.args else error)) from None
        return self._plan_current(request)

    def _plan_current(self, request: SpreadRequest) -> SpreadPlan:
        selection = self.feed.selection
        view = self.feed.view()
        if selection is None or view is None:
            raise SpreadError("quotes", "no chain is loaded yet; wait for the broker")
        return plan_spread(request, selection.chain, view)

    def plan_from_picks(self, picks: Sequence[Any], lots: int) -> SpreadPlan:
        _, request = structure_from_picks(picks)
        return self._plan_current(
            SpreadRequest(
                structure=request.structure,
                lots=lots,
                short_strike=request.short_strike,
                call_short_strike=request.call_short_strike,
                width_points=request.width_points,
                short_delta=None,
            )
        )

    async def margin(self, plan: SpreadPlan) -> tuple[Paise | None, str]:
        return await basket_margin(self._broker, plan)

    async def available_funds(self) -> Paise | None:
        try:
            return (await self._broker.margins()).available
        except BrokerError as error:
            log.warning("funds unavailable: %s", error)
            return None

    async def place(self, plan: SpreadPlan, override_reason: str = "") -> OrderGroup:
        """Submit the plan as a new group (pre-trade soft limits overridden only with
        ``override_reason``, which the coordinator journals)."""
        group = plan.to_group(f"G{secrets.token_hex(4)}", self._now())
        await self._coordinator.submit(group, override_reason=override_reason)
        log.info(
            "placed %s %s × %d as group %s",
            plan.structure,
            plan.underlying,
            plan.lots,
            group.group_id,
        )
        return group
