"""A trading session for the command line: the journal, a coordinator fed by the broker's events,
and start-up recovery run before anything else — so ``cockpit spread --place`` and
``cockpit recover`` never send an order before the journal and the broker agree and the groups
a crash interrupted are back in hand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cockpit.broker.base import Broker
from cockpit.bus import EventBus
from cockpit.clock import Clock, SystemClock
from cockpit.config import Settings
from cockpit.domain.groups import GroupState
from cockpit.domain.instruments import InstrumentStore
from cockpit.execution.coordinator import Coordinator, ExecutionSettings
from cockpit.execution.pretrade import PreTradeGate
from cockpit.execution.startup import StartupReport, recover
from cockpit.reference_data import load_calendar
from cockpit.store.journal import Journal


@dataclass(slots=True)
class TradingSession:
    coordinator: Coordinator
    journal: Journal
    recovery: StartupReport
    clock: Clock

    async def settle(self, within: float) -> dict[str, str]:
        """Wait (at most ``within`` seconds) for the resumed groups — and any hedge they
        caused — to finish; returns each group's state then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            busy = [
                g
                for g in self.coordinator.groups.values()
                if not g.is_terminal and g.state is not GroupState.NEEDS_ATTENTION
            ]
            if not busy and not self.coordinator.hedges_pending:
                break
            await asyncio.sleep(0.1)
        return {gid: str(g.state) for gid, g in self.coordinator.groups.items()}


@contextlib.asynccontextmanager
async def trading_session(
    settings: Settings,
    broker: Broker,
    store: InstrumentStore,
    *,
    execution: ExecutionSettings | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[TradingSession]:
    clock = clock or SystemClock()
    bus = EventBus()
    async with await Journal.open(settings.journal_path, clock=clock) as journal:
        gate = PreTradeGate(broker, store, load_calendar(), clock.now)
        coordinator = Coordinator(broker, journal, bus, clock, store, settings=execution, gate=gate)

        async def pump() -> None:
            async for event in broker.events():
                bus.publish(event)

        pumping = asyncio.get_running_loop().create_task(pump(), name="broker-events")
        try:
            report = await recover(journal, broker, store, coordinator, clock, bus)
            coordinator.start()
            yield TradingSession(coordinator, journal, report, clock)
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
            await coordinator.aclose()
