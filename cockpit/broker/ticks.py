"""Kite Connect v3's binary market-data frames, decoded into paise and checked.

Pure functions, no I/O. A frame is a big-endian uint16 packet count, then per packet a uint16
length and the packet; a one-byte frame is a heartbeat. Packet layouts follow Kite's
"Message structure" tables (kite.trade/docs/connect/v3/websocket/) and pykiteconnect's
``_parse_binary``: tradable instruments send 8 bytes (ltp), 44 (quote) or 184 (full: last
trade time, OI, OI day high/low, exchange timestamp, then 5 bid and 5 ask entries of quantity
int32, price int32, orders int16 and 2 pad bytes); indices (segment 9, the token's low byte)
send 8, 28 or 32 bytes, with high/low/open/close in that order. Prices are int32 paise for
NSE, NFO, BSE, BFO, MCX and indices; the currency segments (CDS 3, BCD 6, NCO 12) scale by
10^7 or 10^4 instead and Cockpit does not trade them, so their packets are refused rather
than mis-scaled. Anything that is not such a frame — a truncated header, a packet length
outside 8/28/32/44/184, counts that overrun the buffer, trailing bytes, a negative price, a
zero exchange timestamp in full mode, a depth side not best-first — raises
:class:`BrokerProtocolError` naming the packet index and byte offset; no ``struct.error``,
``IndexError`` or ``ValueError`` escapes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime

from cockpit.broker.base import BrokerProtocolError, TickMode
from cockpit.clock import IST
from cockpit.domain.events import Tick
from cockpit.domain.market_data import DepthLevel, Ohlc, Quote
from cockpit.domain.money import Paise

SEGMENT_INDICES = 9
#: Segments whose int32 prices are not paise (CDS ÷10^7, BCD and NCO ÷10^4).
CURRENCY_SEGMENTS = frozenset({3, 6, 12})

LTP_SIZE = 8
INDEX_QUOTE_SIZE = 28
INDEX_FULL_SIZE = 32
QUOTE_SIZE = 44
FULL_SIZE = 184
DEPTH_ENTRY_SIZE = 12
DEPTH_OFFSET = 64

_COUNT = struct.Struct(">H")
# Signed "i" for prices (Kite documents int32 and a price is never negative, so a negative
# one is detectable corruption); unsigned "I" for the token, quantities, volume, OI and
# timestamps, as the official decoder reads them (a busy option's volume can pass 2^31).
_LTP = struct.Struct(">Ii")
_INDEX_QUOTE = struct.Struct(">Iiiiiii")
_INDEX_FULL = struct.Struct(">IiiiiiiI")
_QUOTE = struct.Struct(">IiIiIIIiiii")
_FULL = struct.Struct(">IiIiIIIiiiiIIIII" + "IiH2x" * 10)

_PACKET_MODES = {
    LTP_SIZE: TickMode.LTP,
    INDEX_QUOTE_SIZE: TickMode.QUOTE,
    INDEX_FULL_SIZE: TickMode.FULL,
    QUOTE_SIZE: TickMode.QUOTE,
    FULL_SIZE: TickMode.FULL,
}


@dataclass(frozen=True, slots=True)
class ParsedTick:
    """One decoded packet. ``quote.at`` is the exchange timestamp in full mode and the
    receive time otherwise (ltp and quote packets carry no time). ``last_trade_time`` is None
    when Kite sends 0 (nothing traded yet); ``exchange_timestamp`` is None outside full mode.
    ``total_buy_quantity``/``total_sell_quantity`` are the whole book's totals from quote and
    full packets (the quote's depth holds only the top five levels)."""

    mode: TickMode
    tradable: bool
    quote: Quote
    total_buy_quantity: int = 0
    total_sell_quantity: int = 0
    last_trade_time: datetime | None = None
    exchange_timestamp: datetime | None = None
    oi_day_high: int = 0
    oi_day_low: int = 0

    @property
    def instrument_token(self) -> int:
        return self.quote.instrument_token

    @property
    def change_percent(self) -> float:
        """Change of the last price against the previous close in percent, as Kite's client
        computes it (0 when there is no close). A ratio, not money: float is fine here."""
        ohlc = self.quote.ohlc
        if ohlc is None or ohlc.close == 0:
            return 0.0
        return (self.quote.last_price - ohlc.close) * 100 / ohlc.close


def parse_frame(data: bytes, *, received_at: datetime | None = None) -> list[ParsedTick]:
    """Decode one binary WebSocket frame. A heartbeat (one byte) gives ``[]``.

    ``received_at`` stamps ltp and quote packets, which carry no time of their own; it
    defaults to now in IST.
    """
    size = len(data)
    if size == 1:
        return []
    if size < 2:
        raise BrokerProtocolError("tick frame is empty: expected a packet count")
    at = received_at if received_at is not None else datetime.now(IST)
    (count,) = _COUNT.unpack_from(data, 0)
    ticks: list[ParsedTick] = []
    offset = 2
    for index in range(count):
        if offset + 2 > size:
            raise BrokerProtocolError(
                f"tick frame: packet {index} of {count} has no length at offset {offset} "
                f"(frame is {size} bytes)"
            )
        (length,) = _COUNT.unpack_from(data, offset)
        start = offset + 2
        if start + length > size:
            raise BrokerProtocolError(
                f"tick frame: packet {index} at offset {start} claims {length} bytes but only "
                f"{size - start} remain"
            )
        ticks.append(_parse_packet(data, start, length, index, at))
        offset = start + length
    if offset != size:
        raise BrokerProtocolError(
            f"tick frame: {size - offset} trailing bytes at offset {offset} after {count} packets"
        )
    return ticks


def to_tick(parsed: ParsedTick) -> Tick:
    """The domain :class:`Tick`: best bid and ask from the depth when the mode carries it."""
    quote = parsed.quote
    return Tick(
        at=quote.at,
        instrument_token=quote.instrument_token,
        last_price=quote.last_price,
        bid=quote.bids[0].price if quote.bids else None,
        ask=quote.asks[0].price if quote.asks else None,
        volume=quote.volume,
        oi=quote.open_interest,
    )


# ---- packets ---------------------------------------------------------------------------------


def _parse_packet(data: bytes, start: int, length: int, index: int, at: datetime) -> ParsedTick:
    mode = _PACKET_MODES.get(length)
    where = f"packet {index} at offset {start}"
    if mode is None:
        raise BrokerProtocolError(
            f"tick frame: {where} is {length} bytes; Kite sends 8, 28, 32, 44 or 184"
        )
    if length == LTP_SIZE:
        token, last = _LTP.unpack_from(data, start)
        segment = _segment(token, where)
        _check_prices(where, token, last=last)
        quote = Quote(instrument_token=token, at=at, last_price=Paise(last))
        return ParsedTick(mode=mode, tradable=segment != SEGMENT_INDICES, quote=quote)
    if length in (INDEX_QUOTE_SIZE, INDEX_FULL_SIZE):
        return _parse_index(data, start, length, where, at)
    return _parse_tradable(data, start, length, where, at)


def _parse_index(data: bytes, start: int, length: int, where: str, at: datetime) -> ParsedTick:
    exchange_time: datetime | None = None
    if length == INDEX_FULL_SIZE:
        token, last, high, low, open_, close, _change, stamp = _INDEX_FULL.unpack_from(data, start)
        exchange_time = _required_time(stamp, where, token, "exchange timestamp")
    else:
        token, last, high, low, open_, close, _change = _INDEX_QUOTE.unpack_from(data, start)
    # Bytes 24-28 carry Kite's own price change; like pykiteconnect we derive the change from
    # the close instead (change_percent), so both packet kinds agree.
    segment = _segment(token, where)
    _check_prices(where, token, last=last, open=open_, high=high, low=low, close=close)
    quote = Quote(
        instrument_token=token,
        at=exchange_time or at,
        last_price=Paise(last),
        ohlc=Ohlc(Paise(open_), Paise(high), Paise(low), Paise(close)),
    )
    return ParsedTick(
        mode=_PACKET_MODES[length],
        tradable=segment != SEGMENT_INDICES,
        quote=quote,
        exchange_timestamp=exchange_time,
    )


def _parse_tradable(data: bytes, start: int, length: int, where: str, at: datetime) -> ParsedTick:
    full = length == FULL_SIZE
    fields = (_FULL if full else _QUOTE).unpack_from(data, start)
    token, last, last_qty, average, volume, buy_qty, sell_qty, open_, high, low, close = fields[:11]
    segment = _segment(token, where)
    _check_prices(
        where, token, last=last, average=average, open=open_, high=high, low=low, close=close
    )
    ohlc = Ohlc(Paise(open_), Paise(high), Paise(low), Paise(close))
    if not full:
        quote = Quote(
            instrument_token=token,
            at=at,
            last_price=Paise(last),
            last_quantity=last_qty,
            average_price=Paise(average),
            volume=volume,
            ohlc=ohlc,
        )
        return ParsedTick(
            mode=TickMode.QUOTE,
            tradable=segment != SEGMENT_INDICES,
            quote=quote,
            total_buy_quantity=buy_qty,
            total_sell_quantity=sell_qty,
        )
    last_trade, oi, oi_high, oi_low, stamp = fields[11:16]
    exchange_time = _required_time(stamp, where, token, "exchange timestamp")
    bids = _depth_side(fields, 16, where, token, "bid")
    asks = _depth_side(fields, 31, where, token, "ask")
    try:
        quote = Quote(
            instrument_token=token,
            at=exchange_time,
            last_price=Paise(last),
            last_quantity=last_qty,
            average_price=Paise(average),
            volume=volume,
            open_interest=oi,
            ohlc=ohlc,
            bids=bids,
            asks=asks,
        )
    except ValueError as error:  # a depth side out of order
        raise BrokerProtocolError(f"tick frame: {where}: {error}") from None
    return ParsedTick(
        mode=TickMode.FULL,
        tradable=segment != SEGMENT_INDICES,
        quote=quote,
        total_buy_quantity=buy_qty,
        total_sell_quantity=sell_qty,
        last_trade_time=_time(last_trade, where, token, "last trade time") if last_trade else None,
        exchange_timestamp=exchange_time,
        oi_day_high=oi_high,
        oi_day_low=oi_low,
    )


def _depth_side(
    fields: tuple[int, ...], first: int, where: str, token: int, side: str
) -> tuple[DepthLevel, ...]:
    """Five (quantity, price, orders) entries from ``fields[first:]``; a level with no
    quantity is empty (Kite zero-fills missing levels) and is left out."""
    levels = []
    for level in range(5):
        quantity, price, orders = fields[first + 3 * level : first + 3 * level + 3]
        if quantity == 0:
            continue
        if price <= 0:
            raise BrokerProtocolError(
                f"tick frame: {where}: token {token} {side} level {level} has quantity "
                f"{quantity} at price {price} paise"
            )
        levels.append(DepthLevel(Paise(price), quantity, orders))
    return tuple(levels)


def _segment(token: int, where: str) -> int:
    segment = token & 0xFF
    if segment in CURRENCY_SEGMENTS:
        raise BrokerProtocolError(
            f"tick frame: {where}: token {token} is in currency segment {segment}, whose "
            "prices are not paise; Cockpit does not decode currency ticks"
        )
    return segment


def _check_prices(where: str, token: int, **prices: int) -> None:
    for name, value in prices.items():
        if value < 0:
            raise BrokerProtocolError(
                f"tick frame: {where}: token {token} has a negative {name} price ({value} paise)"
            )


def _required_time(stamp: int, where: str, token: int, what: str) -> datetime:
    if stamp == 0:
        raise BrokerProtocolError(f"tick frame: {where}: token {token} has a zero {what}")
    return _time(stamp, where, token, what)


def _time(stamp: int, where: str, token: int, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(stamp, IST)
    except (OverflowError, OSError, ValueError):  # a uint32 always fits; kept for platforms
        raise BrokerProtocolError(
            f"tick frame: {where}: token {token} has an impossible {what} ({stamp})"
        ) from None
