"""The broker stream: against the paper exchange (ticks in every mode; the socket dropped with
order updates lost, orders still arriving by polling, reconnect and resubscribe, every order
state published once) and with a fake ticker (reconciling poll before CONNECTED, dedupe and
stale reports, a lagging consumer losing only ticks, failing polls, shutdown)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from cockpit.broker.base import BrokerEvent, TickMode
from cockpit.broker.stream import BrokerStream
from cockpit.broker.ticker import KiteTicker, TickerHandlers
from cockpit.broker.ticks import ParsedTick
from cockpit.clock import IST
from cockpit.domain.events import ConnectionChanged, ConnectionState, OrderUpdated, Tick
from cockpit.domain.instruments import Exchange
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise
from cockpit.domain.orders import (
    Order,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
    Variety,
)

from .test_ticker import NIFTY_50, TIMEOUT, Venue, nifty_options, paper_venue  # noqa: F401

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=IST)
CONNECTING, CONNECTED, DISCONNECTED, POLLING = (
    ConnectionState.CONNECTING,
    ConnectionState.CONNECTED,
    ConnectionState.DISCONNECTED,
    ConnectionState.POLLING,
)


def order_from_kite(data: dict[str, Any]) -> Order:
    """A stand-in for the REST adapter's payload parser: one Kite order dict → Order."""

    def paise(name: str) -> Paise:
        return Paise(int(Decimal(str(data.get(name) or 0)) * 100))

    status = OrderStatus(data["status"])
    return Order(
        order_id=str(data["order_id"]),
        tradingsymbol=data["tradingsymbol"],
        exchange=Exchange(data["exchange"]),
        side=Side(data["transaction_type"]),
        quantity=int(data["quantity"]),
        order_type=OrderType(data["order_type"]),
        product=Product(data["product"]),
        validity=Validity(data["validity"]),
        variety=Variety(data["variety"]),
        status=status,
        placed_at=datetime.strptime(data["order_timestamp"], "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=IST
        ),
        price=paise("price") or None,
        trigger_price=paise("trigger_price") or None,
        filled_quantity=int(data["filled_quantity"]),
        # Kite's CANCELLED rows keep the last pending quantity beside the cancelled one
        pending_quantity=0 if status.is_terminal else int(data["pending_quantity"]),
        cancelled_quantity=int(data.get("cancelled_quantity") or 0),
        average_price=paise("average_price"),
        tag=data.get("tag"),
    )


@dataclass
class Consumer:
    """Reads ``stream.events()`` in a task, as the app would."""

    events: list[BrokerEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self, stream: BrokerStream) -> None:
        async def consume() -> None:
            async for event in stream.events():
                self.events.append(event)
                self.changed.set()

        self.task = asyncio.create_task(consume(), name="test-consumer")

    async def until(self, condition: Callable[[], bool], within: float = TIMEOUT) -> None:
        async def wait() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), within)

    def states(self) -> list[ConnectionState]:
        return [e.state for e in self.events if isinstance(e, ConnectionChanged)]

    def orders(self) -> list[Order]:
        return [e.order for e in self.events if isinstance(e, OrderUpdated)]

    def ticks(self, since: int = 0) -> list[Tick]:
        return [e for e in self.events[since:] if isinstance(e, Tick)]

    def has_order(self, order_id: str, status: OrderStatus) -> bool:
        return any(o.order_id == order_id and o.status is status for o in self.orders())


# ---- against the paper exchange ---------------------------------------------------------------


