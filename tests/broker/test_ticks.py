"""Kite's binary tick frames: fixtures from Kite's documented layout and from the paper
exchange's encoder decode to the expected paise and agree field by field with the official
decoder (pykiteconnect's ``_parse_binary``); malformed frames raise BrokerProtocolError naming
where; fuzzed bytes never raise anything else."""

from __future__ import annotations

import json
import struct
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kiteconnect import KiteTicker

from cockpit.broker.base import BrokerProtocolError, TickMode
from cockpit.broker.ticks import ParsedTick, parse_frame, to_tick
from cockpit.clock import IST
from cockpit.domain.market_data import DepthLevel, Ohlc, Quote
from cockpit.domain.money import Paise
from cockpit.exchange.ticks import Mode, encode_frame, encode_packet

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kite_ticks"
RECEIVED = datetime(2026, 12, 1, 11, 0, 0, tzinfo=IST)


def _frames(name: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())["frames"]
    return frames


VALID = [
    pytest.param(frame, id=f"{source}:{frame['name']}")
    for source in ("kite_documented.json", "paper_exchange.json")
    for frame in _frames(source)
]
MALFORMED = [pytest.param(frame, id=frame["name"]) for frame in _frames("malformed.json")]


def _epoch(at: datetime | None) -> int:
    return int(at.timestamp()) if at is not None else 0


def _levels(levels: tuple[DepthLevel, ...]) -> list[list[int]]:
    return [[level.price, level.quantity, level.orders] for level in levels]


def _as_expected(tick: ParsedTick) -> dict[str, Any]:
    """The decoded tick in the fixture's vocabulary (only the keys the mode carries)."""
    quote = tick.quote
    out: dict[str, Any] = {
        "instrument_token": quote.instrument_token,
        "mode": str(tick.mode),
        "tradable": tick.tradable,
        "last_price": quote.last_price,
    }
    if tick.mode is not TickMode.LTP:
        assert quote.ohlc is not None
        out["ohlc"] = [quote.ohlc.open, quote.ohlc.high, quote.ohlc.low, quote.ohlc.close]
        if tick.tradable:
            out |= {
                "last_quantity": quote.last_quantity,
                "average_price": quote.average_price,
                "volume": quote.volume,
                "total_buy_quantity": tick.total_buy_quantity,
                "total_sell_quantity": tick.total_sell_quantity,
            }
    if tick.mode is TickMode.FULL:
        out["exchange_timestamp"] = _epoch(tick.exchange_timestamp)
        if tick.tradable:
            out |= {
                "last_trade_time": _epoch(tick.last_trade_time),
                "oi": quote.open_interest,
                "oi_day_high": tick.oi_day_high,
                "oi_day_low": tick.oi_day_low,
                "bids": _levels(quote.bids),
                "asks": _levels(quote.asks),
            }
    return out


def _rupees(paise: int) -> float:
    return paise / 100.0  # exactly what Kite's decoder computes for NSE/NFO/indices


def _kite_epoch(value: datetime | None) -> int | None:
    # pykiteconnect builds naive local datetimes with fromtimestamp(); timestamp() inverts it.
    return None if value is None else round(value.timestamp())


def assert_agrees_with_kite(ours: ParsedTick, kite: dict[str, Any]) -> None:
    quote = ours.quote
    assert kite["instrument_token"] == quote.instrument_token
    assert kite["mode"] == str(ours.mode)
    assert kite["tradable"] is ours.tradable
    assert kite["last_price"] == _rupees(quote.last_price)
    if ours.mode is TickMode.LTP:
        return
    assert quote.ohlc is not None
    assert kite["ohlc"] == {
        "open": _rupees(quote.ohlc.open),
        "high": _rupees(quote.ohlc.high),
        "low": _rupees(quote.ohlc.low),
        "close": _rupees(quote.ohlc.close),
    }
    assert kite["change"] == pytest.approx(ours.change_percent, rel=1e-9, abs=1e-12)
    if ours.tradable:
        assert kite["last_traded_quantity"] == quote.last_quantity
        assert kite["average_traded_price"] == _rupees(quote.average_price)
        assert kite["volume_traded"] == quote.volume
        assert kite["total_buy_quantity"] == ours.total_buy_quantity
        assert kite["total_sell_quantity"] == ours.total_sell_quantity
    if ours.mode is not TickMode.FULL:
        return
    assert _kite_epoch(kite["exchange_timestamp"]) == _epoch(ours.exchange_timestamp)
    if not ours.tradable:
        return
    assert _kite_epoch(kite["last_trade_time"]) == _epoch(ours.last_trade_time)
    assert (kite["oi"], kite["oi_day_high"], kite["oi_day_low"]) == (
        quote.open_interest,
        ours.oi_day_high,
        ours.oi_day_low,
    )
    for side, levels in (("buy", quote.bids), ("sell", quote.asks)):
        # Kite lists all five entries, zero-filled; Cockpit leaves empty levels out.
        present = [row for row in kite["depth"][side] if row["quantity"] > 0]
        assert present == [
            {"quantity": lv.quantity, "price": _rupees(lv.price), "orders": lv.orders}
            for lv in levels
        ]


