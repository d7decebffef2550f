"""Kite's published sample responses decode into the numbers a trader would check by hand, and
every malformed payload is a BrokerProtocolError naming the field — never a KeyError."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.broker import payloads
from cockpit.broker.base import (
    BrokerError,
    BrokerInputError,
    BrokerNetworkError,
    BrokerProtocolError,
    MarginShortfallError,
    OrderChange,
    OrderRefusedError,
    RateLimitedError,
    TokenExpiredError,
)
from cockpit.clock import IST
from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise
from cockpit.domain.orders import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
    Variety,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kite"
JSON = "application/json"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def data(name: str) -> Any:
    return payloads.read_response(200, JSON, body(name), name)


def ist(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)


# ---- fixtures: orders and trades ---------------------------------------------------------------


def test_order_book_sample_decodes_statuses_prices_and_times() -> None:
    book = payloads.orders(data("orders.json"), "GET /orders")
    assert [o.order_id for o in book][:3] == [
        "100000000000000",
        "300000000000000",
        "500000000000000",
    ]
    cancelled, limit_buy, market_sell, rejected, gold, _, auction = book

    # A CANCELLED order: Kite leaves pending_quantity 1 beside cancelled 1; nothing is pending.
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.exchange is Exchange.CDS
    assert (
        cancelled.filled_quantity,
        cancelled.pending_quantity,
        cancelled.cancelled_quantity,
    ) == (
        0,
        0,
        1,
    )
    assert cancelled.price == Paise(7200)
    assert cancelled.trigger_price is None  # Kite's 0 means "does not apply"
    assert cancelled.placed_at == ist("2021-05-31 09:18:57")
    assert cancelled.exchange_timestamp == ist("2021-05-31 09:15:38")
    assert cancelled.exchange_update_timestamp == ist("2021-05-31 09:18:58")

    assert limit_buy.status is OrderStatus.COMPLETE
    assert (limit_buy.price, limit_buy.average_price) == (10940, 10940)
    assert limit_buy.product is Product.CNC

    assert market_sell.order_type is OrderType.MARKET
    assert market_sell.side is Side.SELL
    assert market_sell.price is None
    assert market_sell.average_price == 10935

    assert rejected.status is OrderStatus.REJECTED
    assert rejected.variety is Variety.ICEBERG and rejected.validity is Validity.TTL
    assert rejected.status_message == (
        "Insufficient funds. Required margin is 95417.84 but available margin is 74251.80. "
        "Check the orderbook for open orders."
    )
    assert rejected.exchange_order_id is None and rejected.exchange_timestamp is None
    assert rejected.tag == "icebergord"
    assert rejected.price == 46300

    assert gold.exchange is Exchange.MCX and gold.tag == "connect test order1"
    assert (gold.price, gold.average_price) == (485400, 485200)

    assert auction.variety is Variety.AUCTION
    assert (auction.quantity, auction.pending_quantity) == (60, 0)
    assert auction.placed_at.tzinfo is IST


def test_order_history_sample_reads_each_state_change_and_the_modified_price() -> None:
    history = payloads.orders(data("order_info.json"), "GET /orders/171229000724687")
    statuses = [row.status for row in history]
    assert statuses == [
        OrderStatus.PUT_ORDER_REQ_RECEIVED,
        OrderStatus.VALIDATION_PENDING,
        OrderStatus.OPEN_PENDING,
        OrderStatus.OPEN,
        OrderStatus.MODIFY_VALIDATION_PENDING,
        OrderStatus.MODIFY_PENDING,
        OrderStatus.MODIFY_PENDING,  # Kite's "MODIFIED" row
        OrderStatus.OPEN,
    ]
    assert all(row.is_open for row in history)
    assert history[0].price == 30000 and history[-1].price == 30010
    assert history[0].exchange_order_id is None
    assert history[-1].exchange_order_id == "1300000001887410"
    assert history[-1].placed_at == ist("2017-12-29 11:08:16")
    assert history[-1].remaining_quantity == 1


def test_trade_samples_decode_price_in_paise_and_fall_back_to_the_exchange_time() -> None:
    for name in ("trades.json", "order_trades.json"):
        (trade,) = payloads.fills(data(name), name)
        assert trade.trade_id == "75894751"
        assert trade.order_id == "171229000724687"
        assert (trade.side, trade.quantity, trade.price) == (Side.BUY, 1, 31070)
        assert trade.fill_timestamp == ist("2017-12-29 12:02:05")
        assert trade.exchange_order_id == "1300000001887410"
        assert trade.value == 31070


def test_a_trade_prefers_fill_timestamp_and_rounds_a_long_average_half_up() -> None:
    row = {
        "trade_id": "T1",
        "order_id": "O1",
        "exchange": "NFO",
        "tradingsymbol": "NIFTY26D0124000CE",
        "transaction_type": "SELL",
        "product": "NRML",
        "quantity": 65,
        "average_price": Decimal("310.4375"),
        "fill_timestamp": "2026-12-01 10:00:05",
        "exchange_timestamp": "2026-12-01 10:00:04",
    }
    trade = payloads.fill(row)
    assert trade.price == 31044  # 310.4375 → 310.44
    assert trade.fill_timestamp == ist("2026-12-01 10:00:05")
    row["average_price"] = Decimal("310.435")
    assert payloads.fill(row).price == 31044  # half up
    row["average_price"] = Decimal("310.4349")
    assert payloads.fill(row).price == 31043


def test_place_and_autoslice_answers() -> None:
    assert payloads.order_id(data("order_response.json"), "place") == "151220000000000"
    result = payloads.autoslice(data("autoslice_response.json"))
    assert result.order_id == "250401000000001"
    first, second, failed = result.children
    assert (first, second) == ("250401000000002", "250401000000003")
    assert isinstance(failed, MarginShortfallError)
    assert failed.status == 400
    assert failed.broker_message.startswith("Insufficient funds. Required margin is 95417.84")


# ---- fixtures: portfolio, funds, margins, quotes, session ------------------------------------


def test_positions_sample_reads_the_net_bucket_in_paise() -> None:
    net = payloads.positions(data("positions.json"))
    assert [p.tradingsymbol for p in net] == ["LEADMINI17DECFUT", "GOLDGUINEA17DECFUT", "SBIN"]
    lead, gold, sbin = net
    assert (lead.exchange, lead.instrument_token, lead.product) == ("MCX", 53496327, "NRML")
    assert (lead.quantity, lead.average_price, lead.last_price) == (1, 16105, 16105)
    assert lead.buy_value == 16105000 and lead.sell_value == 0
    assert (gold.quantity, gold.overnight_quantity) == (0, 3)
    assert (gold.pnl, gold.unrealised, gold.realised) == (80100, 80100, 0)
    assert (gold.buy_quantity, gold.sell_quantity) == (4, 4)
    assert (gold.buy_value, gold.sell_value) == (9255900, 9336000)
    assert sbin.product == "CO" and sbin.pnl == -200 and sbin.last_price == 30840
    day = payloads.positions(data("positions.json"), bucket="day")
    assert day[0].quantity == -3 and day[0].average_price == 2334000


def test_funds_sample_reads_the_equity_segment_and_rounds_float_noise() -> None:
    margins = payloads.account_margins(data("user_margins.json")["equity"])
    assert margins.available == 9972505  # 99725.05000000002
    assert margins.used == 14570655
    assert margins.cash == 24543160
    assert margins.opening_balance == 24543160
    assert (margins.span, margins.exposure, margins.option_premium) == (10198900, 3898125, 0)


def test_order_and_basket_margin_samples() -> None:
    (infy,) = payloads.margin_estimates(data("order_margins.json"))
    assert (infy.span, infy.exposure, infy.additional, infy.total) == (0, 0, 0, 149800)
    basket = payloads.basket(data("basket_margins.json"))
    assert basket.initial.total == 18885477
    assert (basket.initial.span, basket.initial.exposure) == (13225758, 5659719)
    assert basket.final.total == 3545321  # 35453.209999999985
    assert (basket.final.span, basket.final.exposure) == (2600052, 945269)
    assert [o.total for o in basket.orders] == [16049670, 2835807]
    assert basket.orders[0].exposure == 2823912


def test_full_quote_sample_decodes_depth_best_first() -> None:
    quotes = payloads.quotes(data("quote.json"))
    infy = quotes["NSE:INFY"]
    assert infy.instrument_token == 408065
    assert infy.at == ist("2018-01-12 10:40:29")
    assert (infy.last_price, infy.last_quantity, infy.volume) == (107480, 55, 1368065)
    assert infy.average_price == 107703
    assert infy.ohlc is not None
    assert (infy.ohlc.open, infy.ohlc.high, infy.ohlc.low, infy.ohlc.close) == (
        108580,
        108590,
        107090,
        107580,
    )
    assert [level.price for level in infy.bids] == [107480, 107465, 107460, 107450, 107445]
    assert [level.price for level in infy.asks] == [107485, 107500, 107510, 107520, 107525]
    assert infy.best_ask is not None and infy.best_ask.quantity == 32
    assert infy.spread == 5
    assert infy.total_bid_quantity == 35 + 5 + 14 + 1529 + 139


def test_empty_depth_levels_are_left_out() -> None:
    raw = json.loads(body("quote.json"), parse_float=Decimal)["data"]["NSE:INFY"]
    raw["depth"]["sell"] = [{"price": 0, "quantity": 0, "orders": 0}] * 5
    quote = payloads.quote(raw, "NSE:INFY")
    assert quote.asks == () and quote.mid is None


# ---- envelopes and errors ----------------------------------------------------------------------


def test_error_envelopes_become_typed_errors_with_kites_words() -> None:
    with pytest.raises(TokenExpiredError) as token:
        payloads.read_response(403, JSON, body("error_token.json"), "GET /orders")
    assert token.value.broker_message == "Incorrect `api_key` or `access_token`."
    assert token.value.status == 403
    assert "Incorrect `api_key` or `access_token`." in str(token.value)
    assert str(token.value).startswith("GET /orders: ")

    with pytest.raises(MarginShortfallError) as margin:
        payloads.read_response(400, JSON, body("error_margin.json"), "place")
    assert "Required margin is 95417.84" in str(margin.value)


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (400, "InputException", BrokerInputError),
        (400, "OrderException", OrderRefusedError),
        (400, "MarginException", MarginShortfallError),
        (400, "HoldingException", OrderRefusedError),
        (403, "TokenException", TokenExpiredError),
        (403, "", TokenExpiredError),
        (403, "PermissionException", BrokerInputError),
        (429, "NetworkException", RateLimitedError),
        (429, "", RateLimitedError),
        (502, "DataException", BrokerNetworkError),
        (503, "NetworkException", BrokerNetworkError),
        (500, "GeneralException", BrokerNetworkError),
        (404, "GeneralException", BrokerError),
    ],
)
def test_error_type_and_status_choose_the_error_class(
    status: int, error_type: str, expected: type[BrokerError]
) -> None:
    envelope = {"status": "error", "message": "Kite says no.", "error_type": error_type}
    with pytest.raises(BrokerError) as raised:
        payloads.read_response(status, JSON, json.dumps(envelope).encode(), "GET /x")
    assert type(raised.value) is expected
    assert raised.value.broker_message == "Kite says no."
    assert "Kite says no." in str(raised.value)


def test_non_json_answers() -> None:
    with pytest.raises(BrokerProtocolError, match=r"GET /orders: expected JSON, got text/html"):
        payloads.read_response(200, "text/html", b"<html>hi</html>", "GET /orders")
    with pytest.raises(BrokerNetworkError, match="HTTP 502"):
        payloads.read_response(502, "text/html", b"<html>Bad gateway</html>", "GET /orders")
    with pytest.raises(RateLimitedError):
        payloads.read_response(429, "text/plain", b"Too many requests", "GET /quote")
    with pytest.raises(BrokerProtocolError, match="not valid JSON"):
        payloads.read_response(200, JSON, b'{"status": "success", "data": ', "GET /orders")
    with pytest.raises(BrokerProtocolError, match="not valid JSON"):
        payloads.read_response(200, JSON, b'{"status":"success","data":NaN}', "GET /orders")
    with pytest.raises(BrokerProtocolError, match="'success' or 'error'"):
        payloads.read_response(200, JSON, b'{"status": "ok", "data": 1}', "GET /orders")
    with pytest.raises(BrokerProtocolError, match="no 'data'"):
        payloads.read_response(200, JSON, b'{"status": "success"}', "GET /orders")


def good_order() -> dict[str, Any]:
    return dict(json.loads(body("orders.json"), parse_float=Decimal)["data"][1])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("status", "HALF DONE", r"order\.status: expected one of .*got text 'HALF DONE'"),
        ("status", None, r"order\.status: expected one of .*got null"),
        ("exchange", "NYSE", r"order\.exchange: expected one of NSE.*got text 'NYSE'"),
        ("quantity", "1", r"order\.quantity: expected a whole number, got text '1'"),
        ("quantity", True, r"order\.quantity: expected a whole number, got true"),
        ("quantity", -1, r"order\.quantity: must be at least 0, got -1"),
        ("price", "109.4", r"order\.price: expected a rupee amount .*got text '109.4'"),
        ("price", Decimal("109.405"), r"order\.price: .*at most two decimal places.*109.405"),
        ("price", Decimal("-1"), r"order\.price: expected a price of 0 or more"),
        ("order_timestamp", "31/05/2021 09:18", r"order\.order_timestamp: expected a time"),
        ("order_timestamp", "2021-05-31T09:18:57", r"has no UTC offset"),
        ("order_timestamp", 1622432937, r"order\.order_timestamp: expected a time"),
        ("filled_quantity", 5, r"filled 5 \+ pending 0 \+ cancelled 0 exceeds quantity 1"),
        ("order_id", "", r"order\.order_id: expected non-empty text"),
    ],
)
def test_a_bad_order_field_names_the_field_and_the_value(
    field: str, value: object, message: str
) -> None:
    row = good_order()
    row[field] = value
    with pytest.raises(BrokerProtocolError, match=message):
        payloads.order(row)


def test_a_missing_field_is_named() -> None:
    row = good_order()
    del row["transaction_type"]
    with pytest.raises(BrokerProtocolError, match=r"GET /orders\[2\]\.transaction_type: missing"):
        payloads.orders([good_order(), good_order(), row], "GET /orders")


def test_an_iso_time_with_an_offset_is_accepted() -> None:
    row = good_order()
    row["order_timestamp"] = "2021-05-31T03:50:28+00:00"
    assert payloads.order(row).placed_at == ist("2021-05-31 09:20:28")


def test_credential_values_are_not_echoed_in_errors() -> None:
    with pytest.raises(BrokerProtocolError) as raised:
        payloads.JsonObject({"access_token": 12345678901234}, "POST /session/token").text(
            "access_token"
        )
    assert "12345678901234" not in str(raised.value)
    assert "hidden" in str(raised.value)


# ---- outbound --------------------------------------------------------------------------------


def test_order_form_writes_exact_rupees_and_every_kite_field() -> None:
    request = OrderRequest(
        tradingsymbol="NIFTY26D0124000CE",
        exchange=Exchange.NFO,
        side=Side.BUY,
        quantity=130,
        order_type=OrderType.SL,
        product=Product.NRML,
        price=Paise(10135),
        trigger_price=Paise(10100),
        tag="ck1",
    )
    assert payloads.order_form(request) == {
        "tradingsymbol": "NIFTY26D0124000CE",
        "exchange": "NFO",
        "transaction_type": "BUY",
        "order_type": "SL",
        "quantity": "130",
        "product": "NRML",
        "validity": "DAY",
        "price": "101.35",
        "trigger_price": "101.00",
        "tag": "ck1",
    }
    market = OrderRequest(
        tradingsymbol="NIFTY26D0124000CE",
        exchange=Exchange.NFO,
        side=Side.SELL,
        quantity=65,
        order_type=OrderType.MARKET,
        product=Product.NRML,
        market_protection=Decimal("2.5"),
    )
    form = payloads.order_form(market)
    assert form["market_protection"] == "2.5" and "price" not in form


def test_modify_form_sends_only_changes_and_protects_a_switch_to_market() -> None:
    assert payloads.modify_form(OrderChange(price=Paise(5))) == {"price": "0.05"}
    assert payloads.modify_form(OrderChange(order_type=OrderType.MARKET, quantity=65)) == {
        "quantity": "65",
        "order_type": "MARKET",
        "market_protection": "-1",
    }


def test_margin_orders_json_is_exact() -> None:
    request = OrderRequest(
        tradingsymbol="NIFTY26D0124000CE",
        exchange=Exchange.NFO,
        side=Side.SELL,
        quantity=65,
        order_type=OrderType.LIMIT,
        product=Product.NRML,
        price=Paise(1234567),
    )
    text = payloads.margin_orders_json([request, request])
    decoded = json.loads(text, parse_float=Decimal)
    assert len(decoded) == 2
    assert decoded[0]["price"] == Decimal("12345.67")
    assert '"price":12345.67' in text
    assert decoded[0]["variety"] == "regular" and decoded[0]["quantity"] == 65
    assert payloads.margin_orders_json([]) == "[]"


# ---- property: nothing but BrokerProtocolError -------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d) < Decimal(10) ** 30
    )
    | st.sampled_from(
        [
            "",
            "NSE",
            "NFO",
            "BUY",
            "SELL",
            "LIMIT",
            "COMPLETE",
            "OPEN",
            "MODIFIED",
            "regular",
            "DAY",
            "NRML",
            "2026-12-01 10:00:00",
            "2026-12-01T10:00:00",
            "2026-13-01 10:00:00",
            "12:02:05",
        ]
    )
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = sorted(
    {
        *good_order(),
        "trade_id",
        "fill_timestamp",
        "net",
        "day",
        "available",
        "utilised",
        "span",
        "exposure",
        "option_premium",
        "additional",
        "total",
        "initial",
        "final",
        "orders",
        "timestamp",
        "last_price",
        "last_quantity",
        "volume",
        "oi",
        "ohlc",
        "depth",
        "buy",
        "sell",
        "open",
        "high",
        "low",
        "close",
        "children",
        "error",
        "code",
        "message",
    }
)
RANDOM_OBJECTS = st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_VALUES, max_size=30)

DECODERS = [
    payloads.order,
    payloads.fill,
    payloads.position,
    payloads.positions,
    payloads.account_margins,
    payloads.margin_estimate,
    payloads.basket,
    payloads.quotes,
    payloads.autoslice,
    payloads.orders,
    lambda raw: payloads.quote(raw, "NFO:X"),
    lambda raw: payloads.order_id(raw, "place"),
]


def mutated(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A real payload with some fields dropped and some replaced by random JSON."""

    def mutate(draw: st.DrawFn) -> dict[str, Any]:
        row = dict(base)
        for key in draw(st.lists(st.sampled_from(sorted(row)), max_size=3)):
            row.pop(key, None)
        for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=3)):
            row[key] = draw(JSON_VALUES)
        return row

    return st.composite(mutate)()


