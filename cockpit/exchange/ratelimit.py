"""Kite's per-second request limits, as the paper exchange enforces them.

Kite answers HTTP 429 when a user exceeds: orders (place, modify, cancel) 10/s and 400/min,
quotes 1/s, everything else 10/s (staff answer on the Kite forum; see
../shared/reference/kite-connect-v3.md). Each (user, category) has sliding windows of
request times; a request over any window is refused, not queued — the client must back off.
Time comes from the caller (a monotonic clock) so tests need not sleep.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass


class Category(enum.StrEnum):
    ORDERS = "orders"
    QUOTE = "quote"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    seconds: float


DEFAULT_LIMITS: dict[Category, tuple[Window, ...]] = {
    Category.ORDERS: (Window(10, 1.0), Window(400, 60.0)),
    Category.QUOTE: (Window(1, 1.0),),
    Category.OTHER: (Window(10, 1.0),),
}


def category_of(method: str, path: str) -> Category:
    if path.startswith("/orders") and method in {"POST", "PUT", "DELETE"}:
        return Category.ORDERS
    if path.startswith("/quote"):
        return Category.QUOTE
    return Category.OTHER


class RateLimiter:
    def __init__(self, limits: dict[Category, tuple[Window, ...]] | None = None) -> None:
        self._limits = limits if limits is not None else DEFAULT_LIMITS
        self._seen: dict[tuple[str, Category], deque[float]] = {}

    def allow(self, user: str, category: Category, now: float) -> bool:
        """Record a request at ``now`` and say whether it is within every window."""
        windows = self._limits[category]
        history = self._seen.setdefault((user, category), deque())
        longest = max(w.seconds for w in windows)
        while history and history[0] <= now - longest:
            history.popleft()
        for window in windows:
            recent = sum(1 for t in history if t > now - window.seconds)
            if recent >= window.limit:
                return False
        history.append(now)
        return True
