"""The hybrid stop-loss: the 2 s fallback on the injected clock, the cancel/fill races, limit
rounding, a rejected fallback, an invariant over random orderings, and one gap through a stop
on the paper exchange."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.broker.base import (
    BrokerError,
    BrokerInputError,
    BrokerNetworkError,
    OrderRefusedError,
    Priority,
)
from cockpit.broker.connect import open_broker
from cockpit.broker.login import paper_login
from cockpit.clock import IST, ManualClock
from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise, TickRounding, round_to_tick
from cockpit.domain.orders import Order, OrderRequest, OrderStatus, OrderType, Product, Side
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import ExchangeConfig
from cockpit.execution.stoploss import (
    STOP_TRANSITIONS,
    HybridStopLoss,
    IllegalStopTransitionError,
    StopEvent,
    StopLossConfig,
    StopSpec,
    StopState,
    check_stop_transition,
    stop_limit_price,
)

START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)
SYMBOL = "NIFTY26D0126000CE"
LOT = 65
BEING_PROCESSED = "Order cannot be cancelled as it is being processed. Try later."
MARGIN_REJECT = (
    "RMS:Margin Exceeds,Required:52,100.00, Available:1,000.00 for entity account across "
    "exchange across segment across product"
)

_T = TypeVar("_T")


# ---- a scripted broker ---------------------------------------------------------------------


class FakeVenue:
    """The broker as far as a stop uses it. It keeps each order's truth and its history; every
    change is also put in ``outbox``, and the test decides when (or whether) the stop hears of
    it. Cancels follow ``cancel_outcomes`` (then "ok"), the fallback ``market_outcome``.

    It checks the promise on every change: filled plus still-fillable quantity over all exit
    orders never exceeds ``limit``, and a MARKET is only ever placed once every other exit
    order is final."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.truth: dict[str, Order] = {}
        self.history: dict[str, list[Order]] = {}
        self.requests: dict[str, OrderRequest] = {}
        self.outbox: list[Order] = []
        self.calls: list[tuple[str, str, Priority | None]] = []
        self.cancel_outcomes: list[str] = []
        self.history_outcomes: list[str] = []
        self.market_outcome = "accept"
        self.listener: Callable[[Order], None] | None = None
        self.on_placed: Callable[[str], None] | None = None
        self.cancel_gate: asyncio.Event | None = None
        self.max_committed = 0
        self._next_id = 1

    # -- the Broker protocol's part a stop uses --

    async def place(self, request: OrderRequest, *, priority: Priority = Priority.ORDER) -> str:
        self.calls.append(("place", str(request.order_type), priority))
        if request.order_type is OrderType.MARKET:
            live = [o.order_id for o in self.truth.values() if not o.status.is_terminal]
            assert not live, f"a MARKET exit was sent while {live} could still fill"
            if self.market_outcome == "raise":
                raise OrderRefusedError(
                    "place refused", broker_message="Instrument is in ban period."
                )
        order_id = f"O{self._next_id}"
        self._next_id += 1
        status = (
            OrderStatus.TRIGGER_PENDING if request.order_type is OrderType.SL else OrderStatus.OPEN
        )
        self.requests[order_id] = request
        first = Order.from_request(order_id, request, status=status, placed_at=START)
        self.truth[order_id] = first
        self.history[order_id] = []
        self._record(first)
        if request.order_type is OrderType.MARKET:
            self._run_market(order_id)
        if self.on_placed is not None:
            self.on_placed(order_id)
        return order_id

    async def cancel(
        self, order_id: str, *, variety: object = None, priority: Priority = Priority.ORDER
    ) -> str:
        self.calls.append(("cancel", order_id, priority))
        if self.cancel_gate is not None:
            await self.cancel_gate.wait()
        outcome = self.cancel_outcomes.pop(0) if self.cancel_outcomes else "ok"
        live = not self.truth[order_id].status.is_terminal
        if outcome == "lost_before":
            raise BrokerNetworkError(f"cancel order {order_id}: no answer (ReadTimeout)")
        if outcome == "error":
            raise BrokerError(f"cancel order {order_id}", broker_message="Exchange is down.")
        if outcome == "fill_then_refuse" and live:
            self.fill(order_id, self.truth[order_id].pending_quantity)
            live = False
        if not live:
            raise BrokerInputError("cancel refused", broker_message=BEING_PROCESSED, status=400)
        self.cancel_now(order_id)
        if outcome == "lost_after":
            raise BrokerNetworkError(f"cancel order {order_id}: no answer (ReadTimeout)")
        return order_id

    async def order_history(self, order_id: str) -> list[Order]:
        self.calls.append(("order_history", order_id, None))
        if self.history_outcomes and self.history_outcomes.pop(0) == "lost":
            raise BrokerNetworkError(f"GET /orders/{order_id}: no answer")
        return list(self.history[order_id])

    # -- the market, moved by the test --

    def trigger(self, order_id: str) -> Order:
        return self._set(order_id, status=OrderStatus.OPEN)

    def fill(self, order_id: str, quantity: int) -> Order:
        now = self.truth[order_id]
        quantity = min(quantity, now.pending_quantity)
        assert quantity > 0 and not now.status.is_terminal
        pending = now.pending_quantity - quantity
        return self._set(
            order_id,
            filled_quantity=now.filled_quantity + quantity,
            pending_quantity=pending,
            average_price=Paise(10_060),
            status=OrderStatus.COMPLETE if pending == 0 else OrderStatus.OPEN,
        )

    def cancel_now(self, order_id: str, message: str | None = None) -> Order:
        now = self.truth[order_id]
        return self._set(
            order_id,
            status=OrderStatus.CANCELLED,
            pending_quantity=0,
            cancelled_quantity=now.pending_quantity,
            status_message=message,
        )

    def last(self, order_id: str) -> Order:
        return self.truth[order_id]

    def market_ids(self) -> list[str]:
        return [i for i, r in self.requests.items() if r.order_type is OrderType.MARKET]

    def placed_quantities(self) -> list[int]:
        return [r.quantity for r in self.requests.values()]

    def total_filled(self) -> int:
        return sum(o.filled_quantity for o in self.truth.values())

    def calls_named(self, name: str) -> list[tuple[str, str, Priority | None]]:
        return [c for c in self.calls if c[0] == name]

    def _run_market(self, order_id: str) -> None:
        quantity = self.truth[order_id].quantity
        if self.market_outcome == "complete":
            self.fill(order_id, quantity)
        elif self.market_outcome == "reject":
            self._set(
                order_id,
                status=OrderStatus.REJECTED,
                pending_quantity=0,
                status_message=MARGIN_REJECT,
            )
        elif self.market_outcome == "partial":
            if quantity > LOT:
                self.fill(order_id, LOT)
            self.cancel_now(
                order_id,
                "Market protection: the unfilled quantity could not be filled within 5.00% of "
                "the market and was cancelled.",
            )

    def _set(self, order_id: str, **changes: Any) -> Order:
        row = dataclasses.replace(self.truth[order_id], **changes)
        self.truth[order_id] = row
        self._record(row)
        return row

    def _record(self, row: Order) -> None:
        self.history[row.order_id].append(row)
        self.outbox.append(row)
        committed = sum(
            o.filled_quantity + (0 if o.status.is_terminal else o.pending_quantity)
            for o in self.truth.values()
        )
        self.max_committed = max(self.max_committed, committed)
        assert committed <= self.limit, f"{committed} committed in exits, limit {self.limit}"
        if self.listener is not None:
            self.listener(row)


