"""Faults the paper exchange can inject, for tests and demos.

Set from ``cockpit exchange`` flags at start and changed live through ``/admin/faults``.
Latency delays every REST answer by a fixed time or a uniform draw from a range; the drop
rate loses WebSocket order updates (the client must notice through polling); the rejection,
partial-fill and freeze knobs are passed to the matching engine. All draws come from a
seeded generator, so a run with the same seed injects the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Any


class FaultError(ValueError):
    """A fault setting is out of range; the message names it."""


@dataclass(frozen=True, slots=True)
class Faults:
    latency_ms: tuple[float, float] = (0.0, 0.0)
    reject_rate: float = 0.0
    partial_fill_rate: float = 0.0
    drop_order_update_rate: float = 0.0
    freeze_seconds: float = 0.0

    def __post_init__(self) -> None:
        low, high = self.latency_ms
        if not 0 <= low <= high <= 60_000:
            raise FaultError(f"latency_ms must be 0 ≤ low ≤ high ≤ 60000, got {low}-{high}")
        for name in ("reject_rate", "partial_fill_rate", "drop_order_update_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultError(f"{name} must be a probability between 0 and 1, got {value}")
        if not 0 <= self.freeze_seconds <= 86_400:
            raise FaultError(f"freeze_seconds must be 0 to 86400, got {self.freeze_seconds}")

    def with_changes(self, changes: dict[str, Any]) -> Faults:
        """A copy with ``changes`` applied; unknown names and bad values raise FaultError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FaultError(f"unknown fault {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for name, raw in changes.items():
            if name == "latency_ms":
                values[name] = parse_latency(raw)
            else:
                try:
                    values[name] = float(raw)
                except (TypeError, ValueError):
                    raise FaultError(f"{name} must be a number, got {raw!r}") from None
        return replace(self, **values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": list(self.latency_ms),
            "reject_rate": self.reject_rate,
            "partial_fill_rate": self.partial_fill_rate,
            "drop_order_update_rate": self.drop_order_update_rate,
            "freeze_seconds": self.freeze_seconds,
        }


def parse_latency(raw: Any) -> tuple[float, float]:
    """``5`` → (5, 5); ``"5-50"`` → (5, 50); ``[5, 50]`` → (5, 50)."""
    try:
        if isinstance(raw, list | tuple) and len(raw) == 2:
            low, high = float(raw[0]), float(raw[1])
        elif isinstance(raw, str) and "-" in raw.strip().lstrip("-"):
            first, _, second = raw.strip().partition("-")
            low, high = float(first), float(second)
        else:
            low = high = float(raw)
    except (TypeError, ValueError):
        raise FaultError(f"latency must be milliseconds like 5 or 5-50, got {raw!r}") from None
    if not 0 <= low <= high:
        raise FaultError(f"latency range must be 0 ≤ low ≤ high, got {raw!r}")
    return (low, high)


class FaultDice:
    """Seeded draws for the server-side faults."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def latency_s(self, faults: Faults) -> float:
        low, high = faults.latency_ms
        if high <= 0:
            return 0.0
        return (low if low == high else self._rng.uniform(low, high)) / 1000.0

    def drop_update(self, faults: Faults) -> bool:
        return faults.drop_order_update_rate > 0 and self._rng.random() < (
            faults.drop_order_update_rate
        )
