"""Kite Connect v3's wire formats on the cockpit side: envelopes in, domain values out, and the
order forms going the other way.

Everything Kite answers passes through here before the rest of Cockpit sees it, and is checked
strictly: a response that is not JSON, an envelope that is neither success nor error, a missing
or mistyped field, an enum value Cockpit does not know, an unparsable or offset-less time —
each raises :class:`~cockpit.broker.base.BrokerProtocolError` naming the endpoint, the field and
the bad value, never a bare ``KeyError``/``TypeError``/``ValueError``. Kite's error envelope
becomes the matching :class:`~cockpit.broker.base.BrokerError` subclass with Kite's message
kept verbatim (:func:`error_from_envelope`). JSON is decoded with ``parse_float=Decimal`` so no
binary float ever holds an amount. **Money rules:** prices on the tick grid — an order's
``price``/``trigger_price``, a quote's last price, OHLC and depth — become paise exactly and a
value finer than a paisa is refused; amounts Kite computes — every ``average_price`` (e.g.
``310.4375``), a position's prices, P&L, values and margins (``26000.519999999986``) — are
rounded half away from zero to a paisa (:func:`cockpit.domain.money.paise_rounded`). Kite
writes ``0`` for a price or trigger that does not apply; the
:class:`~cockpit.domain.orders.Order` gets ``None``. Times are
Kite's IST wall time ``YYYY-MM-DD HH:MM:SS`` (an ISO time with an offset is accepted too).
Values of credential fields (``access_token`` …) are never echoed in an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from cockpit.broker.base import (
    AccountMargins,
    BasketMarginEstimate,
    BrokerError,
    BrokerInputError,
    BrokerNetworkError,
    BrokerProtocolError,
    MarginEstimate,
    MarginShortfallError,
    OrderChange,
    OrderRefusedError,
    Position,
    RateLimitedError,
    TokenExpiredError,
)
from cockpit.clock import IST
from cockpit.domain.instruments import Exchange
from cockpit.domain.market_data import DepthLevel, Ohlc, Quote
from cockpit.domain.money import Paise, paise, paise_rounded, rupees
from cockpit.domain.orders import (
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
    Variety,
)

_E = TypeVar("_E", bound=StrEnum)

KITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Larger than any rupee amount a retail account will see; bounds Decimal arithmetic.
_MAX_RUPEES = Decimal(10) ** 13
_SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "enctoken",
        "public_token",
        "api_secret",
        "checksum",
        "request_token",
    }
)
_SHOWN_CHARS = 80
#: Kite's order history shows MODIFIED between a modification and the order working again; the
#: domain has no such status, so it reads as a modification in progress (open, re-read it).
_STATUS_ALIASES = {"MODIFIED": OrderStatus.MODIFY_PENDING}


# ---- showing bad values ----------------------------------------------------------------------


def _show(value: object) -> str:
    """A short description of a bad value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return f"an object with {len(value)} field(s)"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = repr(str(value)) if isinstance(value, str) else str(value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 1] + "…"
    kind = {str: "text", int: "integer", Decimal: "number"}.get(type(value), type(value).__name__)
    return f"{kind} {text}"


def _field_value(name: str, value: object) -> str:
    return "a hidden value" if name in _SECRET_FIELDS else _show(value)


# ---- JSON and envelopes ----------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number Kite sends")


