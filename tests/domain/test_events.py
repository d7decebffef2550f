from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cockpit.domain.calendar import MarketSession, SessionState
from cockpit.domain.events import (
    AlertAcknowledged,
    AlertRaised,
    AlertSeverity,
    ConnectionChanged,
    ConnectionState,
    Event,
    FillReceived,
    FundsChanged,
    MarketClockChanged,
    OrderUpdated,
    Tick,
)
from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise
from cockpit.domain.orders import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
    Variety,
)

AT = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
NAIVE = datetime(2026, 11, 25, 10, 0)

ORDER = Order(
    order_id="1",
    tradingsymbol="NIFTY26DEC24000CE",
    exchange=Exchange.NFO,
    side=Side.BUY,
    quantity=65,
    order_type=OrderType.LIMIT,
    product=Product.NRML,
    validity=Validity.DAY,
    variety=Variety.REGULAR,
    status=OrderStatus.OPEN,
    placed_at=AT,
    price=Paise(10135),
    pending_quantity=65,
)
FILL = Fill(
    trade_id="T1",
    order_id="1",
    tradingsymbol="NIFTY26DEC24000CE",
    exchange=Exchange.NFO,
    side=Side.BUY,
    quantity=65,
    price=Paise(10135),
    fill_timestamp=AT,
    product=Product.NRML,
)


def every_event() -> list[Event]:
    return [
        Tick(at=AT, instrument_token=256265, last_price=Paise(2400000), bid=Paise(2399995)),
        OrderUpdated(at=AT, order=ORDER),
        FillReceived(at=AT, fill=FILL),
        ConnectionChanged(at=AT, state=ConnectionState.POLLING, detail="WebSocket down"),
        AlertRaised(
            at=AT,
            alert_id="A1",
            severity=AlertSeverity.CRITICAL,
            title="Naked short",
            message="NIFTY 26 Dec PE: short 65 > long 0",
            source="position-validator",
        ),
        AlertAcknowledged(at=AT, alert_id="A1"),
        MarketClockChanged(at=AT, session=MarketSession(SessionState.OPEN, "until 15:30")),
        FundsChanged(at=AT, available=Paise(10_00_000_00), used=Paise(2_50_000_00)),
    ]


def test_the_event_union_names_every_event_type() -> None:
    events = every_event()
    assert {type(e) for e in events} == set(typing.get_args(Event))
    assert all(isinstance(e, Event) for e in events)


@pytest.mark.parametrize("event", every_event(), ids=lambda e: type(e).__name__)
def test_every_event_refuses_a_naive_time(event: Event) -> None:
    with pytest.raises(ValueError) as error:
        dataclasses.replace(event, at=NAIVE)
    assert str(error.value) == (
        f"{type(event).__name__}.at must be timezone-aware, got naive 2026-11-25T10:00:00"
    )


@pytest.mark.parametrize("event", every_event(), ids=lambda e: type(e).__name__)
def test_events_are_frozen(event: Event) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.at = AT  # type: ignore[misc]


def test_events_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        FundsChanged(AT, Paise(1), Paise(2))  # type: ignore[call-arg]


def test_connection_states_read_as_lowercase_words() -> None:
    assert [s.value for s in ConnectionState] == [
        "connecting",
        "connected",
        "disconnected",
        "polling",
    ]
    assert [s.value for s in AlertSeverity] == ["info", "warning", "critical"]


def test_tick_rejects_negative_numbers() -> None:
    with pytest.raises(ValueError, match="Tick for token 1: last_price -5 < 0"):
        Tick(at=AT, instrument_token=1, last_price=Paise(-5))
    with pytest.raises(ValueError, match="volume -1 and oi 0 must be ≥ 0"):
        Tick(at=AT, instrument_token=1, last_price=Paise(5), volume=-1)


def test_alert_needs_an_id() -> None:
    with pytest.raises(ValueError, match="alert_id must be given"):
        AlertRaised(
            at=AT, alert_id="", severity=AlertSeverity.INFO, title="t", message="m", source="s"
        )
