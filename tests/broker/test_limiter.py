"""The rate limiter keeps every window of Kite's limits, in bursts too, and lets urgent calls
out first — all on a fake clock, without sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from cockpit.broker.base import Priority
from cockpit.broker.limiter import KITE_LIMITS, Category, RateLimiter, Window


class FakeTime:
    """A clock that moves only when every task is waiting on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(delay, 0.0), next(self._order), future))
        await future

    async def run(self, tasks: list[asyncio.Task[None]]) -> None:
        while True:
            for _ in range(20):  # let every ready task run until it waits again
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                return
            while self._timers and self._timers[0][2].done():
                heapq.heappop(self._timers)
            if not self._timers:
                raise AssertionError("deadlock: tasks wait but no timer is due")
            due = self._timers[0][0]
            self.now = max(self.now, due)
            while self._timers and self._timers[0][0] <= self.now:
                _, _, future = heapq.heappop(self._timers)
                if not future.done():
                    future.set_result(None)


def limiter_on(fake: FakeTime, **kwargs: object) -> RateLimiter:
    return RateLimiter(clock=fake.clock, sleep=fake.sleep, **kwargs)  # type: ignore[arg-type]


def run(main: Callable[[FakeTime], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main(FakeTime()))


async def burst(
    fake: FakeTime,
    limiter: RateLimiter,
    calls: list[tuple[Category, Priority]],
    *,
    stagger: bool = False,
) -> list[tuple[float, int]]:
    """Start ``calls`` (in order, each after the previous has queued); returns (grant time,
    call index) in grant order."""
    granted: list[tuple[float, int]] = []

    async def call(index: int, category: Category, priority: Priority) -> None:
        await limiter.acquire(category, priority)
        granted.append((fake.now, index))

    tasks = []
    for index, (category, priority) in enumerate(calls):
        tasks.append(asyncio.create_task(call(index, category, priority)))
        await asyncio.sleep(0)  # queue in this order
    await fake.run(tasks)
    return granted


def max_in_window(times: list[float], seconds: float) -> int:
    """The most grants in any half-open window ``(t - seconds, t]``."""
    return max(sum(1 for s in times if t - seconds < s <= t) for t in times)


def test_a_burst_of_25_orders_leaves_ten_per_window() -> None:
    async def main(fake: FakeTime) -> None:
        limiter = limiter_on(fake, margin_s=0.1)
        granted = await burst(fake, limiter, [(Category.ORDERS, Priority.ORDER)] * 25)
        times = [t for t, _ in granted]
        assert times == [0.0] * 10 + [pytest.approx(1.1)] * 10 + [pytest.approx(2.2)] * 5
        assert [i for _, i in granted] == list(range(25))  # first come, first served
        assert max_in_window(times, 1.0) == 10  # Kite counts one-second windows

    run(main)


def test_orders_keep_400_a_minute_as_well_as_10_a_second() -> None:
    async def main(fake: FakeTime) -> None:
        limiter = limiter_on(fake, margin_s=0.05)
        granted = await burst(fake, limiter, [(Category.ORDERS, Priority.ORDER)] * 430)
        times = [t for t, _ in granted]
        assert max_in_window(times, 1.0) <= 10
        assert max_in_window(times, 60.0) <= 400
        # The 401st waits for the minute window to free its first slot.
        assert times[400] == pytest.approx(60.05)
        assert times[399] < 60.0

    run(main)


def test_quotes_leave_one_a_second_and_do_not_wait_for_orders() -> None:
    async def main(fake: FakeTime) -> None:
        limiter = limiter_on(fake, margin_s=0.0)
        calls = [(Category.ORDERS, Priority.ORDER)] * 12 + [(Category.QUOTE, Priority.READ)] * 3
        granted = dict((i, t) for t, i in await burst(fake, limiter, calls))
        assert [granted[i] for i in (12, 13, 14)] == [0.0, 1.0, 2.0]
        assert granted[11] == pytest.approx(1.0)  # orders have their own window

    run(main)


def test_urgent_calls_overtake_queued_ones_first_in_first_out_within_a_priority() -> None:
    async def main(fake: FakeTime) -> None:
        limiter = limiter_on(fake, limits={Category.ORDERS: (Window(1, 1.0),)}, margin_s=0.0)
        calls = [
            (Category.ORDERS, Priority.READ),  # 0: takes the free slot at t=0
            (Category.ORDERS, Priority.ORDER),  # 1
            (Category.ORDERS, Priority.READ),  # 2
            (Category.ORDERS, Priority.EXIT),  # 3
            (Category.ORDERS, Priority.ORDER),  # 4
            (Category.ORDERS, Priority.EMERGENCY),  # 5
            (Category.ORDERS, Priority.EXIT),  # 6
        ]
        granted = await burst(fake, limiter, calls)
        assert [i for _, i in granted] == [0, 5, 3, 6, 1, 4, 2]
        assert [t for t, _ in granted] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]

    run(main)


def test_an_emergency_arriving_while_the_head_sleeps_goes_next() -> None:
    async def main(fake: FakeTime) -> None:
        limiter = limiter_on(fake, limits={Category.ORDERS: (Window(1, 1.0),)}, margin_s=0.0)
        order: list[str] = []

        async def call(name: str, priority: Priority) -> None:
            await limiter.acquire(Category.ORDERS, priority)
            order.append(f"{name}@{fake.now:g}")

        first = asyncio.create_task(call("read", Priority.READ))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(call("order", Priority.ORDER))
        await asyncio.sleep(0)

        async def later() -> None:
            await fake.sleep(0.5)  # the ORDER call is asleep as head by now
            await call("hedge", Priority.EMERGENCY)

        hedge = asyncio.create_task(later())
        await fake.run([first, waiting, hedge])
        assert order == ["read@0", "hedge@1", "order@2"]

    run(main)


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    async def main(fake: FakeTime) -> None:
        limiter = limiter_on(fake, limits={Category.OTHER: (Window(1, 1.0),)}, margin_s=0.0)
        await limiter.acquire(Category.OTHER)
        head = asyncio.create_task(limiter.acquire(Category.OTHER))
        behind = asyncio.create_task(limiter.acquire(Category.OTHER))
        await asyncio.sleep(0)
        assert limiter.waiting(Category.OTHER) == 2
        head.cancel()
        await fake.run([behind])
        assert head.cancelled()
        assert fake.now == 1.0
        assert limiter.waiting(Category.OTHER) == 0

    run(main)


def test_unlimited_never_waits() -> None:
    async def main(fake: FakeTime) -> None:
        limiter = RateLimiter.unlimited()
        for _ in range(1000):
            await limiter.acquire(Category.QUOTE)

    run(main)


def test_kite_limits_are_the_documented_ones() -> None:
    assert KITE_LIMITS[Category.ORDERS] == (Window(10, 1.0), Window(400, 60.0))
    assert KITE_LIMITS[Category.QUOTE] == (Window(1, 1.0),)
    assert KITE_LIMITS[Category.OTHER] == (Window(10, 1.0),)
    with pytest.raises(ValueError):
        Window(0, 1.0)
