"""What a benchmark reports — :class:`Figure`, one measured value beside its target — and the
statistics the benchmarks share: the median and nearest-rank percentiles of samples, and the
median time of a repeated call. A figure with no target (``target_text`` empty) is information
beside the others and counts as met."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    """``value`` in ``unit``; ``met`` says whether it meets ``target_text`` (as the trader reads
    it, e.g. "p99 < 5 ms"); ``detail`` says how it was measured and what else was seen."""

    name: str
    value: float
    unit: str
    target_text: str
    met: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": self.target_text,
            "met": self.met,
            "detail": self.detail,
        }


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q ≤ 1) of ``samples``: the smallest sample with at
    least ``q`` of them at or below it — with 100 samples p99 is the second largest, with
    fewer the largest; never an interpolation below a sample."""
    if not samples:
        raise ValueError("no samples to take a percentile of")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def median(samples: Sequence[float]) -> float:
    if not samples:
        raise ValueError("no samples to take a median of")
    return statistics.median(samples)


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``run`` after one warm-up call."""
    run()  # imports, first-touch allocation, caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return median(times)


def latency_detail(samples: Sequence[float], what: str) -> str:
    """ "N what: median X ms, p99 Y ms, max Z ms" for samples in seconds."""
    return (
        f"{len(samples)} {what}: median {median(samples) * 1e3:.2f} ms, "
        f"p99 {percentile(samples, 0.99) * 1e3:.2f} ms, max {max(samples) * 1e3:.2f} ms"
    )


__all__ = ["Figure", "latency_detail", "median", "median_seconds", "percentile"]