def loads(body: bytes | str, where: str) -> Any:
    """Decode JSON with every non-integer number as an exact ``Decimal``."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError too
        raise BrokerProtocolError(f"{where}: the response is not valid JSON ({error})") from None


def _snippet(body: bytes) -> str:
    text = body[:120].decode("utf-8", errors="replace").strip()
    return " ".join(text.split()) or "an empty body"


def read_response(status: int, content_type: str | None, body: bytes, where: str) -> Any:
    """The ``data`` of a Kite JSON response, or the typed error its envelope (or status) says.

    A body that is not JSON raises :class:`RateLimitedError` on 429, :class:`BrokerNetworkError`
    on 5xx (a proxy's error page: the broker was not reached properly) and
    :class:`BrokerProtocolError` otherwise.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        got = media or "no content type"
        problem = f"expected JSON, got {got} (HTTP {status}): {_snippet(body)}"
        if status == 429:
            raise RateLimitedError(f"{where}: too many requests: {problem}", status=status)
        if status >= 500:
            raise BrokerNetworkError(f"{where}: broker error: {problem}", status=status)
        raise BrokerProtocolError(f"{where}: {problem}", status=status)
    document = loads(body, where)
    if not isinstance(document, dict):
        raise BrokerProtocolError(
            f"{where}: expected Kite's envelope (a JSON object), got {_show(document)}",
            status=status,
        )
    state = document.get("status")
    if state == "error" or "error_type" in document or status >= 400:
        raise error_from_envelope(status, document, where)
    if state != "success":
        raise BrokerProtocolError(
            f"{where}: envelope status must be 'success' or 'error', got {_show(state)}",
            status=status,
        )
    if "data" not in document:
        raise BrokerProtocolError(f"{where}: the success envelope has no 'data'", status=status)
    return document["data"]


_ERROR_CLASSES: dict[str, type[BrokerError]] = {
    "TokenException": TokenExpiredError,
    # A call the app or account may not make: logging in again will not help, so it is a
    # refusal of this request rather than an expired session.
    "PermissionException": BrokerInputError,
    "InputException": BrokerInputError,
    "UserException": BrokerInputError,
    "OrderException": OrderRefusedError,
    "HoldingException": OrderRefusedError,
    "MarginException": MarginShortfallError,
    "NetworkException": BrokerNetworkError,
    "DataException": BrokerNetworkError,
}


def _error_class(error_type: str, status: int) -> type[BrokerError]:
    if status == 429:
        return RateLimitedError
    known = _ERROR_CLASSES.get(error_type)
    if known is not None:
        return known
    if status == 403:
        return TokenExpiredError
    if status >= 500:
        return BrokerNetworkError  # GeneralException 500 or an unknown type: a server fault
    if status == 400:
        return BrokerInputError
    return BrokerError


def error_from_envelope(status: int, envelope: Mapping[str, Any], where: str) -> BrokerError:
    """Kite's ``{"status": "error", "message": …, "error_type": …}`` as a typed error whose
    text and ``broker_message`` carry Kite's message verbatim."""
    message = envelope.get("message")
    error_type = envelope.get("error_type")
    if not isinstance(message, str):
        message = "" if message is None else str(message)[:200]
    if not isinstance(error_type, str):
        error_type = ""
    kind = _error_class(error_type, status)
    detail = ", ".join(p for p in (error_type, f"HTTP {status}" if status else "") if p)
    said = message or "the broker gave no message"
    text = f"{where}: {said}" + (f" ({detail})" if detail else "")
    return kind(text, broker_message=message, status=status)


# ---- a checked view of one JSON object -------------------------------------------------------


class JsonObject:
    """Typed, strict access to one JSON object's fields; every problem names ``where`` and the
    field and raises :class:`BrokerProtocolError`."""

    __slots__ = ("_raw", "where")

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, dict):
            raise BrokerProtocolError(f"{where}: expected a JSON object, got {_show(raw)}")
        self._raw: dict[str, Any] = raw
        self.where = where

    def fail(self, name: str, problem: str) -> BrokerProtocolError:
        return BrokerProtocolError(f"{self.where}.{name}: {problem}")

    def _bad(self, name: str, expected: str) -> BrokerProtocolError:
        value = self._raw[name]
        return self.fail(name, f"expected {expected}, got {_field_value(name, value)}")

    def value(self, name: str) -> Any:
        """The field's raw JSON value (present, possibly null)."""
        if name not in self._raw:
            raise self.fail(name, "missing")
        return self._raw[name]

    def has(self, name: str) -> bool:
        return self._raw.get(name) is not None

    def text(self, name: str, *, empty: bool = False) -> str:
        value = self.value(name)
        if not isinstance(value, str) or (not empty and not value):
            raise self._bad(name, "text" if empty else "non-empty text")
        return value

    def optional_text(self, name: str) -> str | None:
        """Text, or None when the field is absent or null."""
        if not self.has(name):
            return None
        return self.text(name, empty=True)

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        value = self.value(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, "a whole number")
        if minimum is not None and value < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {value}")
        return value

    def choice(self, name: str, kind: type[_E], aliases: Mapping[str, _E] | None = None) -> _E:
        value = self.value(name)
        if isinstance(value, str):
            if aliases and value in aliases:
                return aliases[value]
            try:
                return kind(value)
            except ValueError:
                pass
        known = ", ".join(member.value for member in kind)
        raise self._bad(name, f"one of {known}")

    def _number(self, name: str) -> Decimal:
        value = self.value(name)
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self._bad(name, "a rupee amount (a JSON number)")
        amount = Decimal(value)
        if not amount.is_finite() or abs(amount) >= _MAX_RUPEES:
            raise self._bad(name, "a finite rupee amount")
        return amount

    def price(self, name: str) -> Paise:
        """A price on the tick grid: exact paise, never negative."""
        amount = self._number(name)
        if amount < 0:
            raise self._bad(name, "a price of 0 or more")
        try:
            return paise(amount)
        except ValueError:
            raise self._bad(name, "a price with at most two decimal places") from None

    def optional_price(self, name: str) -> Paise | None:
        """A price where Kite writes 0 (or null) for 'does not apply': None then."""
        if not self.has(name):
            if name not in self._raw:
                raise self.fail(name, "missing")
            return None
        value = self.price(name)
        return None if value == 0 else value

    def amount(self, name: str) -> Paise:
        """An amount Kite computes (averages, P&L, margins), rounded half away from zero."""
        return paise_rounded(self._number(name))

    def time(self, name: str) -> datetime:
        value = self.value(name)
        if not isinstance(value, str):
            raise self._bad(name, "a time like '2026-12-01 10:00:00'")
        try:
            return parse_kite_time(value)
        except ValueError as error:
            raise self.fail(name, str(error)) from None

    def optional_time(self, name: str) -> datetime | None:
        return self.time(name) if self.has(name) else None

    def object(self, name: str) -> JsonObject:
        return JsonObject(self.value(name), f"{self.where}.{name}")

    def array(self, name: str) -> list[Any]:
        value = self.value(name)
        if not isinstance(value, list):
            raise self._bad(name, "a list")
        return value


