from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cockpit.bus import EventBus
from cockpit.clock import IST, ManualClock


@dataclass(frozen=True)
class Ping:
    n: int


@dataclass(frozen=True)
class Other:
    pass


def test_handlers_receive_matching_events_in_subscription_order() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe(Ping, lambda e: seen.append(f"a{e.n}"))
    bus.subscribe(Ping, lambda e: seen.append(f"b{e.n}"))
    bus.subscribe(Other, lambda e: seen.append("other"))
    bus.publish(Ping(1))
    assert seen == ["a1", "b1"]


def test_one_failing_handler_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[int] = []

    def broken(event: Ping) -> None:
        raise ValueError("boom")

    bus.subscribe(Ping, broken)
    bus.subscribe(Ping, lambda e: seen.append(e.n))
    with caplog.at_level(logging.ERROR):
        bus.publish(Ping(7))
    assert seen == [7]
    assert bus.failures == 1
    assert "broken failed on Ping" in caplog.text


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[int] = []
    unsubscribe = bus.subscribe(Ping, lambda e: seen.append(e.n))
    bus.publish(Ping(1))
    unsubscribe()
    bus.publish(Ping(2))
    assert seen == [1]


def test_manual_clock_moves_only_forward_and_reports_ist() -> None:
    clock = ManualClock(datetime(2026, 11, 24, 3, 45, tzinfo=ZoneInfo("UTC")))
    assert clock.now() == datetime(2026, 11, 24, 9, 15, tzinfo=IST)
    clock.advance(2.5)
    assert clock.monotonic() == 2.5
    assert clock.now().second == 2
    with pytest.raises(ValueError, match="cannot move backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="naive"):
        ManualClock(datetime(2026, 1, 1))