def kite_decode(data: bytes) -> list[dict[str, Any]]:
    return list(KiteTicker("k", "t")._parse_binary(data))


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", VALID)
def test_fixture_decodes_to_the_documented_values(frame: dict[str, Any]) -> None:
    ticks = parse_frame(bytes.fromhex(frame["hex"]), received_at=RECEIVED)
    assert [_as_expected(t) for t in ticks] == frame["ticks"]


@pytest.mark.parametrize("frame", VALID)
def test_fixture_agrees_with_kites_official_decoder_field_by_field(frame: dict[str, Any]) -> None:
    data = bytes.fromhex(frame["hex"])
    ours = parse_frame(data, received_at=RECEIVED)
    kite = kite_decode(data)
    assert len(ours) == len(kite)
    for mine, theirs in zip(ours, kite, strict=True):
        assert_agrees_with_kite(mine, theirs)


@pytest.mark.parametrize("frame", MALFORMED)
def test_malformed_frame_raises_protocol_error_naming_where(frame: dict[str, Any]) -> None:
    with pytest.raises(BrokerProtocolError) as caught:
        parse_frame(bytes.fromhex(frame["hex"]), received_at=RECEIVED)
    assert frame["error"] in str(caught.value)


def test_heartbeat_is_no_ticks() -> None:
    assert parse_frame(b"\x00") == []
    assert parse_frame(b"\xff") == []


def test_ltp_and_quote_packets_are_stamped_on_receipt_full_ones_by_the_exchange() -> None:
    by_name = {f["name"]: f for f in _frames("kite_documented.json")}
    (ltp,) = parse_frame(bytes.fromhex(by_name["ltp_equity"]["hex"]), received_at=RECEIVED)
    (full,) = parse_frame(bytes.fromhex(by_name["full_equity"]["hex"]), received_at=RECEIVED)
    assert ltp.quote.at == RECEIVED and ltp.exchange_timestamp is None
    assert full.quote.at == datetime(2026, 12, 1, 10, 15, 30, tzinfo=IST)
    assert full.last_trade_time == full.quote.at - timedelta(seconds=1)
    (untraded,) = parse_frame(bytes.fromhex(by_name["full_untraded"]["hex"]))
    assert untraded.last_trade_time is None and untraded.quote.bids == ()


def test_without_received_at_ltp_ticks_carry_the_current_time_in_ist() -> None:
    before = datetime.now(IST)
    (tick,) = parse_frame(struct.pack(">HHIi", 1, 8, 408065, 100))
    assert tick.quote.at.tzinfo is IST and before <= tick.quote.at <= datetime.now(IST)


def test_to_tick_takes_best_bid_and_ask_from_the_depth() -> None:
    by_name = {f["name"]: f for f in _frames("kite_documented.json")}
    (option,) = parse_frame(bytes.fromhex(by_name["full_nfo_option_thin_book"]["hex"]))
    tick = to_tick(option)
    assert (tick.last_price, tick.bid, tick.ask) == (14520, 14515, 14525)
    assert (tick.volume, tick.oi, tick.at) == (1875000, 3_450_000, option.quote.at)
    (quote_tick,) = parse_frame(bytes.fromhex(by_name["quote_equity"]["hex"]), received_at=RECEIVED)
    plain = to_tick(quote_tick)
    assert (plain.bid, plain.ask, plain.volume, plain.at) == (None, None, 4123456, RECEIVED)


