"""``cockpit spread {bull-put|bear-call|iron-condor} UNDERLYING [--expiry next|YYYY-MM-DD]
[--short-delta D | --short-strike K] [--width W] [--lots N] [--place] [--json]``.

Prints the analysis of a credit spread built on the live chain — legs, credit, max profit and
loss, breakevens, probability of profit, margin — and with ``--place`` runs it through the
coordinator (hedge first, journalled) and waits until the group is terminal. JSON fields (also
in the README): ``structure, underlying, expiry, lots, legs [{tradingsymbol, side, role,
quantity, price}], credit, credit_touch, max_profit, max_loss, breakevens, pop, reward_risk,
margin, margin_source`` and, with ``--place``, ``group_id, state``. Money is rupees.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from cockpit.config import Settings
from cockpit.domain.money import Paise
from cockpit.marketdata.command import add_broker_url


def _expiry(text: str) -> date | None:
    if text == "next":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected next or YYYY-MM-DD") from None


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("structure", choices=("bull-put", "bear-call", "iron-condor"))
    parser.add_argument("underlying", help="e.g. NIFTY")
    parser.add_argument("--expiry", type=_expiry, default=None, metavar="next|YYYY-MM-DD")
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--short-delta",
        type=float,
        default=None,
        metavar="D",
        help="absolute delta of the short strike (default 0.20)",
    )
    target.add_argument("--short-strike", type=_decimal, default=None, metavar="K")
    parser.add_argument(
        "--width",
        type=_decimal,
        default=None,
        metavar="POINTS",
        help="distance to the protection in points (default: two strikes)",
    )
    parser.add_argument("--lots", type=int, default=1)
    parser.add_argument("--place", action="store_true", help="place it and wait for the result")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_broker_url(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.broker.base import BrokerError
    from cockpit.execution.coordinator import GroupRejectedError
    from cockpit.strategies.spreads import SpreadError, SpreadRequest, Structure

    request = SpreadRequest(
        structure=Structure(args.structure),
        lots=args.lots,
        short_delta=None if args.short_strike is not None else (args.short_delta or 0.20),
        short_strike=args.short_strike,
        width_points=args.width,
    )
    try:
        result = asyncio.run(
            _run(
                settings,
                args.broker_url,
                request,
                args.underlying.upper(),
                args.expiry,
                place=args.place,
            )
        )
    except SpreadError as error:
        print(f"cockpit spread: error: {error}", file=sys.stderr)
        return 2
    except LookupError as error:
        print(f"cockpit spread: error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    except (BrokerError, GroupRejectedError) as error:
        print(f"cockpit spread: error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(_text(result))
    if args.place and result.get("state") not in ("complete", "flat"):
        return 1
    return 0


async def _run(
    settings: Settings,
    broker_url: str | None,
    request: Any,
    underlying: str,
    expiry: date | None,
    *,
    place: bool,
) -> dict[str, Any]:
    from cockpit.broker.connect import connected_broker
    from cockpit.builder_service import basket_margin
    from cockpit.marketdata.chain import value_chain
    from cockpit.marketdata.feed import instrument_key, resolve_selection
    from cockpit.strategies.spreads import plan_spread

    async with connected_broker(settings, broker_url, stream=place) as broker:
        store = await broker.instruments()
        selection = resolve_selection(store, underlying, expiry)
        keys = [k for t in selection.tokens if (k := instrument_key(store, t))]
        quotes = {q.instrument_token: q for q in (await broker.quotes(keys)).values()}
        if not quotes:
            raise LookupError(f"the broker returned no quotes for the {underlying} chain")
        spot = quotes.get(selection.spot_token) if selection.spot_token else None
        future = quotes.get(selection.future_token) if selection.future_token else None
        now = max(q.at for q in quotes.values())
        view = value_chain(
            selection.chain,
            quotes,
            now=now,
            spot=Paise(spot.last_price) if spot is not None else None,
            future=future,
        )
        plan = plan_spread(request, selection.chain, view)
        margin, source = await basket_margin(broker, plan)
        result = _plan_json(plan, margin, source)
        if place:
            result.update(await _place(settings, broker, store, plan))
        return result


async def _place(settings: Settings, broker: Any, store: Any, plan: Any) -> dict[str, Any]:
    """Recovery first (a crash may have left groups of ours working), then the new group."""
    import secrets

    from cockpit.execution.trading_session import trading_session

    async with trading_session(settings, broker, store) as session:
        coordinator = session.coordinator
        group = plan.to_group(f"G{secrets.token_hex(4)}", session.clock.now())
        await coordinator.submit(group)
        done = await coordinator.wait(group.group_id, 180)
        result: dict[str, Any] = {"group_id": done.group_id, "state": str(done.state)}
        if session.recovery.restored:
            result["recovery"] = session.recovery.as_dict()
        return result


def _rupees(value: int | None) -> float | None:
    return None if value is None else float(Decimal(int(value)) / 100)


def _plan_json(plan: Any, margin: Paise | None, source: str) -> dict[str, Any]:
    return {
        "structure": str(plan.structure),
        "underlying": plan.underlying,
        "expiry": plan.expiry.isoformat(),
        "lots": plan.lots,
        "legs": [
            {
                "tradingsymbol": leg.spec.tradingsymbol,
                "side": str(leg.spec.side),
                "role": str(leg.spec.role),
                "quantity": leg.spec.quantity,
                "price": _rupees(leg.mid),
            }
            for leg in plan.legs
        ],
        "credit": _rupees(plan.credit_mid),
        "credit_touch": _rupees(plan.credit_touch),
        "max_profit": _rupees(plan.max_profit),
        "max_loss": _rupees(plan.max_loss),
        "breakevens": [float(b) for b in plan.breakevens],
        "pop": round(plan.pop, 4),
        "reward_risk": round(plan.reward_risk, 4),
        "margin": _rupees(margin),
        "margin_source": source,
    }


def _text(result: dict[str, Any]) -> str:
    lines = [
        f"{result['structure']} {result['underlying']} {result['expiry']} × {result['lots']} lot(s)"
    ]
    for leg in result["legs"]:
        price = "—" if leg["price"] is None else f"{leg['price']:.2f}"
        lines.append(
            f"  {leg['side']:<4} {leg['tradingsymbol']:<22} {leg['quantity']:>6}  @ {price:>8}"
            f"  ({leg['role']})"
        )
    lines += [
        f"credit ₹{result['credit']:,.2f} at mid (₹{result['credit_touch']:,.2f} at the touch)",
        f"max profit ₹{result['max_profit']:,.2f}   max loss ₹{result['max_loss']:,.2f}   "
        f"reward/risk {result['reward_risk']:.2f}",
        "breakeven "
        + ", ".join(f"{b:,.2f}" for b in result["breakevens"])
        + f"   POP {result['pop'] * 100:.1f}%",
        f"margin ₹{result['margin']:,.2f} ({result['margin_source']})"
        if result["margin"] is not None
        else "margin unknown",
    ]
    if "group_id" in result:
        lines.append(f"group {result['group_id']}: {result['state']}")
    return "\n".join(lines)
