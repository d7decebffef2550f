"""The pre-trade gate in front of the coordinator, against the in-process paper venue: a hedged
spread within the funds passes; margin beyond the funds is refused outright; a soft limit is
refused until the trader overrides it with a reason, which is journalled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cockpit.bus import EventBus
from cockpit.clock import SystemClock
from cockpit.domain.groups import GroupKind, GroupState, LegRole
from cockpit.domain.money import Paise
from cockpit.domain.orders import Side
from cockpit.execution.coordinator import Coordinator, GroupRejectedError
from cockpit.execution.pretrade import PreTradeGate
from cockpit.reference_data import load_calendar
from cockpit.risk.checks import CheckCode, RiskLimits
from cockpit.store.journal import Journal
from tests.execution.engine_broker import EngineBroker
from tests.execution.helpers import group, leg, option, vertical


def run(coro):
    return asyncio.run(coro)


async def rig(tmp_path: Path, funds_paise: int, limits: RiskLimits | None = None):
    bus = EventBus()
    venue = EngineBroker(bus, funds_paise=funds_paise)
    journal = await Journal.open(tmp_path / "cockpit.db")
    gate = PreTradeGate(venue, venue.store, load_calendar(), SystemClock().now, limits=limits)  # type: ignore[arg-type]
    coordinator = Coordinator(venue, journal, bus, SystemClock(), venue.store, gate=gate)  # type: ignore[arg-type]
    coordinator.start()
    return venue, journal, gate, coordinator


async def close(venue, journal, coordinator) -> None:
    await coordinator.aclose()
    await venue.aclose()
    await journal.aclose()


def test_a_hedged_spread_within_the_funds_passes_and_costs_less_than_its_naked_short(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        venue, journal, gate, coordinator = await rig(tmp_path, 50_00_000_00)
        spread = group(vertical(venue.store, "PE", 25800, 25600, lots=2))
        assert await gate.check(spread) == []
        quotes = await gate._quotes(spread)
        now = max(q.at for q in quotes.values())
        hedged = gate.estimate_margin(spread, quotes, now)
        naked = group([spread.legs[1]])
        naked_margin = gate.estimate_margin(naked, quotes, now)
        assert 0 < hedged < naked_margin
        # Max loss of a 200-point put spread of 130 units: 200 × 130 less the credit.
        loss = gate.max_loss(spread, quotes)
        assert loss is not None and 0 < loss < 200 * 130 * 100
        await close(venue, journal, coordinator)

    run(scenario())


def test_margin_beyond_the_funds_is_refused_hard_and_nothing_is_sent(tmp_path: Path) -> None:
    async def scenario() -> None:
        venue, journal, _, coordinator = await rig(tmp_path, 1_000_00)  # ₹1,000
        spread = group(vertical(venue.store, "PE", 25800, 25600, lots=2))
        with pytest.raises(GroupRejectedError) as refused:
            await coordinator.submit(spread, override_reason="I know what I am doing")
        error = refused.value
        assert CheckCode.MARGIN_EXCEEDS_FUNDS in {f.code for f in error.failures}
        assert "exceeds available ₹1,000.00" in str(error)
        assert not error.overridable
        assert spread.state is GroupState.REJECTED
        assert venue.placed_tags == []
        rows = await journal.state("groups")
        assert rows[spread.group_id]["state"] == "rejected"
        await close(venue, journal, coordinator)

    run(scenario())


def test_a_soft_limit_needs_the_traders_reason_and_the_override_is_journalled(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        limits = RiskLimits(max_loss_per_group=Paise(5_000_00))  # ₹5,000
        venue, journal, _, coordinator = await rig(tmp_path, 50_00_000_00, limits)
        spread = group(vertical(venue.store, "PE", 25800, 25600, lots=2))
        with pytest.raises(GroupRejectedError) as refused:
            await coordinator.submit(spread)
        assert refused.value.overridable
        assert [f.code for f in refused.value.failures] == [CheckCode.GROUP_MAX_LOSS]
        assert venue.placed_tags == []
        again = group(vertical(venue.store, "PE", 25800, 25600, lots=2))
        with pytest.raises(ValueError, match="at least 5 characters"):
            await coordinator.submit(again, override_reason="ok")
        await coordinator.submit(again, override_reason="defined risk, sized on purpose")
        done = await coordinator.wait(again.group_id, 30)
        assert done.state is GroupState.COMPLETE
        overrides = await journal.state("overrides")
        [row] = overrides.values()
        assert row["what"] == "pre-trade soft limits"
        assert row["reason"] == "defined risk, sized on purpose"
        assert "₹5,000.00" in row["limits"][0]
        await close(venue, journal, coordinator)

    run(scenario())


def test_exits_and_hedges_are_never_held_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        venue, journal, gate, coordinator = await rig(tmp_path, 1_000_00)
        expiry = venue.store.expiries("NIFTY")[0]
        buy = leg(option(venue.store, "NIFTY", expiry, 25600, "PE"), LegRole.PROTECTION,
                  Side.BUY, 65)  # fmt: skip
        hedge = group([buy], kind=GroupKind.HEDGE)
        assert await gate.check(hedge) == []
        await close(venue, journal, coordinator)

    run(scenario())