def test_index_change_is_derived_from_the_close_like_kites_client() -> None:
    by_name = {f["name"]: f for f in _frames("kite_documented.json")}
    (banknifty,) = parse_frame(bytes.fromhex(by_name["index_full"]["hex"]))
    assert banknifty.change_percent == pytest.approx((5123410 - 5145000) * 100 / 5145000)
    assert not banknifty.tradable and banknifty.quote.ohlc == Ohlc(
        Paise(5110000), Paise(5130055), Paise(5098020), Paise(5145000)
    )


# ---- properties -----------------------------------------------------------------------------

_PRICE = st.integers(min_value=1, max_value=2**31 - 1).map(Paise)
_UINT = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def _depth(draw: st.DrawFn, descending: bool) -> tuple[DepthLevel, ...]:
    prices = draw(st.lists(_PRICE, max_size=5, unique=True))
    prices.sort(reverse=descending)
    return tuple(
        DepthLevel(
            p,
            # five levels' total must still fit the packet's uint32 total quantity
            draw(st.integers(min_value=1, max_value=(2**32 - 1) // 5)),
            draw(st.integers(min_value=0, max_value=0xFFFF)),
        )
        for p in prices
    )


@st.composite
def quotes(draw: st.DrawFn) -> Quote:
    segment = draw(st.sampled_from([1, 2, 4, 5, 7, 9]))
    token = (draw(st.integers(min_value=0, max_value=2**24 - 1)) << 8) | segment
    tradable = segment != 9
    seconds = draw(st.integers(min_value=1, max_value=2**32 - 1))
    ohlc = Ohlc(*(draw(_PRICE | st.just(Paise(0))) for _ in range(4)))
    return Quote(
        instrument_token=token,
        at=datetime.fromtimestamp(seconds, IST),
        last_price=draw(_PRICE | st.just(Paise(0))),
        last_quantity=draw(_UINT) if tradable else 0,
        average_price=draw(_PRICE) if tradable else Paise(0),
        volume=draw(_UINT) if tradable else 0,
        open_interest=draw(_UINT) if tradable else 0,
        ohlc=ohlc,
        bids=draw(_depth(descending=True)) if tradable else (),
        asks=draw(_depth(descending=False)) if tradable else (),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(quotes(), st.sampled_from(list(Mode))), min_size=1, max_size=20))
def test_whatever_the_paper_exchange_encodes_decodes_back_and_agrees_with_kite(
    items: list[tuple[Quote, Mode]],
) -> None:
    data = encode_frame([encode_packet(q, m) for q, m in items])
    ticks = parse_frame(data, received_at=RECEIVED)
    for tick, (quote, mode), kite in zip(ticks, items, kite_decode(data), strict=True):
        assert tick.mode == TickMode(mode)
        assert tick.instrument_token == quote.instrument_token
        assert tick.quote.last_price == quote.last_price
        if mode is Mode.FULL:
            assert tick.quote.at == quote.at
            if tick.tradable:
                assert tick.quote == quote  # every field, depth included
        elif mode is Mode.QUOTE:
            assert tick.quote.ohlc == quote.ohlc
        assert_agrees_with_kite(tick, kite)


def _parse_or_protocol_error(data: bytes) -> None:
    try:
        ticks = parse_frame(data, received_at=RECEIVED)
    except BrokerProtocolError as error:
        assert str(error)  # says what was wrong
        return
    for tick in ticks:
        assert isinstance(tick, ParsedTick)
        to_tick(tick)  # a decoded tick always makes a valid domain Tick


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_decode_or_raise_protocol_error_only(data: bytes) -> None:
    _parse_or_protocol_error(data)


_VALID_FRAMES = [
    bytes.fromhex(frame["hex"])
    for source in ("kite_documented.json", "paper_exchange.json")
    for frame in _frames(source)
]


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_VALID_FRAMES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "count"]))
        position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= draw(st.integers(min_value=1, max_value=255))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[position : position + draw(st.integers(min_value=1, max_value=8))]
        elif kind == "count" and len(data) >= 2:
            data[0:2] = struct.pack(">H", draw(st.integers(min_value=0, max_value=0xFFFF)))
    return bytes(data)


@settings(max_examples=1000, deadline=None)
@given(mutated_frames())
def test_mutated_valid_frames_decode_or_raise_protocol_error_only(data: bytes) -> None:
    _parse_or_protocol_error(data)