def test_orders_placed_while_the_socket_is_down_arrive_by_polling_then_it_reconnects(
    venue: Venue,
) -> None:
    rows = nifty_options(venue, 3)
    wanted = {
        int(rows[0]["instrument_token"]): TickMode.LTP,
        int(rows[1]["instrument_token"]): TickMode.QUOTE,
        int(rows[2]["instrument_token"]): TickMode.FULL,
        NIFTY_50: TickMode.FULL,
    }
    symbol = rows[0]["tradingsymbol"]

    async def scenario() -> tuple[Consumer, dict[str, str], BrokerStream]:
        reconnect = asyncio.Event()  # the ticker's backoff waits on this: the test decides
        reconnect.set()

        async def backoff_sleep(_: float) -> None:
            await reconnect.wait()

        async with httpx.AsyncClient(base_url=venue.url, headers=venue.auth, timeout=10) as http:

            async def fetch_orders() -> list[Order]:
                answer = (await http.get("/orders")).json()
                return [order_from_kite(row) for row in answer["data"]]

            async def place(side: str, price: Decimal) -> str:
                form = {
                    "exchange": "NFO",
                    "tradingsymbol": symbol,
                    "transaction_type": side,
                    "quantity": "65",
                    "product": "NRML",
                    "order_type": "LIMIT",
                    "price": str(price),
                }
                answer = (await http.post("/orders/regular", data=form)).json()
                assert answer["status"] == "success", answer
                return str(answer["data"]["order_id"])

            async def book() -> tuple[Decimal, Decimal]:
                key = f"NFO:{symbol}"
                depth = (await http.get("/quote", params={"i": key})).json()["data"][key]["depth"]
                return Decimal(str(depth["buy"][0]["price"])), Decimal(
                    str(depth["sell"][0]["price"])
                )

            stream = BrokerStream(
                functools.partial(KiteTicker, venue.config(), sleep=backoff_sleep),
                fetch_orders=fetch_orders,
                parse_order=order_from_kite,
                poll_interval_s=0.2,
            )
            seen = Consumer()
            seen.start(stream)
            await stream.start()
            for token, mode in wanted.items():
                await stream.subscribe([token], mode)
            await seen.until(lambda: stream.state is CONNECTED)
            await seen.until(lambda: {t.instrument_token for t in seen.ticks()} == set(wanted))

            # connected: an order fills and the socket says so
            bid, ask = await book()
            ids = {"live": await place("BUY", ask)}
            await seen.until(lambda: seen.has_order(ids["live"], OrderStatus.COMPLETE))

            # the socket drops, the exchange loses every order update, the ticker waits
            await venue.admin("faults", {"drop_order_update_rate": 1.0})
            reconnect.clear()
            await venue.admin("disconnect")
            await seen.until(lambda: stream.state is POLLING)
            ids["filled"] = await place("BUY", ask)
            ids["resting"] = await place("BUY", bid - 1)
            await seen.until(lambda: seen.has_order(ids["filled"], OrderStatus.COMPLETE))
            await seen.until(lambda: seen.has_order(ids["resting"], OrderStatus.OPEN))
            cancelled = (await http.delete(f"/orders/regular/{ids['resting']}")).json()
            assert cancelled["status"] == "success", cancelled
            await seen.until(lambda: seen.has_order(ids["resting"], OrderStatus.CANCELLED))
            assert stream.state is POLLING

            # the socket comes back: reconcile, CONNECTED, the same tokens tick again
            since = len(seen.events)
            reconnect.set()
            await seen.until(lambda: seen.states().count(CONNECTED) == 2)
            await seen.until(lambda: {t.instrument_token for t in seen.ticks(since)} == set(wanted))
            final = {
                row["order_id"]: row["status"] for row in (await http.get("/orders")).json()["data"]
            }
            await stream.aclose()
            assert seen.task is not None
            await asyncio.wait_for(seen.task, TIMEOUT)
        return seen, final, stream

    seen, final, stream = asyncio.run(scenario())
    assert seen.states() == [CONNECTING, CONNECTED, DISCONNECTED, POLLING, CONNECTED, DISCONNECTED]
    drop = next(
        e for e in seen.events if isinstance(e, ConnectionChanged) and e.state is DISCONNECTED
    )
    assert "closed by the broker" in drop.detail
    reports = [(o.order_id, o.status, o.filled_quantity, o.pending_quantity) for o in seen.orders()]
    assert len(reports) == len(set(reports)), "an order state was published twice"
    last_seen = {o.order_id: o.status.value for o in seen.orders()}
    assert last_seen == final
    assert sorted(final.values()) == ["CANCELLED", "COMPLETE", "COMPLETE"]
    for order_id, status in final.items():
        assert [o.status.value for o in seen.orders() if o.order_id == order_id].count(status) == 1
    # Subscribing answers in quote mode (Kite's default) before the mode message lands, so
    # judge each token by its latest tick: only full mode carries the depth.
    latest = {t.instrument_token: t for t in seen.ticks()}
    full_tick = latest[int(rows[2]["instrument_token"])]
    assert full_tick.bid is not None and full_tick.ask is not None and full_tick.bid < full_tick.ask
    ltp_tick = latest[int(rows[0]["instrument_token"])]
    assert (ltp_tick.bid, ltp_tick.ask, ltp_tick.volume) == (None, None, 0)
    assert latest[int(rows[1]["instrument_token"])].bid is None
    assert stream.dropped_ticks == 0 and stream.unparsed_order_updates == 0


