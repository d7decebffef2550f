"""Benchmark of Kite's binary tick decoder, :func:`cockpit.broker.ticks.parse_frame`: ticks per
second from frames of 100 full-mode packets (184 bytes each, five depth levels a side, as the
paper exchange encodes them — the mode the option chain subscribes in), best of five runs on one
core, with quote-mode packets beside it in the detail."""

from __future__ import annotations

import time
from datetime import datetime

from cockpit.bench.figure import Figure
from cockpit.broker.ticks import parse_frame
from cockpit.clock import IST
from cockpit.domain.market_data import DepthLevel, Ohlc, Quote
from cockpit.domain.money import Paise
from cockpit.exchange.ticks import Mode, encode_frame, encode_packet

AT = datetime(2026, 12, 1, 10, 0, tzinfo=IST)
PACKETS = 100
TARGET = 200_000


def option_quote(index: int) -> Quote:
    last = 10_000 + 5 * index
    return Quote(
        instrument_token=((40_000 + index) << 8) | 2,
        at=AT,
        last_price=Paise(last),
        last_quantity=75,
        average_price=Paise(last - 10),
        volume=1_500_000 + index,
        open_interest=450_000,
        ohlc=Ohlc(Paise(last - 100), Paise(last + 200), Paise(last - 300), Paise(last - 50)),
        bids=tuple(DepthLevel(Paise(last - 5 * (i + 1)), 75 * (i + 1), i + 1) for i in range(5)),
        asks=tuple(DepthLevel(Paise(last + 5 * (i + 1)), 75 * (i + 1), i + 1) for i in range(5)),
    )


def ticks_per_second(frame: bytes, packets: int, seconds: float) -> float:
    """The best of five runs of ``seconds / 5`` each."""
    best = 0.0
    for _ in range(5):
        decoded, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 5:
            for _ in range(10):
                parse_frame(frame, received_at=AT)
            decoded += 10 * packets
        best = max(best, decoded / elapsed)
    return best


def run(quick: bool) -> list[Figure]:
    seconds = 1.0 if quick else 3.0
    quotes = [option_quote(i) for i in range(PACKETS)]
    rates = {}
    for mode in (Mode.FULL, Mode.QUOTE):
        frame = encode_frame(encode_packet(q, mode) for q in quotes)
        if len(parse_frame(frame, received_at=AT)) != PACKETS:
            raise RuntimeError(f"parse_frame did not decode {PACKETS} {mode} packets")
        rates[mode] = ticks_per_second(frame, PACKETS, seconds)
    full = rates[Mode.FULL]
    return [
        Figure(
            "binary tick decode",
            full,
            "ticks/s",
            f"≥ {TARGET:,}/s",
            full >= TARGET,
            f"full mode (184-byte packets, {PACKETS} a frame), best of 5 over {seconds:g} s; "
            f"quote mode (44 bytes) {rates[Mode.QUOTE]:,.0f}/s",
        )
    ]


__all__ = ["option_quote", "run", "ticks_per_second"]
