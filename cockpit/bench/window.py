"""Benchmark of the window's event-loop lag while ticks flow into a live option chain. A 101-strike
NIFTY chain (202 options, from a paper-exchange universe with 50 strikes each side) is shown in the
chain dock's panel on the qasync loop, exactly as in the window (offscreen when there is no
display). Ticks are published on the event bus at 2,000 a second, in bursts every 10 ms, as the
broker stream turns decoded packets into ticks; prices come from the paper exchange's market, one
step a second, computed before timing starts, so what is measured is the window's side (bus → feed →
valuation → table → paint). A probe task asks to wake every 10 ms and records how late it woke: that
lateness is what a click or a keypress waits. The figure is its p99; the detail has the median and
maximum, the table refreshes done and their p99 cost, and the ticks delivered.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cockpit.bench.figure import Figure, median, percentile
from cockpit.broker.base import TickMode
from cockpit.broker.ticks import ParsedTick, to_tick
from cockpit.bus import EventBus
from cockpit.clock import IST
from cockpit.domain.instruments import InstrumentStore
from cockpit.domain.market_data import Quote
from cockpit.exchange.market import Market
from cockpit.exchange.universe import build_universe, parse_underlyings
from cockpit.marketdata.feed import ChainFeed
from cockpit.reference_data import load_calendar, load_contract_specs

log = logging.getLogger(__name__)

START = datetime(2026, 12, 2, 10, 0, tzinfo=IST)
RATE = 2_000  # ticks a second
TARGET_MS = 50.0
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


def _chain() -> tuple[ChainFeed, EventBus, InstrumentStore, Market]:
    """A chain feed over a fresh NIFTY universe, its bus, instruments and market."""
    calendar = load_calendar()
    universe = build_universe(
        parse_underlyings(UNDERLYINGS), load_contract_specs(), calendar, START.date()
    )
    market = Market(universe, calendar, seed=1, start=START)
    store = InstrumentStore(universe.instruments)
    bus = EventBus()
    feed = ChainFeed(QuietBroker(), store, bus, now=lambda: market.now)  # type: ignore[arg-type]
    return feed, bus, store, market


@dataclass
class _Load:
    """Publishes ``rate`` ticks a second from the precomputed quotes, in 10 ms bursts, and
    probes how late a 10 ms sleep wakes, until ``stop`` is set."""

    bus: EventBus
    tokens: list[int]
    per_second: list[dict[int, Quote]]
    rate: int
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    delivered: int = 0
    lags: list[float] = field(default_factory=list)

    async def publish(self) -> None:
        i = 0
        began = time.perf_counter()
        while not self.stop.is_set():
            elapsed = time.perf_counter() - began
            quotes = self.per_second[min(int(elapsed), len(self.per_second) - 1)]
            for _ in range(int(elapsed * self.rate) - i):
                quote = quotes[self.tokens[i % len(self.tokens)]]
                self.bus.publish(to_tick(ParsedTick(TickMode.FULL, True, quote)))
                i += 1
                self.delivered += 1
            await asyncio.sleep(0.01)

    async def probe(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            asked = loop.time()
            await asyncio.sleep(0.01)
            self.lags.append(loop.time() - asked - 0.01)


async def measure(rate: int, seconds: float) -> tuple[list[float], list[float], float, int]:
    """(probe lags, table refresh costs, ticks delivered per second, chain rows), seconds."""
    # Imported by name, when this group runs: Qt loads only then, and mypy, which does not
    # check cockpit.ui (PySide6's keyword constructors are untyped), does not follow it here.
    chain_panel: Any = importlib.import_module("cockpit.ui.chain_panel")

    feed, bus, store, market = _chain()
    await feed.select("NIFTY", store.expiries("NIFTY")[1])
    tokens = feed.selection.tokens if feed.selection else []
    # The market's path is computed before the clock starts: the producer only publishes.
    per_second = [market.quotes(tokens)]
    for _ in range(int(seconds) + 3):
        market.advance(1)
        per_second.append(market.quotes(tokens))
    panel = chain_panel.ChainPanel(refresh_hz=10)
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
    load = _Load(bus, tokens, per_second, rate)
    tasks = [
        asyncio.create_task(load.publish(), name="bench-ticks"),
        asyncio.create_task(load.probe(), name="bench-probe"),
    ]
    try:
        await asyncio.sleep(1.0)  # warm up
        load.lags.clear()
        refresh_costs.clear()
        load.delivered = 0
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - started
    finally:
        load.stop.set()
        await asyncio.gather(*tasks)
        panel.timer.stop()
        panel.close()
        panel.deleteLater()
    rows = len(feed.selection.chain.rows) if feed.selection else 0
    return load.lags, refresh_costs, load.delivered / elapsed, rows


def run(quick: bool) -> list[Figure]:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync  # type: ignore[import-untyped]  # qasync ships no type information
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    def to_log(kind: QtMsgType, _: object, message: str) -> None:
        # The offscreen platform's notes ("does not support propagateSizeHints") are not ours.
        log.debug("Qt %s: %s", kind, message)

    seconds = 3.0 if quick else 10.0
    previous = qInstallMessageHandler(to_log)
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        lags, refreshes, rate, rows = loop.run_until_complete(measure(RATE, seconds))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        qInstallMessageHandler(previous)
    p99 = percentile(lags, 0.99) * 1e3
    refresh = f"p99 {percentile(refreshes, 0.99) * 1e3:.1f} ms each" if refreshes else "none"
    return [
        Figure(
            "window event-loop lag at 2,000 ticks/s",
            p99,
            "ms",
            f"p99 < {TARGET_MS:g} ms",
            p99 < TARGET_MS,
            f"{len(lags)} probes over {seconds:g} s into a {rows}-strike chain at {rate:,.0f} "
            f"ticks/s delivered: median {median(lags) * 1e3:.2f} ms, max {max(lags) * 1e3:.2f} "
            f"ms; {len(refreshes)} table refreshes ({refresh})",
        )
    ]


__all__ = ["RATE", "measure", "run"]
