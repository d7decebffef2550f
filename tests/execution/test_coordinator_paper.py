"""The coordinator against the paper exchange over real sockets — KiteBroker, the WebSocket
stream and polling — with partial fills, rejects and latency injected."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from cockpit.broker.connect import open_broker
from cockpit.broker.login import paper_login
from cockpit.bus import EventBus
from cockpit.clock import IST, SystemClock
from cockpit.domain.groups import GroupState
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.faults import Faults
from cockpit.exchange.server import ExchangeConfig
from cockpit.execution.coordinator import Coordinator
from cockpit.store.journal import Journal
from tests.execution.helpers import group, vertical

pytestmark = pytest.mark.slow


def test_spreads_and_condors_over_the_wire_end_complete_or_flat_never_naked(
    tmp_path: Path,
) -> None:
    config = ExchangeConfig(
        seed=21,
        speed=10,
        start=datetime(2026, 12, 2, 10, 0, tzinfo=IST),
        rate_limits=False,
        faults=Faults(latency_ms=(2, 15), partial_fill_rate=0.5, reject_rate=0.1),
    )

    async def scenario(url: str) -> None:
        bus = EventBus()
        session = await paper_login(url)
        broker = await open_broker(url, session, poll_interval_s=1.0)
        journal = await Journal.open(tmp_path / "cockpit.db")
        store = await broker.instruments()
        coordinator = Coordinator(broker, journal, bus, SystemClock(), store)
        coordinator.start()

        async def pump() -> None:
            async for event in broker.events():
                bus.publish(event)

        pumping = asyncio.get_running_loop().create_task(pump())
        try:
            plans = [
                vertical(store, "PE", 25800, 25600, lots=2),
                vertical(store, "PE", 25700, 25500, lots=28)  # above the freeze limit
                + vertical(store, "CE", 26300, 26500, lots=28),
            ]
            states = []
            for legs in plans:
                entry = group(legs)
                await coordinator.submit(entry)
                done = await coordinator.wait(entry.group_id, 90)
                states.append(done.state)
            assert all(s in (GroupState.COMPLETE, GroupState.FLAT) for s in states), states
            # At the exchange: never more short than long per underlying/expiry/right.
            net: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
            for position in await broker.positions():
                instrument = store.get(position.instrument_token)
                key = (str(instrument.expiry), str(instrument.instrument_type))
                if position.quantity < 0:
                    net[key][0] -= position.quantity
                else:
                    net[key][1] += position.quantity
            assert all(short <= long for short, long in net.values()), dict(net)
            tags = Counter(o.tag for o in await broker.orders() if o.tag)
            assert tags and all(n == 1 for n in tags.values())
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
            await coordinator.aclose()
            await broker.aclose()
            await journal.aclose()

    with ExchangeThread(config) as exchange:
        asyncio.run(scenario(exchange.url))
