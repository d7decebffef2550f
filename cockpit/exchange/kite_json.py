"""Kite Connect v3's JSON shapes for the exchange's values: orders, trades, positions, holdings,
quotes, funds and margins.

The engine keeps money as integer paise; here each money field becomes an exact rupee
``Decimal`` (written as a JSON number by :func:`cockpit.exchange.wire.dumps`) and each time
Kite's IST wall-clock text. Field names and nesting follow Kite's documentation and the
``kiteconnect-mocks`` samples (``orders.json``, ``positions.json``, ``quote.json``,
``margins.json``, ``order_margins.json``, ``basket_margins.json``), so the official client
parses them unchanged.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from cockpit.domain.market_data import DEPTH_LEVELS, DepthLevel, Quote
from cockpit.exchange.margin import BasketMargin, MarginBreakdown
from cockpit.exchange.matching import (
    KITE_ORDER_FIELDS,
    ORDER_MONEY_FIELDS,
    Funds,
    Position,
    PositionLedger,
    Trade,
    VenueOrder,
)
from cockpit.exchange.wire import kite_time, rupees

_POSITION_COUNT_FIELDS = frozenset(
    {
        "tradingsymbol",
        "exchange",
        "instrument_token",
        "product",
        "quantity",
        "overnight_quantity",
        "multiplier",
        "buy_quantity",
        "sell_quantity",
        "day_buy_quantity",
        "day_sell_quantity",
    }
)


def order(venue: VenueOrder, user_id: str) -> dict[str, Any]:
    """One order-book row (``GET /orders``, history rows and WebSocket order updates)."""
    data: dict[str, Any] = {}
    for name in KITE_ORDER_FIELDS:
        value = getattr(venue, name)
        if name in ORDER_MONEY_FIELDS:
            value = rupees(value)
        elif name in {"order_timestamp", "exchange_timestamp", "exchange_update_timestamp"}:
            value = kite_time(value)
        elif name == "tags":
            value = list(value)
        elif name == "status" or name in {
            "variety",
            "order_type",
            "transaction_type",
            "validity",
            "product",
        }:
            value = str(value)
        data[name] = value
    data["placed_by"] = user_id
    data["unfilled_quantity"] = 0
    data["guid"] = f"paper-{venue.order_id}"
    data["meta"] = {}
    data["auction_number"] = None
    return data


def order_update(venue: VenueOrder, user_id: str) -> dict[str, Any]:
    """The ``data`` of a WebSocket ``{"type": "order"}`` message: the order plus the user."""
    data = order(venue, user_id)
    data["user_id"] = user_id
    data["app_id"] = 0
    data["checksum"] = ""
    return data


def trade(item: Trade) -> dict[str, Any]:
    return {
        "trade_id": item.trade_id,
        "order_id": item.order_id,
        "exchange_order_id": item.exchange_order_id,
        "exchange": item.exchange,
        "tradingsymbol": item.tradingsymbol,
        "instrument_token": item.instrument_token,
        "product": str(item.product),
        "transaction_type": str(item.transaction_type),
        "quantity": item.quantity,
        "average_price": rupees(item.average_price),
        "fill_timestamp": kite_time(item.fill_timestamp),
        "order_timestamp": kite_time(item.order_timestamp),
        "exchange_timestamp": kite_time(item.exchange_timestamp),
    }


def position(item: Position) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields(item):
        value = getattr(item, f.name)
        if f.name in _POSITION_COUNT_FIELDS:
            data[f.name] = str(value) if f.name == "product" else value
        else:
            data[f.name] = rupees(value)
    return data


def holding(ledger: PositionLedger, last_price: int, user_id: str) -> dict[str, Any]:
    """A delivery (CNC) equity position as Kite's holdings row: shares taken on delivery from a
    stock option or future settle here, T+1 like Kite shows them."""
    quantity = ledger.quantity
    average = (
        ledger.buy_value // ledger.buy_quantity
        if quantity > 0 and ledger.buy_quantity
        else (ledger.sell_value // ledger.sell_quantity if ledger.sell_quantity else 0)
    )
    return {
        "tradingsymbol": ledger.tradingsymbol,
        "exchange": ledger.exchange,
        "instrument_token": ledger.instrument_token,
        "isin": "",
        "product": "CNC",
        "price": rupees(0),
        "quantity": quantity,
        "used_quantity": 0,
        "t1_quantity": 0,
        "realised_quantity": quantity,
        "authorised_quantity": 0,
        "opening_quantity": quantity,
        "collateral_quantity": 0,
        "collateral_type": "",
        "discrepancy": False,
        "average_price": rupees(average),
        "last_price": rupees(last_price),
        "close_price": rupees(ledger.close_price),
        "pnl": rupees(quantity * (last_price - average)),
        "day_change": rupees(0),
        "day_change_percentage": 0,
        "user_id": user_id,
    }


def _depth(levels: tuple[DepthLevel, ...]) -> list[dict[str, Any]]:
    rows = [
        {"price": rupees(level.price), "quantity": level.quantity, "orders": level.orders}
        for level in levels
    ]
    rows.extend(
        {"price": rupees(0), "quantity": 0, "orders": 0} for _ in range(DEPTH_LEVELS - len(rows))
    )
    return rows


def _ohlc(quote: Quote) -> dict[str, Any]:
    o = quote.ohlc
    if o is None:
        return {"open": rupees(0), "high": rupees(0), "low": rupees(0), "close": rupees(0)}
    return {
        "open": rupees(o.open),
        "high": rupees(o.high),
        "low": rupees(o.low),
        "close": rupees(o.close),
    }


def _net_change(quote: Quote) -> Any:
    if quote.ohlc is None or not quote.ohlc.close:
        return rupees(0)
    return rupees(quote.last_price - quote.ohlc.close)


def full_quote(quote: Quote, *, lower_circuit: int = 0, upper_circuit: int = 0) -> dict[str, Any]:
    """``GET /quote``: last price, volume, OI, OHLC and five levels of depth."""
    return {
        "instrument_token": quote.instrument_token,
        "timestamp": kite_time(quote.at),
        "last_trade_time": kite_time(quote.at),
        "last_price": rupees(quote.last_price),
        "last_quantity": quote.last_quantity,
        "buy_quantity": quote.total_bid_quantity,
        "sell_quantity": quote.total_ask_quantity,
        "volume": quote.volume,
        "average_price": rupees(quote.average_price),
        "oi": quote.open_interest,
        "oi_day_high": quote.open_interest,
        "oi_day_low": quote.open_interest,
        "net_change": _net_change(quote),
        "lower_circuit_limit": rupees(lower_circuit),
        "upper_circuit_limit": rupees(upper_circuit),
        "ohlc": _ohlc(quote),
        "depth": {"buy": _depth(quote.bids), "sell": _depth(quote.asks)},
    }


def ohlc_quote(quote: Quote) -> dict[str, Any]:
    return {
        "instrument_token": quote.instrument_token,
        "last_price": rupees(quote.last_price),
        "ohlc": _ohlc(quote),
    }


def ltp_quote(quote: Quote) -> dict[str, Any]:
    return {"instrument_token": quote.instrument_token, "last_price": rupees(quote.last_price)}


def _segment(enabled: bool, funds: Funds | None) -> dict[str, Any]:
    if funds is None:
        zero = rupees(0)
        available = {k: zero for k in _AVAILABLE_KEYS}
        utilised = {k: zero for k in _UTILISED_KEYS}
        return {"enabled": enabled, "net": zero, "available": available, "utilised": utilised}
    available = {k: rupees(0) for k in _AVAILABLE_KEYS}
    available["cash"] = rupees(funds.cash)
    available["opening_balance"] = rupees(funds.opening_balance)
    available["live_balance"] = rupees(funds.available)
    utilised = {k: rupees(0) for k in _UTILISED_KEYS}
    utilised["debits"] = rupees(funds.used)
    utilised["span"] = rupees(funds.span)
    utilised["exposure"] = rupees(funds.exposure)
    utilised["option_premium"] = rupees(funds.option_premium)
    utilised["m2m_unrealised"] = rupees(-funds.futures_pnl)
    return {
        "enabled": enabled,
        "net": rupees(funds.available),
        "available": available,
        "utilised": utilised,
    }


_AVAILABLE_KEYS = (
    "adhoc_margin",
    "cash",
    "opening_balance",
    "live_balance",
    "collateral",
    "intraday_payin",
)
_UTILISED_KEYS = (
    "debits",
    "exposure",
    "m2m_realised",
    "m2m_unrealised",
    "option_premium",
    "payout",
    "span",
    "holding_sales",
    "turnover",
    "liquid_collateral",
    "stock_collateral",
    "delivery",
)


def margins(funds: Funds, segment: str | None = None) -> dict[str, Any]:
    """``GET /user/margins[/segment]``: the equity segment carries the account (F&O margin is
    in equity at Zerodha); commodity is present and disabled."""
    equity = _segment(True, funds)
    commodity = _segment(False, None)
    if segment == "equity":
        return equity
    if segment == "commodity":
        return commodity
    return {"equity": equity, "commodity": commodity}


def _charges() -> dict[str, Any]:
    zero = rupees(0)
    return {
        "transaction_tax": zero,
        "transaction_tax_type": "stt",
        "exchange_turnover_charge": zero,
        "sebi_turnover_charge": zero,
        "brokerage": zero,
        "stamp_duty": zero,
        "gst": {"igst": zero, "cgst": zero, "sgst": zero, "total": zero},
        "total": zero,
    }


def margin_breakdown(
    breakdown: MarginBreakdown,
    *,
    exchange: str = "",
    tradingsymbol: str = "",
) -> dict[str, Any]:
    """One entry of ``POST /margins/orders`` (and the initial/final/orders of a basket)."""
    return {
        "type": "equity",
        "tradingsymbol": tradingsymbol,
        "exchange": exchange,
        "span": rupees(breakdown.span),
        "exposure": rupees(breakdown.exposure),
        "option_premium": rupees(breakdown.option_premium),
        "additional": rupees(breakdown.additional),
        "bo": rupees(0),
        "cash": rupees(0),
        "var": rupees(0),
        "pnl": {"realised": rupees(0), "unrealised": rupees(0)},
        "leverage": 1,
        "charges": _charges(),
        "total": rupees(breakdown.total),
    }


def basket(result: BasketMargin, symbols: list[tuple[str, str]], *, compact: bool) -> Any:
    orders = [
        margin_breakdown(b, exchange=ex, tradingsymbol=sym)
        for b, (ex, sym) in zip(result.orders, symbols, strict=True)
    ]
    initial = margin_breakdown(result.initial)
    final = margin_breakdown(result.final)
    if compact:
        keep = ("type", "tradingsymbol", "exchange", "total")
        orders = [{k: o[k] for k in keep} for o in orders]
        initial = {"total": initial["total"]}
        final = {"total": final["total"]}
    return {"initial": initial, "final": final, "orders": orders, "charges": _charges()}
