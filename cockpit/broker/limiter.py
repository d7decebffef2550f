"""Keeps the cockpit's calls under Kite's rate limits, and decides who goes first when they
would not be.

Kite counts requests per user in sliding windows and answers HTTP 429 beyond: orders (place,
modify, cancel) 10 a second and 400 a minute, quotes 1 a second, everything else 10 a second.
:class:`RateLimiter` holds a call back until it fits every window of its :class:`Category`, so
a burst leaves at the limit instead of bouncing. It is a token bucket whose tokens come back
exactly one window after they were spent (a log of the last grants): a classic refilling bucket
lets ``capacity + rate × window`` calls into one window — up to twice Kite's limit — which
Kite's counter would refuse. A small ``margin_s`` widens each window so network jitter cannot
bunch requests up at Kite's end. Waiting calls queue per category by
:class:`~cockpit.broker.base.Priority` — emergency hedges, then exits, then ordinary orders,
then reads — first come first served within a priority; only the head of the queue may take a
freed slot, so a read never overtakes a waiting hedge. Time comes from an injected clock and
sleep so tests run on a fake clock. Kite's 5,000 orders a day is not held here: waiting hours
for it would be wrong; the broker's 429 is the answer.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cockpit.broker.base import Priority


class Category(StrEnum):
    """Which of Kite's limits a call counts against."""

    ORDERS = "orders"  # place, modify, cancel
    QUOTE = "quote"  # /quote, /quote/ohlc, /quote/ltp
    OTHER = "other"  # everything else


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` calls in any ``seconds``."""

    limit: int
    seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.seconds > 0:
            raise ValueError(f"a rate window needs limit ≥ 1 and seconds > 0, got {self}")


KITE_LIMITS: Mapping[Category, tuple[Window, ...]] = {
    Category.ORDERS: (Window(10, 1.0), Window(400, 60.0)),
    Category.QUOTE: (Window(1, 1.0),),
    Category.OTHER: (Window(10, 1.0),),
}

#: Added to every window: requests granted exactly one window apart can arrive closer at Kite.
DEFAULT_MARGIN_S = 0.1

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(order=True, slots=True)
class _Ticket:
    priority: int
    sequence: int
    wake: asyncio.Event = field(compare=False, default_factory=asyncio.Event)


class _Lane:
    """One category's windows, grant log and queue."""

    def __init__(self, windows: tuple[Window, ...], margin_s: float) -> None:
        self.windows = windows
        self.margin_s = margin_s
        longest = max((w.limit for w in windows), default=0)
        self.granted: deque[float] = deque(maxlen=longest or 1)
        self.queue: list[_Ticket] = []

    def delay(self, now: float) -> float:
        """Seconds until one more call fits every window (0 if it fits now)."""
        wait = 0.0
        for window in self.windows:
            if len(self.granted) >= window.limit:
                # The window is full if the limit-th most recent grant is still inside it.
                oldest = self.granted[-window.limit]
                wait = max(wait, oldest + window.seconds + self.margin_s - now)
        return wait

    def grant(self, now: float) -> None:
        if self.windows:
            self.granted.append(now)

    def wake_head(self) -> None:
        if self.queue:
            self.queue[0].wake.set()


class RateLimiter:
    """``await limiter.acquire(category, priority)`` before each call."""

    def __init__(
        self,
        limits: Mapping[Category, tuple[Window, ...]] = KITE_LIMITS,
        *,
        margin_s: float = DEFAULT_MARGIN_S,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if margin_s < 0:
            raise ValueError(f"margin_s must be ≥ 0, got {margin_s}")
        self._lanes = {c: _Lane(tuple(limits.get(c, ())), margin_s) for c in Category}
        self._clock = clock
        self._sleep = sleep
        self._sequence = itertools.count()

    @classmethod
    def unlimited(cls) -> RateLimiter:
        """A limiter that never waits (tests, or a broker without limits)."""
        return cls({}, margin_s=0.0)

    def waiting(self, category: Category) -> int:
        """How many calls of ``category`` are queued."""
        return len(self._lanes[category].queue)

    async def acquire(self, category: Category, priority: Priority = Priority.READ) -> None:
        """Return when a call of ``category`` may leave; higher priorities leave first.
        Cancelling a waiting call takes it out of the queue."""
        lane = self._lanes[category]
        ticket = _Ticket(int(priority), next(self._sequence))
        heapq.heappush(lane.queue, ticket)
        try:
            while True:
                if lane.queue[0] is ticket:
                    wait = lane.delay(self._clock())
                    if wait <= 0:
                        heapq.heappop(lane.queue)
                        lane.grant(self._clock())
                        lane.wake_head()
                        return
                    # A more urgent call arriving meanwhile becomes the head and sleeps too;
                    # whoever is head when the slot frees takes it.
                    await self._sleep(wait)
                else:
                    ticket.wake.clear()
                    if lane.queue[0] is not ticket:
                        await ticket.wake.wait()
        except BaseException:
            if ticket in lane.queue:
                lane.queue.remove(ticket)
                heapq.heapify(lane.queue)
                lane.wake_head()
            raise


__all__ = ["DEFAULT_MARGIN_S", "KITE_LIMITS", "Category", "RateLimiter", "Window"]