# ---- with a fake ticker --------------------------------------------------------------------------


class FakeTicker:
    """Stands in for KiteTicker: the test drives its link state and what it delivers."""

    def __init__(self, handlers: TickerHandlers) -> None:
        self.handlers = handlers
        self.subscribed: dict[int, TickMode] = {}
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def subscribe(self, tokens: Iterable[int], mode: TickMode = TickMode.QUOTE) -> None:
        self.subscribed.update(dict.fromkeys(tokens, mode))

    async def unsubscribe(self, tokens: Iterable[int]) -> None:
        for token in tokens:
            self.subscribed.pop(token, None)

    async def aclose(self) -> None:
        self.closed = True

    def link(self, state: ConnectionState, detail: str = "") -> None:
        self.handlers.on_state(ConnectionChanged(at=NOW, state=state, detail=detail))

    def ticks(self, *prices: int, token: int = 101) -> None:
        quotes = [Quote(instrument_token=token, at=NOW, last_price=Paise(p)) for p in prices]
        self.handlers.on_ticks([ParsedTick(TickMode.LTP, True, q) for q in quotes])


def order(order_id: str, status: str, filled: int = 0, average: int = 0) -> Order:
    terminal = OrderStatus(status).is_terminal
    return Order(
        order_id=order_id,
        tradingsymbol="NIFTY26D0124000CE",
        exchange=Exchange.NFO,
        side=Side.BUY,
        quantity=130,
        order_type=OrderType.LIMIT,
        product=Product.NRML,
        validity=Validity.DAY,
        variety=Variety.REGULAR,
        status=OrderStatus(status),
        placed_at=NOW,
        price=Paise(10000),
        filled_quantity=filled,
        pending_quantity=0 if terminal else 130 - filled,
        cancelled_quantity=130 - filled if status == "CANCELLED" else 0,
        average_price=Paise(average),
    )


def kite_dict(item: Order) -> dict[str, Any]:
    return {"order_id": item.order_id, "object": item}


@dataclass
class Harness:
    stream: BrokerStream
    ticker: FakeTicker
    book: list[Order]
    seen: Consumer
    fetches: list[int]

    async def close(self) -> None:
        """Close the stream and let the consumer drain what is left."""
        await self.stream.aclose()
        if self.seen.task is not None:
            await asyncio.wait_for(self.seen.task, TIMEOUT)


async def never(_: float) -> None:
    await asyncio.Event().wait()


async def harness(
    *,
    sleep: Callable[[float], Awaitable[None]] = never,
    fail_fetches: int = 0,
    max_queued_ticks: int = 100,
    consume: bool = True,
) -> Harness:
    book: list[Order] = []
    fetches: list[int] = []
    tickers: list[FakeTicker] = []

    seen = Consumer()

    async def fetch_orders() -> list[Order]:
        fetches.append(len(fetches))
        seen.changed.set()  # tests wait on fetch counts too
        if len(fetches) <= fail_fetches:
            raise ConnectionError("the order book is unreachable")
        return list(book)

    def parse(data: dict[str, Any]) -> Order:
        found: Order = data["object"]
        return found

    def connect(handlers: TickerHandlers) -> FakeTicker:
        tickers.append(FakeTicker(handlers))
        return tickers[-1]

    stream = BrokerStream(
        connect,
        fetch_orders=fetch_orders,
        parse_order=parse,
        poll_interval_s=5,
        max_queued_ticks=max_queued_ticks,
        sleep=sleep,
    )
    if consume:
        seen.start(stream)
    await stream.start()
    await settle()  # the consumer is reading
    return Harness(stream, tickers[0], book, seen, fetches)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def statuses(seen: Consumer) -> list[str]:
    out = []
    for event in seen.events:
        if isinstance(event, ConnectionChanged):
            out.append(event.state.value)
        elif isinstance(event, OrderUpdated):
            out.append(f"{event.order.order_id}:{event.order.status.value}")
    return out


