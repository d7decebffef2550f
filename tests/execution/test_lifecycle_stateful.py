"""Hypothesis drives the coordinator against a venue whose every answer it chooses: fills,
partial fills, rejects, cancels, late and duplicate updates, time passing. Whatever happens:
never more short than long per underlying/expiry/right, never an illegal transition, never an
over-hedge, and when the dust settles the group is terminal with nothing uncovered."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cockpit.broker.base import BrokerInputError, OrderChange, Priority
from cockpit.bus import EventBus
from cockpit.clock import IST, ManualClock
from cockpit.domain.events import OrderUpdated
from cockpit.domain.groups import GroupState
from cockpit.domain.market_data import DepthLevel, Quote
from cockpit.domain.money import Paise
from cockpit.domain.orders import Order, OrderRequest, OrderStatus, Validity, Variety
from cockpit.execution.coordinator import Coordinator, ExecutionSettings
from cockpit.execution.hedger import HedgePolicy
from tests.execution.engine_broker import EngineBroker
from tests.execution.helpers import group, vertical

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=IST)
STORE = EngineBroker(EventBus()).store


@dataclass
class Placed:
    order: Order
    history: list[Order]


class ScriptedVenue:
    """Accepts every order and does nothing until told; quotes are a fixed two-sided book."""

    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop) -> None:
        self.bus = bus
        self.loop = loop
        self.placed: list[Placed] = []
        self.tags: list[str] = []
        self._ids = itertools.count(1)

    async def place(self, request: OrderRequest, *, priority: Priority = Priority.ORDER) -> str:
        order_id = str(next(self._ids))
        order = Order(
            order_id=order_id,
            tradingsymbol=request.tradingsymbol,
            exchange=request.exchange,
            side=request.side,
            quantity=request.quantity,
            order_type=request.order_type,
            product=request.product,
            validity=Validity.DAY,
            variety=Variety.REGULAR,
            status=OrderStatus.OPEN,
            placed_at=NOW,
            price=request.price,
            pending_quantity=request.quantity,
            tag=request.tag,
        )
        self.placed.append(Placed(order, [order]))
        self.tags.append(request.tag or "")
        return order_id

    def update(self, index: int, **changes: Any) -> Order:
        placed = self.placed[index]
        placed.order = replace(placed.order, **changes)
        placed.history.append(placed.order)
        # Delivered on the loop, as the broker stream delivers them.
        self.loop.call_soon(self.bus.publish, OrderUpdated(at=NOW, order=placed.order))
        return placed.order

    async def modify(self, order_id: str, change: OrderChange, **_: Any) -> str:
        for i, placed in enumerate(self.placed):
            if placed.order.order_id == order_id:
                if placed.order.status.is_terminal:
                    raise BrokerInputError("Order cannot be modified as it is being processed.")
                self.update(i, price=change.price)
                return order_id
        raise BrokerInputError("Couldn't find that `order_id`.")

    async def cancel(self, order_id: str, **_: Any) -> str:
        for i, placed in enumerate(self.placed):
            if placed.order.order_id == order_id:
                if placed.order.status.is_terminal:
                    raise BrokerInputError(
                        "Order cannot be cancelled as it is being processed. Try later."
                    )
                o = placed.order
                self.update(
                    i,
                    status=OrderStatus.CANCELLED,
                    pending_quantity=0,
                    cancelled_quantity=o.quantity - o.filled_quantity,
                )
                return order_id
        raise BrokerInputError("Couldn't find that `order_id`.")

    async def order_history(self, order_id: str) -> list[Order]:
        for placed in self.placed:
            if placed.order.order_id == order_id:
                return list(placed.history)
        raise BrokerInputError("Couldn't find that `order_id`.")

    async def quotes(self, keys: Sequence[str]) -> dict[str, Quote]:
        return {
            key: Quote(
                instrument_token=1,
                at=NOW,
                last_price=Paise(10000),
                bids=(DepthLevel(Paise(9990), 650, 5),),
                asks=(DepthLevel(Paise(10010), 650, 5),),
            )
            for key in keys
        }

    async def positions(self) -> list[Any]:
        return []


class MemoryJournal:
    """The journal's interface, in memory (the real one is tested in tests/store)."""

    def __init__(self) -> None:
        self.entries: list[Any] = []
        self.tables: dict[str, dict[str, Any]] = {}

    async def write(self, entry: Any) -> int:
        self.entries.append(entry)
        if entry.state is not None:
            table, key, row = entry.state
            self.tables.setdefault(table, {})[key] = row
        return len(self.entries)

    def write_nowait(self, entry: Any) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_result(len(self.entries))
        self.entries.append(entry)
        return future

    async def state(self, table: str) -> dict[str, Any]:
        return self.tables.get(table, {})


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.bus = EventBus()
        self.venue = ScriptedVenue(self.bus, self.loop)
        self.clock = ManualClock(NOW)
        self.coordinator = Coordinator(
            self.venue,  # type: ignore[arg-type]
            MemoryJournal(),  # type: ignore[arg-type]
            self.bus,
            self.clock,
            STORE,
            settings=ExecutionSettings(hedge_policy=HedgePolicy.AUTO, watchdog_s=0.01),
        )
        self.group = None
        self.max_uncovered = 0

    def settle(self, seconds: float = 0.02) -> None:
        self.loop.run_until_complete(asyncio.sleep(seconds))

    @rule(lots=st.integers(1, 40), condor=st.booleans())
    @precondition(lambda self: self.group is None)
    def submit(self, lots: int, condor: bool) -> None:
        legs = vertical(STORE, "PE", 25800, 25600, lots=lots)
        if condor:
            legs += vertical(STORE, "CE", 26200, 26400, lots=lots)
        self.group = group(legs)

        async def go() -> None:
            self.coordinator.start()
            await self.coordinator.submit(self.group)

        self.loop.run_until_complete(go())
        self.settle()

    def _open(self) -> list[int]:
        return [i for i, p in enumerate(self.venue.placed) if not p.order.status.is_terminal]

    @rule(pick=st.integers(0, 1000), lots=st.integers(1, 30))
    @precondition(lambda self: self.group is not None)
    def fill(self, pick: int, lots: int) -> None:
        open_ = self._open()
        if not open_:
            return
        i = open_[pick % len(open_)]
        o = self.venue.placed[i].order
        filled = min(o.quantity, o.filled_quantity + 65 * lots)
        self.venue.update(
            i,
            filled_quantity=filled,
            pending_quantity=o.quantity - filled,
            average_price=Paise(10000),
            status=OrderStatus.COMPLETE if filled == o.quantity else OrderStatus.OPEN,
        )
        self.settle()

    @rule(pick=st.integers(0, 1000), cancel=st.booleans())
    @precondition(lambda self: self.group is not None)
    def reject_or_cancel(self, pick: int, cancel: bool) -> None:
        open_ = self._open()
        if not open_:
            return
        i = open_[pick % len(open_)]
        o = self.venue.placed[i].order
        status = OrderStatus.CANCELLED if cancel or o.filled_quantity else OrderStatus.REJECTED
        self.venue.update(
            i, status=status, pending_quantity=0, cancelled_quantity=o.quantity - o.filled_quantity
        )
        self.settle()

    @rule(pick=st.integers(0, 1000))
    @precondition(lambda self: self.group is not None and self.venue.placed)
    def late_update(self, pick: int) -> None:
        placed = self.venue.placed[pick % len(self.venue.placed)]
        stale = placed.history[pick % len(placed.history)]
        self.loop.call_soon(self.bus.publish, OrderUpdated(at=NOW, order=stale))  # old, again
        self.settle()

    @rule(seconds=st.floats(0.1, 3.0))
    @precondition(lambda self: self.group is not None)
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle(0.03)

    @invariant()
    def never_more_short_than_long(self) -> None:
        for exposure in self.coordinator.exposures.values():
            self.max_uncovered = max(self.max_uncovered, exposure.uncovered_quantity)
        assert self.max_uncovered == 0, self.coordinator.exposures
        if self.group is not None:
            reasons = [h.reason for h in self.group.history]
            assert not any("coordinator failed" in r for r in reasons), reasons

    @invariant()
    def every_event_was_handled(self) -> None:
        assert self.bus.failures == 0

    @invariant()
    def no_tag_twice(self) -> None:
        assert len(self.venue.tags) == len(set(self.venue.tags))

    def teardown(self) -> None:
        try:
            if self.group is not None:
                # Let the venue finish: fill whatever is still open, step time, repeat.
                for _ in range(60):
                    if self.group.is_terminal:
                        break
                    for i in self._open():
                        o = self.venue.placed[i].order
                        self.venue.update(
                            i,
                            filled_quantity=o.quantity,
                            pending_quantity=0,
                            average_price=Paise(10000),
                            status=OrderStatus.COMPLETE,
                        )
                    self.clock.advance(1.5)
                    self.settle(0.03)
                assert self.group.state in (GroupState.COMPLETE, GroupState.FLAT), (
                    self.group.state,
                    self.group.history,
                )
                assert all(e.uncovered_quantity == 0 for e in self.coordinator.exposures.values())
        finally:
            self.loop.run_until_complete(self.coordinator.aclose())
            self.loop.close()


Lifecycle.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = Lifecycle.TestCase
