"""The coordinator against the paper exchange's venue (in process): hedge first, freeze slicing,
pro-rata risk, unwinds — and the hedged invariant checked at the venue after every change."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import pytest

from cockpit.domain.groups import GroupState, LegRole
from cockpit.domain.orders import Side
from cockpit.exchange.faults import Faults
from cockpit.execution.coordinator import ExecutionSettings, GroupRejectedError
from cockpit.execution.events import GroupChanged
from cockpit.execution.hedger import HedgePolicy
from tests.execution.helpers import group, leg, option, vertical, world

TERMINAL = {GroupState.COMPLETE, GroupState.FLAT}


def run(coro):
    return asyncio.run(coro)


def test_bull_put_spread_fills_protection_first_and_ends_complete(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as (coordinator, venue, watch, bus):
            states: list[str] = []
            bus.subscribe(GroupChanged, lambda e: states.append(e.state))
            spread = group(vertical(venue.store, "PE", 25800, 25600, lots=2))
            await coordinator.submit(spread)
            done = await coordinator.wait(spread.group_id, 20)
            assert done.state is GroupState.COMPLETE
            assert [str(h.after) for h in done.history] == [
                "validated",
                "protection_working",
                "protection_filled",
                "risk_working",
                "complete",
            ]
            await asyncio.sleep(0.05)  # the last event follows the journal write
            assert states[-1] == "complete"
            positions = {p.tradingsymbol: p.quantity for p in await venue.positions()}
            long_leg, short_leg = spread.legs[0].spec, spread.legs[1].spec
            assert positions == {long_leg.tradingsymbol: 130, short_leg.tradingsymbol: -130}
            # The first order at the venue was the protection.
            first = min(venue.engine.orders(), key=lambda o: o.order_id)
            assert first.tradingsymbol == long_leg.tradingsymbol
            assert watch.breaches == [] and watch.checks > 0
            events = await coordinator._journal.events(group_id=spread.group_id)
            kinds = Counter(e.kind for e in events)
            assert kinds["child.intent"] == 2 and kinds["child.acked"] == 2
            assert kinds["group.transition"] == 5

    run(scenario())


def test_iron_condor_above_the_freeze_limit_is_sliced_and_completes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path, seed=3) as (coordinator, venue, watch, _):
            legs = vertical(venue.store, "PE", 25700, 25500, lots=30) + vertical(
                venue.store, "CE", 26300, 26500, lots=30
            )
            condor = group(legs)
            await coordinator.submit(condor)
            done = await coordinator.wait(condor.group_id, 30)
            assert done.state is GroupState.COMPLETE, done.history
            for each in condor.legs:
                # 1,950 units = 27 lots (1,755, the largest legal order) + 3 lots (195).
                assert sorted(c.quantity for c in each.children if c.filled_quantity) in (
                    [195, 1755],
                    sorted(c.quantity for c in each.children if c.filled_quantity),
                )
                assert each.filled_quantity == 1950
                assert all(c.quantity <= 1755 for c in each.children)
            assert watch.breaches == []
            tags = Counter(venue.placed_tags)
            assert all(n == 1 for n in tags.values())

    run(scenario())


def test_an_entry_that_would_leave_a_naked_short_is_rejected_and_journalled(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as (coordinator, venue, _, _):
            expiry = venue.store.expiries("NIFTY")[0]
            short = option(venue.store, "NIFTY", expiry, 26200, "CE")
            protection = option(venue.store, "NIFTY", expiry, 26400, "CE")
            naked = group(
                [
                    leg(protection, LegRole.PROTECTION, Side.BUY, 65),
                    leg(short, LegRole.RISK, Side.SELL, 130),
                ]
            )
            with pytest.raises(GroupRejectedError, match="130 short against 65 long"):
                await coordinator.submit(naked)
            assert naked.state is GroupState.REJECTED
            assert venue.engine.orders() == []

    run(scenario())


def test_rejected_risk_unwinds_the_protection_to_flat(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as (coordinator, venue, watch, _):
            spread = group(vertical(venue.store, "CE", 26200, 26400, lots=1))
            # The venue refuses every order after the first (the protection).
            original = venue.place
            calls = 0

            async def refuse_after_first(request, **kwargs):
                nonlocal calls
                calls += 1
                if (
                    request.side is Side.SELL
                    and request.tradingsymbol == spread.legs[1].spec.tradingsymbol
                ):
                    from cockpit.broker.base import MarginShortfallError

                    raise MarginShortfallError("Insufficient funds.", broker_message="x")
                return await original(request, **kwargs)

            venue.place = refuse_after_first  # type: ignore[method-assign]
            await coordinator.submit(spread)
            done = await coordinator.wait(spread.group_id, 20)
            assert done.state is GroupState.FLAT, done.history
            assert [h.after for h in done.history][-2:] == [GroupState.UNWINDING, GroupState.FLAT]
            positions = {p.tradingsymbol: p.quantity for p in await venue.positions()}
            assert all(q == 0 for q in positions.values())
            assert watch.breaches == []

    run(scenario())


# 40 seeds in CI; COCKPIT_EXECUTION_SEEDS=300 runs hundreds on demand.
SEEDS = int(os.environ.get("COCKPIT_EXECUTION_SEEDS", "40"))


@pytest.mark.parametrize("seed", range(SEEDS))
def test_seeded_runs_with_faults_end_complete_or_flat_never_naked(
    tmp_path: Path, seed: int
) -> None:
    faults = Faults(partial_fill_rate=0.6, reject_rate=0.08)
    settings = ExecutionSettings(hedge_policy=HedgePolicy.AUTO)

    async def scenario() -> None:
        async with world(
            tmp_path, seed=seed, faults=faults, latency_s=0.002, settings=settings
        ) as (
            coordinator,
            venue,
            watch,
            _,
        ):
            lots = 1 + seed % 30
            legs = vertical(venue.store, "PE", 25800 - 50 * (seed % 3), 25600, lots=lots)
            if seed % 2:
                legs += vertical(venue.store, "CE", 26200 + 50 * (seed % 3), 26400, lots=lots)
            spread = group(legs)
            await coordinator.submit(spread)
            done = await coordinator.wait(spread.group_id, 60)
            assert done.state in TERMINAL, done.history
            assert watch.breaches == []
            assert all(n == 1 for n in Counter(venue.placed_tags).values())
            # Never more risk filled than protection, per key, at the end either.
            for right in ("PE", "CE"):
                short = sum(
                    leg.filled_quantity
                    for leg in done.legs
                    if leg.spec.right == right and leg.spec.side is Side.SELL
                )
                long = sum(
                    leg.filled_quantity
                    for leg in done.legs
                    if leg.spec.right == right and leg.spec.side is Side.BUY
                )
                assert short <= long

    run(scenario())
