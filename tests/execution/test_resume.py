"""Start-up recovery resumes what a crash interrupted: a coordinator is stopped dead mid-group
(its tasks cancelled, nothing tidied), a new one opens the same journal against the same venue,
recovers, and the group ends where it should — with the hedged invariant held at the venue all
along and no client tag ever sent twice."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cockpit.broker.base import OrderChange
from cockpit.bus import EventBus
from cockpit.clock import SystemClock
from cockpit.domain.groups import GroupKind, GroupState, LegRole, OrderGroup, PricePolicy
from cockpit.domain.orders import OrderStatus, Side
from cockpit.execution.coordinator import Coordinator, ExecutionSettings
from cockpit.execution.events import RecoveryFinished, RecoveryProgressed
from cockpit.execution.startup import recover
from cockpit.store.journal import Entry, Journal
from tests.execution.engine_broker import EngineBroker
from tests.execution.helpers import VenueWatch, leg, option

RESTING = PricePolicy(offset_ticks=0, chase_steps=0, chase_every_s=30.0)  # rests at mid
CHASING = PricePolicy(offset_ticks=0, chase_steps=20, chase_every_s=0.1, chase_step_ticks=5,
                      max_chase_ticks=400)  # fmt: skip
CROSSING = PricePolicy(offset_ticks=400, chase_steps=5, chase_every_s=0.1)


def run(coro):
    return asyncio.run(coro)


@dataclass
class Venue:
    broker: EngineBroker
    bus: EventBus
    watch: VenueWatch
    path: Path
    stepping: asyncio.Event

    async def coordinator(self, **settings: object) -> tuple[Coordinator, Journal]:
        journal = await Journal.open(self.path)
        coordinator = Coordinator(
            self.broker,  # type: ignore[arg-type]
            journal,
            self.bus,
            SystemClock(),
            self.broker.store,
            settings=ExecutionSettings(**settings),  # type: ignore[arg-type]
        )
        return coordinator, journal

    def net(self) -> dict[str, int]:
        return {
            p.tradingsymbol: p.quantity for p in self.broker.engine.positions().net if p.quantity
        }


@asynccontextmanager
async def venue(tmp_path: Path, *, seed: int = 5) -> AsyncIterator[Venue]:
    bus = EventBus()
    broker = EngineBroker(bus, seed=seed)
    watch = VenueWatch()
    broker.observers.append(watch)
    stepping = asyncio.Event()
    stop = asyncio.Event()

    async def market() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.02)
            if stepping.is_set():
                broker.step(1.0)

    task = asyncio.get_running_loop().create_task(market())
    try:
        yield Venue(broker, bus, watch, tmp_path / "cockpit.db", stepping)
    finally:
        stop.set()
        await task
        await broker.aclose()


async def crash(coordinator: Coordinator, journal: Journal) -> None:
    """Stop dead: every task cancelled where it stands (what was journalled stays)."""
    await coordinator.aclose()
    await journal.aclose()


def spread(store, protection: PricePolicy, risk: PricePolicy, lots: int = 2) -> OrderGroup:
    expiry = store.expiries("NIFTY")[0]
    long = option(store, "NIFTY", expiry, 25600, "PE")
    short = option(store, "NIFTY", expiry, 25800, "PE")
    quantity = lots * short.lot_size
    return OrderGroup(
        group_id=f"G{secrets.token_hex(4)}",
        kind=GroupKind.ENTRY,
        legs=[
            leg(long, LegRole.PROTECTION, Side.BUY, quantity, protection),
            leg(short, LegRole.RISK, Side.SELL, quantity, risk),
        ],
        created_at=SystemClock().now(),
    )


def assert_venue_clean(place: Venue) -> None:
    assert place.watch.breaches == []
    tags = Counter(place.broker.placed_tags)
    assert [t for t, n in tags.items() if n > 1] == []


async def until(predicate, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_working_protection_order_is_continued_not_sent_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with venue(tmp_path) as place:
            first, journal = await place.coordinator()
            first.start()
            entry = spread(place.broker.store, CHASING, CROSSING)
            await first.submit(entry)
            await until(lambda: entry.legs[0].children and entry.legs[0].children[0].order_id)
            await crash(first, journal)
            protection_order = entry.legs[0].children[0].order_id
            assert entry.state is GroupState.PROTECTION_WORKING

            second, journal = await place.coordinator()
            report = await recover(journal, place.broker, place.broker.store, second,
                                   SystemClock())  # fmt: skip
            second.start()
            assert report.resumed == {entry.group_id: "resumed from protection_working"}
            place.stepping.set()
            done = await second.wait(entry.group_id, 30)
            assert done.state is GroupState.COMPLETE, done.history
            # The resting protection order was chased to its fill, never placed again.
            buys = [
                o for o in place.broker.engine.orders()
                if o.tradingsymbol == entry.legs[0].spec.tradingsymbol
            ]  # fmt: skip
            assert [o.order_id for o in buys] == [protection_order]
            assert place.net() == {
                entry.legs[0].spec.tradingsymbol: 130,
                entry.legs[1].spec.tradingsymbol: -130,
            }
            assert_venue_clean(place)
            await second.aclose()
            await journal.aclose()

    run(scenario())


def test_an_entry_found_too_late_is_wound_down_and_its_protection_cancelled(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with venue(tmp_path) as place:
            first, journal = await place.coordinator()
            first.start()
            entry = spread(place.broker.store, RESTING, CROSSING)
            await first.submit(entry)
            await until(lambda: entry.legs[0].children and entry.legs[0].children[0].order_id)
            await crash(first, journal)

            second, journal = await place.coordinator(resume_within_s=0.0)
            report = await recover(journal, place.broker, place.broker.store, second,
                                   SystemClock())  # fmt: skip
            second.start()
            assert report.resumed[entry.group_id].startswith("winding down: created")
            done = await second.wait(entry.group_id, 20)
            assert done.state is GroupState.FLAT, done.history
            assert [h.reason for h in done.history][-1] == "no protection filled"
            order = place.broker.engine.orders()[0]
            assert str(order.status) == "CANCELLED"
            assert place.net() == {}
            assert_venue_clean(place)
            await second.aclose()
            await journal.aclose()

    run(scenario())


def test_an_interrupted_unwind_sells_only_what_is_still_long(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with venue(tmp_path) as place:
            first, journal = await place.coordinator()
            first.start()
            entry = spread(place.broker.store, CROSSING, RESTING)
            await first.submit(entry)
            await until(lambda: entry.legs[0].filled_quantity == 130 and entry.legs[1].children
                        and entry.legs[1].children[0].order_id)  # fmt: skip
            risk_order = entry.legs[1].children[0].order_id
            await crash(first, journal)
            # What the crashed coordinator had decided: the risk could not be done, unwind.
            await place.broker.cancel(risk_order)
            journal = await Journal.open(place.path)
            row = (await journal.state("groups"))[entry.group_id]
            await journal.write(
                Entry(kind="test.decided", data={}, state=("groups", entry.group_id,
                                                  {**row, "state": "unwinding"}))
            )  # fmt: skip
            await journal.aclose()

            place.stepping.set()
            second, journal = await place.coordinator()
            await recover(journal, place.broker, place.broker.store, second, SystemClock())
            second.start()
            done = await second.wait(entry.group_id, 30)
            assert done.state is GroupState.FLAT, done.history
            unwind = done.legs[2]
            assert (unwind.spec.side, unwind.spec.quantity, unwind.filled_quantity) == (
                Side.SELL,
                130,
                130,
            )
            assert place.net() == {}
            # Journalled as an unwind leg before it left.
            rows = await journal.state("groups")
            assert [leg["unwind"] for leg in rows[entry.group_id]["legs"]] == [False, False, True]
            assert_venue_clean(place)
            await second.aclose()
            await journal.aclose()

    run(scenario())


def test_a_group_that_never_sent_anything_is_refused_after_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with venue(tmp_path) as place:
            first, journal = await place.coordinator()
            entry = spread(place.broker.store, RESTING, RESTING)
            first.groups[entry.group_id] = entry
            await first._journal_group(entry, "group.created")
            await crash(first, journal)

            second, journal = await place.coordinator()
            report = await recover(journal, place.broker, place.broker.store, second,
                                   SystemClock())  # fmt: skip
            assert report.resumed == {entry.group_id: "refused: nothing had been sent"}
            assert second.groups[entry.group_id].state is GroupState.REJECTED
            assert place.broker.placed_tags == []
            await second.aclose()
            await journal.aclose()

    run(scenario())


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4])
def test_a_crash_at_any_moment_of_a_condor_ends_hedged_with_no_tag_twice(
    tmp_path: Path, delay: float
) -> None:
    async def scenario() -> None:
        async with venue(tmp_path, seed=11) as place:
            place.stepping.set()
            store = place.broker.store
            expiry = store.expiries("NIFTY")[0]
            lots = 28  # above the freeze limit: sliced children
            legs = []
            for right, short_strike, long_strike in (("PE", 25700, 25500), ("CE", 26300, 26500)):
                short = option(store, "NIFTY", expiry, short_strike, right)
                long = option(store, "NIFTY", expiry, long_strike, right)
                quantity = lots * short.lot_size
                legs += [
                    leg(long, LegRole.PROTECTION, Side.BUY, quantity, CHASING),
                    leg(short, LegRole.RISK, Side.SELL, quantity, CHASING),
                ]
            condor = OrderGroup(group_id=f"G{secrets.token_hex(4)}", kind=GroupKind.ENTRY,
                                legs=legs, created_at=SystemClock().now())  # fmt: skip
            first, journal = await place.coordinator()
            first.start()
            await first.submit(condor)
            await asyncio.sleep(delay)
            await crash(first, journal)

            second, journal = await place.coordinator()
            progress: list[int] = []
            finished: list[RecoveryFinished] = []
            place.bus.subscribe(RecoveryProgressed, lambda e: progress.append(e.step))
            place.bus.subscribe(RecoveryFinished, finished.append)
            report = await recover(journal, place.broker, place.broker.store, second,
                                   SystemClock(), place.bus)  # fmt: skip
            second.start()
            assert progress == [1, 2, 3, 4] and finished[0].report is report
            done = await second.wait(condor.group_id, 60)
            assert done.state in (GroupState.COMPLETE, GroupState.FLAT), done.history
            await asyncio.sleep(0.1)
            # The journal (through the group) agrees with the venue, contract by contract.
            held: dict[str, int] = defaultdict(int)
            for each in done.legs:
                held[each.spec.tradingsymbol] += each.signed_filled
            assert {s: q for s, q in held.items() if q} == place.net()
            assert await second.reconcile_positions() == {}
            assert all(
                (c.status is not None and c.status.is_terminal) or c.order_id is None
                for each in done.legs for c in each.children
            )  # fmt: skip
            assert_venue_clean(place)
            await second.aclose()
            await journal.aclose()

    run(scenario())


def test_reconcile_takes_the_brokers_word_for_a_fill_the_stream_lost(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with venue(tmp_path) as place:
            coordinator, journal = await place.coordinator()
            coordinator.start()
            entry = spread(place.broker.store, RESTING, RESTING)
            await coordinator.submit(entry)
            await until(lambda: entry.legs[0].children and entry.legs[0].children[0].order_id)
            child = entry.legs[0].children[0]
            # The venue fills the order but the update never reaches us.
            place.broker._bus = EventBus()
            venue_order = place.broker.engine.orders()[0]
            key = f"NFO:{venue_order.tradingsymbol}"
            ask = (await place.broker.quotes([key]))[key].asks[0].price
            await place.broker.modify(venue_order.order_id, OrderChange(price=ask))
            assert str(place.broker.engine.orders()[0].status) == "COMPLETE"
            assert child.filled_quantity == 0
            assert await coordinator.reconcile() == []
            assert (child.status, child.filled_quantity) == (OrderStatus.COMPLETE, 130)
            await coordinator.aclose()
            await journal.aclose()

    run(scenario())