def parse_kite_time(text: str) -> datetime:
    """Kite's IST wall time (``2026-12-01 10:00:00``) as an aware datetime in IST.

    An ISO 8601 time with an explicit offset is accepted too; any other text — including an
    ISO time without an offset, which would be ambiguous — raises ValueError naming it.
    """
    try:
        return datetime.strptime(text, KITE_TIME_FORMAT).replace(tzinfo=IST)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected a time like '2026-12-01 10:00:00' (IST), got {_show(text)}"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"time {_show(text)} has no UTC offset and is not Kite's IST format")
    return parsed.astimezone(IST)


def _items(raw: object, where: str) -> Iterator[tuple[int, object]]:
    if not isinstance(raw, list):
        raise BrokerProtocolError(f"{where}: expected a list, got {_show(raw)}")
    return enumerate(raw)


def _build(where: str, build: Any, **values: Any) -> Any:
    """Construct a domain value; its own invariant checks become protocol errors."""
    try:
        return build(**values)
    except (ValueError, TypeError) as error:
        raise BrokerProtocolError(f"{where}: {error}") from None


# ---- orders and trades -----------------------------------------------------------------------


def order(raw: object, where: str = "order") -> Order:
    """One row of ``GET /orders``, ``GET /orders/:id`` or a WebSocket order update.

    A terminal order has nothing pending: Kite's CANCELLED rows keep the last
    ``pending_quantity`` beside ``cancelled_quantity``, so it is read as 0 there.
    """
    f = JsonObject(raw, where)
    status = f.choice("status", OrderStatus, _STATUS_ALIASES)
    pending = f.integer("pending_quantity", minimum=0)
    built: Order = _build(
        where,
        Order,
        order_id=f.text("order_id"),
        tradingsymbol=f.text("tradingsymbol"),
        exchange=f.choice("exchange", Exchange),
        side=f.choice("transaction_type", Side),
        quantity=f.integer("quantity", minimum=0),
        order_type=f.choice("order_type", OrderType),
        product=f.choice("product", Product),
        validity=f.choice("validity", Validity),
        variety=f.choice("variety", Variety),
        status=status,
        placed_at=f.time("order_timestamp"),
        price=f.optional_price("price"),
        trigger_price=f.optional_price("trigger_price"),
        filled_quantity=f.integer("filled_quantity", minimum=0),
        pending_quantity=0 if status.is_terminal else pending,
        cancelled_quantity=f.integer("cancelled_quantity", minimum=0),
        average_price=_non_negative(f, "average_price"),
        status_message=f.optional_text("status_message"),
        exchange_order_id=f.optional_text("exchange_order_id"),
        parent_order_id=f.optional_text("parent_order_id"),
        exchange_timestamp=f.optional_time("exchange_timestamp"),
        exchange_update_timestamp=f.optional_time("exchange_update_timestamp"),
        tag=f.optional_text("tag"),
    )
    return built


