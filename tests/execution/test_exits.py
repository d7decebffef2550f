"""Exits: shorts bought back first, protection sold after; the stop rule fires on ticks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cockpit.domain.events import Tick
from cockpit.domain.groups import ExitRules, GroupKind, GroupState
from tests.execution.helpers import group, vertical, world


def test_closing_a_spread_buys_the_short_back_before_selling_protection(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path, seed=5) as (coordinator, venue, watch, _):
            spread = group(vertical(venue.store, "PE", 25800, 25600, lots=3))
            await coordinator.submit(spread)
            await coordinator.wait(spread.group_id, 20)
            orders_before = len(venue.engine.orders())
            exit_group = await coordinator.close_group(spread.group_id, "trader closed it")
            done = await coordinator.wait(exit_group.group_id, 20)
            assert done.kind is GroupKind.EXIT and done.state is GroupState.COMPLETE
            assert done.parent_id == spread.group_id
            exit_orders = sorted(venue.engine.orders(), key=lambda o: o.order_id)[orders_before:]
            assert exit_orders[0].tradingsymbol == spread.legs[1].spec.tradingsymbol  # short
            assert str(exit_orders[0].transaction_type) == "BUY"
            positions = {p.tradingsymbol: p.quantity for p in await venue.positions()}
            assert set(positions.values()) == {0}
            assert watch.breaches == []
            # Closing twice gives the same exit.
            again = await coordinator.close_group(spread.group_id, "again")
            assert again.group_id == exit_group.group_id

    asyncio.run(scenario())


def test_the_stop_rule_fires_on_ticks_after_a_gap(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path, seed=6) as (coordinator, venue, watch, bus):
            spread = group(vertical(venue.store, "CE", 26200, 26400, lots=1))
            spread.exit_rules = ExitRules(target_pct_of_credit=50, stop_pct_of_credit=100)
            await coordinator.submit(spread)
            await coordinator.wait(spread.group_id, 20)
            venue.market.gap("NIFTY", 3.0)
            venue.step(1)
            for leg in spread.legs:
                quote = venue.market.quote(leg.spec.instrument_token)
                bus.publish(
                    Tick(
                        at=quote.at,
                        instrument_token=quote.instrument_token,
                        last_price=quote.last_price,
                        bid=quote.bids[0].price,
                        ask=quote.asks[0].price,
                    )
                )
            for _ in range(100):
                await asyncio.sleep(0.05)
                if spread.group_id in coordinator._exits:
                    break
            exit_id = coordinator._exits[spread.group_id]
            done = await coordinator.wait(exit_id, 20)
            assert done.state is GroupState.COMPLETE
            positions = {p.tradingsymbol: p.quantity for p in await venue.positions()}
            assert set(positions.values()) == {0}
            assert watch.breaches == []
            events = await coordinator._journal.events(
                group_id=spread.group_id, kinds=["group.exit"]
            )
            assert events[0].data["reason"].startswith("stop:")

    asyncio.run(scenario())
