"""``cockpit exchange``: run the paper exchange as its own program.

Prints exactly one line on stdout, ``listening on http://127.0.0.1:PORT`` (flushed, so a parent
process can read the port), then serves until SIGINT or SIGTERM and exits 0. Logs go to stderr
and the log folder like every other command. Faults given here can be changed later through
``/admin/faults``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import sys
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.clock import IST
from cockpit.config import Settings
from cockpit.domain.money import Paise
from cockpit.exchange.faults import FaultError, Faults, parse_latency

if TYPE_CHECKING:
    from cockpit.exchange.server import ExchangeConfig


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def _latency(text: str) -> tuple[float, float]:
    try:
        return parse_latency(text)
    except FaultError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _start(text: str) -> datetime | None:
    if text == "now":
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time like 2026-12-01T09:15 (IST if no offset)"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=IST)


def _rupees(text: str) -> Paise:
    try:
        amount = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in rupees") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise argparse.ArgumentTypeError(f"{text}: expected a positive amount in rupees and paise")
    return Paise(int(amount * 100))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="loopback address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port; 0 picks a free one")
    parser.add_argument(
        "--seed", type=int, default=None, help="market seed (same seed, same market)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="PATH",
        help="SQLite file for orders, trades, positions, funds and the market; the exchange "
        "resumes from it after a restart (default: nothing kept)",
    )
    parser.add_argument(
        "--latency-ms", type=_latency, metavar="MS", help="delay every answer: 5 or a range 5-50"
    )
    parser.add_argument("--reject-rate", type=_probability, metavar="P", default=0.0)
    parser.add_argument("--partial-fill-rate", type=_probability, metavar="P", default=0.0)
    parser.add_argument(
        "--drop-order-updates",
        type=_probability,
        metavar="P",
        default=0.0,
        help="probability of losing a WebSocket order update",
    )
    parser.add_argument(
        "--freeze-seconds", type=float, default=0.0, help="accept orders but fill none for N s"
    )
    parser.add_argument("--speed", type=float, default=None, help="market seconds per second")
    parser.add_argument(
        "--start",
        type=_start,
        default=None,
        metavar="ISO|now",
        help="market time of a fresh exchange (default: now)",
    )
    parser.add_argument(
        "--keep-closed",
        action="store_true",
        help="let the market stay closed outside 09:15-15:30 instead of skipping to the open",
    )
    parser.add_argument(
        "--funds", type=_rupees, metavar="RUPEES", help="opening funds of a fresh account"
    )
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="do not answer bursts with HTTP 429"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.exchange.server import DEFAULT_OPENING_FUNDS, ExchangeConfig

    paper = settings.paper
    try:
        faults = Faults(
            latency_ms=args.latency_ms or (0.0, 0.0),
            reject_rate=args.reject_rate,
            partial_fill_rate=args.partial_fill_rate,
            drop_order_update_rate=args.drop_order_updates,
            freeze_seconds=args.freeze_seconds,
        )
        config = ExchangeConfig(
            host=args.host or paper.host,
            port=paper.port if args.port is None else args.port,
            seed=paper.seed if args.seed is None else args.seed,
            state_path=args.state,
            speed=paper.speed if args.speed is None else args.speed,
            faults=faults,
            start=args.start,
            skip_closed=not args.keep_closed,
            opening_funds=args.funds or DEFAULT_OPENING_FUNDS,
            rate_limits=not args.no_rate_limits,
        )
    except (FaultError, ValueError) as error:
        print(f"cockpit exchange: error: {error}", file=sys.stderr)
        return 2
    from cockpit.exchange.state import ExchangeStateError

    try:
        return asyncio.run(_serve(config))
    except (ExchangeStateError, sqlite3.DatabaseError) as error:
        print(f"cockpit exchange: error: state file {config.state_path}: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"cockpit exchange: error: cannot listen on {config.host}: {error}", file=sys.stderr)
        return 1


async def _serve(config: ExchangeConfig) -> int:
    from cockpit.exchange.server import PaperExchange

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exchange = PaperExchange(config)
    try:
        url = await exchange.start()
        print(f"listening on {url}", flush=True)
        await stop.wait()
    finally:
        await exchange.stop()
    return 0
