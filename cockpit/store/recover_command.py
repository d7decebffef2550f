"""``cockpit recover [--json] [--broker-url URL]``: run broker-wins reconciliation of the
journal alone and print its report — intents adopted by tag or marked never sent, statuses the
broker corrected, external positions, and any underlying/expiry/right left unhedged at the
broker. Exit status 0 when the journal and the broker agree, 1 when there were differences
(all now journalled), 2 when something is unhedged."""

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
    add_broker_url(parser)


async def _recover(settings: Settings, broker_url: str | None) -> dict[str, Any]:
    from cockpit.broker.connect import connected_broker
    from cockpit.store.journal import Journal
    from cockpit.store.recovery import reconcile_journal

    async with connected_broker(settings, broker_url) as broker:
        store = await broker.instruments()
        async with await Journal.open(settings.journal_path) as journal:
            report = await reconcile_journal(journal, broker, store)
    return report.as_dict()


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cockpit.broker.base import BrokerError
    from cockpit.store import JournalError

    try:
        report = asyncio.run(_recover(settings, args.broker_url))
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
