"""Benchmark of Kite's binary tick decoder (a script, not a test).

    .venv/bin/python tests/perf/bench_ticks.py [--seconds 3] [--packets 100]

Prints the ticks per second :func:`cockpit.broker.ticks.parse_frame` decodes from frames of
full-mode packets (184 bytes each, five levels a side, as the paper exchange encodes them),
and the same for quote-mode packets, best of five runs, on one core.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

from cockpit.broker.ticks import parse_frame
from cockpit.clock import IST
from cockpit.domain.market_data import DepthLevel, Ohlc, Quote
from cockpit.domain.money import Paise
from cockpit.exchange.ticks import Mode, encode_frame, encode_packet

AT = datetime(2026, 12, 1, 10, 0, tzinfo=IST)


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
    best = 0.0
    for _ in range(5):
        decoded, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 5:
            for _ in range(10):
                parse_frame(frame, received_at=AT)
            decoded += 10 * packets
        best = max(best, decoded / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--packets", type=int, default=100)
    args = parser.parse_args()
    quotes = [option_quote(i) for i in range(args.packets)]
    for mode in (Mode.FULL, Mode.QUOTE):
        frame = encode_frame(encode_packet(q, mode) for q in quotes)
        assert len(parse_frame(frame, received_at=AT)) == args.packets
        rate = ticks_per_second(frame, args.packets, args.seconds)
        print(
            f"parse_frame {mode:>5} mode: {rate:,.0f} ticks/s "
            f"({args.packets} packets a frame, {len(frame):,} bytes)"
        )


if __name__ == "__main__":
    main()
