"""The WebSocket client: against the paper exchange (ticks in every mode, reconnect and
resubscribe after the exchange drops it, a refused token) and against scripted local servers
(heartbeat watch, malformed frames, text messages, backoff), with the access token never
logged."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web

from cockpit.broker.base import TickMode
from cockpit.broker.ticker import Backoff, KiteTicker, TickerConfig, TickerHandlers
from cockpit.broker.ticks import ParsedTick
from cockpit.clock import IST
from cockpit.domain.events import ConnectionChanged, ConnectionState
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET, ExchangeConfig
from cockpit.exchange.sessions import checksum
from cockpit.exchange.ticks import Mode, encode_frame, encode_packet

START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)  # a Tuesday, market open
NIFTY_50 = 256265
TIMEOUT = 10.0


# ---- the paper exchange ---------------------------------------------------------------------


@dataclass
class Venue:
    url: str
    access_token: str
    client: httpx.Client

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/"

    @property
    def auth(self) -> dict[str, str]:
        return {
            "X-Kite-Version": "3",
            "Authorization": f"token {PAPER_API_KEY}:{self.access_token}",
        }

    def config(self, **changes: Any) -> TickerConfig:
        return TickerConfig(self.ws_url, PAPER_API_KEY, self.access_token, **changes)

    async def admin(self, what: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, headers=self.auth, timeout=10) as http:
            answer = (await http.post(f"/admin/{what}", json=body or {})).json()
        assert answer["status"] == "success", answer
        return answer["data"]


def login(url: str) -> str:
    request_token = httpx.get(f"{url}/connect/login", params={"api_key": PAPER_API_KEY}).json()[
        "data"
    ]["request_token"]
    answer = httpx.post(
        f"{url}/session/token",
        data={
            "api_key": PAPER_API_KEY,
            "request_token": request_token,
            "checksum": checksum(PAPER_API_KEY, request_token, PAPER_API_SECRET),
        },
    ).json()
    return str(answer["data"]["access_token"])


@pytest.fixture(name="venue")
def paper_venue() -> Iterator[Venue]:
    """The paper exchange on its own thread, market paused, logged in."""
    config = ExchangeConfig(seed=7, speed=0, start=START, rate_limits=False)
    with ExchangeThread(config) as thread:
        access_token = login(thread.url)
        with httpx.Client(
            base_url=thread.url,
            headers={"X-Kite-Version": "3", "Authorization": f"token paper:{access_token}"},
            timeout=10,
        ) as client:
            yield Venue(thread.url, access_token, client)


def nifty_options(venue: Venue, count: int) -> list[dict[str, str]]:
    """``count`` rows of the instruments dump: nearest NIFTY expiry, calls from ATM up."""
    lines = venue.client.get("/instruments/NFO").text.strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    calls = [r for r in rows if r["name"] == '"NIFTY"' and r["instrument_type"] == "CE"]
    nearest = min(r["expiry"] for r in calls)
    chain = sorted((r for r in calls if r["expiry"] == nearest), key=lambda r: float(r["strike"]))
    middle = len(chain) // 2
    return chain[middle : middle + count]


# ---- recording handlers ----------------------------------------------------------------------


@dataclass
class Recorder:
    ticks: list[ParsedTick] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    states: list[ConnectionChanged] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def handlers(self) -> TickerHandlers:
        return TickerHandlers(self._ticks, self._order, self._state)

    def _ticks(self, ticks: list[ParsedTick]) -> None:
        self.ticks.extend(ticks)
        self.changed.set()

    def _order(self, data: dict[str, Any]) -> None:
        self.orders.append(data)
        self.changed.set()

    def _state(self, event: ConnectionChanged) -> None:
        self.states.append(event)
        self.changed.set()

    async def until(self, condition: Callable[[], bool], within: float = TIMEOUT) -> None:
        async def wait() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), within)

    def modes(self, since: int = 0) -> dict[int, TickMode]:
        return {t.instrument_token: t.mode for t in self.ticks[since:]}

    def state_names(self) -> list[ConnectionState]:
        return [s.state for s in self.states]


def assert_no_task_left() -> None:
    current = asyncio.current_task()
    assert {t for t in asyncio.all_tasks() if not t.done()} == {current}


# ---- against the paper exchange ---------------------------------------------------------------


def test_subscribes_in_each_mode_and_decodes_the_exchanges_ticks(venue: Venue) -> None:
    ltp_row, quote_row, full_row = nifty_options(venue, 3)
    wanted = {
        int(ltp_row["instrument_token"]): TickMode.LTP,
        int(quote_row["instrument_token"]): TickMode.QUOTE,
        int(full_row["instrument_token"]): TickMode.FULL,
        NIFTY_50: TickMode.FULL,
    }

    async def scenario() -> Recorder:
        seen = Recorder()
        ticker = KiteTicker(venue.config(), seen.handlers())
        for token, mode in wanted.items():
            await ticker.subscribe([token], mode)
        await ticker.start()
        await seen.until(lambda: all(seen.modes().get(t) == m for t, m in wanted.items()))
        assert ticker.subscriptions == wanted
        await ticker.aclose()
        assert_no_task_left()
        return seen

    seen = asyncio.run(scenario())
    assert seen.state_names() == [
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
        ConnectionState.DISCONNECTED,
    ]
    latest = {t.instrument_token: t for t in seen.ticks}
    full = latest[int(full_row["instrument_token"])]
    assert full.tradable and full.quote.bids and full.quote.asks
    assert full.quote.bids[0].price < full.quote.asks[0].price
    key = f"NFO:{full_row['tradingsymbol']}"
    rest = venue.client.get("/quote", params={"i": key}).json()["data"][key]
    assert full.quote.last_price == round(rest["last_price"] * 100)
    index = latest[NIFTY_50]
    assert not index.tradable and index.exchange_timestamp is not None


def test_reconnects_after_the_exchange_drops_it_and_resubscribes_every_token_in_its_mode(
    venue: Venue,
) -> None:
    rows = nifty_options(venue, 2)
    wanted = {int(rows[0]["instrument_token"]): TickMode.LTP, NIFTY_50: TickMode.FULL}
    delays: list[float] = []

    async def quick_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    async def scenario() -> tuple[Recorder, int]:
        seen = Recorder()
        ticker = KiteTicker(venue.config(), seen.handlers(), sleep=quick_sleep)
        await ticker.start()
        for token, mode in wanted.items():
            await ticker.subscribe([token], mode)
        await seen.until(lambda: seen.modes() == wanted)
        before = len(seen.ticks)
        assert (await venue.admin("disconnect"))["disconnected"] == 1
        await seen.until(lambda: seen.state_names().count(ConnectionState.CONNECTED) == 2)
        await seen.until(lambda: seen.modes(since=before) == wanted)
        connects = ticker.connects
        await ticker.aclose()
        return seen, connects

    seen, connects = asyncio.run(scenario())
    assert connects == 2 and len(delays) == 1
    drop = seen.states[2]
    assert drop.state is ConnectionState.DISCONNECTED
    assert "closed by the broker (code 1001)" in drop.detail
    assert seen.state_names()[:5] == [
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
        ConnectionState.DISCONNECTED,
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
    ]


def test_a_refused_token_stops_reconnecting_and_says_log_in_again(venue: Venue) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def scenario() -> Recorder:
        seen = Recorder()
        config = TickerConfig(venue.ws_url, PAPER_API_KEY, "not-a-token")
        ticker = KiteTicker(config, seen.handlers(), sleep=sleep)
        await ticker.start()
        await seen.until(lambda: ConnectionState.DISCONNECTED in seen.state_names())
        await ticker.aclose()
        return seen

    seen = asyncio.run(scenario())
    assert slept == []
    assert seen.states[-1].detail == "the broker refused the access token (HTTP 403): log in again"


def test_the_access_token_never_reaches_a_log_line_or_a_state_detail(
    venue: Venue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = venue.access_token

    async def scenario() -> Recorder:
        seen = Recorder()
        ticker = KiteTicker(venue.config(), seen.handlers(), sleep=lambda _: asyncio.sleep(0))
        await ticker.start()
        await ticker.subscribe([NIFTY_50], TickMode.LTP)
        await seen.until(lambda: bool(seen.ticks))
        await venue.admin("disconnect")
        await seen.until(lambda: seen.state_names().count(ConnectionState.CONNECTED) == 2)
        await ticker.aclose()
        # and a connection that fails outright: aiohttp's error text quotes the URL
        refused = KiteTicker(
            TickerConfig("ws://127.0.0.1:9/", PAPER_API_KEY, token, connect_timeout_s=2),
            seen.handlers(),
            sleep=lambda _: asyncio.sleep(0.01),
        )
        first = len(seen.states)
        await refused.start()
        await seen.until(
            lambda: any(s.detail.startswith("cannot connect") for s in seen.states[first:])
        )
        await refused.aclose()
        # and a handshake refused with an HTTP error: aiohttp's error text quotes the URL
        async with scripted_server(_drain) as (url, _):
            lost = KiteTicker(
                TickerConfig(url + "no-such-path", PAPER_API_KEY, token),
                seen.handlers(),
                sleep=lambda _: asyncio.sleep(0.01),
            )
            first = len(seen.states)
            await lost.start()
            await seen.until(lambda: any("HTTP 404" in s.detail for s in seen.states[first:]))
            await lost.aclose()
        return seen

    seen = asyncio.run(scenario())
    assert "handshake refused: 404" in caplog.text and "access_token=***" in caplog.text
    assert token not in caplog.text
    assert all(token not in s.detail for s in seen.states)
    assert all(token not in str(s) for s in seen.states)


# ---- against scripted servers ---------------------------------------------------------------


@dataclass
class Inbox:
    """The JSON messages clients sent a scripted server."""

    messages: list[Any] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, text: str) -> None:
        self.messages.append(json.loads(text))
        self.arrived.set()

    async def until(self, count: int) -> list[Any]:
        async def wait() -> None:
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(wait(), TIMEOUT)
        return self.messages


Script = Callable[[web.WebSocketResponse, Inbox], Awaitable[None]]


@asynccontextmanager
async def scripted_server(script: Script) -> AsyncIterator[tuple[str, Inbox]]:
    """A local WebSocket server running ``script`` for each connection; yields its URL and
    the inbox of what clients sent."""
    received = Inbox()

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await script(ws, received)
        return ws

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)  # logs the query
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}/", received
    finally:
        await runner.cleanup()


async def _drain(ws: web.WebSocketResponse, received: Inbox) -> None:
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            received.add(message.data)


def test_silence_longer_than_the_heartbeat_timeout_means_dead_and_reconnects() -> None:
    async def silent(ws: web.WebSocketResponse, received: Inbox) -> None:
        await _drain(ws, received)  # reads, never writes

    async def scenario() -> Recorder:
        seen = Recorder()
        async with scripted_server(silent) as (url, _):
            config = TickerConfig(url, "k", "secret", heartbeat_timeout_s=0.2)
            ticker = KiteTicker(config, seen.handlers(), sleep=lambda _: asyncio.sleep(0))
            await ticker.start()
            await seen.until(lambda: seen.state_names().count(ConnectionState.CONNECTED) == 2)
            await ticker.aclose()
        return seen

    seen = asyncio.run(scenario())
    drops = [s for s in seen.states if s.state is ConnectionState.DISCONNECTED]
    assert drops[0].detail == "no data for 0.2 s: connection presumed dead"


def test_heartbeats_keep_a_quiet_connection_alive() -> None:
    async def heartbeats(ws: web.WebSocketResponse, received: Inbox) -> None:
        while not ws.closed:
            await ws.send_bytes(b"\x00")
            await asyncio.sleep(0.05)

    async def scenario() -> tuple[Recorder, int]:
        seen = Recorder()
        async with scripted_server(heartbeats) as (url, _):
            config = TickerConfig(url, "k", "secret", heartbeat_timeout_s=0.2)
            ticker = KiteTicker(config, seen.handlers())
            await ticker.start()
            await seen.until(lambda: ConnectionState.CONNECTED in seen.state_names())
            await asyncio.sleep(0.7)  # more than three heartbeat timeouts
            connects = ticker.connects
            await ticker.aclose()
        return seen, connects

    seen, connects = asyncio.run(scenario())
    assert connects == 1 and seen.ticks == []
    assert seen.state_names() == [
        ConnectionState.CONNECTING,
        ConnectionState.CONNECTED,
        ConnectionState.DISCONNECTED,
    ]


def test_bad_frames_and_text_messages_do_not_break_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cockpit.broker.ticker")
    quote_packet = encode_packet(
        _quote(408065, 189035),
        Mode.QUOTE,
    )
    order = {"order_id": "X1", "status": "OPEN"}

    async def chatty(ws: web.WebSocketResponse, received: Inbox) -> None:
        await ws.send_bytes(b"\x00\x01\x00\x0a" + bytes(10))  # a 10-byte packet: not Kite's
        await ws.send_str("not json")
        await ws.send_str(json.dumps([1, 2]))
        await ws.send_str(json.dumps({"type": "error", "data": "bad subscribe"}))
        await ws.send_str(json.dumps({"type": "order", "data": "not an object"}))
        await ws.send_str(json.dumps({"type": "order", "data": order}))
        await ws.send_bytes(encode_frame([quote_packet]))
        await _drain(ws, received)

    failures: list[int] = []

    async def scenario() -> tuple[Recorder, int]:
        seen = Recorder()

        def flaky_ticks(ticks: list[ParsedTick]) -> None:
            if not failures:
                failures.append(1)
                seen.changed.set()
                raise RuntimeError("a consumer bug")
            seen.ticks.extend(ticks)

        async with scripted_server(chatty) as (url, _):
            handlers = TickerHandlers(flaky_ticks, seen.handlers().on_order_update, seen._state)
            ticker = KiteTicker(TickerConfig(url, "k", "secret"), handlers)
            await ticker.start()
            await seen.until(lambda: bool(seen.orders) and bool(failures))
            rejected = ticker.frames_rejected
            await ticker.aclose()
        return seen, rejected

    seen, rejected = asyncio.run(scenario())
    assert rejected == 1 and seen.orders == [order] and failures == [1]
    messages = caplog.text
    assert "dropped a malformed frame of 14 bytes" in messages
    assert "packet 0 at offset 4 is 10 bytes" in messages
    assert "not JSON" in messages and "the broker reported: bad subscribe" in messages
    assert "a handler failed" in messages


def _quote(token: int, last: int) -> Any:
    from cockpit.domain.market_data import Ohlc, Quote
    from cockpit.domain.money import Paise

    return Quote(
        instrument_token=token,
        at=START,
        last_price=Paise(last),
        ohlc=Ohlc(Paise(last), Paise(last), Paise(last), Paise(last)),
    )


def test_subscribe_and_unsubscribe_send_kites_messages_and_a_reconnect_resends_them() -> None:
    connections: list[int] = []

    async def record(ws: web.WebSocketResponse, received: Inbox) -> None:
        connections.append(len(received.messages))
        if len(connections) == 1:
            # first connection: wait for the live messages, then drop it
            while len(received.messages) < 4:
                message = await ws.receive(timeout=5)
                received.add(message.data)
            await ws.close()
        else:
            await _drain(ws, received)

    async def scenario() -> list[Any]:
        seen = Recorder()
        async with scripted_server(record) as (url, received):
            ticker = KiteTicker(
                TickerConfig(url, "k", "secret"), seen.handlers(), sleep=lambda _: asyncio.sleep(0)
            )
            await ticker.start()
            await seen.until(lambda: ConnectionState.CONNECTED in seen.state_names())
            await ticker.subscribe([11, 12, 11], TickMode.FULL)
            await ticker.subscribe([13], TickMode.LTP)
            await seen.until(lambda: seen.state_names().count(ConnectionState.CONNECTED) == 2)
            await ticker.unsubscribe([12])
            messages = await received.until(8)
            await ticker.aclose()
            return messages

    received = asyncio.run(scenario())
    assert received[:4] == [
        {"a": "subscribe", "v": [11, 12]},
        {"a": "mode", "v": ["full", [11, 12]]},
        {"a": "subscribe", "v": [13]},
        {"a": "mode", "v": ["ltp", [13]]},
    ]
    assert received[4:] == [
        {"a": "subscribe", "v": [11, 12, 13]},
        {"a": "mode", "v": ["full", [11, 12]]},
        {"a": "mode", "v": ["ltp", [13]]},
        {"a": "unsubscribe", "v": [12]},
    ]


def test_tokens_must_be_positive_integers_and_at_most_kites_3000() -> None:
    ticker = KiteTicker(TickerConfig("ws://127.0.0.1:9/", "k", "t"), Recorder().handlers())
    for bad in ([0], [-3], [True], ["256265"]):
        with pytest.raises(ValueError, match="positive integers"):
            asyncio.run(ticker.subscribe(bad))  # type: ignore[arg-type]
    asyncio.run(ticker.subscribe(range(1, 3001)))
    with pytest.raises(ValueError, match=r"3000 instruments per connection; .* make 3001"):
        asyncio.run(ticker.subscribe([5000]))
    assert len(ticker.subscriptions) == 3000


# ---- backoff ----------------------------------------------------------------------------------


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens() -> None:
    backoff = Backoff(initial_s=0.5, factor=2, max_s=8, jitter=0.25)
    assert [backoff.delay(n, 0.0) for n in range(7)] == [0.5, 1, 2, 4, 8, 8, 8]
    assert backoff.delay(3, 0.999999) == pytest.approx(3.0, abs=1e-5)
    assert backoff.delay(10_000, 0.5) == 7.0  # a huge attempt count neither overflows nor grows
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.0)
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(initial_s=5, max_s=1)


def test_a_broker_that_cannot_be_reached_is_retried_with_growing_jittered_delays() -> None:
    delays: list[float] = []
    draws = iter([0.0, 0.5, 0.0, 0.9, 0.0, 0.0])

    async def scenario() -> Recorder:
        seen = Recorder()
        enough = asyncio.Event()

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            if len(delays) == 6:
                enough.set()
            await asyncio.sleep(0)

        config = TickerConfig(
            "ws://127.0.0.1:9/", "k", "t", backoff=Backoff(initial_s=1, max_s=10, jitter=0.5)
        )
        ticker = KiteTicker(config, seen.handlers(), sleep=sleep, draw=lambda: next(draws))
        await ticker.start()
        await asyncio.wait_for(enough.wait(), TIMEOUT)
        await ticker.aclose()
        assert_no_task_left()
        return seen

    seen = asyncio.run(scenario())
    assert delays == pytest.approx([1.0, 1.5, 4.0, 4.4, 10.0, 10.0])
    assert seen.states[1].detail.startswith("cannot connect")
    assert seen.states[2].detail == "reconnecting (attempt 2)"
