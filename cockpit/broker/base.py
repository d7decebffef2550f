"""The broker as the rest of Cockpit sees it: one async :class:`Broker` protocol, the values it
answers with, and one exception family.

Only this interface crosses into ``execution/``: the coordinator never sees HTTP, JSON or a
WebSocket frame. Values are typed domain objects in integer paise (orders, fills and quotes from
:mod:`cockpit.domain`; positions and margins defined here). Failures are :class:`BrokerError`
subclasses that keep the broker's own message, so a trader reads exactly what Kite said:
:class:`TokenExpiredError` (log in again), :class:`BrokerInputError`, :class:`OrderRefusedError`,
:class:`MarginShortfallError`, :class:`BrokerNetworkError` and its :class:`RateLimitedError`, and
:class:`BrokerProtocolError` for a payload that is not what Kite documents.

Calls carry a :class:`Priority`: when the rate limiter has a queue, emergency hedges and
stop-loss exits leave before ordinary orders, and orders before reads.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cockpit.domain.events import ConnectionChanged, OrderUpdated, Tick
from cockpit.domain.instruments import InstrumentStore
from cockpit.domain.market_data import Quote
from cockpit.domain.money import Paise
from cockpit.domain.orders import Fill, Order, OrderRequest, OrderType, Variety

# ---- errors ----------------------------------------------------------------------------------


class BrokerError(Exception):
    """A broker call failed. ``broker_message`` is the broker's own words (if it answered),
    ``status`` the HTTP status (0 when none)."""

    def __init__(self, message: str, *, broker_message: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.broker_message = broker_message
        self.status = status


class TokenExpiredError(BrokerError):
    """The session is no longer valid (Kite's TokenException): log in again."""


class BrokerInputError(BrokerError):
    """The broker refused the request's fields (InputException)."""


class OrderRefusedError(BrokerError):
    """The broker's order system refused the order (OrderException)."""


class MarginShortfallError(BrokerError):
    """Not enough funds or margin (MarginException)."""


class BrokerNetworkError(BrokerError):
    """The broker could not be reached or did not answer in time; the outcome of a write is
    unknown until it is looked up."""


class RateLimitedError(BrokerNetworkError):
    """HTTP 429: too many requests; back off."""


class BrokerProtocolError(BrokerError):
    """The broker answered something that is not what Kite documents (malformed JSON, a
    missing or mistyped field, an unknown status)."""


# ---- values ----------------------------------------------------------------------------------


class Priority(enum.IntEnum):
    """Queue order when the rate limiter holds calls back: lower goes first."""

    EMERGENCY = 0  # emergency hedges
    EXIT = 1  # stop-loss exits and unwinds
    ORDER = 2  # ordinary order placement, modification, cancellation
    READ = 3  # order book, positions, quotes


class TickMode(enum.StrEnum):
    LTP = "ltp"
    QUOTE = "quote"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class Position:
    """One net position row (Kite's ``positions.net``), money in paise."""

    tradingsymbol: str
    exchange: str
    instrument_token: int
    product: str
    quantity: int
    overnight_quantity: int
    average_price: Paise
    last_price: Paise
    pnl: Paise
    realised: Paise
    unrealised: Paise
    buy_quantity: int
    sell_quantity: int
    buy_value: Paise
    sell_value: Paise


@dataclass(frozen=True, slots=True)
class AccountMargins:
    """The equity segment of ``/user/margins`` in paise: ``available`` is what can still be
    used (Kite's ``net``), ``used`` what positions and orders block."""

    available: Paise
    used: Paise
    cash: Paise
    opening_balance: Paise
    span: Paise
    exposure: Paise
    option_premium: Paise


@dataclass(frozen=True, slots=True)
class MarginEstimate:
    span: Paise
    exposure: Paise
    option_premium: Paise
    additional: Paise
    total: Paise


@dataclass(frozen=True, slots=True)
class BasketMarginEstimate:
    """``initial`` is the basket alone, ``final`` with the hedge benefit of the basket (and of
    open positions when asked to consider them)."""

    initial: MarginEstimate
    final: MarginEstimate
    orders: tuple[MarginEstimate, ...]


@dataclass(frozen=True, slots=True)
class OrderChange:
    """A modification: None keeps the current value."""

    quantity: int | None = None
    price: Paise | None = None
    trigger_price: Paise | None = None
    order_type: OrderType | None = None


#: What :meth:`Broker.events` yields.
BrokerEvent = Tick | OrderUpdated | ConnectionChanged


# ---- the protocol ----------------------------------------------------------------------------


@runtime_checkable
class Broker(Protocol):
    """Everything the cockpit asks of a broker. Implementations: ``KiteBroker`` (real Kite or
    the paper exchange over HTTP and WebSocket)."""

    async def place(self, request: OrderRequest, *, priority: Priority = Priority.ORDER) -> str:
        """Send one order; returns the broker's order id. A timeout is resolved by looking the
        order up by its tag, never by sending it again."""
        ...

    async def modify(
        self,
        order_id: str,
        change: OrderChange,
        *,
        variety: Variety = Variety.REGULAR,
        priority: Priority = Priority.ORDER,
    ) -> str: ...

    async def cancel(
        self,
        order_id: str,
        *,
        variety: Variety = Variety.REGULAR,
        priority: Priority = Priority.ORDER,
    ) -> str: ...

    async def orders(self) -> list[Order]: ...

    async def order_history(self, order_id: str) -> list[Order]: ...

    async def trades(self) -> list[Fill]: ...

    async def order_trades(self, order_id: str) -> list[Fill]: ...

    async def positions(self) -> list[Position]: ...

    async def margins(self) -> AccountMargins: ...

    async def order_margins(self, requests: Sequence[OrderRequest]) -> list[MarginEstimate]: ...

    async def basket_margins(
        self, requests: Sequence[OrderRequest], *, consider_positions: bool = True
    ) -> BasketMarginEstimate: ...

    async def quotes(self, keys: Sequence[str]) -> dict[str, Quote]:
        """Full quotes for ``EXCHANGE:TRADINGSYMBOL`` keys; unknown keys are left out."""
        ...

    async def instruments(self, exchange: str | None = None) -> InstrumentStore:
        """Kite's instruments dump, indexed (by token, by symbol, chains)."""
        ...

    async def subscribe(self, tokens: Sequence[int], mode: TickMode = TickMode.QUOTE) -> None: ...

    async def unsubscribe(self, tokens: Sequence[int]) -> None: ...

    def events(self) -> AsyncIterator[BrokerEvent]:
        """Ticks, order updates and connection changes, in arrival order."""
        ...

    async def aclose(self) -> None: ...
