"""Benchmark of the paper exchange over loopback (a script, not a test).

    .venv/bin/python tests/perf/bench_exchange.py [--orders 500] [--seconds 5]

Prints: order round trip (HTTP place → acknowledged with an order id, through the official
wire format, rate limits off) as median and p99 over N orders; and the ticks per second one
WebSocket client receives when subscribed to every instrument in full mode, at the default
step (4 market steps a second) and at a fast step (20 a second, speed 10).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime

import aiohttp
import httpx

from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET, ExchangeConfig
from cockpit.exchange.sessions import checksum

START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)


def login(url: str) -> tuple[httpx.Client, str]:
    token = httpx.get(f"{url}/connect/login", params={"api_key": PAPER_API_KEY}).json()["data"][
        "request_token"
    ]
    session = httpx.post(
        f"{url}/session/token",
        data={
            "api_key": PAPER_API_KEY,
            "request_token": token,
            "checksum": checksum(PAPER_API_KEY, token, PAPER_API_SECRET),
        },
    ).json()["data"]
    access = session["access_token"]
    client = httpx.Client(
        base_url=url,
        headers={"X-Kite-Version": "3", "Authorization": f"token {PAPER_API_KEY}:{access}"},
    )
    return client, access


def order_round_trip(orders: int) -> list[float]:
    config = ExchangeConfig(seed=1, speed=0, start=START, rate_limits=False)
    with ExchangeThread(config) as thread:
        client, _ = login(thread.url)
        exchange = thread.exchange
        assert exchange is not None
        chain = exchange.universe.options("NIFTY", exchange.universe.expiries("NIFTY")[1])
        option = chain[len(chain) // 2]
        symbol = f"NFO:{option.tradingsymbol}"
        bid = client.get("/quote", params={"i": symbol}).json()["data"][symbol]["depth"]["buy"]
        price = f"{max(bid[0]['price'] - 5, 1):.2f}"  # rests: the book grows, nothing fills
        form = {
            "exchange": "NFO",
            "tradingsymbol": option.tradingsymbol,
            "transaction_type": "BUY",
            "quantity": "65",
            "product": "NRML",
            "order_type": "LIMIT",
            "price": price,
        }
        for _ in range(20):  # warm up connections and caches
            client.post("/orders/regular", data=form)
        samples = []
        for _ in range(orders):
            started = time.perf_counter()
            answer = client.post("/orders/regular", data=form)
            samples.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
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


def ticks_per_second(seconds: float, *, speed: float, step: float) -> tuple[float, int]:
    config = ExchangeConfig(seed=1, speed=speed, start=START, step_interval_s=step)
    with ExchangeThread(config) as thread:
        client, access = login(thread.url)
        exchange = thread.exchange
        assert exchange is not None
        tokens = [i.instrument_token for i in exchange.universe.instruments][:3000]
        packets = asyncio.run(_count_ticks(thread.url, access, tokens, seconds))
        client.close()
    return packets / seconds, len(tokens)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    samples = sorted(order_round_trip(args.orders))
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"order round trip (place → ack), {len(samples)} orders: "
        f"median {statistics.median(samples) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"
    )
    for speed, step in ((1.0, 0.25), (10.0, 0.05)):
        rate, count = ticks_per_second(args.seconds, speed=speed, step=step)
        print(
            f"WebSocket ticks (full mode, {count} instruments, step {step * 1000:.0f} ms, "
            f"speed {speed:g}): {rate:,.0f} ticks/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