def stop_spec(
    *, side: Side = Side.BUY, quantity: int = 2 * LOT, trigger: int = 10_000, tag: str = "stop1"
) -> StopSpec:
    return StopSpec(SYMBOL, Exchange.NFO, side, quantity, Paise(trigger), 5, tag=tag)


def rig(
    spec: StopSpec | None = None, config: StopLossConfig | None = None
) -> tuple[ManualClock, FakeVenue, HybridStopLoss, list[StopEvent]]:
    spec = spec or stop_spec()
    clock = ManualClock(START)
    venue = FakeVenue(spec.quantity)
    events: list[StopEvent] = []
    stop = HybridStopLoss(
        spec, venue, clock, config=config or StopLossConfig(), on_event=events.append
    )
    return clock, venue, stop, events


async def armed_and_triggered(
    venue: FakeVenue, stop: HybridStopLoss, *, fill_first: int = 0
) -> str:
    sl_id = await stop.arm()
    stop.on_order_update(venue.last(sl_id))
    stop.on_order_update(venue.trigger(sl_id))
    if fill_first:
        stop.on_order_update(venue.fill(sl_id, fill_first))
    assert stop.state is StopState.TRIGGERED
    return sl_id


# ---- the examples a trader would check by hand -----------------------------------------------


def test_unfilled_trigger_is_cancelled_at_2_s_and_only_the_confirmed_cancel_sends_the_market() -> (
    None
):
    async def scenario() -> None:
        clock, venue, stop, events = rig()
        sl_id = await stop.arm()
        sl = venue.requests[sl_id]
        assert (sl.order_type, sl.side, sl.quantity, sl.trigger_price, sl.price, sl.tag) == (
            OrderType.SL,
            Side.BUY,
            130,
            10_000,
            10_050,
            "stop1SL",
        )
        assert stop.state is StopState.ARMED
        stop.on_order_update(venue.trigger(sl_id))
        assert stop.state is StopState.TRIGGERED

        clock.advance(1.9)
        await stop.poll()
        assert venue.calls_named("cancel") == [] and stop.state is StopState.TRIGGERED

        clock.advance(0.1)
        await stop.poll()
        assert venue.calls_named("cancel") == [("cancel", sl_id, Priority.EXIT)]
        assert stop.state is StopState.CANCELLING
        clock.advance(0.5)
        await stop.poll()  # cancelled at the venue, but not confirmed to the stop yet
        assert venue.market_ids() == [] and stop.state is StopState.CANCELLING

        stop.on_order_update(venue.last(sl_id))  # CANCELLED, 0 filled
        assert stop.state is StopState.FALLBACK
        await stop.poll()
        [market_id] = venue.market_ids()
        market = venue.requests[market_id]
        assert (market.side, market.quantity, market.market_protection, market.tag) == (
            Side.BUY,
            130,
            -1,
            "stop1MK",
        )
        assert venue.calls[-1] == ("place", "MARKET", Priority.EXIT)
        assert stop.market_order_id == market_id and stop.orders == (sl_id, market_id)

        stop.on_order_update(venue.fill(market_id, 130))
        assert stop.state is StopState.DONE and stop.filled_quantity == 130
        assert [e.state for e in events if e.state is not StopState.CANCELLING][-3:] == [
            StopState.FALLBACK,
            StopState.FALLBACK,
            StopState.DONE,
        ]
        assert venue.placed_quantities() == [130, 130]

    asyncio.run(scenario())


