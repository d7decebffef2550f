"""The broker's live feed for one consumer: WebSocket first, REST polling as the safety net.

:class:`BrokerStream` owns a ticker (normally :class:`~cockpit.broker.ticker.KiteTicker`) and
turns what it delivers into :data:`~cockpit.broker.base.BrokerEvent` values: ticks, order
updates (raw WebSocket dicts parsed by the injected ``parse_order``) and connection changes.
While the socket is down it polls the order book every ``poll_interval_s`` through the
injected ``fetch_orders`` and publishes POLLING; when the socket is back it polls once more to
reconcile (updates lost while down, or dropped by the broker, are not lost) before it
publishes CONNECTED. An order's state — (status, filled, pending, average price) — is
published once however many times the socket and the poll report it, and a report older than
one already published (fewer fills, or anything after a terminal state) is dropped. Events
wait in a queue for the consumer; when it lags, the oldest ticks are dropped (and counted),
never order updates or connection changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cockpit.broker.base import BrokerEvent, TickMode
from cockpit.broker.ticker import TickerHandlers
from cockpit.broker.ticks import ParsedTick, to_tick
from cockpit.clock import Clock, SystemClock
from cockpit.domain.events import ConnectionChanged, ConnectionState, OrderUpdated, Tick
from cockpit.domain.orders import Order

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S = 12.0
DEFAULT_MAX_QUEUED_TICKS = 10_000

#: What makes two reports of one order the same state.
OrderState = tuple[str, int, int, int]


class TickerLink(Protocol):
    """What the stream needs of a ticker (KiteTicker, or a fake in tests)."""

    async def start(self) -> None: ...

    async def subscribe(self, tokens: Iterable[int], mode: TickMode = TickMode.QUOTE) -> None: ...

    async def unsubscribe(self, tokens: Iterable[int]) -> None: ...

    async def aclose(self) -> None: ...


def order_state(order: Order) -> OrderState:
    return (order.status.value, order.filled_quantity, order.pending_quantity, order.average_price)


@dataclass(slots=True)
class _Published:
    states: set[OrderState] = field(default_factory=set)
    filled: int = 0
    terminal: bool = False


class BrokerStream:
    """Ticks, order updates and connection changes from one ticker plus REST polling.

    ``connect`` builds the ticker from the stream's handlers, e.g.
    ``functools.partial(KiteTicker, TickerConfig(url, api_key, access_token))``.
    """

    def __init__(
        self,
        connect: Callable[[TickerHandlers], TickerLink],
        *,
        fetch_orders: Callable[[], Awaitable[list[Order]]],
        parse_order: Callable[[dict[str, Any]], Order],
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        max_queued_ticks: int = DEFAULT_MAX_QUEUED_TICKS,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be positive, got {poll_interval_s}")
        if max_queued_ticks < 1:
            raise ValueError(f"max_queued_ticks must be at least 1, got {max_queued_ticks}")
        self._fetch_orders = fetch_orders
        self._parse_order = parse_order
        self._poll_interval_s = poll_interval_s
        self._max_queued_ticks = max_queued_ticks
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep
        self._ticker = connect(
            TickerHandlers(
                on_ticks=self._on_ticks,
                on_order_update=self._on_order_update,
                on_state=self._on_link_state,
            )
        )
        self._state: ConnectionState | None = None
        self._link_known = False
        self._link_up = False
        self._link_detail = ""
        self._link_changed = asyncio.Event()
        self._published: dict[str, _Published] = {}
        self._queue: deque[BrokerEvent] = deque()
        self._queued_ticks = 0
        self._wakeup = asyncio.Event()
        self._consuming = False
        self._supervisor: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self.dropped_ticks = 0
        self.polls = 0
        self.unparsed_order_updates = 0

    # ---- public ----------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState | None:
        """The last connection state published (None before :meth:`start`)."""
        return self._state

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("the broker stream is already started")
        self._started = True
        self._publish_state(ConnectionState.CONNECTING, "connecting to the broker's WebSocket")
        self._supervisor = asyncio.create_task(self._supervise(), name="broker-stream-poller")
        await self._ticker.start()

    async def subscribe(self, tokens: Iterable[int], mode: TickMode = TickMode.QUOTE) -> None:
        await self._ticker.subscribe(tokens, mode)

    async def unsubscribe(self, tokens: Iterable[int]) -> None:
        await self._ticker.unsubscribe(tokens)

    async def events(self) -> AsyncIterator[BrokerEvent]:
        """Every event in arrival order; ends after :meth:`aclose` once the queue is empty.
        One consumer at a time."""
        if self._consuming:
            raise RuntimeError("BrokerStream.events() already has a consumer")
        self._consuming = True
        try:
            while True:
                while self._queue:
                    event = self._queue.popleft()
                    if isinstance(event, Tick):
                        self._queued_ticks -= 1
                    yield event
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            self._consuming = False

    async def aclose(self) -> None:
        """Stop polling, close the ticker and end :meth:`events`; leaves no task running."""
        if self._closed:
            return
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._ticker.aclose()
        if self._started:
            self._publish_state(ConnectionState.DISCONNECTED, "closed")
        self._closed = True
        self._wakeup.set()

    # ---- the ticker's handlers ---------------------------------------------------------------

    def _on_ticks(self, ticks: list[ParsedTick]) -> None:
        for parsed in ticks:
            self._put(to_tick(parsed))

    def _on_order_update(self, data: dict[str, Any]) -> None:
        try:
            order = self._parse_order(data)
        except Exception as error:
            self.unparsed_order_updates += 1
            log.warning(
                "stream: could not read the order update for %s: %s; the next poll covers it",
                data.get("order_id", "an unknown order"),
                error,
            )
            return
        self._offer(order)

    def _on_link_state(self, event: ConnectionChanged) -> None:
        if event.state is ConnectionState.CONNECTING:
            return  # the socket is still down; nothing for the poller to do differently
        up = event.state is ConnectionState.CONNECTED
        self._link_detail = event.detail
        if not self._link_known or up != self._link_up:
            self._link_known = True
            self._link_up = up
            self._link_changed.set()

    # ---- polling -----------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            try:
                await self._follow_link()
            except Exception:  # a bug must not silently end the safety net
                log.exception("stream: the poller failed; restarting it")
                await self._sleep(self._poll_interval_s)

    async def _follow_link(self) -> None:
        """Poll while the socket is down, reconcile when it comes up; runs until cancelled."""
        reconcile_pending = False
        while True:
            self._link_changed.clear()
            if not self._link_known:
                await self._link_changed.wait()
            elif self._link_up:
                if self._state is not ConnectionState.CONNECTED or reconcile_pending:
                    reconciled = await self._poll("reconciling after the WebSocket connected")
                    if not self._link_up:
                        continue  # dropped again while reconciling
                    reconcile_pending = not reconciled
                    self._publish_state(ConnectionState.CONNECTED, "")
                if reconcile_pending:
                    await self._wait_link_change(self._poll_interval_s)
                else:
                    await self._link_changed.wait()
            else:
                if self._state is not ConnectionState.POLLING:
                    self._publish_state(ConnectionState.DISCONNECTED, self._link_detail)
                    self._publish_state(
                        ConnectionState.POLLING,
                        f"WebSocket down; polling the order book every {self._poll_interval_s:g} s",
                    )
                await self._poll("polling while the WebSocket is down")
                await self._wait_link_change(self._poll_interval_s)

    async def _wait_link_change(self, seconds: float) -> None:
        changed = asyncio.ensure_future(self._link_changed.wait())
        slept = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({changed, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (changed, slept):
                waiter.cancel()
            await asyncio.gather(changed, slept, return_exceptions=True)

    async def _poll(self, why: str) -> bool:
        try:
            orders = await self._fetch_orders()
        except Exception as error:
            log.warning("stream: %s: reading the order book failed: %s", why, error)
            return False
        self.polls += 1
        for order in orders:
            self._offer(order)
        return True

    # ---- publishing --------------------------------------------------------------------------

    def _offer(self, order: Order) -> None:
        """Publish ``order`` unless this state was published, or it is older than what was."""
        state = order_state(order)
        seen = self._published.get(order.order_id)
        if seen is None:
            seen = self._published[order.order_id] = _Published()
        elif state in seen.states or seen.terminal or order.filled_quantity < seen.filled:
            return
        seen.states.add(state)
        seen.filled = order.filled_quantity
        seen.terminal = order.status.is_terminal
        self._put(OrderUpdated(at=self._clock.now(), order=order))

    def _publish_state(self, state: ConnectionState, detail: str) -> None:
        if state is self._state:
            return
        self._state = state
        log.info("broker stream: %s%s", state, f" ({detail})" if detail else "")
        self._put(ConnectionChanged(at=self._clock.now(), state=state, detail=detail))

    def _put(self, event: BrokerEvent) -> None:
        if self._closed:
            return
        if isinstance(event, Tick):
            if self._queued_ticks >= self._max_queued_ticks:
                self._drop_oldest_tick()
            self._queued_ticks += 1
        self._queue.append(event)
        self._wakeup.set()

    def _drop_oldest_tick(self) -> None:
        for index, queued in enumerate(self._queue):
            if isinstance(queued, Tick):
                del self._queue[index]
                self._queued_ticks -= 1
                self.dropped_ticks += 1
                return
