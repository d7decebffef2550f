"""A trading desk on the paper exchange over loopback, for the execution benchmarks: the
exchange on its own thread (:class:`~cockpit.exchange.embedded.ExchangeThread`, real sockets, no
injected latency or faults, its market stepping four times a second from a fixed morning in
market hours), the real :class:`~cockpit.broker.kite.KiteBroker` logged in with
:func:`~cockpit.broker.login.paper_login` and its WebSocket stream attached
(:func:`~cockpit.broker.connect.open_broker`), and a coordinator with the pre-trade gate over a
journal in a temporary folder — the pieces ``cockpit spread --place`` uses, with the broker's
events pumped onto the bus. The paper account is funded so dozens of condors pass the margin
check. :func:`iron_condor` builds a one-lot condor whose limits cross the spread, so the paper
exchange fills each leg the moment it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from cockpit.broker.base import Broker, TickMode
from cockpit.broker.connect import open_broker
from cockpit.broker.kite import KiteBroker
from cockpit.broker.login import paper_login
from cockpit.bus import EventBus
from cockpit.clock import IST, SystemClock
from cockpit.domain.events import Tick
from cockpit.domain.groups import GroupKind, Leg, LegRole, LegSpec, OrderGroup, PricePolicy
from cockpit.domain.instruments import Instrument, InstrumentStore
from cockpit.domain.money import Paise
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import ExchangeConfig
from cockpit.execution.coordinator import Coordinator, ExecutionSettings
from cockpit.execution.events import GroupChanged
from cockpit.execution.pretrade import PreTradeGate
from cockpit.reference_data import load_calendar
from cockpit.store.journal import Journal

START = datetime(2026, 12, 2, 10, 0, tzinfo=IST)  # a Wednesday morning, market open
FUNDS = Paise(5_00_00_000_00)  # ₹5 crore of play money


@dataclass(slots=True)
class Desk:
    broker: KiteBroker
    store: InstrumentStore
    bus: EventBus
    coordinator: Coordinator
    quotes: dict[int, Tick]  # the last tick of every subscribed instrument

    async def watch(self, tokens: list[int], within: float = 10.0) -> None:
        """Subscribe to ``tokens`` in full mode (the mode with the touch, as the chain feed
        subscribes) and wait until each has ticked with a bid and an ask, so the coordinator
        prices from the stream: Kite allows one REST quote request a second."""
        await self.broker.subscribe(tokens, TickMode.FULL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while any(not _two_sided(self.quotes.get(t)) for t in tokens):
            if loop.time() > deadline:
                raise TimeoutError(f"no tick within {within:g} s for some of {tokens}")
            await asyncio.sleep(0.01)


def _two_sided(tick: Tick | None) -> bool:
    return tick is not None and tick.bid is not None and tick.ask is not None


@contextlib.asynccontextmanager
async def paper_desk(
    folder: Path,
    *,
    execution: ExecutionSettings | None = None,
    first: Callable[[EventBus], None] | None = None,
    wrap: Callable[[KiteBroker], Broker] | None = None,
    seed: int = 20261202,
) -> AsyncIterator[Desk]:
    """The desk, torn down on exit. ``first`` subscribes to the bus before the coordinator
    does, so its handlers see each event before the coordinator's; ``wrap`` gives the broker
    as the coordinator and the gate are to see it (the desk's own ``broker`` is the client)."""
    thread = ExchangeThread(ExchangeConfig(seed=seed, start=START, opening_funds=FUNDS))
    url = await asyncio.to_thread(thread.start)
    try:
        broker = await open_broker(url, await paper_login(url))
        try:
            store = await broker.instruments()
            # The login's requests are counted by the exchange's rate limits but not by the
            # broker's (it logs in before the broker exists): let them leave the window first,
            # or the first condor's reads meet an HTTP 429.
            await asyncio.sleep(1.0)
            bus = EventBus()
            quotes: dict[int, Tick] = {}
            bus.subscribe(Tick, lambda tick: quotes.__setitem__(tick.instrument_token, tick))
            if first is not None:
                first(bus)
            clock = SystemClock()
            seen: Broker = wrap(broker) if wrap is not None else broker
            async with await Journal.open(folder / "bench-journal.db", clock=clock) as journal:
                gate = PreTradeGate(seen, store, load_calendar(), clock.now)
                coordinator = Coordinator(
                    seen, journal, bus, clock, store, settings=execution, gate=gate
                )

                async def pump() -> None:
                    async for event in broker.events():
                        bus.publish(event)

                pumping = asyncio.get_running_loop().create_task(pump(), name="bench-events")
                coordinator.start()
                try:
                    yield Desk(broker, store, bus, coordinator, quotes)
                finally:
                    pumping.cancel()
                    await asyncio.gather(pumping, return_exceptions=True)
                    await coordinator.aclose()
        finally:
            await broker.aclose()
    finally:
        await asyncio.to_thread(thread.stop)


#: Condors are submitted this far apart: the pre-trade gate asks the broker for one quote per
#: group, and Kite allows one quote request a second (the limiter would hold the next back).
PACE_S = 1.1
_ENDS = frozenset({"complete", "flat", "rejected", "needs_attention"})


async def run_condors(desk: Desk, count: int, *, warm_up: int = 1) -> list[float]:
    """Submit ``warm_up + count`` one-lot iron condors one after another, each when the last
    is done and ``PACE_S`` after the last submit; the seconds from ``submit`` to the group's
    COMPLETE for the last ``count``. A condor that ends any other way is an error."""
    ended: dict[str, asyncio.Future[tuple[str, float]]] = {}

    def on_group(event: GroupChanged) -> None:
        waiting = ended.get(event.group_id)
        if event.state in _ENDS and waiting is not None and not waiting.done():
            waiting.set_result((event.state, time.perf_counter()))

    unsubscribe = desk.bus.subscribe(GroupChanged, on_group)
    loop = asyncio.get_running_loop()
    samples: list[float] = []
    try:
        for index in range(warm_up + count):
            options = condor_strikes(desk.store, index)
            await desk.watch([option.instrument_token for option, _ in options])
            group = iron_condor(desk, options)
            ended[group.group_id] = loop.create_future()
            started = time.perf_counter()
            await desk.coordinator.submit(group)
            state, at = await asyncio.wait_for(ended[group.group_id], 30)
            if state != "complete":
                history = "; ".join(f"{c.after}: {c.reason}" for c in group.history)
                raise RuntimeError(f"condor {index} ended {state}, not complete: {history}")
            if index >= warm_up:
                samples.append(at - started)
            await asyncio.sleep(max(0.0, started + PACE_S - time.perf_counter()))
    finally:
        unsubscribe()
    return samples


def condor_strikes(
    store: InstrumentStore, index: int, underlying: str = "NIFTY"
) -> list[tuple[Instrument, LegRole]]:
    """The four options of condor ``index``: short strikes 4-6 rows either side of the middle
    of the second expiry's chain, wings two rows further out (the strikes vary with ``index``
    so consecutive condors do not all take the same depth)."""
    expiry = store.expiries(underlying)[1]
    chain = store.chain(underlying, expiry)
    strikes = sorted(row.strike for row in chain.rows)
    middle = len(strikes) // 2
    inner = 4 + index % 3
    picks: list[tuple[Decimal, str, LegRole]] = [
        (strikes[middle - inner - 2], "PE", LegRole.PROTECTION),
        (strikes[middle + inner + 2], "CE", LegRole.PROTECTION),
        (strikes[middle - inner], "PE", LegRole.RISK),
        (strikes[middle + inner], "CE", LegRole.RISK),
    ]
    legs = []
    for strike, right, role in picks:
        row = chain.row(strike)
        option = row.call if right == "CE" else row.put
        if option is None:
            raise LookupError(f"{underlying} {expiry} {strike} {right} is not listed")
        legs.append((option, role))
    return legs


#: Ticks a limit goes past the far side of the book, so a market step (four a second) between
#: the last tick and the order's arrival does not leave it resting.
CUSHION_TICKS = 10


def crossing_policy(tick: Tick | None, tick_size: int) -> PricePolicy:
    """A limit past the far side of the book by ``CUSHION_TICKS``: marketable, and filled at
    the book's own prices."""
    if tick is None or tick.bid is None or tick.ask is None:
        return PricePolicy(offset_ticks=20 + CUSHION_TICKS)
    half_spread = max(0, tick.ask - tick.bid) / 2
    return PricePolicy(offset_ticks=math.ceil(half_spread / tick_size) + CUSHION_TICKS)


def iron_condor(desk: Desk, options: list[tuple[Instrument, LegRole]]) -> OrderGroup:
    """A one-lot iron condor entry group over ``options`` (already watched)."""
    legs = [
        Leg(
            spec=LegSpec.for_instrument(
                option,
                role,
                option.lot_size,
                crossing_policy(desk.quotes.get(option.instrument_token), option.tick_size_paise),
            )
        )
        for option, role in options
    ]
    return OrderGroup(
        group_id=f"B{secrets.token_hex(4)}",
        kind=GroupKind.ENTRY,
        legs=legs,
        created_at=datetime.now(IST),
    )


__all__ = [
    "PACE_S",
    "START",
    "Desk",
    "condor_strikes",
    "crossing_policy",
    "iron_condor",
    "paper_desk",
    "run_condors",
]