def _non_negative(f: JsonObject, name: str) -> Paise:
    value = f.amount(name)
    if value < 0:
        raise f.fail(name, f"must be 0 or more, got {value} paise")
    return value


def orders(raw: object, where: str = "orders") -> list[Order]:
    return [order(item, f"{where}[{i}]") for i, item in _items(raw, where)]


def fill(raw: object, where: str = "trade") -> Fill:
    """One row of ``GET /trades``: ``average_price`` is the fill price (rounded to a paisa);
    the time is ``fill_timestamp``, or ``exchange_timestamp`` where Kite sends no fill time
    (older responses). A trade's ``order_timestamp`` is a bare time of day and is not read."""
    f = JsonObject(raw, where)
    at_field = "fill_timestamp" if f.has("fill_timestamp") else "exchange_timestamp"
    built: Fill = _build(
        where,
        Fill,
        trade_id=f.text("trade_id"),
        order_id=f.text("order_id"),
        tradingsymbol=f.text("tradingsymbol"),
        exchange=f.choice("exchange", Exchange),
        side=f.choice("transaction_type", Side),
        quantity=f.integer("quantity", minimum=1),
        price=f.amount("average_price"),
        fill_timestamp=f.time(at_field),
        product=f.choice("product", Product),
        exchange_order_id=f.optional_text("exchange_order_id"),
    )
    return built


def fills(raw: object, where: str = "trades") -> list[Fill]:
    return [fill(item, f"{where}[{i}]") for i, item in _items(raw, where)]


def order_id(raw: object, where: str) -> str:
    """The ``{"order_id": …}`` a place, modify or cancel answers with."""
    return JsonObject(raw, where).text("order_id")


@dataclass(frozen=True, slots=True)
class AutosliceResult:
    """An autoslice placement: the parent id, and per child its order id or the error that
    stopped it (a child can fail alone, e.g. a MarginException)."""

    order_id: str
    children: tuple[str | BrokerError, ...]


def autoslice(raw: object, where: str = "autoslice") -> AutosliceResult:
    f = JsonObject(raw, where)
    children: list[str | BrokerError] = []
    for i, item in enumerate(f.array("children")):
        child = JsonObject(item, f"{where}.children[{i}]")
        if child.has("order_id"):
            children.append(child.text("order_id"))
            continue
        error = child.object("error")
        status = error.integer("code", minimum=0) if error.has("code") else 0
        envelope = {
            "message": error.text("message", empty=True),
            "error_type": error.optional_text("error_type") or "",
        }
        children.append(error_from_envelope(status, envelope, child.where))
    return AutosliceResult(order_id=f.text("order_id"), children=tuple(children))


# ---- portfolio and funds ---------------------------------------------------------------------


def position(raw: object, where: str = "position") -> Position:
    """One position row; ``product`` stays text (old CO/BO positions appear in the book)."""
    f = JsonObject(raw, where)
    built: Position = _build(
        where,
        Position,
        tradingsymbol=f.text("tradingsymbol"),
        exchange=f.choice("exchange", Exchange).value,
        instrument_token=f.integer("instrument_token", minimum=0),
        product=f.text("product"),
        quantity=f.integer("quantity"),
        overnight_quantity=f.integer("overnight_quantity"),
        average_price=f.amount("average_price"),
        last_price=f.amount("last_price"),
        pnl=f.amount("pnl"),
        realised=f.amount("realised"),
        unrealised=f.amount("unrealised"),
        buy_quantity=f.integer("buy_quantity", minimum=0),
        sell_quantity=f.integer("sell_quantity", minimum=0),
        buy_value=f.amount("buy_value"),
        sell_value=f.amount("sell_value"),
    )
    return built