def test_a_reconnect_reconciles_the_order_book_before_it_says_connected() -> None:
    async def scenario() -> list[str]:
        h = await harness()
        h.ticker.link(CONNECTING)
        h.ticker.link(CONNECTED)
        await h.seen.until(lambda: h.stream.state is CONNECTED)
        h.ticker.link(DISCONNECTED, "closed by the broker (code 1001)")
        await h.seen.until(lambda: h.stream.state is POLLING and len(h.fetches) == 2)
        h.book.append(order("A", "COMPLETE", filled=130, average=10000))  # no socket to say so
        h.ticker.link(CONNECTING)
        h.ticker.link(DISCONNECTED, "cannot connect")  # a failed attempt: still polling
        h.ticker.link(CONNECTING)
        h.ticker.link(CONNECTED)
        await h.seen.until(lambda: h.stream.state is CONNECTED)
        await h.close()
        return statuses(h.seen)

    assert asyncio.run(scenario()) == [
        "connecting",
        "connected",
        "disconnected",
        "polling",
        "A:COMPLETE",
        "connected",
        "disconnected",
    ]


def test_a_first_connect_that_fails_goes_straight_to_polling() -> None:
    async def scenario() -> tuple[list[str], int]:
        h = await harness()
        await settle()
        assert h.fetches == []  # nothing polls before the ticker's first answer
        h.ticker.link(DISCONNECTED, "cannot connect")
        await h.seen.until(lambda: h.stream.state is POLLING)
        await h.close()
        return statuses(h.seen), len(h.fetches)

    assert asyncio.run(scenario()) == (["connecting", "disconnected", "polling", "disconnected"], 1)


def test_an_order_state_reported_by_socket_and_poll_is_published_once() -> None:
    async def scenario() -> list[str]:
        h = await harness()
        h.ticker.link(CONNECTED)
        await h.seen.until(lambda: h.stream.state is CONNECTED)
        first = order("A", "OPEN")
        h.ticker.handlers.on_order_update(kite_dict(first))
        h.ticker.handlers.on_order_update(kite_dict(first))
        h.book[:] = [first]
        h.ticker.link(DISCONNECTED)  # polls: A OPEN already published
        await h.seen.until(lambda: len(h.fetches) == 2)
        partial = order("A", "OPEN", filled=65, average=10000)
        h.book[:] = [partial]
        h.ticker.link(CONNECTED)  # reconciles: the partial fill is new
        await h.seen.until(lambda: h.stream.state is CONNECTED)
        h.ticker.handlers.on_order_update(kite_dict(partial))  # late socket copy: dropped
        h.ticker.handlers.on_order_update(kite_dict(first))  # stale: fewer fills, dropped
        done = order("A", "COMPLETE", filled=130, average=10000)
        h.ticker.handlers.on_order_update(kite_dict(done))
        h.ticker.handlers.on_order_update(
            kite_dict(order("A", "OPEN", filled=130))
        )  # after terminal
        await h.close()
        return [
            f"{e.order.status.value}/{e.order.filled_quantity}"
            for e in h.seen.events
            if isinstance(e, OrderUpdated)
        ]

    assert asyncio.run(scenario()) == ["OPEN/0", "OPEN/65", "COMPLETE/130"]


def test_a_lagging_consumer_loses_the_oldest_ticks_never_orders_or_connection_changes() -> None:
    async def scenario() -> tuple[list[str], int]:
        h = await harness(max_queued_ticks=3, consume=False)
        h.ticker.link(CONNECTED)
        await settle()
        h.ticker.ticks(1, 2, 3)
        h.ticker.handlers.on_order_update(kite_dict(order("A", "OPEN")))
        h.ticker.ticks(4, 5)
        h.ticker.link(DISCONNECTED, "gone")
        h.ticker.ticks(6, 7, 8)
        await settle()
        await h.stream.aclose()
        out = []
        async for event in h.stream.events():
            if isinstance(event, Tick):
                out.append(f"tick {event.last_price}")
            elif isinstance(event, OrderUpdated):
                out.append(f"order {event.order.order_id}")
            else:
                out.append(event.state.value)
        return out, h.stream.dropped_ticks

    events, dropped = asyncio.run(scenario())
    assert dropped == 5
    assert events == [
        "connecting",
        "connected",
        "order A",
        "tick 6",
        "tick 7",
        "tick 8",
        "disconnected",
        "polling",
        "disconnected",
    ]


