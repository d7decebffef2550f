"""``cockpit shock [--proposed SPEC] [--widening W] [--json] [--broker-url URL]``: the margin shock
grid of the account's positions (plus, with ``--proposed``, a spread as if filled), computed by
:class:`~cockpit.shock_service.ShockService` against the configured broker. SPEC is a spread in
the ``cockpit spread`` command's words (``"bull-put NIFTY --lots 2 --short-delta 0.2"``), parsed
by that command's own argument parser and planned on the live chain as it plans (a short adapter
here: ``builder_command`` has no planning function that takes a connected broker). The text
output is the P&L in ₹ thousands for one spread widening (rows the IV change, columns the
underlying's move), then the worst cell and the 100% utilisation frontier per IV change;
``--json`` prints :meth:`ShockGrid.as_dict` (money in paise) with ``as_of``, the positions and
proposed legs that went in and the warnings. Every failure is one line
``cockpit shock: error: ...`` on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from cockpit.clock import IST
from cockpit.config import Settings
from cockpit.domain.money import Paise
from cockpit.marketdata.command import add_broker_url

if TYPE_CHECKING:
    from cockpit.broker.base import Broker
    from cockpit.domain.instruments import InstrumentStore
    from cockpit.risk.shocks import ShockLeg
    from cockpit.shock_service import ShockReport
    from cockpit.strategies.spreads import SpreadPlan

EXIT_ERROR = 1


class SpecError(ValueError):
    """``--proposed`` is not a spread the ``spread`` command would accept."""


class _SpecParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise SpecError(f"--proposed: {message}")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--proposed",
        metavar="SPEC",
        help='a spread to add as if filled, as "cockpit spread" takes it, '
        'e.g. "bull-put NIFTY --lots 2 --short-delta 0.2"',
    )
    parser.add_argument(
        "--widening",
        type=float,
        default=1.0,
        metavar="W",
        help="the spread widening whose P&L the table shows (1, 1.5 or 2; default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (money in paise)")
    add_broker_url(parser)


def spread_spec(text: str) -> argparse.Namespace:
    """``--proposed`` parsed by the ``spread`` command's parser; ``--place`` is refused."""
    from cockpit import builder_command

    parser = _SpecParser(prog="--proposed", add_help=False)
    builder_command.configure(parser)
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise SpecError(f"--proposed {text!r}: {error}") from None
    args = parser.parse_args(words)
    if args.place:
        raise SpecError("--proposed: --place is not allowed here; use cockpit spread --place")
    return args


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.broker.base import BrokerError
    from cockpit.risk.shocks import DEFAULT_AXES
    from cockpit.shock_service import ShockError
    from cockpit.strategies.spreads import SpreadError

    try:
        widening = _widening_index(DEFAULT_AXES.widening, args.widening)
        spec = spread_spec(args.proposed) if args.proposed else None
        report = asyncio.run(_run(settings, args.broker_url, spec))
    except (SpecError, ShockError, SpreadError, BrokerError) as error:
        return _fail(str(error))
    except LookupError as error:
        return _fail(str(error.args[0] if error.args else error))
    if args.json:
        print(json.dumps(report_json(report), indent=1))
    else:
        print(report_text(report, widening))
    return 0


