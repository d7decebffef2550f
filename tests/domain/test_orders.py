from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise
from cockpit.domain.orders import (
    Fill,
    InvalidOrderError,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Trade,
    Validity,
    Variety,
    signed_quantity,
)

IST = ZoneInfo("Asia/Kolkata")
AT = datetime(2026, 11, 25, 10, 0, tzinfo=IST)
SYMBOL = "NIFTY26DEC24000CE"


def request(**changes: Any) -> OrderRequest:
    fields: dict[str, Any] = {
        "tradingsymbol": SYMBOL,
        "exchange": Exchange.NFO,
        "side": Side.BUY,
        "quantity": 65,
        "order_type": OrderType.LIMIT,
        "product": Product.NRML,
        "price": Paise(10135),
    }
    fields.update(changes)
    return OrderRequest(**fields)


def message(**changes: Any) -> str:
    with pytest.raises(InvalidOrderError) as error:
        request(**changes)
    return str(error.value)


# --- wire values -------------------------------------------------------------------------


def test_enums_use_kite_wire_spellings() -> None:
    assert OrderType("SL-M") is OrderType.SL_M
    assert OrderType.SL_M.value == "SL-M"
    assert [v.value for v in Variety] == ["regular", "amo", "co", "iceberg", "auction"]
    assert [v.value for v in Validity] == ["DAY", "IOC", "TTL"]
    assert {p.value for p in Product} >= {"NRML", "MIS", "CNC"}
    assert Side("SELL") is Side.SELL
    assert OrderStatus("PUT ORDER REQ RECEIVED") is OrderStatus.PUT_ORDER_REQ_RECEIVED


def test_order_status_lists_every_status_kite_reports() -> None:
    assert {s.value for s in OrderStatus} == {
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
        "TRIGGER PENDING",
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "CANCEL PENDING",
        "AMO REQ RECEIVED",
        "UPDATE",
        "COMPLETE",
        "CANCELLED",
        "REJECTED",
    }


def test_only_complete_cancelled_and_rejected_are_terminal() -> None:
    terminal = {s for s in OrderStatus if s.is_terminal}
    assert terminal == {OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED}
    assert {s for s in OrderStatus if s.is_open} == set(OrderStatus) - terminal
    assert OrderStatus.CANCEL_PENDING.is_open  # a cancel can still lose the race to a fill
    assert OrderStatus.TRIGGER_PENDING.is_open


def test_side_opposite_and_sign() -> None:
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.opposite is Side.BUY
    assert signed_quantity(Side.BUY, 65) == 65
    assert signed_quantity(Side.SELL, 65) == -65


# --- valid requests ----------------------------------------------------------------------


def test_valid_requests_of_each_type() -> None:
    limit = request()
    assert limit.signed_quantity == 65
    sl = request(order_type=OrderType.SL, price=Paise(9000), trigger_price=Paise(9100))
    assert sl.trigger_price == 9100
    slm = request(
        order_type=OrderType.SL_M, price=None, trigger_price=Paise(9100), market_protection=-1
    )
    assert slm.price is None
    market = request(
        order_type=OrderType.MARKET, price=None, side=Side.SELL, market_protection=Decimal("2.5")
    )
    assert market.signed_quantity == -65
    ttl = request(validity=Validity.TTL, validity_ttl=5, tag="g12leg1c0")
    assert ttl.validity_ttl == 5
    iceberg = request(variety=Variety.ICEBERG, quantity=130, iceberg_legs=2, iceberg_quantity=65)
    assert iceberg.iceberg_legs == 2


# --- each bad combination names the symbol and the field ----------------------------------


def test_limit_needs_a_price() -> None:
    assert message(price=None) == f"{SYMBOL}: price is required for a LIMIT order"


def test_limit_takes_no_trigger() -> None:
    assert message(trigger_price=Paise(9000)) == (
        f"{SYMBOL}: trigger_price must not be set for a LIMIT order (got 9000 paise)"
    )


def test_sl_needs_price_and_trigger() -> None:
    assert message(order_type=OrderType.SL, trigger_price=None) == (
        f"{SYMBOL}: trigger_price is required for a SL order"
    )
    assert message(order_type=OrderType.SL, price=None, trigger_price=Paise(9000)) == (
        f"{SYMBOL}: price is required for a SL order"
    )


def test_sl_m_needs_a_trigger_and_no_price() -> None:
    assert message(order_type=OrderType.SL_M, market_protection=-1) == (
        f"{SYMBOL}: price must not be set for a SL-M order (got 10135 paise)"
    )
    assert message(order_type=OrderType.SL_M, price=None, market_protection=-1) == (
        f"{SYMBOL}: trigger_price is required for a SL-M order"
    )


