"""Benchmark of a 4-leg iron condor from ``submit`` to COMPLETE on the paper exchange over
loopback (:mod:`cockpit.bench.paper`: real sockets, the real Kite broker client, the pre-trade
gate, a durable journal; no injected latency; limits that cross the spread, which the paper
exchange fills at once). Protection legs go first and the risk legs as they fill, so the time
is two rounds of journal write → HTTP place → WebSocket order update, after the gate's funds,
quotes and basket-margin requests. One condor warms up, then each is timed alone, paced by
Kite's one quote request a second. The figure is the median; p99 and the slowest are in the
detail."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from cockpit.bench.figure import Figure, latency_detail, median
from cockpit.bench.paper import PACE_S, paper_desk, run_condors

TARGET_MS = 150.0


async def condor_times(count: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-condor-") as name:
        async with paper_desk(Path(name)) as desk:
            return await run_condors(desk, count)


def run(quick: bool) -> list[Figure]:
    count = 8 if quick else 40
    samples = asyncio.run(condor_times(count))
    value = median(samples) * 1e3
    return [
        Figure(
            "iron condor submit → COMPLETE",
            value,
            "ms",
            f"median < {TARGET_MS:g} ms",
            value < TARGET_MS,
            f"{latency_detail(samples, 'one-lot condors')}, submitted {PACE_S:g} s apart",
        )
    ]


__all__ = ["condor_times", "run"]