@pytest.mark.parametrize("update_arrives", [True, False], ids=["update", "re-read"])
def test_cancel_refused_because_it_just_filled_never_sends_a_market_order(
    update_arrives: bool,
) -> None:
    async def scenario() -> None:
        clock, venue, stop, events = rig()
        sl_id = await armed_and_triggered(venue, stop)
        venue.cancel_outcomes = ["fill_then_refuse"]
        clock.advance(2.0)
        await stop.poll()
        assert stop.state is StopState.CANCELLING
        assert any(BEING_PROCESSED in e.detail for e in events)
        await stop.poll()
        assert venue.market_ids() == []
        if update_arrives:
            stop.on_order_update(venue.last(sl_id))
        else:
            clock.advance(1.0)  # no update: the order's history says what happened
            await stop.poll()
            assert ("order_history", sl_id, None) in venue.calls
        assert stop.state is StopState.DONE and stop.filled_quantity == 130
        for _ in range(5):
            clock.advance(1.0)
            await stop.poll()
        assert venue.market_ids() == [] and venue.calls_named("cancel") == [
            ("cancel", sl_id, Priority.EXIT)
        ]

    asyncio.run(scenario())


def test_partial_fill_before_the_cancel_sends_market_for_the_remainder_only() -> None:
    async def scenario() -> None:
        clock, venue, stop, _ = rig()
        sl_id = await armed_and_triggered(venue, stop, fill_first=65)
        assert stop.filled_quantity == 65
        clock.advance(2.0)
        await stop.poll()
        stop.on_order_update(venue.last(sl_id))  # CANCELLED with 65 filled
        await stop.poll()
        [market_id] = venue.market_ids()
        assert venue.requests[market_id].quantity == 65
        stop.on_order_update(venue.fill(market_id, 65))
        assert stop.state is StopState.DONE and stop.filled_quantity == 130
        assert venue.total_filled() == 130

    asyncio.run(scenario())