def _fail(message: str) -> int:
    print(f"cockpit shock: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _widening_index(widenings: Sequence[float], widening: float) -> int:
    from cockpit.shock_service import ShockError

    for index, value in enumerate(widenings):
        if abs(float(value) - widening) < 1e-9:
            return index
    listed = ", ".join(f"{float(w):g}" for w in widenings)
    raise ShockError(f"--widening {widening:g} is not on the grid; choose one of {listed}")


async def _run(
    settings: Settings, broker_url: str | None, spec: argparse.Namespace | None
) -> ShockReport:
    from cockpit.broker.connect import connected_broker
    from cockpit.clock import SystemClock
    from cockpit.shock_service import ShockService

    async with connected_broker(settings, broker_url) as broker:
        store = await broker.instruments()
        plan = await _plan(broker, store, spec) if spec is not None else None
        return await ShockService(broker, store, SystemClock()).report(plan)


async def _plan(broker: Broker, store: InstrumentStore, spec: argparse.Namespace) -> SpreadPlan:
    """Plan SPEC on the live chain as ``cockpit spread`` does."""
    from cockpit.marketdata.chain import value_chain
    from cockpit.marketdata.feed import instrument_key, resolve_selection
    from cockpit.strategies.spreads import SpreadRequest, Structure, plan_spread

    request = SpreadRequest(
        structure=Structure(spec.structure),
        lots=spec.lots,
        short_delta=None if spec.short_strike is not None else (spec.short_delta or 0.20),
        short_strike=spec.short_strike,
        width_points=spec.width,
    )
    underlying = spec.underlying.upper()
    selection = resolve_selection(store, underlying, spec.expiry)
    keys = [k for t in selection.tokens if (k := instrument_key(store, t))]
    quotes = {q.instrument_token: q for q in (await broker.quotes(keys)).values()}
    if not quotes:
        raise LookupError(f"the broker returned no quotes for the {underlying} chain")
    spot = quotes.get(selection.spot_token) if selection.spot_token else None
    view = value_chain(
        selection.chain,
        quotes,
        now=max(q.at for q in quotes.values()),
        spot=Paise(spot.last_price) if spot is not None else None,
        future=quotes.get(selection.future_token) if selection.future_token else None,
    )
    return plan_spread(request, selection.chain, view)


# ---- output ----------------------------------------------------------------------------------


def _leg_json(leg: ShockLeg, symbol: str) -> dict[str, Any]:
    return {
        "tradingsymbol": symbol,
        "instrument_token": leg.instrument_token,
        "quantity": leg.quantity,
        "bid": int(leg.bid),
        "ask": int(leg.ask),
        "mark": int(leg.mark),
        "forward": int(leg.forward),
        "spot": int(leg.spot),
        "vol": round(leg.vol, 6),
    }


def report_json(report: ShockReport) -> dict[str, Any]:
    """``grid.as_dict()`` plus when it was valued, what went in and what was assumed."""
    return {
        **report.grid.as_dict(),
        "money": "paise",
        "as_of": report.at.isoformat(),
        "positions": [
            _leg_json(leg, report.symbols.get(leg.instrument_token, "")) for leg in report.positions
        ],
        "proposed": [
            _leg_json(leg, report.symbols.get(leg.instrument_token, "")) for leg in report.proposed
        ],
        "warnings": list(report.warnings),
    }


def report_text(report: ShockReport, widening: int = 0) -> str:
    """The P&L table (₹ thousands) at one widening, the worst cell and the frontier."""
    from cockpit.shock_service import rupees_text, shock_text, widening_text, worst_text

    def short(value: float) -> str:
        return shock_text(value).removesuffix("%")

    grid = report.grid
    legs = [*report.positions, *report.proposed]
    lines = [
        f"shock grid as of {report.at.astimezone(IST):%Y-%m-%d %H:%M:%S} IST: "
        f"{len(report.positions)} position leg(s), {len(report.proposed)} proposed; "
        f"funds {rupees_text(grid.funds)}",
    ]
    lines += [
        f"  {report.symbols.get(leg.instrument_token, leg.instrument_token)} "
        f"{leg.quantity:+d} @ {leg.mark / 100:,.2f} IV {leg.vol * 100:.1f}%"
        for leg in legs
    ]
    lines.append(
        f"P&L in ₹ thousand at {widening_text(float(grid.widenings[widening]))} spread "
        "(rows: IV change %, columns: underlying move %)"
    )
    lines.append("IV \\ move " + "".join(f"{short(float(p)):>7}" for p in grid.price_shocks))
    for i, iv in enumerate(grid.iv_shocks):
        # + 0.0: a loss that rounds to nothing prints as 0.0, not -0.0.
        cells = "".join(f"{round(v / 100_000, 1) + 0.0:>7.1f}" for v in grid.pnl[widening, i])
        lines.append(f"{short(float(iv)):>10} " + cells)
    worst = grid.worst
    lines.append(
        f"{worst_text(grid)} "
        f"(margin {rupees_text(worst.margin)}, utilisation {worst.utilisation * 100:.0f}%)"
    )
    lines.append("100% utilisation frontier (nearest move on each side that reaches it):")
    for row in grid.frontier:
        down = "—" if row.down is None else shock_text(row.down)
        up = "—" if row.up is None else shock_text(row.up)
        lines.append(f"  IV {shock_text(row.iv_shock):>6}: down {down:>5}   up {up:>5}")
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines)
