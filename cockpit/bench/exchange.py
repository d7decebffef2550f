"""Benchmark of the paper exchange itself over loopback, for information beside the targets:
the order round trip (HTTP place → acknowledged with an order id, through the official wire
format, rate limits off; limit orders that rest, so nothing fills) as median and p99, and the
ticks per second one WebSocket client receives when subscribed to 3,000 instruments in full
mode, at the default step (4 market steps a second) and at a fast one (20 a second, speed 10).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import aiohttp
import httpx

from cockpit.bench.figure import Figure, median, percentile
from cockpit.broker.login import paper_login
from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import PAPER_API_KEY, ExchangeConfig

START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)


def login(url: str) -> tuple[httpx.Client, str]:
    """An HTTP client logged in to the paper exchange at ``url``, and its access token."""
    session = asyncio.run(paper_login(url))
    client = httpx.Client(
        base_url=url, headers={"X-Kite-Version": "3", "Authorization": session.authorization}
    )
    return client, session.access_token


def order_round_trip(orders: int) -> list[float]:
    config = ExchangeConfig(seed=1, speed=0, start=START, rate_limits=False)
    with ExchangeThread(config) as thread:
        client, _ = login(thread.url)
        exchange = thread.exchange
        if exchange is None:
            raise RuntimeError("the paper exchange did not start")
        chain = exchange.universe.options("NIFTY", exchange.universe.expiries("NIFTY")[1])
        option = chain[len(chain) // 2]
        symbol = f"NFO:{option.tradingsymbol}"
        bid = client.get("/quote", params={"i": symbol}).json()["data"][symbol]["depth"]["buy"]
        form = {
            "exchange": "NFO",
            "tradingsymbol": option.tradingsymbol,
            "transaction_type": "BUY",
            "quantity": str(option.lot_size),
            "product": "NRML",
            "order_type": "LIMIT",
            "price": f"{max(bid[0]['price'] - 5, 1):.2f}",  # rests: the book grows, nothing fills
        }
        for _ in range(20):  # warm up connections and caches
            client.post("/orders/regular", data=form)
        samples = []
        for _ in range(orders):
            started = time.perf_counter()
            answer = client.post("/orders/regular", data=form)
            samples.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise RuntimeError(f"place refused: {answer.text}")
        client.close()
    return samples


async def _count_ticks(url: str, access: str, tokens: list[int], seconds: float) -> int:
    packets = 0
    async with aiohttp.ClientSession() as session:
        ws_url = url.replace("http", "ws") + f"/?api_key={PAPER_API_KEY}&access_token={access}"
        async with session.ws_connect(ws_url, max_msg_size=0) as ws:
            await ws.send_json({"a": "subscribe", "v": tokens})
            await ws.send_json({"a": "mode", "v": ["full", tokens]})
            loop = asyncio.get_running_loop()
            await asyncio.sleep(1.0)  # let the subscription snapshot pass
            while True:  # drain
                try:
                    await ws.receive(timeout=0.01)
                except TimeoutError:
                    break
            deadline = loop.time() + seconds
            while (left := deadline - loop.time()) > 0:
                try:
                    message = await ws.receive(timeout=left)
                except TimeoutError:
                    break
                if message.type == aiohttp.WSMsgType.BINARY and len(message.data) > 1:
                    packets += int.from_bytes(message.data[:2], "big")
    return packets


def websocket_ticks(seconds: float, *, speed: float, step: float) -> tuple[float, int]:
    """(ticks a second received, instruments subscribed)."""
    config = ExchangeConfig(seed=1, speed=speed, start=START, step_interval_s=step)
    with ExchangeThread(config) as thread:
        client, access = login(thread.url)
        exchange = thread.exchange
        if exchange is None:
            raise RuntimeError("the paper exchange did not start")
        tokens = [i.instrument_token for i in exchange.universe.instruments][:3000]
        packets = asyncio.run(_count_ticks(thread.url, access, tokens, seconds))
        client.close()
    return packets / seconds, len(tokens)


def run(quick: bool) -> list[Figure]:
    orders, seconds = (100, 2.0) if quick else (500, 5.0)
    samples = order_round_trip(orders)
    slow, count = websocket_ticks(seconds, speed=1.0, step=0.25)
    fast, _ = websocket_ticks(seconds, speed=10.0, step=0.05)
    return [
        Figure(
            "paper exchange order round trip",
            median(samples) * 1e3,
            "ms",
            "",
            True,
            f"{orders} places → ack over HTTP: p99 {percentile(samples, 0.99) * 1e3:.2f} ms",
        ),
        Figure(
            "paper exchange WebSocket ticks/s",
            slow,
            "ticks/s",
            "",
            True,
            f"one client, {count} instruments in full mode, step 250 ms, for {seconds:g} s; "
            f"at step 50 ms and speed 10: {fast:,.0f}/s",
        ),
    ]


__all__ = ["login", "order_round_trip", "run", "websocket_ticks"]
