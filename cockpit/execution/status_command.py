"""``cockpit status [--json]``: groups, legs, states, fills and open exposure, from the journal.

It reads ``COCKPIT_HOME/cockpit.db`` read-only (a running window keeps writing it: WAL lets a
reader in without stopping the writer), so it works with the window open or closed and never
changes anything. Exposure is recomputed from the journalled fills with the same rule the
coordinator uses: per underlying/expiry/right, shorts not covered by longs.

JSON: ``{"journal": path, "groups": [{"group_id", "kind", "state", "created_at", "parent_id",
"legs": [{"role", "side", "tradingsymbol", "strike", "right", "expiry", "quantity",
"filled_quantity"}]}], "exposure": [{"underlying", "expiry", "right", "short", "long",
"uncovered"}], "overrides": [{…}]}``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from cockpit.config import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def read_status(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"journal": str(path), "groups": [], "exposure": [], "overrides": []}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as error:
        raise RuntimeError(f"{path}: cannot open the journal: {error}") from None
    try:
        rows = db.execute('SELECT "table", "key", data FROM state').fetchall()
    except sqlite3.DatabaseError as error:
        raise RuntimeError(f"{path}: not a readable Cockpit journal ({error})") from None
    finally:
        db.close()
    tables: dict[str, dict[str, Any]] = defaultdict(dict)
    for table, key, data in rows:
        tables[table][key] = json.loads(data)
    groups = sorted(tables["groups"].values(), key=lambda g: g.get("created_at", ""))
    return {
        "journal": str(path),
        "groups": groups,
        "exposure": _exposure(groups),
        "overrides": list(tables["overrides"].values()),
    }


def _exposure(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    net: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    per_contract: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for group in groups:
        for leg in group.get("legs", []):
            sign = 1 if leg["side"] == "BUY" else -1
            key = (leg["underlying"], leg["expiry"], leg["right"])
            per_contract[(*key, leg["tradingsymbol"])] += sign * int(leg["filled_quantity"])
    for (underlying, expiry, right, _symbol), quantity in per_contract.items():
        slot = net[(underlying, expiry, right)]
        if quantity < 0:
            slot[0] += -quantity
        else:
            slot[1] += quantity
    return [
        {
            "underlying": u,
            "expiry": e,
            "right": r,
            "short": s,
            "long": lg,
            "uncovered": max(0, s - lg),
        }
        for (u, e, r), (s, lg) in sorted(net.items())
        if s or lg
    ]


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        status = read_status(settings.journal_path)
    except RuntimeError as error:
        print(f"cockpit status: error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    print(f"journal: {status['journal']}")
    if not status["groups"]:
        print("no order groups")
    for group in status["groups"]:
        print(
            f"{group['group_id']}  {group['kind']:<5}  {group['state']:<18}  {group['created_at']}"
        )
        for leg in group.get("legs", []):
            print(
                f"    {leg['role']:<10} {leg['side']:<4} {leg['tradingsymbol']:<22} "
                f"{leg['filled_quantity']:>6}/{leg['quantity']:<6}"
            )
    uncovered = [e for e in status["exposure"] if e["uncovered"]]
    if uncovered:
        for e in uncovered:
            print(
                f"UNCOVERED {e['underlying']} {e['expiry']} {e['right']}: "
                f"{e['uncovered']} short not covered ({e['short']} short, {e['long']} long)"
            )
    else:
        print("exposure: every short is covered")
    return 0