def test_while_down_it_polls_every_interval_and_a_failing_poll_is_retried() -> None:
    async def scenario() -> tuple[int, ConnectionState | None]:
        h = await harness(sleep=lambda _: asyncio.sleep(0.01), fail_fetches=2)
        h.ticker.link(DISCONNECTED)
        h.book.append(order("B", "OPEN"))
        await h.seen.until(lambda: h.seen.has_order("B", OrderStatus.OPEN))
        await h.seen.until(lambda: len(h.fetches) >= 5, within=TIMEOUT)
        state = h.stream.state
        await h.close()
        return h.stream.polls, state

    polls, state = asyncio.run(scenario())
    assert polls >= 3 and state is POLLING


def test_a_failed_reconciliation_says_connected_and_retries_until_it_succeeds() -> None:
    async def scenario() -> tuple[list[str], int]:
        h = await harness(sleep=lambda _: asyncio.sleep(0.01), fail_fetches=3)
        h.book.append(order("C", "OPEN"))
        h.ticker.link(CONNECTED)
        await h.seen.until(lambda: h.seen.has_order("C", OrderStatus.OPEN))
        await h.close()
        return statuses(h.seen), len(h.fetches)

    events, fetches = asyncio.run(scenario())
    assert events == ["connecting", "connected", "C:OPEN", "disconnected"] and fetches == 4


def test_the_poller_survives_a_bug_and_keeps_polling(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[str]:
        h = await harness(sleep=lambda _: asyncio.sleep(0.01))
        h.book.append("not an order")  # type: ignore[arg-type]
        h.ticker.link(DISCONNECTED)
        await h.seen.until(lambda: len(h.fetches) >= 2)
        h.book[:] = [order("E", "OPEN")]
        await h.seen.until(lambda: h.seen.has_order("E", OrderStatus.OPEN))
        await h.close()
        return statuses(h.seen)

    assert asyncio.run(scenario()) == [
        "connecting",
        "disconnected",
        "polling",
        "E:OPEN",
        "disconnected",
    ]
    assert "the poller failed; restarting it" in caplog.text


def test_an_order_update_that_does_not_parse_is_counted_and_skipped() -> None:
    async def scenario() -> tuple[int, list[str]]:
        h = await harness()
        h.ticker.link(CONNECTED)
        h.ticker.handlers.on_order_update({"order_id": "Z"})  # the parser raises KeyError
        h.ticker.handlers.on_order_update(kite_dict(order("D", "OPEN")))
        await h.seen.until(lambda: h.seen.has_order("D", OrderStatus.OPEN))
        await h.close()
        return h.stream.unparsed_order_updates, [o.order_id for o in h.seen.orders()]

    assert asyncio.run(scenario()) == (1, ["D"])


def test_subscriptions_pass_to_the_ticker_and_events_has_one_consumer() -> None:
    async def scenario() -> FakeTicker:
        h = await harness()
        await h.stream.subscribe([7, 8], TickMode.FULL)
        await h.stream.unsubscribe([7])
        with pytest.raises(RuntimeError, match="already has a consumer"):
            await h.stream.events().__anext__()
        await h.close()
        return h.ticker

    ticker = asyncio.run(scenario())
    assert ticker.subscribed == {8: TickMode.FULL} and ticker.started and ticker.closed


def test_aclose_ends_the_events_and_leaves_no_task_running() -> None:
    async def scenario() -> None:
        h = await harness(sleep=lambda _: asyncio.sleep(0.01))
        h.ticker.link(DISCONNECTED)
        await h.seen.until(lambda: len(h.fetches) >= 2)
        await h.close()
        current = asyncio.current_task()
        assert {t for t in asyncio.all_tasks() if not t.done()} == {current}
        assert h.seen.states()[-1] is DISCONNECTED

    asyncio.run(scenario())


def test_poll_interval_and_queue_bound_must_be_positive() -> None:
    def connect(handlers: TickerHandlers) -> FakeTicker:
        return FakeTicker(handlers)

    async def fetch() -> list[Order]:
        return []

    with pytest.raises(ValueError, match="poll_interval_s"):
        BrokerStream(connect, fetch_orders=fetch, parse_order=order_from_kite, poll_interval_s=0)
    with pytest.raises(ValueError, match="max_queued_ticks"):
        BrokerStream(connect, fetch_orders=fetch, parse_order=order_from_kite, max_queued_ticks=0)
