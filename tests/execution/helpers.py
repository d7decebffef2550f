"""Building groups and watching the venue for the execution tests."""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from cockpit.bus import EventBus
from cockpit.clock import SystemClock
from cockpit.domain.groups import GroupKind, Leg, LegRole, LegSpec, OrderGroup, PricePolicy
from cockpit.domain.instruments import Instrument, InstrumentStore
from cockpit.domain.orders import Side
from cockpit.exchange.faults import Faults
from cockpit.execution.coordinator import Coordinator, ExecutionSettings
from cockpit.store.journal import Journal
from tests.execution.engine_broker import START, EngineBroker


def leg(
    instrument: Instrument,
    role: LegRole,
    side: Side,
    quantity: int,
    policy: PricePolicy | None = None,
) -> Leg:
    assert side is role.side
    policy = policy or PricePolicy(offset_ticks=2, chase_steps=4)
    return Leg(spec=LegSpec.for_instrument(instrument, role, quantity, policy))


def option(store: InstrumentStore, underlying: str, expiry: date, strike: int, right: str):
    chain = store.chain(underlying, expiry)
    row = chain.row(Decimal(strike))
    found = row.call if right == "CE" else row.put
    assert found is not None
    return found


def vertical(
    store: InstrumentStore,
    right: str,
    short_strike: int,
    long_strike: int,
    lots: int,
    *,
    underlying: str = "NIFTY",
    expiry: date | None = None,
) -> list[Leg]:
    """A credit vertical: sell ``short_strike``, buy ``long_strike`` (the protection)."""
    expiry = expiry or store.expiries(underlying)[0]
    short = option(store, underlying, expiry, short_strike, right)
    long = option(store, underlying, expiry, long_strike, right)
    quantity = lots * short.lot_size
    return [
        leg(long, LegRole.PROTECTION, Side.BUY, quantity),
        leg(short, LegRole.RISK, Side.SELL, quantity),
    ]


def group(legs: list[Leg], kind: GroupKind = GroupKind.ENTRY) -> OrderGroup:
    return OrderGroup(group_id=f"G{secrets.token_hex(4)}", kind=kind, legs=legs, created_at=START)


@dataclass
class VenueWatch:
    """Checks the hedged invariant at the venue after every change it makes."""

    breaches: list[str] = field(default_factory=list)
    checks: int = 0

    def __call__(self, venue: EngineBroker) -> None:
        self.checks += 1
        net: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0])
        for position in venue.engine.positions().net:
            instrument = venue.universe.get(position.instrument_token)
            if instrument.expiry is None or str(instrument.instrument_type) not in {"CE", "PE"}:
                continue
            key = (instrument.name, instrument.expiry, str(instrument.instrument_type))
            if position.quantity < 0:
                net[key][0] += -position.quantity
            else:
                net[key][1] += position.quantity
        for key, (short, long) in net.items():
            if short > long:
                self.breaches.append(f"{key}: short {short} > long {long}")


@asynccontextmanager
async def world(
    tmp_path: Path,
    *,
    seed: int = 1,
    faults: Faults | None = None,
    latency_s: float = 0.0,
    settings: ExecutionSettings | None = None,
    step_every_s: float = 0.02,
) -> AsyncIterator[tuple[Coordinator, EngineBroker, VenueWatch, EventBus]]:
    """A coordinator over an in-process venue whose market steps a second every
    ``step_every_s`` of wall time, with the invariant watched after every venue change."""
    bus = EventBus()
    venue = EngineBroker(bus, seed=seed, faults=faults, latency_s=latency_s)
    watch = VenueWatch()
    venue.observers.append(watch)
    journal = await Journal.open(tmp_path / f"journal-{seed}-{secrets.token_hex(2)}.db")
    coordinator = Coordinator(venue, journal, bus, SystemClock(), venue.store, settings=settings)  # type: ignore[arg-type]
    coordinator.start()
    stop = asyncio.Event()

    async def market() -> None:
        while not stop.is_set():
            await asyncio.sleep(step_every_s)
            venue.step(1.0)

    stepper = asyncio.get_running_loop().create_task(market())
    try:
        yield coordinator, venue, watch, bus
    finally:
        stop.set()
        await stepper
        await coordinator.aclose()
        await venue.aclose()
        await journal.aclose()
