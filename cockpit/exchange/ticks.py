"""Kite's binary tick packets, encoded by the paper exchange for its WebSocket.

The layout is Kite Connect v3's (pykiteconnect ``ticker.py`` ``_parse_binary`` is the reference
decoder): a frame is a big-endian uint16 packet count, then per packet a uint16 length and
the packet. Tradable instruments: 8 bytes in ``ltp`` mode, 44 in ``quote``, 184 in ``full``
(adds last trade time, OI, OI day high/low, exchange timestamp and 5+5 depth entries of
quantity int32, price int32, orders uint16, 2 pad bytes). Index instruments (segment 9):
8 / 28 / 32 bytes. Prices are int32 paise (divisor 100 for NSE/NFO); timestamps are epoch
seconds. The segment is the low byte of the instrument token.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from datetime import datetime

from cockpit.domain.market_data import DEPTH_LEVELS, DepthLevel, Quote
from cockpit.domain.money import Paise

SEGMENT_INDICES = 9
HEARTBEAT = b"\x00"

_HEADER = struct.Struct(">H")
_LTP = struct.Struct(">II")
_QUOTE = struct.Struct(">11I")
_FULL_EXTRA = struct.Struct(">5I")
_DEPTH = struct.Struct(">IIH2x")
_INDEX_QUOTE = struct.Struct(">7I")
_INDEX_FULL = struct.Struct(">8I")


class Mode(enum.StrEnum):
    LTP = "ltp"
    QUOTE = "quote"
    FULL = "full"


PACKET_SIZES = {
    (False, Mode.LTP): 8,
    (False, Mode.QUOTE): 44,
    (False, Mode.FULL): 184,
    (True, Mode.LTP): 8,
    (True, Mode.QUOTE): 28,
    (True, Mode.FULL): 32,
}


def is_index_token(token: int) -> bool:
    return token & 0xFF == SEGMENT_INDICES


def _epoch(at: datetime | None) -> int:
    return int(at.timestamp()) if at is not None else 0


def encode_packet(quote: Quote, mode: Mode, last_trade_time: datetime | None = None) -> bytes:
    """One packet (without its length prefix) for ``quote`` in ``mode``."""
    token = quote.instrument_token
    if mode is Mode.LTP:
        return _LTP.pack(token, quote.last_price)
    ohlc = quote.ohlc
    o, h, lo, c = (ohlc.open, ohlc.high, ohlc.low, ohlc.close) if ohlc else (0, 0, 0, 0)
    if is_index_token(token):
        # Index packets order high, low, open, close (unlike tradable ones), and a change field.
        change = 0
        if mode is Mode.QUOTE:
            return _INDEX_QUOTE.pack(token, quote.last_price, h, lo, o, c, change)
        return _INDEX_FULL.pack(token, quote.last_price, h, lo, o, c, change, _epoch(quote.at))
    body = _QUOTE.pack(
        token,
        quote.last_price,
        quote.last_quantity,
        quote.average_price,
        quote.volume,
        quote.total_bid_quantity,
        quote.total_ask_quantity,
        o,
        h,
        lo,
        c,
    )
    if mode is Mode.QUOTE:
        return body
    extra = _FULL_EXTRA.pack(
        _epoch(last_trade_time or quote.at),
        quote.open_interest,
        quote.open_interest,
        quote.open_interest,
        _epoch(quote.at),
    )
    return body + extra + _encode_depth(quote.bids) + _encode_depth(quote.asks)


def _encode_depth(levels: tuple[DepthLevel, ...]) -> bytes:
    padded = list(levels) + [DepthLevel(Paise(0), 0, 0)] * (DEPTH_LEVELS - len(levels))
    return b"".join(_DEPTH.pack(lv.quantity, lv.price, min(lv.orders, 0xFFFF)) for lv in padded)


def encode_frame(packets: Iterable[bytes]) -> bytes:
    """A binary WebSocket frame carrying ``packets``."""
    items = list(packets)
    if len(items) > 0xFFFF:
        raise ValueError(f"a frame holds at most 65535 packets, got {len(items)}")
    parts = [_HEADER.pack(len(items))]
    for packet in items:
        parts.append(_HEADER.pack(len(packet)))
        parts.append(packet)
    return b"".join(parts)
