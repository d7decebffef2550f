"""Benchmark of the execution path on the paper exchange over loopback (:mod:`cockpit.bench.paper`).
**Fill → exposure event**: from a fill's order update reaching the event bus (the broker's
WebSocket, pumped onto the bus) until the coordinator has published the recomputed
``ExposureChanged`` — over every fill of a run of one-lot iron condors and of the hedges below.
**Fill → emergency hedge order sent** (policy auto, debounce 0 to measure the coordinator itself;
the 500 ms debounce is added on top by design): a naked short call is sold outside any group
(another terminal's order, as far as the coordinator knows), and the moment its fill's order update
reaches the bus the benchmark has the coordinator reconcile positions — what the app does on its
reconcile timer and on every reconnect — then times until the hedge order is handed to the broker
client; the time until the hedge has filled is in the detail. One breach warms up and is not
counted. Both figures are p99 (nearest rank: the slowest below 100 samples).
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from cockpit.bench.figure import Figure, latency_detail, percentile
from cockpit.bench.paper import Desk, paper_desk, run_condors
from cockpit.broker.base import Broker, Priority
from cockpit.broker.kite import KiteBroker
from cockpit.bus import EventBus
from cockpit.domain.events import OrderUpdated
from cockpit.domain.instruments import Exchange, Instrument
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderRequest, OrderType, Product, Side
from cockpit.execution.coordinator import Coordinator, ExecutionSettings
from cockpit.execution.events import ExposureChanged
from cockpit.execution.hedger import HedgePolicy

TARGET_EXPOSURE_MS = 5.0
TARGET_HEDGE_MS = 20.0


class TimedBroker:
    """The broker as the coordinator sees it, noting when each BUY order is handed to the
    client (the request leaves at the client's next await)."""

    def __init__(self, broker: KiteBroker) -> None:
        self._broker = broker
        self.buys: list[float] = []
        self.bought = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    async def place(self, request: OrderRequest, *, priority: Priority = Priority.ORDER) -> str:
        if request.side is Side.BUY:
            self.buys.append(time.perf_counter())
            self.bought.set()
        return await self._broker.place(request, priority=priority)


class Probe:
    """The bus handlers: fill times before the coordinator sees a fill, the exposure event it
    publishes in response, and the naked short's fill that starts a hedge timing."""

    def __init__(self) -> None:
        self.exposure: list[float] = []
        self.filled: dict[str, int] = {}
        self.fill_at: float | None = None
        self.naked_tag = ""
        self.naked_filled_at: float | None = None
        self.coordinator: Coordinator | None = None
        self.reconciling: asyncio.Task[object] | None = None

    def subscribe_first(self, bus: EventBus) -> None:
        bus.subscribe(OrderUpdated, self.on_update)
        bus.subscribe(ExposureChanged, self.on_exposure)

    def on_update(self, event: OrderUpdated) -> None:
        order = event.order
        if order.filled_quantity <= self.filled.get(order.order_id, 0):
            return
        self.filled[order.order_id] = order.filled_quantity
        self.fill_at = time.perf_counter()
        if order.tag == self.naked_tag and self.naked_filled_at is None:
            self.naked_filled_at = self.fill_at
            if self.coordinator is not None:  # reconcile at once, as a reconnect would
                self.reconciling = asyncio.get_running_loop().create_task(
                    self.coordinator.reconcile_positions(), name="bench-reconcile"
                )

    def on_exposure(self, _: ExposureChanged) -> None:
        if self.fill_at is not None:
            self.exposure.append(time.perf_counter() - self.fill_at)
            self.fill_at = None

    def after_coordinator(self, _: OrderUpdated) -> None:
        # The coordinator published nothing for a fill of an order it does not know.
        self.fill_at = None


def _naked_call(desk: Desk, index: int) -> Instrument:
    expiry = desk.store.expiries("NIFTY")[1]
    chain = desk.store.chain("NIFTY", expiry)
    row = chain.rows[len(chain.rows) // 2 + 10 + index % 4]
    if row.call is None:
        raise LookupError(f"NIFTY {expiry} {row.strike} CE is not listed")
    return row.call


async def _breach(desk: Desk, probe: Probe, timed: TimedBroker, index: int) -> tuple[float, float]:
    """Sell a naked call outside any group; (fill → hedge order sent, fill → hedged) seconds."""
    option = _naked_call(desk, index)
    await desk.watch([option.instrument_token])
    bid = desk.quotes[option.instrument_token].bid or Paise(option.tick_size_paise)
    probe.naked_tag = f"bx{index:03d}{secrets.token_hex(3)}"
    probe.naked_filled_at = None
    probe.reconciling = None
    timed.bought.clear()
    timed.buys.clear()
    await desk.broker.place(
        OrderRequest(
            tradingsymbol=option.tradingsymbol,
            exchange=Exchange.NFO,
            side=Side.SELL,
            quantity=option.lot_size,
            order_type=OrderType.LIMIT,
            product=Product.NRML,
            price=Paise(max(option.tick_size_paise, bid - 2 * option.tick_size_paise)),
            tag=probe.naked_tag,
        )
    )
    await asyncio.wait_for(timed.bought.wait(), 10)
    if probe.naked_filled_at is None or probe.reconciling is None:
        raise RuntimeError("the naked short's fill was not seen")
    await probe.reconciling
    sent = timed.buys[0] - probe.naked_filled_at
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while desk.coordinator.hedges_pending or any(
        e.uncovered_quantity for e in desk.coordinator.exposures.values()
    ):
        if loop.time() > deadline:
            raise TimeoutError(f"breach {index}: still uncovered after 20 s")
        await asyncio.sleep(0.002)
    return sent, time.perf_counter() - probe.naked_filled_at


async def measure(condors: int, breaches: int) -> tuple[list[float], list[float], list[float]]:
    """(fill → exposure, fill → hedge sent, fill → hedged) samples in seconds."""
    probe = Probe()
    brokers: list[TimedBroker] = []

    def timed(broker: KiteBroker) -> Broker:
        brokers.append(TimedBroker(broker))
        return brokers[-1]  # a Broker by delegation (__getattr__)

    settings = ExecutionSettings(hedge_policy=HedgePolicy.AUTO, hedge_debounce_s=0.0)
    sent: list[float] = []
    hedged: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-execution-") as name:
        async with paper_desk(
            Path(name), execution=settings, first=probe.subscribe_first, wrap=timed
        ) as desk:
            desk.bus.subscribe(OrderUpdated, probe.after_coordinator)
            probe.coordinator = desk.coordinator
            await run_condors(desk, condors)
            for index in range(breaches + 1):
                to_sent, to_hedged = await _breach(desk, probe, brokers[0], index)
                if index:
                    sent.append(to_sent)
                    hedged.append(to_hedged)
                await asyncio.sleep(0.2)
    return probe.exposure, sent, hedged


def run(quick: bool) -> list[Figure]:
    condors, breaches = (5, 8) if quick else (25, 100)
    exposure, sent, hedged = asyncio.run(measure(condors, breaches))
    exposure_p99 = percentile(exposure, 0.99) * 1e3
    sent_p99 = percentile(sent, 0.99) * 1e3
    return [
        Figure(
            "fill → exposure event",
            exposure_p99,
            "ms",
            f"p99 < {TARGET_EXPOSURE_MS:g} ms",
            exposure_p99 < TARGET_EXPOSURE_MS,
            latency_detail(exposure, f"fills of {condors + 1} condors and {breaches + 1} hedges"),
        ),
        Figure(
            "fill → emergency hedge order sent",
            sent_p99,
            "ms",
            f"p99 < {TARGET_HEDGE_MS:g} ms",
            sent_p99 < TARGET_HEDGE_MS,
            f"{latency_detail(sent, 'naked shorts')} (policy auto, debounce 0, positions "
            f"reconciled on the fill); to the hedge filled: {latency_detail(hedged, 'hedges')}",
        ),
    ]


__all__ = ["Probe", "TimedBroker", "measure", "run"]
