"""Events: the one vocabulary every layer speaks, from the broker adapter to the Qt models.

The broker adapter turns what Kite (or the paper exchange) sends into these values; the
coordinator journals them and publishes them on the event bus; the UI bridge re-emits them
as Qt signals. Each is a frozen, keyword-only dataclass whose ``at`` is the timezone-aware
instant the fact became true (naive datetimes are refused), and :data:`Event` is the union of
them all. Money is integer paise; orders and fills are :mod:`cockpit.domain.orders` values.
Events state facts (``OrderUpdated``, ``AlertRaised``); they carry no behaviour. Later parts
add order-group and exposure events here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from cockpit.domain.calendar import MarketSession
from cockpit.domain.money import Paise
from cockpit.domain.orders import Fill, Order


def _require_aware(at: datetime, event: str) -> None:
    if not isinstance(at, datetime):
        raise ValueError(f"{event}.at must be a datetime, got {type(at).__name__} {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{event}.at must be timezone-aware, got naive {at.isoformat()}")


class ConnectionState(StrEnum):
    """The broker link: WebSocket up (CONNECTED), down, or down with REST polling as the
    safety net (POLLING)."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    POLLING = "polling"


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """One market-data update for an instrument (prices in paise; bid/ask None when that
    side of the book is empty or the mode does not carry depth)."""

    at: datetime
    instrument_token: int
    last_price: Paise
    bid: Paise | None = None
    ask: Paise | None = None
    volume: int = 0
    oi: int = 0

    def __post_init__(self) -> None:
        _require_aware(self.at, "Tick")
        if self.last_price < 0:
            raise ValueError(
                f"Tick for token {self.instrument_token}: last_price {self.last_price} < 0"
            )
        if self.volume < 0 or self.oi < 0:
            raise ValueError(
                f"Tick for token {self.instrument_token}: volume {self.volume} and oi "
                f"{self.oi} must be ≥ 0"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdated:
    """The broker's latest view of one order."""

    at: datetime
    order: Order

    def __post_init__(self) -> None:
        _require_aware(self.at, "OrderUpdated")


@dataclass(frozen=True, slots=True, kw_only=True)
class FillReceived:
    """One execution arrived (WebSocket, postback or a re-read of the trade book)."""

    at: datetime
    fill: Fill

    def __post_init__(self) -> None:
        _require_aware(self.at, "FillReceived")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionChanged:
    at: datetime
    state: ConnectionState
    detail: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.at, "ConnectionChanged")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised:
    """Something the trader must know; CRITICAL ones (a hedged-invariant breach) demand action.

    ``source`` names the component that raised it (``"position-validator"``). ``key``, when
    given, names the condition (``"position-validator:NIFTY 26 Dec PE"``): the alert centre
    counts a repeat of an unacknowledged key on its existing alert instead of adding one.
    """

    at: datetime
    alert_id: str
    severity: AlertSeverity
    title: str
    message: str
    source: str
    key: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.at, "AlertRaised")
        if not self.alert_id:
            raise ValueError(f"AlertRaised {self.title!r}: alert_id must be given")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged:
    """The trader acknowledged alert ``alert_id``."""

    at: datetime
    alert_id: str

    def __post_init__(self) -> None:
        _require_aware(self.at, "AlertAcknowledged")


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketClockChanged:
    """The market clock ticked: the time and the session state at that time."""

    at: datetime
    session: MarketSession

    def __post_init__(self) -> None:
        _require_aware(self.at, "MarketClockChanged")


@dataclass(frozen=True, slots=True, kw_only=True)
class FundsChanged:
    """The broker's equity-segment margins: what is free to use and what is blocked."""

    at: datetime
    available: Paise
    used: Paise

    def __post_init__(self) -> None:
        _require_aware(self.at, "FundsChanged")


Event: TypeAlias = (
    Tick
    | OrderUpdated
    | FillReceived
    | ConnectionChanged
    | AlertRaised
    | AlertAcknowledged
    | MarketClockChanged
    | FundsChanged
)
"""Any domain event; ``isinstance(x, Event)`` works at run time."""