@pytest.mark.parametrize("confirmation_first", [False, True], ids=["in-order", "out-of-order"])
def test_late_fill_between_cancel_request_and_confirmation_sends_only_what_remains(
    confirmation_first: bool,
) -> None:
    async def scenario() -> None:
        clock, venue, stop, _ = rig()
        sl_id = await armed_and_triggered(venue, stop)
        late_fill = venue.fill(sl_id, 65)  # it fills at the venue; the stop has not heard
        clock.advance(2.0)
        await stop.poll()
        assert stop.state is StopState.CANCELLING
        confirmation = venue.last(sl_id)
        assert (confirmation.status, confirmation.filled_quantity) == (OrderStatus.CANCELLED, 65)
        updates = [confirmation, late_fill] if confirmation_first else [late_fill, confirmation]
        stop.on_order_update(updates[0])
        await stop.poll()
        if not confirmation_first:
            assert venue.market_ids() == []  # a fill is no confirmation
        stop.on_order_update(updates[1])
        await stop.poll()
        [market_id] = venue.market_ids()
        assert venue.placed_quantities() == [130, 65]
        stop.on_order_update(venue.fill(market_id, 65))
        assert stop.state is StopState.DONE and venue.total_filled() == 130

    asyncio.run(scenario())


def test_lost_cancel_answer_is_resolved_by_re_reading_the_order_before_acting() -> None:
    async def scenario() -> None:
        clock, venue, stop, _ = rig()
        sl_id = await armed_and_triggered(venue, stop)
        venue.cancel_outcomes = ["lost_after"]  # the cancel worked; its answer did not come
        clock.advance(2.0)
        await stop.poll()
        assert venue.calls[-3:] == [
            ("cancel", sl_id, Priority.EXIT),
            ("order_history", sl_id, None),
            ("place", "MARKET", Priority.EXIT),
        ]
        [market_id] = venue.market_ids()
        assert venue.requests[market_id].quantity == 130

    asyncio.run(scenario())


def test_lost_cancel_that_did_not_reach_the_broker_is_sent_again_and_no_market_before() -> None:
    async def scenario() -> None:
        clock, venue, stop, _ = rig()
        sl_id = await armed_and_triggered(venue, stop)
        venue.cancel_outcomes = ["lost_before"]
        clock.advance(2.0)
        await stop.poll()
        assert [c[0] for c in venue.calls][-2:] == ["cancel", "order_history"]
        assert stop.state is StopState.CANCELLING and venue.market_ids() == []
        clock.advance(0.5)
        await stop.poll()
        assert len(venue.calls_named("cancel")) == 1  # not before confirm_timeout_s
        clock.advance(0.5)
        await stop.poll()  # re-read: still OPEN, so cancel again; this one takes
        assert len(venue.calls_named("cancel")) == 2
        assert venue.last(sl_id).status is OrderStatus.CANCELLED
        stop.on_order_update(venue.last(sl_id))
        await stop.poll()
        assert venue.placed_quantities() == [130, 130]

    asyncio.run(scenario())


def test_limit_is_half_a_percent_beyond_the_trigger_on_the_right_side() -> None:
    five = 5
    half = Decimal("0.5")
    assert stop_limit_price(Side.BUY, Paise(10_000), five, half) == 10_050  # 100.00 → 100.50
    assert stop_limit_price(Side.SELL, Paise(10_000), five, half) == 9_950  # 100.00 → 99.50
    # 41.40 × 1.005 = 41.6070 → up to 41.65; 41.40 × 0.995 = 41.1930 → down to 41.15.
    assert stop_limit_price(Side.BUY, Paise(4_140), five, half) == 4_165
    assert stop_limit_price(Side.SELL, Paise(4_140), five, half) == 4_115
    # 0.05 × 0.995 rounds down to 0.00: a SELL limit never goes below one tick.
    assert stop_limit_price(Side.SELL, Paise(5), five, half) == 5
    assert stop_limit_price(Side.BUY, Paise(10_000), five, Decimal(2)) == 10_200
    _, venue, stop, _ = rig(stop_spec(side=Side.SELL, trigger=4_140))
    asyncio.run(stop.arm())
    [request] = venue.requests.values()
    assert (request.side, request.price, request.trigger_price) == (Side.SELL, 4_115, 4_140)