def positions(raw: object, where: str = "positions", *, bucket: str = "net") -> list[Position]:
    """``GET /portfolio/positions``'s ``net`` (the open book) or ``day`` bucket; both buckets
    are validated whichever is returned."""
    if bucket not in ("net", "day"):
        raise ValueError(f"bucket must be 'net' or 'day', got {bucket!r}")
    f = JsonObject(raw, where)
    read = {
        name: [position(item, f"{where}.{name}[{i}]") for i, item in enumerate(f.array(name))]
        for name in ("net", "day")
    }
    return read[bucket]


def account_margins(raw: object, where: str = "margins.equity") -> AccountMargins:
    """One segment of ``GET /user/margins`` (Cockpit reads ``equity``, where F&O margin sits)."""
    f = JsonObject(raw, where)
    available = f.object("available")
    utilised = f.object("utilised")
    return AccountMargins(
        available=f.amount("net"),
        used=utilised.amount("debits"),
        cash=available.amount("cash"),
        opening_balance=available.amount("opening_balance"),
        span=utilised.amount("span"),
        exposure=utilised.amount("exposure"),
        option_premium=utilised.amount("option_premium"),
    )


def margin_estimate(raw: object, where: str = "margin") -> MarginEstimate:
    """One entry of ``POST /margins/orders`` (or a basket's initial, final and orders)."""
    f = JsonObject(raw, where)
    return MarginEstimate(
        span=f.amount("span"),
        exposure=f.amount("exposure"),
        option_premium=f.amount("option_premium"),
        additional=f.amount("additional"),
        total=f.amount("total"),
    )


def margin_estimates(raw: object, where: str = "margins") -> list[MarginEstimate]:
    return [margin_estimate(item, f"{where}[{i}]") for i, item in _items(raw, where)]


def basket(raw: object, where: str = "basket") -> BasketMarginEstimate:
    """``POST /margins/basket`` (the full mode, not ``mode=compact``)."""
    f = JsonObject(raw, where)
    return BasketMarginEstimate(
        initial=margin_estimate(f.value("initial"), f"{where}.initial"),
        final=margin_estimate(f.value("final"), f"{where}.final"),
        orders=tuple(margin_estimates(f.array("orders"), f"{where}.orders")),
    )


# ---- market data -----------------------------------------------------------------------------


def _depth_side(raw: object, where: str) -> tuple[DepthLevel, ...]:
    levels = []
    for i, item in _items(raw, where):
        f = JsonObject(item, f"{where}[{i}]")
        price, quantity = f.price("price"), f.integer("quantity", minimum=0)
        orders_count = f.integer("orders", minimum=0)
        if price == 0 and quantity == 0:
            continue  # Kite pads the five levels with zeros where nobody quotes
        levels.append(DepthLevel(price=price, quantity=quantity, orders=orders_count))
    return tuple(levels)


def quote(raw: object, key: str) -> Quote:
    """One instrument of ``GET /quote`` (full mode: last trade, OHLC, five levels of depth)."""
    where = f"quote[{key!r}]"
    f = JsonObject(raw, where)
    ohlc_fields = f.object("ohlc")
    depth = f.object("depth")
    built: Quote = _build(
        where,
        Quote,
        instrument_token=f.integer("instrument_token", minimum=1),
        at=f.time("timestamp"),
        last_price=f.price("last_price"),
        last_quantity=f.integer("last_quantity", minimum=0),
        average_price=f.amount("average_price"),
        volume=f.integer("volume", minimum=0),
        open_interest=f.integer("oi", minimum=0),
        ohlc=Ohlc(
            open=ohlc_fields.price("open"),
            high=ohlc_fields.price("high"),
            low=ohlc_fields.price("low"),
            close=ohlc_fields.price("close"),
        ),
        bids=_depth_side(depth.array("buy"), f"{where}.depth.buy"),
        asks=_depth_side(depth.array("sell"), f"{where}.depth.sell"),
    )
    return built


