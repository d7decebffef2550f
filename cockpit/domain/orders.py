"""Orders: what Cockpit asks the broker for, what the broker says became of it, and its fills.

The closed sets (:class:`Side`, :class:`OrderType`, :class:`Product`, :class:`Validity`,
:class:`Variety`, :class:`OrderStatus`) are ``StrEnum``s whose values are Kite Connect v3's
wire spellings, so the broker adapter and the paper exchange convert with ``OrderType("SL-M")``
and back with ``.value``. :class:`OrderRequest` is an order Cockpit intends to send; building
one checks every field combination Kite would reject (price for LIMIT, trigger for SL, market
protection for MARKET, tag rules …) and names the symbol and field in a ``ValueError``, so a
bad order never reaches the journal or the wire. :class:`Order` is the broker's view of an
order (never validated against request rules: orders placed elsewhere, autoslice children
tagged ``autoslice:<id>`` and old orders are legal broker facts), and :class:`Fill` (alias
:data:`Trade`) one execution. Money is integer paise (:mod:`cockpit.domain.money`); every
timestamp must be timezone-aware.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise

MAX_TAG_LENGTH = 20
MAX_MARKET_PROTECTION = 100
AUTO_MARKET_PROTECTION = -1
NO_PAISE = Paise(0)


class InvalidOrderError(ValueError):
    """An order request Kite would refuse; the message names the symbol and the field."""


# Builds the error for one request: prefixes the message with the trading symbol.
_Fail = Callable[[str], InvalidOrderError]


class Side(StrEnum):
    """Kite's ``transaction_type``."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for BUY, −1 for SELL: the sign of this side's effect on a net position."""
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SL_M = "SL-M"

    @property
    def needs_price(self) -> bool:
        """LIMIT and SL carry a limit price; MARKET and SL-M must not."""
        return self in (OrderType.LIMIT, OrderType.SL)

    @property
    def needs_trigger(self) -> bool:
        """SL and SL-M carry a trigger price; MARKET and LIMIT must not."""
        return self in (OrderType.SL, OrderType.SL_M)

    @property
    def needs_market_protection(self) -> bool:
        """MARKET and SL-M execute at market: Kite rejects them via the API without protection
        (since 1 Apr 2026)."""
        return self in (OrderType.MARKET, OrderType.SL_M)


class Product(StrEnum):
    """Kite's ``product``. Cockpit trades NRML (carry-forward F&O) and MIS (intraday); CNC and
    MTF are equity products that appear in a user's order book and must still parse."""

    NRML = "NRML"
    MIS = "MIS"
    CNC = "CNC"
    MTF = "MTF"


class Validity(StrEnum):
    DAY = "DAY"
    IOC = "IOC"
    TTL = "TTL"


class Variety(StrEnum):
    """The ``:variety`` path segment of ``POST /orders/:variety``; lowercase on the wire."""

    REGULAR = "regular"
    AMO = "amo"
    CO = "co"
    ICEBERG = "iceberg"
    AUCTION = "auction"


