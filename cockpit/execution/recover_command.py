"""``cockpit recover [--json] [--wait S] [--broker-url URL]``: run start-up recovery alone and
print its report — intents adopted by tag or marked never sent, statuses the broker corrected,
the groups rebuilt and what resuming each did, external positions, and any
underlying/expiry/right left unhedged at the broker. Resumed groups (and any emergency hedge)
are driven for up to ``--wait`` seconds before the command exits; what is still working then is
picked up by the next start. Exit status 0 when the journal and the broker agree, 1 when there
were differences (all now journalled), 2 when something is still unhedged at the broker."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from cockpit.config import Settings
from cockpit.marketdata.command import add_broker_url


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to keep driving resumed groups before exiting (default 60)",
    )
    add_broker_url(parser)


async def _recover(settings: Settings, broker_url: str | None, wait: float) -> dict[str, Any]:
    from cockpit.broker.connect import connected_broker
    from cockpit.execution.trading_session import trading_session
    from cockpit.store.recovery import unhedged_positions

    async with connected_broker(settings, broker_url) as broker:
        store = await broker.instruments()
        async with trading_session(settings, broker, store) as session:
            report = session.recovery.as_dict()
            report["final_states"] = await session.settle(wait)
            # The invariant once more, after the resumed groups and hedges have worked.
            report["unhedged"] = unhedged_positions(await broker.positions(), store)
    return report


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.broker.base import BrokerError
    from cockpit.store import JournalError

    try:
        report = asyncio.run(_recover(settings, args.broker_url, args.wait))
    except (BrokerError, JournalError) as error:
        print(f"cockpit recover: error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"groups checked: {report['groups_checked']}")
        for title, key in (
            ("adopted (found by tag)", "adopted"),
            ("never sent", "never_sent"),
            ("corrected by the broker", "updated"),
            ("resumed", "resumed"),
            ("could not be rebuilt", "unrestorable"),
            ("differences", "differences"),
            ("external positions", "external"),
            ("UNHEDGED at the broker", "unhedged"),
        ):
            items = report[key]
            if items:
                print(f"{title}:")
                entries = items.items() if isinstance(items, dict) else enumerate(items)
                for name, value in entries:
                    print(f"  {value}" if isinstance(name, int) else f"  {name}: {value}")
        print("journal and broker agree" if report["clean"] else "differences journalled")
    if report["unhedged"]:
        return 2
    return 0 if report["clean"] else 1
