"""``cockpit chain UNDERLYING [--expiry next|YYYY-MM-DD] [--json] [--broker-url URL]``: one
option chain with IV and greeks from the configured broker, as a table or as JSON.

The JSON (documented in the README)::

    {"underlying": "NIFTY", "expiry": "2026-12-01", "at": "…+05:30", "spot": 26010.35,
     "forward": 26052.1, "forward_source": "future", "days_to_expiry": 6.2,
     "rows": [{"strike": 25500, "atm": false,
               "call": {"tradingsymbol", "instrument_token", "lot_size", "bid", "ask", "ltp",
                        "oi", "iv", "delta", "gamma", "theta", "vega"},
               "put": {…}}, …]}

Prices are rupees with two decimals (``null`` when not quoted); ``iv`` is a fraction (0.132 =
13.2%); ``delta`` and ``gamma`` are per rupee of the underlying; ``theta`` rupees per calendar
day and ``vega`` rupees per volatility point, both per unit (× lot size for a lot).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from decimal import Decimal
from typing import Any

from cockpit.config import Settings
from cockpit.domain.money import Paise
from cockpit.marketdata.chain import ChainSide, ChainView, value_chain


def _expiry(text: str) -> date | None:
    if text == "next":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected next or YYYY-MM-DD") from None


def add_broker_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker-url",
        metavar="URL",
        help="REST URL of the broker (default: $COCKPIT_BROKER_URL, else the configured broker:"
        " the paper exchange a running window serves, or one started for this command)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("underlying", help="e.g. NIFTY, BANKNIFTY, HDFCBANK")
    parser.add_argument(
        "--expiry", type=_expiry, default=None, metavar="next|YYYY-MM-DD", help="default: next"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_broker_url(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.broker.base import BrokerError

    try:
        view = asyncio.run(_fetch(settings, args.broker_url, args.underlying.upper(), args.expiry))
    except LookupError as error:
        message = error.args[0] if error.args else str(error)
        print(f"cockpit chain: error: {message}", file=sys.stderr)
        return 2
    except BrokerError as error:
        print(f"cockpit chain: error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(chain_json(view), indent=1))
    else:
        print(chain_table(view))
    return 0


async def _fetch(
    settings: Settings, broker_url: str | None, underlying: str, expiry: date | None
) -> ChainView:
    from cockpit.broker.connect import connected_broker
    from cockpit.marketdata.feed import instrument_key, resolve_selection

    async with connected_broker(settings, broker_url) as broker:
        store = await broker.instruments()
        selection = resolve_selection(store, underlying, expiry)
        keys = [k for t in selection.tokens if (k := instrument_key(store, t))]
        quotes = await broker.quotes(keys)
    by_token = {q.instrument_token: q for q in quotes.values()}
    spot = by_token.get(selection.spot_token) if selection.spot_token else None
    future = by_token.get(selection.future_token) if selection.future_token else None
    now = max((q.at for q in by_token.values()), default=None)
    if now is None:
        raise LookupError(f"the broker returned no quotes for the {underlying} chain")
    return value_chain(
        selection.chain,
        by_token,
        now=now,
        spot=Paise(spot.last_price) if spot is not None else None,
        future=future,
    )


def _rupees(value: Paise | None) -> float | None:
    # Two-place rupee amounts survive float's shortest repr exactly (display only).
    return None if value is None else float(Decimal(int(value)) / 100)


def _side(side: ChainSide | None) -> dict[str, Any] | None:
    if side is None:
        return None

    def rounded(value: float | None, places: int) -> float | None:
        return None if value is None else round(value, places)

    return {
        "tradingsymbol": side.tradingsymbol,
        "instrument_token": side.instrument_token,
        "lot_size": side.lot_size,
        "bid": _rupees(side.bid),
        "ask": _rupees(side.ask),
        "ltp": _rupees(side.ltp),
        "oi": side.oi,
        "iv": rounded(side.iv, 5),
        "delta": rounded(side.delta, 5),
        "gamma": rounded(side.gamma, 7),
        "theta": rounded(side.theta, 4),
        "vega": rounded(side.vega, 4),
    }


def _strike(strike: Decimal) -> int | float:
    return int(strike) if strike == strike.to_integral_value() else float(strike)


def chain_json(view: ChainView) -> dict[str, Any]:
    atm = view.atm_index
    return {
        "underlying": view.underlying,
        "expiry": view.expiry.isoformat(),
        "at": view.at.isoformat(),
        "spot": _rupees(view.spot),
        "forward": _rupees(view.forward),
        "forward_source": view.forward_source,
        "days_to_expiry": round(view.years * 365, 4),
        "rows": [
            {
                "strike": _strike(row.strike),
                "atm": i == atm,
                "call": _side(row.call),
                "put": _side(row.put),
            }
            for i, row in enumerate(view.rows)
        ],
    }


def chain_table(view: ChainView) -> str:
    def cell(value: float | None, fmt: str) -> str:
        return "" if value is None else format(value, fmt)

    header = (
        f"{'OI':>9} {'IV%':>6} {'Δ':>6} {'Θ/d':>7} {'LTP':>9} {'Bid':>9} {'Ask':>9} │"
        f" {'Strike':^9}│ {'Bid':>9} {'Ask':>9} {'LTP':>9} {'Θ/d':>7} {'Δ':>6} {'IV%':>6}"
        f" {'OI':>9}"
    )
    lines = [
        f"{view.underlying} {view.expiry:%d %b %Y}  spot {cell(_rupees(view.spot), ',.2f')}  "
        f"forward {cell(_rupees(view.forward), ',.2f')} ({view.forward_source})  "
        f"{view.years * 365:.1f} days to expiry, at {view.at:%H:%M:%S} IST",
        header,
    ]
    atm = view.atm_index
    for i, row in enumerate(view.rows):
        c, p = row.call, row.put

        def part(side: ChainSide | None, put: bool) -> list[str]:
            if side is None:
                return [""] * 7
            oi = cell(side.oi, ",") if side.oi is not None else ""
            iv = cell(side.iv * 100 if side.iv is not None else None, ".1f")
            delta, theta = cell(side.delta, "+.2f"), cell(side.theta, ".2f")
            ltp, bid = cell(_rupees(side.ltp), ",.2f"), cell(_rupees(side.bid), ",.2f")
            ask = cell(_rupees(side.ask), ",.2f")
            if put:
                return [bid, ask, ltp, theta, delta, iv, oi]
            return [oi, iv, delta, theta, ltp, bid, ask]

        widths = [9, 6, 6, 7, 9, 9, 9]
        left = " ".join(v.rjust(w) for v, w in zip(part(c, False), widths, strict=True))
        right = " ".join(v.rjust(w) for v, w in zip(part(p, True), widths[::-1], strict=True))
        strike = format(row.strike.normalize(), "f")
        mark = "►" if i == atm else " "
        lines.append(f"{left} │{mark}{strike:^9}│ {right}")
    return "\n".join(lines)
