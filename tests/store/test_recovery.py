"""Broker-wins reconciliation of the journal after a crash: intents found by tag are adopted,
absent ones are never sent again, broker statuses win, external and unhedged positions are
reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderRequest, OrderType, Product, Side
from cockpit.store.journal import Entry
from cockpit.store.recovery import reconcile_journal
from tests.execution.helpers import group, option, vertical, world


def test_a_crash_between_intent_and_answer_is_adopted_by_tag_or_marked_never_sent(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with world(tmp_path, seed=4) as (coordinator, venue, _, _):
            journal = coordinator._journal
            # A live group whose two intents were journalled; the app "crashed" before the
            # broker's answers were journalled. One order did reach the broker.
            row = {
                "group_id": "Gcrash",
                "kind": "entry",
                "state": "protection_working",
                "created_at": "2026-12-02T10:00:00+05:30",
                "legs": [],
            }
            await journal.write(
                Entry(
                    kind="group.created",
                    group_id="Gcrash",
                    data=row,
                    state=("groups", "Gcrash", row),
                )
            )
            expiry = venue.store.expiries("NIFTY")[0]
            long_put = option(venue.store, "NIFTY", expiry, 25600, "PE")
            ask = venue.market.quote(long_put.instrument_token).asks[0].price
            reached = {
                "child_id": "Gcrash-0-1",
                "group_id": "Gcrash",
                "tag": "cGcrash0001",
                "tradingsymbol": long_put.tradingsymbol,
                "side": "BUY",
                "quantity": 65,
                "order_id": None,
                "status": None,
                "filled_quantity": 0,
            }
            lost = {
                **reached,
                "child_id": "Gcrash-1-1",
                "tag": "cGcrash1001",
                "side": "SELL",
                "tradingsymbol": "NIFTY-NEVER",
            }
            for child in (reached, lost):
                await journal.write(
                    Entry(
                        kind="child.intent",
                        group_id="Gcrash",
                        data=child,
                        state=("children", child["child_id"], child),
                    )
                )
            order_id = await venue.place(
                OrderRequest(
                    tradingsymbol=long_put.tradingsymbol,
                    exchange=Exchange.NFO,
                    side=Side.BUY,
                    quantity=65,
                    order_type=OrderType.LIMIT,
                    product=Product.NRML,
                    price=Paise(ask + 200),
                    tag="cGcrash0001",
                )
            )
            report = await reconcile_journal(journal, venue, venue.store)
            assert report.adopted == {"Gcrash-0-1": order_id}
            assert report.never_sent == ["Gcrash-1-1"]
            children = await journal.state("children")
            assert children["Gcrash-0-1"]["order_id"] == order_id
            assert children["Gcrash-0-1"]["status"] == "COMPLETE"
            assert children["Gcrash-0-1"]["filled_quantity"] == 65
            assert children["Gcrash-1-1"]["status"] == "NEVER SENT"
            assert report.external == [] and report.unhedged == []
            # Run again: nothing new to adopt, the journal now agrees.
            again = await reconcile_journal(journal, venue, venue.store)
            assert again.adopted == {} and again.differences == []

    asyncio.run(scenario())


def test_external_and_unhedged_positions_at_the_broker_are_reported(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path, seed=5) as (coordinator, venue, _, _):
            spread = group(vertical(venue.store, "PE", 25800, 25600, lots=1))
            await coordinator.submit(spread)
            await coordinator.wait(spread.group_id, 20)
            await coordinator._journal.flush()
            clean = await reconcile_journal(coordinator._journal, venue, venue.store)
            assert clean.clean, clean.as_dict()
            expiry = venue.store.expiries("NIFTY")[0]
            call = option(venue.store, "NIFTY", expiry, 26300, "CE")
            bid = venue.market.quote(call.instrument_token).bids[0].price
            await venue.place(
                OrderRequest(
                    tradingsymbol=call.tradingsymbol,
                    exchange=Exchange.NFO,
                    side=Side.SELL,
                    quantity=65,
                    order_type=OrderType.LIMIT,
                    product=Product.NRML,
                    price=Paise(bid - 200),
                )
            )
            report = await reconcile_journal(coordinator._journal, venue, venue.store)
            assert report.external == [
                f"{call.tradingsymbol}: broker -65, journal +0 (-65 external)"
            ]
            assert report.unhedged == [
                f"NIFTY {expiry.isoformat()} CE: 65 short against 0 long at the broker"
            ]
            events = await coordinator._journal.events(kinds=["recovery.report"])
            assert events[-1].data["clean"] is False

    asyncio.run(scenario())