def test_trigger_off_the_tick_is_refused_with_its_value() -> None:
    with pytest.raises(ValueError, match=r"stop trigger 10\.03 is not on the 0\.05 tick; use "):
        stop_spec(trigger=1_003)


@pytest.mark.parametrize(
    ("tag", "problem"),
    [("a" * 19, "1 to 18 letters"), ("stop-1", "letters or digits"), ("", "1 to 18")],
)
def test_stop_tag_must_leave_room_for_the_suffix_within_kites_20(tag: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        stop_spec(tag=tag)
    assert len(stop_spec(tag="a" * 18).fallback_tag) == 20


def test_config_refuses_float_buffer_and_bad_times() -> None:
    with pytest.raises(ValueError, match="limit_buffer_pct"):
        StopLossConfig(limit_buffer_pct=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fallback_after_s"):
        StopLossConfig(fallback_after_s=-1)
    with pytest.raises(ValueError, match="market_protection"):
        HybridStopLoss(
            stop_spec(),
            FakeVenue(130),
            ManualClock(START),
            config=StopLossConfig(market_protection=0),
        )


@pytest.mark.parametrize("outcome", ["reject", "partial"])
def test_rejected_fallback_is_reported_as_failed_with_kites_words_and_not_retried(
    outcome: str,
) -> None:
    async def scenario() -> None:
        clock, venue, stop, events = rig()
        sl_id = await armed_and_triggered(venue, stop)
        venue.market_outcome = outcome
        clock.advance(2.0)
        await stop.poll()
        stop.on_order_update(venue.last(sl_id))
        await stop.poll()
        [market_id] = venue.market_ids()
        stop.on_order_update(venue.last(market_id))
        assert stop.state is StopState.FAILED
        failed = [e for e in events if e.state is StopState.FAILED]
        assert len(failed) == 1 and failed[0].order_id == market_id
        expected = MARGIN_REJECT if outcome == "reject" else "Market protection"
        assert expected in failed[0].detail
        assert failed[0].filled_quantity == (0 if outcome == "reject" else 65)
        for _ in range(5):
            clock.advance(1.0)
            await stop.poll()
        assert len(venue.market_ids()) == 1  # no loop

    asyncio.run(scenario())


def test_fallback_refused_outright_is_failed_with_the_brokers_message() -> None:
    async def scenario() -> None:
        clock, venue, stop, events = rig()
        sl_id = await armed_and_triggered(venue, stop)
        venue.market_outcome = "raise"
        clock.advance(2.0)
        await stop.poll()
        stop.on_order_update(venue.last(sl_id))
        await stop.poll()
        assert stop.state is StopState.FAILED and stop.market_order_id is None
        assert "Instrument is in ban period." in events[-1].detail
        clock.advance(5.0)
        await stop.poll()
        assert venue.calls_named("place") == [("place", "SL", Priority.EXIT)] * 1 + [
            ("place", "MARKET", Priority.EXIT)
        ]

    asyncio.run(scenario())


def test_stop_that_fills_on_its_trigger_needs_no_cancel() -> None:
    async def scenario() -> None:
        clock, venue, stop, _ = rig()
        sl_id = await armed_and_triggered(venue, stop)
        clock.advance(1.0)
        stop.on_order_update(venue.fill(sl_id, 130))
        assert stop.state is StopState.DONE
        clock.advance(5.0)
        await stop.poll()
        assert venue.calls_named("cancel") == [] and venue.market_ids() == []

    asyncio.run(scenario())


def test_stop_cancelled_before_its_trigger_is_failed_not_replaced_by_a_market_order() -> None:
    async def scenario() -> None:
        clock, venue, stop, events = rig()
        sl_id = await stop.arm()
        stop.on_order_update(venue.cancel_now(sl_id, "Contract expired; the order was cancelled."))
        assert stop.state is StopState.FAILED
        assert "ended before it triggered" in events[-1].detail
        assert "Contract expired" in events[-1].detail
        clock.advance(5.0)
        await stop.poll()
        assert venue.market_ids() == []

    asyncio.run(scenario())


def test_stop_cancelled_by_the_venue_after_its_trigger_goes_to_market_at_once() -> None:
    async def scenario() -> None:
        _, venue, stop, _ = rig()
        sl_id = await armed_and_triggered(venue, stop, fill_first=65)
        stop.on_order_update(venue.cancel_now(sl_id, "Price band breached."))
        assert stop.state is StopState.FALLBACK
        await stop.poll()
        assert venue.placed_quantities() == [130, 65] and venue.calls_named("cancel") == []

    asyncio.run(scenario())


def test_update_that_beats_the_order_id_is_recognised_by_its_tag() -> None:
    async def scenario() -> None:
        _, venue, stop, _ = rig()
        venue.listener = stop.on_order_update

        def fills_at_once(order_id: str) -> None:
            venue.trigger(order_id)
            venue.fill(order_id, 130)

        venue.on_placed = fills_at_once
        sl_id = await stop.arm()
        assert stop.state is StopState.DONE and stop.filled_quantity == 130
        assert stop.orders == (sl_id,)

    asyncio.run(scenario())


def test_kites_update_cue_makes_the_stop_re_read_the_order() -> None:
    async def scenario() -> None:
        _, venue, stop, _ = rig()
        sl_id = await stop.arm()
        venue.trigger(sl_id)
        stop.on_order_update(dataclasses.replace(venue.last(sl_id), status=OrderStatus.UPDATE))
        assert stop.state is StopState.ARMED
        await stop.poll()
        assert ("order_history", sl_id, None) in venue.calls
        assert stop.state is StopState.TRIGGERED

    asyncio.run(scenario())


def test_overlapping_polls_send_one_cancel() -> None:
    async def scenario() -> None:
        clock, venue, stop, _ = rig()
        await armed_and_triggered(venue, stop)
        venue.cancel_gate = asyncio.Event()
        clock.advance(2.0)
        first = asyncio.create_task(stop.poll())
        await asyncio.sleep(0)
        clock.advance(1.5)  # a slow broker: the cancel is still in flight at the next ticks
        await asyncio.wait_for(stop.poll(), 1.0)  # returns at once: one poll at a time
        await asyncio.wait_for(stop.poll(), 1.0)
        venue.cancel_gate.set()
        await first
        assert len(venue.calls_named("cancel")) == 1
        assert venue.calls_named("order_history") == []

    asyncio.run(scenario())


def test_a_failing_listener_does_not_stop_the_exit() -> None:
    async def scenario() -> None:
        clock = ManualClock(START)
        venue = FakeVenue(130)

        def broken(event: StopEvent) -> None:
            raise RuntimeError("listener bug")

        stop = HybridStopLoss(stop_spec(), venue, clock, on_event=broken)
        sl_id = await stop.arm()
        stop.on_order_update(venue.trigger(sl_id))
        clock.advance(2.0)
        await stop.poll()
        stop.on_order_update(venue.last(sl_id))
        await stop.poll()
        assert venue.placed_quantities() == [130, 130]

    asyncio.run(scenario())


def test_arm_refused_is_failed_and_raised() -> None:
    async def scenario() -> None:
        _, venue, stop, events = rig()

        async def refuse(request: OrderRequest, *, priority: Priority = Priority.ORDER) -> str:
            raise OrderRefusedError("place", broker_message="Trigger price is out of range.")

        venue.place = refuse  # type: ignore[method-assign]
        with pytest.raises(OrderRefusedError):
            await stop.arm()
        assert stop.state is StopState.FAILED
        assert "Trigger price is out of range." in events[-1].detail

    asyncio.run(scenario())


@pytest.mark.parametrize("current", list(StopState))
@pytest.mark.parametrize("new", list(StopState))
def test_every_transition_is_allowed_or_refused_by_the_table(
    current: StopState, new: StopState
) -> None:
    if new in STOP_TRANSITIONS[current]:
        check_stop_transition(current, new)
    else:
        with pytest.raises(IllegalStopTransitionError, match=f"from {current} to {new}"):
            check_stop_transition(current, new)


# ---- the invariant over random orderings -------------------------------------------------------

CANCEL_OUTCOMES = ["ok", "lost_after", "lost_before", "fill_then_refuse", "error"]
MARKET_OUTCOMES = ["complete", "accept", "reject", "partial", "raise"]
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("trigger"), st.just(0)),
        st.tuples(st.just("fill"), st.integers(1, 2)),
        st.tuples(st.just("market_fill"), st.integers(1, 2)),
        st.tuples(st.just("deliver"), st.integers(0, 50)),
        st.tuples(st.just("duplicate"), st.integers(0, 50)),
        st.tuples(st.just("drop"), st.integers(0, 50)),
        st.tuples(st.just("advance"), st.sampled_from([0.1, 0.5, 1.0, 2.0])),
        st.tuples(st.just("poll"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    actions=ACTIONS,
    cancels=st.lists(st.sampled_from(CANCEL_OUTCOMES), max_size=6),
    rereads=st.lists(st.sampled_from(["ok", "lost"]), max_size=4),
    market=st.sampled_from(MARKET_OUTCOMES),
    trigger_at_once=st.booleans(),
)
def test_exit_orders_never_commit_more_than_the_stop_quantity(
    actions: list[tuple[str, Any]],
    cancels: list[str],
    rereads: list[str],
    market: str,
    trigger_at_once: bool,
) -> None:
    async def scenario() -> None:
        clock, venue, stop, _ = rig()
        venue.cancel_outcomes = list(cancels)
        venue.history_outcomes = list(rereads)
        venue.market_outcome = market
        sl_id = await stop.arm()
        if trigger_at_once:  # the stop hears of it only when the test delivers the update
            venue.trigger(sl_id)

        def live(order_id: str) -> bool:
            return not venue.last(order_id).status.is_terminal

        for action, value in actions:
            if action == "trigger" and venue.last(sl_id).status is OrderStatus.TRIGGER_PENDING:
                venue.trigger(sl_id)
            elif action == "fill" and venue.last(sl_id).status is OrderStatus.OPEN:
                venue.fill(sl_id, value * LOT)
            elif action == "market_fill":
                for market_id in venue.market_ids():
                    if live(market_id):
                        venue.fill(market_id, value * LOT)
            elif action in ("deliver", "duplicate", "drop") and venue.outbox:
                index = value % len(venue.outbox)
                row = venue.outbox[index] if action == "duplicate" else venue.outbox.pop(index)
                if action != "drop":
                    stop.on_order_update(row)
            elif action == "advance":
                clock.advance(value)
                await stop.poll()
            elif action == "poll":
                await stop.poll()
            assert stop.filled_quantity <= stop.spec.quantity

        # The market goes through the trigger; the owner's feed catches up (the broker
        # stream's polling re-sends every order's state), time passes.
        if venue.last(sl_id).status is OrderStatus.TRIGGER_PENDING:
            venue.trigger(sl_id)
        for _ in range(40):
            for row in venue.outbox:
                stop.on_order_update(row)
            venue.outbox.clear()
            for order in list(venue.truth.values()):
                stop.on_order_update(order)
            if stop.state.is_final:
                break
            for market_id in venue.market_ids():
                if live(market_id) and market == "accept":
                    venue.fill(market_id, venue.last(market_id).pending_quantity)
            clock.advance(0.5)
            await stop.poll()
        assert stop.state.is_final, stop.state

        assert venue.max_committed <= stop.spec.quantity
        assert len(venue.market_ids()) <= 1
        assert stop.filled_quantity == venue.total_filled() <= stop.spec.quantity
        if stop.state is StopState.DONE:
            assert venue.total_filled() == stop.spec.quantity
        else:
            assert market in ("reject", "partial", "raise")

    asyncio.run(scenario())


# ---- a gap through the stop on the paper exchange -------------------------------------------


async def bounded(awaitable: Awaitable[_T], within: float = 15.0) -> _T:
    return await asyncio.wait_for(awaitable, within)


@pytest.mark.slow
def test_gap_through_a_stop_on_the_paper_exchange_cancels_then_buys_back_and_ends_flat(
    tmp_path: Path,
) -> None:
    config = ExchangeConfig(
        seed=5, speed=0, start=START, rate_limits=False, state_path=tmp_path / "paper.db"
    )

    async def scenario(url: str) -> None:
        session = await bounded(paper_login(url))
        broker = await bounded(open_broker(url, session, stream=False))
        admin = httpx.AsyncClient(
            base_url=url, headers={"Authorization": session.authorization}, timeout=15
        )

        async def post(what: str, body: dict[str, Any]) -> None:
            answer = await bounded(admin.post(f"/admin/{what}", json=body))
            assert answer.status_code == 200, answer.text

        try:
            store = await bounded(broker.instruments())
            chain = store.chain("NIFTY", store.expiries("NIFTY")[0])
            call = chain.rows[len(chain.rows) // 2].call
            assert call is not None
            key = f"NFO:{call.tradingsymbol}"
            quote = (await bounded(broker.quotes([key])))[key]
            short_id = await bounded(
                broker.place(
                    OrderRequest(
                        tradingsymbol=call.tradingsymbol,
                        exchange=Exchange.NFO,
                        side=Side.SELL,
                        quantity=call.lot_size,
                        order_type=OrderType.LIMIT,
                        product=Product.NRML,
                        price=quote.bids[0].price,
                    )
                )
            )
            assert (await bounded(broker.order_history(short_id)))[-1].status is (
                OrderStatus.COMPLETE
            )

            async def net_quantity() -> int:
                positions = await bounded(broker.positions())
                return sum(p.quantity for p in positions if p.tradingsymbol == call.tradingsymbol)

            assert await net_quantity() == -call.lot_size

            clock = ManualClock(START)
            events: list[StopEvent] = []
            trigger = round_to_tick(
                Paise(quote.last_price * 12 // 10), call.tick_size_paise, TickRounding.UP
            )
            stop = HybridStopLoss(
                StopSpec(
                    call.tradingsymbol,
                    Exchange.NFO,
                    Side.BUY,
                    call.lot_size,
                    trigger,
                    call.tick_size_paise,
                    tag="gapstop1",
                ),
                broker,
                clock,
                on_event=events.append,
            )

            async def forward() -> None:
                """The owner's order feed (stream=False here): each order's latest state."""
                for order_id in stop.orders:
                    stop.on_order_update((await bounded(broker.order_history(order_id)))[-1])

            sl_id = await bounded(stop.arm())
            await forward()
            assert stop.state is StopState.ARMED

            # NIFTY gaps up 2%: the call jumps through the trigger and far past the limit,
            # so the SL triggers and cannot fill. (The freeze fault would not do here: on the
            # paper exchange it also holds a stop's trigger, not only its fill.)
            await post("gap", {"underlying": "NIFTY", "pct": 2})
            await forward()
            assert stop.state is StopState.TRIGGERED
            sl = (await bounded(broker.order_history(sl_id)))[-1]
            assert (sl.status, sl.filled_quantity) == (OrderStatus.OPEN, 0)

            # The fallback MARKET will be accepted but held by the venue for a while.
            await post("faults", {"freeze_seconds": 10})
            clock.advance(1.9)
            await bounded(stop.poll())
            assert stop.state is StopState.TRIGGERED
            clock.advance(0.1)
            await bounded(stop.poll())
            assert stop.state is StopState.CANCELLING and stop.market_order_id is None

            await forward()  # the cancel confirmed
            assert stop.state is StopState.FALLBACK
            await bounded(stop.poll())
            assert stop.market_order_id is not None
            await forward()
            market = (await bounded(broker.order_history(stop.market_order_id)))[-1]
            assert (market.order_type, market.side, market.quantity) == (
                OrderType.MARKET,
                Side.BUY,
                call.lot_size,
            )
            assert market.status is OrderStatus.OPEN and stop.state is StopState.FALLBACK

            await post("faults", {"freeze_seconds": 0})
            await post("time", {"advance_s": 11})
            clock.advance(1.0)
            await bounded(stop.poll())  # no update came: the stop re-reads the order
            assert stop.state is StopState.DONE, [e.detail for e in events]
            assert stop.filled_quantity == call.lot_size
            assert [o.status for o in await bounded(broker.orders()) if o.order_id == sl_id] == [
                OrderStatus.CANCELLED
            ]
            assert await net_quantity() == 0
        finally:
            await admin.aclose()
            await broker.aclose()

    with ExchangeThread(config) as exchange:
        asyncio.run(scenario(exchange.url))