class OrderStatus(StrEnum):
    """Every status Kite reports in the order book and order history.

    ``UPDATE`` is not an order-book status: Kite's postbacks and WebSocket order messages use
    it for "something changed (a partial fill, a modification)"; treat it as a cue to re-read
    the order.
    """

    PUT_ORDER_REQ_RECEIVED = "PUT ORDER REQ RECEIVED"
    VALIDATION_PENDING = "VALIDATION PENDING"
    OPEN_PENDING = "OPEN PENDING"
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER PENDING"
    MODIFY_VALIDATION_PENDING = "MODIFY VALIDATION PENDING"
    MODIFY_PENDING = "MODIFY PENDING"
    CANCEL_PENDING = "CANCEL PENDING"
    AMO_REQ_RECEIVED = "AMO REQ RECEIVED"
    UPDATE = "UPDATE"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        """COMPLETE, CANCELLED or REJECTED: the order will never change or fill again."""
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Not terminal: the order may still fill, be modified or be cancelled, so its unfilled
        quantity counts as working exposure."""
        return self not in _TERMINAL


_TERMINAL = frozenset({OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED})


def signed_quantity(side: Side, quantity: int) -> int:
    """``quantity`` with the sign of its effect on a net position: BUY +, SELL −."""
    return side.sign * quantity


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__} {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order Cockpit intends to send, checked against Kite's rules on construction.

    ``market_protection`` is a percentage (0 < p ≤ 100) or ``-1`` for Kite's automatic
    protection; MARKET and SL-M orders must carry it and LIMIT and SL must not.
    ``validity_ttl`` (minutes) goes with ``Validity.TTL`` only. Iceberg orders need
    ``iceberg_legs`` (2–50) and ``iceberg_quantity`` with legs × leg quantity = quantity.
    """

    tradingsymbol: str
    exchange: Exchange
    side: Side
    quantity: int
    order_type: OrderType
    product: Product
    validity: Validity = Validity.DAY
    price: Paise | None = None
    trigger_price: Paise | None = None
    tag: str | None = None
    market_protection: int | Decimal | None = None
    variety: Variety = Variety.REGULAR
    validity_ttl: int | None = None
    iceberg_legs: int | None = None
    iceberg_quantity: int | None = None

    def __post_init__(self) -> None:
        symbol = self.tradingsymbol
        if not isinstance(symbol, str) or not symbol.strip():
            raise InvalidOrderError(f"order request: tradingsymbol must be given, got {symbol!r}")

        def fail(message: str) -> InvalidOrderError:
            return InvalidOrderError(f"{symbol}: {message}")

        for name, enum_type in (
            ("exchange", Exchange),
            ("side", Side),
            ("order_type", OrderType),
            ("product", Product),
            ("validity", Validity),
            ("variety", Variety),
        ):
            if not isinstance(getattr(self, name), enum_type):
                raise fail(
                    f"{name} must be a {enum_type.__name__} value, got {getattr(self, name)!r}"
                )
        if not _is_int(self.quantity) or self.quantity <= 0:
            raise fail(f"quantity must be a positive whole number, got {self.quantity!r}")
        for name in ("price", "trigger_price"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value <= 0):
                raise fail(f"{name} must be a positive number of paise, got {value!r}")
        kind = self.order_type
        if kind.needs_price and self.price is None:
            raise fail(f"price is required for a {kind} order")
        if not kind.needs_price and self.price is not None:
            raise fail(f"price must not be set for a {kind} order (got {self.price} paise)")
        if kind.needs_trigger and self.trigger_price is None:
            raise fail(f"trigger_price is required for a {kind} order")
        if not kind.needs_trigger and self.trigger_price is not None:
            raise fail(
                f"trigger_price must not be set for a {kind} order (got {self.trigger_price} paise)"
            )
        self._check_market_protection(fail)
        self._check_tag(fail)
        self._check_validity(fail)
        self._check_variety(fail)

    def _check_market_protection(self, fail: _Fail) -> None:
        protection = self.market_protection
        kind = self.order_type
        if not kind.needs_market_protection:
            if protection is not None:
                raise fail(f"market_protection applies only to MARKET and SL-M, not {kind}")
            return
        if protection is None:
            raise fail(
                f"market_protection is required for a {kind} order (a percentage above 0 up "
                f"to {MAX_MARKET_PROTECTION}, or {AUTO_MARKET_PROTECTION} for automatic)"
            )
        if isinstance(protection, bool) or not isinstance(protection, int | Decimal):
            raise fail(f"market_protection must be an int or Decimal, got {protection!r}")
        if protection != AUTO_MARKET_PROTECTION and not 0 < protection <= MAX_MARKET_PROTECTION:
            raise fail(
                f"market_protection {protection} is out of range: use a percentage above 0 "
                f"up to {MAX_MARKET_PROTECTION}, or {AUTO_MARKET_PROTECTION} for automatic"
            )

    def _check_tag(self, fail: _Fail) -> None:
        tag = self.tag
        if tag is None:
            return
        if not isinstance(tag, str) or not tag:
            raise fail(f"tag must be a non-empty string or None, got {tag!r}")
        if len(tag) > MAX_TAG_LENGTH:
            raise fail(f"tag {tag!r} is {len(tag)} characters; Kite allows {MAX_TAG_LENGTH}")
        if not (tag.isascii() and tag.isalnum()):
            raise fail(f"tag {tag!r} must be alphanumeric (A-Z, a-z, 0-9 only)")

    def _check_validity(self, fail: _Fail) -> None:
        ttl = self.validity_ttl
        if self.validity is Validity.TTL:
            if ttl is None or not _is_int(ttl) or ttl <= 0:
                raise fail(
                    f"validity_ttl must be a positive number of minutes for TTL, got {ttl!r}"
                )
        elif ttl is not None:
            raise fail(f"validity_ttl applies only to TTL validity, not {self.validity}")

    def _check_variety(self, fail: _Fail) -> None:
        legs, leg_quantity = self.iceberg_legs, self.iceberg_quantity
        if self.variety is Variety.ICEBERG:
            if legs is None or not _is_int(legs) or not 2 <= legs <= 50:
                raise fail(f"iceberg_legs must be from 2 to 50 for an iceberg order, got {legs!r}")
            if leg_quantity is None or not _is_int(leg_quantity) or leg_quantity <= 0:
                raise fail(f"iceberg_quantity must be a positive quantity, got {leg_quantity!r}")
            if legs * leg_quantity != self.quantity:
                raise fail(
                    f"iceberg_legs × iceberg_quantity ({legs} × {leg_quantity}) must equal "
                    f"quantity {self.quantity}"
                )
        elif legs is not None or leg_quantity is not None:
            raise fail("iceberg_legs and iceberg_quantity apply only to iceberg orders")
        if self.variety in (Variety.CO, Variety.AUCTION):
            raise fail(f"variety {self.variety} is not supported for orders Cockpit sends")

    @property
    def signed_quantity(self) -> int:
        return signed_quantity(self.side, self.quantity)


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the broker reports it (one row of ``GET /orders`` or an order update).

    ``price``/``trigger_price`` are None where they do not apply (Kite sends 0 there);
    ``average_price`` is 0 until something fills. ``placed_at`` is Kite's
    ``order_timestamp``; ``exchange_timestamp`` and ``exchange_update_timestamp`` are None
    until the exchange has seen the order.
    """

    order_id: str
    tradingsymbol: str
    exchange: Exchange
    side: Side
    quantity: int
    order_type: OrderType
    product: Product
    validity: Validity
    variety: Variety
    status: OrderStatus
    placed_at: datetime
    price: Paise | None = None
    trigger_price: Paise | None = None
    filled_quantity: int = 0
    pending_quantity: int = 0
    cancelled_quantity: int = 0
    average_price: Paise = NO_PAISE
    status_message: str | None = None
    exchange_order_id: str | None = None
    parent_order_id: str | None = None
    exchange_timestamp: datetime | None = None
    exchange_update_timestamp: datetime | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        where = f"order {self.order_id} ({self.tradingsymbol})"
        if not isinstance(self.order_id, str) or not self.order_id:
            raise ValueError(f"order for {self.tradingsymbol}: order_id must be given")
        if not isinstance(self.status, OrderStatus):
            raise ValueError(f"{where}: status must be an OrderStatus, got {self.status!r}")
        for name in ("quantity", "filled_quantity", "pending_quantity", "cancelled_quantity"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{where}: {name} must be a whole number ≥ 0, got {value!r}")
        accounted = self.filled_quantity + self.pending_quantity + self.cancelled_quantity
        if accounted > self.quantity:
            raise ValueError(
                f"{where}: filled {self.filled_quantity} + pending {self.pending_quantity} + "
                f"cancelled {self.cancelled_quantity} exceeds quantity {self.quantity}"
            )
        for name in ("price", "trigger_price"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value <= 0):
                raise ValueError(f"{where}: {name} must be positive paise or None, got {value!r}")
        if not _is_int(self.average_price) or self.average_price < 0:
            raise ValueError(
                f"{where}: average_price must be paise ≥ 0, got {self.average_price!r}"
            )
        _require_aware(self.placed_at, f"{where}: placed_at")
        for name in ("exchange_timestamp", "exchange_update_timestamp"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(value, f"{where}: {name}")

    @classmethod
    def from_request(
        cls,
        order_id: str,
        request: OrderRequest,
        *,
        status: OrderStatus,
        placed_at: datetime,
        exchange_order_id: str | None = None,
    ) -> Order:
        """The order as first acknowledged: nothing filled, the whole quantity pending."""
        return cls(
            order_id=order_id,
            tradingsymbol=request.tradingsymbol,
            exchange=request.exchange,
            side=request.side,
            quantity=request.quantity,
            order_type=request.order_type,
            product=request.product,
            validity=request.validity,
            variety=request.variety,
            status=status,
            placed_at=placed_at,
            price=request.price,
            trigger_price=request.trigger_price,
            pending_quantity=0 if status.is_terminal else request.quantity,
            exchange_order_id=exchange_order_id,
            tag=request.tag,
        )

    @property
    def remaining_quantity(self) -> int:
        """Quantity that may still fill: 0 once terminal, else quantity − filled − cancelled."""
        if self.status.is_terminal:
            return 0
        return max(self.quantity - self.filled_quantity - self.cancelled_quantity, 0)

    @property
    def signed_filled_quantity(self) -> int:
        """Filled quantity signed by side (BUY +, SELL −): this order's effect on the position."""
        return signed_quantity(self.side, self.filled_quantity)

    @property
    def signed_remaining_quantity(self) -> int:
        return signed_quantity(self.side, self.remaining_quantity)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_open(self) -> bool:
        return self.status.is_open


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (a row of Kite's ``GET /trades``): ``quantity`` units at ``price``."""

    trade_id: str
    order_id: str
    tradingsymbol: str
    exchange: Exchange
    side: Side
    quantity: int
    price: Paise
    fill_timestamp: datetime
    product: Product
    exchange_order_id: str | None = None

    def __post_init__(self) -> None:
        where = f"trade {self.trade_id} of order {self.order_id} ({self.tradingsymbol})"
        if not isinstance(self.trade_id, str) or not self.trade_id:
            raise ValueError(f"trade of order {self.order_id}: trade_id must be given")
        if not isinstance(self.order_id, str) or not self.order_id:
            raise ValueError(f"trade {self.trade_id}: order_id must be given")
        if not isinstance(self.side, Side):
            raise ValueError(f"{where}: side must be a Side, got {self.side!r}")
        if not _is_int(self.quantity) or self.quantity <= 0:
            raise ValueError(
                f"{where}: quantity must be a positive whole number, got {self.quantity!r}"
            )
        if not _is_int(self.price) or self.price <= 0:
            raise ValueError(f"{where}: price must be positive paise, got {self.price!r}")
        _require_aware(self.fill_timestamp, f"{where}: fill_timestamp")

    @property
    def signed_quantity(self) -> int:
        return signed_quantity(self.side, self.quantity)

    @property
    def value(self) -> Paise:
        """Premium exchanged, price × quantity, in paise (always positive)."""
        return Paise(self.price * self.quantity)


Trade = Fill
