"""The assembled broker (REST + ticker + polling, as the window builds it) against the paper
exchange, and where commands find the broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from cockpit.broker.base import TickMode
from cockpit.broker.connect import (
    BrokerSetupError,
    explicit_url,
    open_broker,
    running_paper_url,
    write_paper_url,
)
from cockpit.broker.login import paper_login
from cockpit.clock import IST
from cockpit.domain.events import ConnectionChanged, ConnectionState, OrderUpdated, Tick
from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import ExchangeConfig

START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[ExchangeThread]:
    config = ExchangeConfig(
        seed=9, speed=1, start=START, rate_limits=False, state_path=tmp_path / "paper-exchange.db"
    )
    with ExchangeThread(config) as thread:
        yield thread


def test_disconnect_reconnect_resubscribe_and_polling_loses_no_order_update(
    exchange: ExchangeThread,
) -> None:
    async def scenario() -> None:
        session = await paper_login(exchange.url)
        broker = await open_broker(exchange.url, session, poll_interval_s=0.3)
        admin = httpx.AsyncClient(
            base_url=exchange.url, headers={"Authorization": session.authorization}
        )
        try:
            store = await broker.instruments()
            chain = store.chain("NIFTY", store.expiries("NIFTY")[0])
            row = chain.rows[len(chain.rows) // 2]
            assert row.call is not None
            token = row.call.instrument_token
            await broker.subscribe([token], TickMode.FULL)
            events = broker.events()
            seen: list[object] = []

            async def until(predicate, within: float = 15.0) -> object:
                async def scan() -> object:
                    async for event in events:
                        seen.append(event)
                        if predicate(event):
                            return event
                    raise AssertionError("the event stream ended")

                return await asyncio.wait_for(scan(), within)

            await until(lambda e: isinstance(e, Tick) and e.instrument_token == token)
            # The exchange drops us and loses every WebSocket order update from now on.
            await admin.post("/admin/faults", json={"drop_order_update_rate": 1.0})
            await admin.post("/admin/disconnect")
            await until(
                lambda e: (
                    isinstance(e, ConnectionChanged)
                    and e.state in (ConnectionState.DISCONNECTED, ConnectionState.POLLING)
                )
            )
            quote = (await broker.quotes([f"NFO:{row.call.tradingsymbol}"]))[
                f"NFO:{row.call.tradingsymbol}"
            ]
            ask = quote.asks[0].price
            order_id = await broker.place(
                OrderRequest(
                    tradingsymbol=row.call.tradingsymbol,
                    exchange=Exchange.NFO,
                    side=Side.BUY,
                    quantity=65,
                    order_type=OrderType.LIMIT,
                    product=Product.NRML,
                    price=Paise(ask + 500),
                )
            )
            done = await until(
                lambda e: (
                    isinstance(e, OrderUpdated)
                    and e.order.order_id == order_id
                    and e.order.status is OrderStatus.COMPLETE
                )
            )
            assert isinstance(done, OrderUpdated) and done.order.filled_quantity == 65
            # Back up: connected again and ticks flow for the same token without a new
            # subscribe from us.
            await until(
                lambda e: isinstance(e, ConnectionChanged) and e.state is ConnectionState.CONNECTED
            )
            await until(lambda e: isinstance(e, Tick) and e.instrument_token == token)
            updates = [
                e.order.status
                for e in seen
                if isinstance(e, OrderUpdated) and e.order.order_id == order_id
            ]
            assert updates.count(OrderStatus.COMPLETE) == 1  # never twice
            positions = {p.tradingsymbol: p for p in await broker.positions()}
            assert positions[row.call.tradingsymbol].quantity == 65
            assert positions[row.call.tradingsymbol].average_price <= ask + 500
        finally:
            await admin.aclose()
            await broker.aclose()

    asyncio.run(scenario())


def test_commands_find_a_running_windows_paper_exchange(
    exchange: ExchangeThread, tmp_path: Path
) -> None:
    assert running_paper_url(tmp_path) is None  # the lock is held but no URL was written
    write_paper_url(tmp_path, exchange.url)
    assert running_paper_url(tmp_path) == exchange.url
    assert (tmp_path / "paper-exchange.url").stat().st_mode & 0o777 == 0o600


def test_a_broker_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COCKPIT_BROKER_URL", raising=False)
    assert explicit_url(None) is None
    assert explicit_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    with pytest.raises(BrokerSetupError, match="--broker-url 'ftp://x' is not an http"):
        explicit_url("ftp://x")
    monkeypatch.setenv("COCKPIT_BROKER_URL", "localhost:5000")
    with pytest.raises(BrokerSetupError, match="COCKPIT_BROKER_URL 'localhost:5000'"):
        explicit_url(None)


def test_price_units_are_paise(exchange: ExchangeThread) -> None:
    """A guard on the wire boundary: a rupee quote of 101.35 is 10135 paise, never a float."""

    async def scenario() -> None:
        session = await paper_login(exchange.url)
        broker = await open_broker(exchange.url, session, stream=False)
        try:
            quotes = await broker.quotes(["NSE:NIFTY 50"])
            spot = quotes["NSE:NIFTY 50"].last_price
            assert isinstance(spot, int)
            async with httpx.AsyncClient() as http:
                answer = await http.get(
                    f"{exchange.url}/quote/ltp",
                    params={"i": "NSE:NIFTY 50"},
                    headers={"Authorization": session.authorization},
                )
            raw = answer.json()["data"]["NSE:NIFTY 50"]["last_price"]
            assert Decimal(str(raw)) * 100 == spot
        finally:
            await broker.aclose()

    asyncio.run(scenario())


def test_order_updates_arrive_over_the_websocket_and_parse(exchange: ExchangeThread) -> None:
    """With polling 60 s away, only the WebSocket can deliver the fill: Kite's JSON order
    update must parse into an Order (prices as Decimal, never float)."""

    async def scenario() -> None:
        session = await paper_login(exchange.url)
        broker = await open_broker(exchange.url, session, poll_interval_s=60)
        try:
            store = await broker.instruments()
            chain = store.chain("NIFTY", store.expiries("NIFTY")[0])
            call = chain.rows[len(chain.rows) // 2].call
            assert call is not None
            key = f"NFO:{call.tradingsymbol}"
            ask = (await broker.quotes([key]))[key].asks[0].price
            events = broker.events()

            async def connected() -> None:
                async for event in events:
                    if isinstance(event, ConnectionChanged) and (
                        event.state is ConnectionState.CONNECTED
                    ):
                        return

            await asyncio.wait_for(connected(), 10)
            order_id = await broker.place(
                OrderRequest(
                    tradingsymbol=call.tradingsymbol,
                    exchange=Exchange.NFO,
                    side=Side.BUY,
                    quantity=65,
                    order_type=OrderType.LIMIT,
                    product=Product.NRML,
                    price=Paise(ask + 500),
                )
            )

            async def filled() -> OrderUpdated:
                async for event in events:
                    if (
                        isinstance(event, OrderUpdated)
                        and event.order.order_id == order_id
                        and event.order.status is OrderStatus.COMPLETE
                    ):
                        return event
                raise AssertionError("stream ended")

            update = await asyncio.wait_for(filled(), 5)
            assert update.order.filled_quantity == 65
            assert update.order.price == Paise(ask + 500)
        finally:
            await broker.aclose()

    asyncio.run(scenario())