QUOTE_ROW = json.loads(body("quote.json"), parse_float=Decimal)["data"]["NSE:INFY"]
TRADE_ROW = json.loads(body("trades.json"), parse_float=Decimal)["data"][0]
POSITION_ROW = json.loads(body("positions.json"), parse_float=Decimal)["data"]["net"][1]


@settings(max_examples=300, deadline=None)
@given(
    raw=RANDOM_OBJECTS
    | JSON_VALUES
    | mutated(good_order())
    | mutated(QUOTE_ROW)
    | mutated(TRADE_ROW)
    | mutated(POSITION_ROW),
    decoder=st.sampled_from(DECODERS),
)
def test_any_payload_decodes_or_raises_broker_protocol_error(raw: object, decoder: Any) -> None:
    with contextlib.suppress(BrokerProtocolError):
        decoder(raw)


@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from([200, 201, 400, 403, 404, 429, 500, 502, 503]),
    content_type=st.sampled_from([JSON, "application/json; charset=utf-8", "text/html", None]),
    raw=st.binary(max_size=60) | JSON_VALUES.map(lambda v: json.dumps(v, default=str).encode()),
)
def test_any_response_is_data_or_a_broker_error(
    status: int, content_type: str | None, raw: bytes
) -> None:
    with contextlib.suppress(BrokerError):
        payloads.read_response(status, content_type, raw, "GET /x")