def quotes(raw: object, where: str = "quote") -> dict[str, Quote]:
    """``GET /quote``'s data: ``EXCHANGE:TRADINGSYMBOL`` → quote (unknown keys are absent)."""
    if not isinstance(raw, dict):
        raise BrokerProtocolError(f"{where}: expected an object of quotes, got {_show(raw)}")
    return {str(key): quote(value, str(key)) for key, value in raw.items()}


# ---- outbound --------------------------------------------------------------------------------


def _amount_text(value: Paise) -> str:
    return str(rupees(value))


def _protection_text(value: int | Decimal) -> str:
    return str(value) if isinstance(value, int) else format(value, "f")


def order_form(request: OrderRequest) -> dict[str, str]:
    """The form fields of ``POST /orders/:variety`` for a (validated) request; rupees are
    written from paise exactly (``10135`` → ``"101.35"``)."""
    form = {
        "tradingsymbol": request.tradingsymbol,
        "exchange": request.exchange.value,
        "transaction_type": request.side.value,
        "order_type": request.order_type.value,
        "quantity": str(request.quantity),
        "product": request.product.value,
        "validity": request.validity.value,
    }
    if request.price is not None:
        form["price"] = _amount_text(request.price)
    if request.trigger_price is not None:
        form["trigger_price"] = _amount_text(request.trigger_price)
    if request.market_protection is not None:
        form["market_protection"] = _protection_text(request.market_protection)
    if request.validity_ttl is not None:
        form["validity_ttl"] = str(request.validity_ttl)
    if request.iceberg_legs is not None and request.iceberg_quantity is not None:
        form["iceberg_legs"] = str(request.iceberg_legs)
        form["iceberg_quantity"] = str(request.iceberg_quantity)
    if request.tag is not None:
        form["tag"] = request.tag
    return form


#: Kite rejects MARKET and SL-M without market protection (since 1 Apr 2026); a modification
#: to one of them carries Kite's automatic protection.
AUTO_MARKET_PROTECTION = "-1"


def modify_form(change: OrderChange) -> dict[str, str]:
    """The form fields of ``PUT /orders/:variety/:order_id``: only what changes."""
    form: dict[str, str] = {}
    if change.quantity is not None:
        form["quantity"] = str(change.quantity)
    if change.price is not None:
        form["price"] = _amount_text(change.price)
    if change.trigger_price is not None:
        form["trigger_price"] = _amount_text(change.trigger_price)
    if change.order_type is not None:
        form["order_type"] = change.order_type.value
        if change.order_type.needs_market_protection:
            form["market_protection"] = AUTO_MARKET_PROTECTION
    return form


def _json_value(value: str | int | Decimal) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")  # a JSON number, written exactly (no float in between)
    return json.dumps(value)


def margin_orders_json(requests: Sequence[OrderRequest]) -> str:
    """The JSON body of ``POST /margins/orders`` and ``/margins/basket``: a list of orders with
    prices as exact JSON numbers."""
    rows = []
    for request in requests:
        row: dict[str, str | int | Decimal] = {
            "exchange": request.exchange.value,
            "tradingsymbol": request.tradingsymbol,
            "transaction_type": request.side.value,
            "variety": request.variety.value,
            "product": request.product.value,
            "order_type": request.order_type.value,
            "quantity": request.quantity,
        }
        if request.price is not None:
            row["price"] = rupees(request.price)
        if request.trigger_price is not None:
            row["trigger_price"] = rupees(request.trigger_price)
        fields = ",".join(f"{json.dumps(key)}:{_json_value(value)}" for key, value in row.items())
        rows.append("{" + fields + "}")
    return "[" + ",".join(rows) + "]"


__all__ = [
    "KITE_TIME_FORMAT",
    "AutosliceResult",
    "JsonObject",
    "account_margins",
    "autoslice",
    "basket",
    "error_from_envelope",
    "fill",
    "fills",
    "loads",
    "margin_estimate",
    "margin_estimates",
    "margin_orders_json",
    "modify_form",
    "order",
    "order_form",
    "order_id",
    "orders",
    "parse_kite_time",
    "position",
    "positions",
    "quote",
    "quotes",
    "read_response",
]