def test_market_takes_no_price_and_no_trigger() -> None:
    assert message(order_type=OrderType.MARKET, market_protection=-1) == (
        f"{SYMBOL}: price must not be set for a MARKET order (got 10135 paise)"
    )
    assert message(
        order_type=OrderType.MARKET, price=None, trigger_price=Paise(5), market_protection=-1
    ) == (f"{SYMBOL}: trigger_price must not be set for a MARKET order (got 5 paise)")


def test_market_and_sl_m_need_market_protection() -> None:
    assert message(order_type=OrderType.MARKET, price=None) == (
        f"{SYMBOL}: market_protection is required for a MARKET order (a percentage above 0 "
        f"up to 100, or -1 for automatic)"
    )
    assert "market_protection is required for a SL-M order" in message(
        order_type=OrderType.SL_M, price=None, trigger_price=Paise(100)
    )


@pytest.mark.parametrize("protection", [0, 101, -2, Decimal("100.5")])
def test_market_protection_out_of_range(protection: int | Decimal) -> None:
    assert message(order_type=OrderType.MARKET, price=None, market_protection=protection) == (
        f"{SYMBOL}: market_protection {protection} is out of range: use a percentage above 0 "
        f"up to 100, or -1 for automatic"
    )


def test_market_protection_is_refused_on_limit_orders() -> None:
    assert message(market_protection=5) == (
        f"{SYMBOL}: market_protection applies only to MARKET and SL-M, not LIMIT"
    )


def test_market_protection_rejects_float() -> None:
    assert message(order_type=OrderType.MARKET, price=None, market_protection=2.5) == (
        f"{SYMBOL}: market_protection must be an int or Decimal, got 2.5"
    )


@pytest.mark.parametrize("quantity", [0, -65, 65.0, True, "65"])
def test_quantity_must_be_a_positive_int(quantity: object) -> None:
    assert message(quantity=quantity) == (
        f"{SYMBOL}: quantity must be a positive whole number, got {quantity!r}"
    )


@pytest.mark.parametrize("price", [0, -5, 101.35])
def test_prices_must_be_positive_paise(price: object) -> None:
    assert message(price=price) == (
        f"{SYMBOL}: price must be a positive number of paise, got {price!r}"
    )
    assert message(order_type=OrderType.SL, trigger_price=price) == (
        f"{SYMBOL}: trigger_price must be a positive number of paise, got {price!r}"
    )


def test_tag_longer_than_twenty_characters() -> None:
    assert message(tag="a" * 21) == (f"{SYMBOL}: tag {'a' * 21!r} is 21 characters; Kite allows 20")
    assert request(tag="a" * 20).tag == "a" * 20


@pytest.mark.parametrize("tag", ["grp-1", "grp_1", "grp 1", "autoslice:123", "grüp1"])
def test_tag_must_be_alphanumeric(tag: str) -> None:
    assert message(tag=tag) == f"{SYMBOL}: tag {tag!r} must be alphanumeric (A-Z, a-z, 0-9 only)"


def test_empty_tag_is_refused() -> None:
    assert message(tag="") == f"{SYMBOL}: tag must be a non-empty string or None, got ''"


def test_ttl_needs_minutes_and_only_ttl_takes_them() -> None:
    assert message(validity=Validity.TTL) == (
        f"{SYMBOL}: validity_ttl must be a positive number of minutes for TTL, got None"
    )
    assert (
        message(validity_ttl=5) == f"{SYMBOL}: validity_ttl applies only to TTL validity, not DAY"
    )


def test_iceberg_rules() -> None:
    assert message(variety=Variety.ICEBERG, iceberg_legs=1, iceberg_quantity=65) == (
        f"{SYMBOL}: iceberg_legs must be from 2 to 50 for an iceberg order, got 1"
    )
    assert message(variety=Variety.ICEBERG, quantity=130, iceberg_legs=2, iceberg_quantity=60) == (
        f"{SYMBOL}: iceberg_legs × iceberg_quantity (2 × 60) must equal quantity 130"
    )
    assert message(iceberg_legs=2) == (
        f"{SYMBOL}: iceberg_legs and iceberg_quantity apply only to iceberg orders"
    )


def test_unsupported_varieties_are_refused() -> None:
    assert message(variety=Variety.CO) == (
        f"{SYMBOL}: variety co is not supported for orders Cockpit sends"
    )


