"""The injected clock: wall time in IST and a monotonic counter, replaceable in tests.

Every timeout in Cockpit (stop-loss fallback, hedge debounce, reconciliation interval, the
market clock in the status bar) reads a :class:`Clock` so tests move time by hand instead of
sleeping.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware wall-clock time in IST."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for durations)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(IST)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"ManualClock needs an aware datetime, got naive {start.isoformat()}")
        self._now = start.astimezone(IST)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot move backwards ({seconds} s)")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds
