"""Benchmark: the window's event-loop lag while ticks flow into a live chain (a script, not a
test).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/perf/bench_chain_window.py [--rate 2000]

A 101-strike NIFTY chain (202 options, from a paper-exchange universe with 50 strikes each
side) is shown in the chain dock's panel on the qasync loop, exactly as in the window. Ticks
are published on the event bus at ``--rate`` per second (in bursts every 10 ms; prices from the
paper exchange's market, one step a second, computed before timing starts), the path a
decoded WebSocket frame takes. A probe
task asks to wake every 10 ms and records how late it woke: that lateness is what a click or a
keypress waits. Prints the lag's median, p99 and max, the table refreshes done and their p99
cost, and the ticks delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import datetime

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtWidgets import QApplication

from cockpit.broker.base import TickMode
from cockpit.bus import EventBus
from cockpit.clock import IST
from cockpit.domain.events import Tick
from cockpit.domain.instruments import InstrumentStore
from cockpit.domain.market_data import Quote
from cockpit.exchange.market import Market
from cockpit.exchange.universe import build_universe, parse_underlyings
from cockpit.marketdata.feed import ChainFeed
from cockpit.reference_data import load_calendar, load_contract_specs
from cockpit.ui.chain_panel import ChainPanel

START = datetime(2026, 12, 2, 10, 0, tzinfo=IST)
UNDERLYINGS = (
    "id,name,kind,spot_symbol,spot,volatility,strike_step,strikes_each_side,"
    "jump_intensity,jump_sigma\n"
    "1,NIFTY,index,NIFTY 50,26000,0.13,50,50,4,0.012\n"
)


class QuietBroker:
    """Just enough of the Broker protocol for the feed: subscriptions go nowhere."""

    async def subscribe(self, tokens: list[int], mode: TickMode = TickMode.QUOTE) -> None:
        return None

    async def unsubscribe(self, tokens: list[int]) -> None:
        return None

    async def quotes(self, keys: list[str]) -> dict[str, Quote]:
        return {}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def run(rate: int, seconds: float) -> None:
    calendar = load_calendar()
    universe = build_universe(
        parse_underlyings(UNDERLYINGS), load_contract_specs(), calendar, START.date()
    )
    market = Market(universe, calendar, seed=1, start=START)
    store = InstrumentStore(universe.instruments)
    bus = EventBus()
    feed = ChainFeed(QuietBroker(), store, bus, now=lambda: market.now)  # type: ignore[arg-type]
    expiry = store.expiries("NIFTY")[1]
    await feed.select("NIFTY", expiry)
    tokens = feed.selection.tokens if feed.selection else []
    panel = ChainPanel(refresh_hz=10)
    panel.resize(1100, 700)
    panel.show()
    panel.attach(feed, "NIFTY")
    panel.expiry_box.setCurrentIndex(1)
    refresh_costs: list[float] = []
    original = panel.refresh

    def timed_refresh() -> None:
        started = time.perf_counter()
        original()
        refresh_costs.append(time.perf_counter() - started)

    panel.timer.timeout.disconnect()
    panel.timer.timeout.connect(timed_refresh)

    stop = asyncio.Event()
    delivered = 0

    # The market's path is computed before the clock starts: the producer only publishes, so
    # what is measured is the window's side (bus → feed → valuation → table → paint).
    per_second = [market.quotes(tokens)]
    for _ in range(int(seconds) + 3):
        market.advance(1)
        per_second.append(market.quotes(tokens))

    async def ticks() -> None:
        nonlocal delivered
        i = 0
        began = time.perf_counter()
        while not stop.is_set():
            elapsed = time.perf_counter() - began
            quotes = per_second[min(int(elapsed), len(per_second) - 1)]
            due = int(elapsed * rate) - i
            for _ in range(due):
                q = quotes[tokens[i % len(tokens)]]
                i += 1
                bus.publish(
                    Tick(
                        at=q.at,
                        instrument_token=q.instrument_token,
                        last_price=q.last_price,
                        bid=q.bids[0].price if q.bids else None,
                        ask=q.asks[0].price if q.asks else None,
                        oi=q.open_interest,
                    )
                )
                delivered += 1
            await asyncio.sleep(0.01)

    lags: list[float] = []

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            asked = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - asked - 0.01)

    producer = asyncio.create_task(ticks())
    watcher = asyncio.create_task(probe())
    await asyncio.sleep(1.0)  # warm up
    lags.clear()
    refresh_costs.clear()
    delivered = 0
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(producer, watcher)
    panel.timer.stop()
    rows = len(feed.selection.chain.rows) if feed.selection else 0
    print(
        f"chain of {rows} strikes, {delivered / elapsed:,.0f} ticks/s delivered for "
        f"{elapsed:.1f} s; table refreshes: {len(refresh_costs)} "
        f"(p99 {percentile(refresh_costs, 0.99) * 1000:.1f} ms each)"
    )
    print(
        f"event-loop lag: median {statistics.median(lags) * 1000:.2f} ms, "
        f"p99 {percentile(lags, 0.99) * 1000:.2f} ms, max {max(lags) * 1000:.2f} ms "
        f"({len(lags)} probes)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000, help="ticks per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(run(args.rate, args.seconds))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