def test_enum_fields_must_be_enums() -> None:
    assert message(side="BUY") == f"{SYMBOL}: side must be a Side value, got 'BUY'"
    assert message(exchange="NFO") == f"{SYMBOL}: exchange must be a Exchange value, got 'NFO'"


def test_symbol_must_be_given() -> None:
    with pytest.raises(InvalidOrderError, match="tradingsymbol must be given"):
        request(tradingsymbol=" ")


def test_invalid_order_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        request(quantity=0)


# --- orders as the broker reports them ------------------------------------------------------


def test_order_from_request_starts_with_everything_pending() -> None:
    order = Order.from_request(
        "2411250001", request(tag="g1"), status=OrderStatus.OPEN, placed_at=AT
    )
    assert order.pending_quantity == 65
    assert order.filled_quantity == 0
    assert order.remaining_quantity == 65
    assert order.average_price == 0
    assert order.tag == "g1"
    assert order.is_open and not order.is_terminal


def test_remaining_quantity_after_a_partial_fill() -> None:
    order = replace(
        Order.from_request("1", request(quantity=130), status=OrderStatus.OPEN, placed_at=AT),
        filled_quantity=65,
        pending_quantity=65,
        average_price=Paise(10130),
    )
    assert order.remaining_quantity == 65
    assert order.signed_filled_quantity == 65
    assert order.signed_remaining_quantity == 65


def test_remaining_quantity_is_zero_once_terminal() -> None:
    order = replace(
        Order.from_request(
            "1", request(side=Side.SELL, quantity=130), status=OrderStatus.OPEN, placed_at=AT
        ),
        status=OrderStatus.CANCELLED,
        filled_quantity=65,
        pending_quantity=0,
        cancelled_quantity=65,
    )
    assert order.remaining_quantity == 0
    assert order.signed_filled_quantity == -65


def test_broker_orders_keep_tags_a_request_would_refuse() -> None:
    order = replace(
        Order.from_request("2", request(), status=OrderStatus.OPEN, placed_at=AT),
        tag="autoslice:1",
        parent_order_id="1",
    )
    assert order.tag == "autoslice:1"


def test_order_rejects_naive_timestamps() -> None:
    base = Order.from_request("1", request(), status=OrderStatus.OPEN, placed_at=AT)
    with pytest.raises(ValueError) as error:
        replace(base, placed_at=datetime(2026, 11, 25, 10, 0))
    assert str(error.value) == (
        f"order 1 ({SYMBOL}): placed_at must be timezone-aware, got naive 2026-11-25T10:00:00"
    )
    with pytest.raises(ValueError, match="exchange_update_timestamp must be timezone-aware"):
        replace(base, exchange_update_timestamp=datetime(2026, 11, 25, 10, 0))


def test_order_quantities_must_add_up() -> None:
    base = Order.from_request("1", request(), status=OrderStatus.OPEN, placed_at=AT)
    with pytest.raises(ValueError) as error:
        replace(base, filled_quantity=65)
    assert str(error.value) == (
        f"order 1 ({SYMBOL}): filled 65 + pending 65 + cancelled 0 exceeds quantity 65"
    )
    with pytest.raises(ValueError, match="filled_quantity must be a whole number ≥ 0"):
        replace(base, filled_quantity=-1)
    with pytest.raises(ValueError, match="average_price must be paise ≥ 0"):
        replace(base, average_price=Paise(-1))


# --- fills ------------------------------------------------------------------------------------


def fill(**changes: Any) -> Fill:
    fields: dict[str, Any] = {
        "trade_id": "T1",
        "order_id": "1",
        "tradingsymbol": SYMBOL,
        "exchange": Exchange.NFO,
        "side": Side.SELL,
        "quantity": 65,
        "price": Paise(10135),
        "fill_timestamp": AT,
        "product": Product.NRML,
    }
    fields.update(changes)
    return Fill(**fields)


def test_fill_value_and_signed_quantity() -> None:
    f = fill()
    assert f.value == 658775
    assert f.signed_quantity == -65
    assert Trade is Fill


def test_fill_rejects_naive_timestamp_and_bad_numbers() -> None:
    with pytest.raises(ValueError) as error:
        fill(fill_timestamp=datetime(2026, 11, 25, 10, 0))
    assert str(error.value) == (
        f"trade T1 of order 1 ({SYMBOL}): fill_timestamp must be timezone-aware, "
        f"got naive 2026-11-25T10:00:00"
    )
    with pytest.raises(ValueError, match="quantity must be a positive whole number, got 0"):
        fill(quantity=0)
    with pytest.raises(ValueError, match="price must be positive paise, got 0"):
        fill(price=Paise(0))
