"""The kill switch: every working order of entries and exits is cancelled at the venue (risk
first), their groups stop where they stand, new entries are refused until re-armed — while an
emergency hedge is never held back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cockpit.domain.groups import GroupKind, GroupState, LegRole
from cockpit.domain.orders import Side
from cockpit.execution.coordinator import GroupRejectedError
from tests.execution.helpers import group, leg, option, vertical
from tests.execution.test_resume import CROSSING, RESTING, spread, venue


def run(coro):
    return asyncio.run(coro)


def test_the_kill_switch_cancels_working_orders_and_refuses_entries_until_rearmed(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with venue(tmp_path) as place:
            coordinator, journal = await place.coordinator()
            coordinator.start()
            venue_, watch = place.broker, place.watch
            # Protection fills at once, the short rests: both kinds of work are under way.
            first = spread(venue_.store, CROSSING, RESTING)
            second = spread(venue_.store, RESTING, RESTING)
            await coordinator.submit(first)
            await coordinator.submit(second)
            for _ in range(200):
                await asyncio.sleep(0.02)
                if (
                    first.legs[1].children
                    and second.legs[0].children
                    and all(
                        c.order_id
                        for g in (first, second)
                        for leg_ in g.legs
                        for c in leg_.children
                    )
                ):
                    break
            working_before = [o for o in venue_.engine.orders() if str(o.status) == "OPEN"]
            assert len(working_before) == 2
            cancelled = await coordinator.engage_kill_switch("market going haywire")
            assert cancelled == 2
            assert [str(o.status) for o in venue_.engine.orders() if o.order_id in
                    {w.order_id for w in working_before}] == ["CANCELLED", "CANCELLED"]  # fmt: skip
            assert first.state is GroupState.NEEDS_ATTENTION
            assert second.state is GroupState.NEEDS_ATTENTION
            assert "kill switch (market going haywire)" in first.history[-1].reason
            # The filled protection stays: never a naked short.
            assert watch.breaches == []
            placed = len(venue_.placed_tags)
            third = group(vertical(venue_.store, "PE", 25800, 25600, lots=1))
            with pytest.raises(GroupRejectedError, match="kill switch is engaged"):
                await coordinator.submit(third)
            assert len(venue_.placed_tags) == placed
            # A hedge still goes.
            expiry = venue_.store.expiries("NIFTY")[0]
            hedge = group(
                [leg(option(venue_.store, "NIFTY", expiry, 25500, "PE"), LegRole.PROTECTION,
                     Side.BUY, 65, CROSSING)],
                kind=GroupKind.HEDGE,
            )  # fmt: skip
            await coordinator.submit(hedge)
            for _ in range(100):
                await asyncio.sleep(0.02)
                if len(venue_.placed_tags) > placed:
                    break
            assert len(venue_.placed_tags) == placed + 1
            events = await coordinator._journal.events()
            assert "kill_switch.engaged" in [e.kind for e in events]
            with pytest.raises(ValueError, match="at least 5 characters"):
                await coordinator.rearm("ok")
            await coordinator.rearm("calm again, checked the book")
            fourth = group(vertical(venue_.store, "PE", 25800, 25600, lots=1))
            await coordinator.submit(fourth)
            assert fourth.state is not GroupState.REJECTED
            await coordinator.aclose()
            await journal.aclose()

    run(scenario())
