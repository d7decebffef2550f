"""Broker-wins reconciliation of the journal: what the journal believes against what the broker
says, with the broker's word journalled as the truth and every difference reported.

For each child order of a group that is not terminal in the journal: an intent without a broker
order id is looked up at the broker by its client tag — found, it is adopted (its order id,
status and fills journalled); absent, it is marked never sent (it will not be sent again: a new
attempt gets a new tag). A child with an order id gets the broker's status and fills. Broker
positions that the journalled fills do not explain are reported as external, and any
underlying/expiry/right where the broker shows more short than long is reported as unhedged —
the hedged invariant checked on the broker's own numbers. The report is journalled too. This
is the read-and-adopt half of start-up recovery; resuming the groups' work is the coordinator's.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cockpit.broker.base import Broker, Position
from cockpit.domain.groups import TERMINAL_STATES
from cockpit.domain.instruments import InstrumentStore
from cockpit.domain.orders import Order
from cockpit.store.journal import Entry, Journal

log = logging.getLogger(__name__)

_TERMINAL_GROUPS = frozenset(str(state) for state in TERMINAL_STATES)


@dataclass(slots=True)
class RecoveryReport:
    groups_checked: int = 0
    adopted: dict[str, str] = field(default_factory=dict)  # child id → broker order id
    never_sent: list[str] = field(default_factory=list)  # child ids
    updated: dict[str, str] = field(default_factory=dict)  # child id → "status filled"
    differences: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    unhedged: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.differences or self.external or self.unhedged or self.never_sent)

    def as_dict(self) -> dict[str, Any]:
        return {
            "groups_checked": self.groups_checked,
            "adopted": self.adopted,
            "never_sent": self.never_sent,
            "updated": self.updated,
            "differences": self.differences,
            "external": self.external,
            "unhedged": self.unhedged,
            "clean": self.clean,
        }


def _row(child: dict[str, Any], order: Order) -> dict[str, Any]:
    return {
        **child,
        "order_id": order.order_id,
        "status": str(order.status),
        "filled_quantity": order.filled_quantity,
        "average_price": int(order.average_price),
    }


async def reconcile_journal(
    journal: Journal, broker: Broker, store: InstrumentStore
) -> RecoveryReport:
    report = RecoveryReport()
    groups = await journal.state("groups")
    children = await journal.state("children")
    live_groups = {gid for gid, g in groups.items() if g.get("state") not in _TERMINAL_GROUPS}
    report.groups_checked = len(live_groups)
    orders = await broker.orders()
    by_tag = {o.tag: o for o in orders if o.tag}
    by_id = {o.order_id: o for o in orders}

    for child_id, child in sorted(children.items()):
        if child.get("group_id") not in live_groups:
            continue
        order_id = child.get("order_id")
        if order_id is None:
            found = by_tag.get(child.get("tag") or "")
            if found is not None:
                report.adopted[child_id] = found.order_id
                await journal.write(
                    Entry(
                        kind="recovery.adopted",
                        group_id=child["group_id"],
                        data={"child_id": child_id, "order_id": found.order_id},
                        state=("children", child_id, _row(child, found)),
                    )
                )
            else:
                report.never_sent.append(child_id)
                await journal.write(
                    Entry(
                        kind="recovery.never_sent",
                        group_id=child["group_id"],
                        data={"child_id": child_id, "tag": child.get("tag")},
                        state=("children", child_id, {**child, "status": "NEVER SENT"}),
                    )
                )
            continue
        broker_order = by_id.get(order_id)
        if broker_order is None:
            report.differences.append(
                f"{child_id}: order {order_id} is in the journal but not at the broker"
            )
            continue
        if (str(broker_order.status), broker_order.filled_quantity) != (
            child.get("status"),
            child.get("filled_quantity"),
        ):
            report.updated[child_id] = f"{broker_order.status} {broker_order.filled_quantity}"
            report.differences.append(
                f"{child_id}: journal says {child.get('status')} "
                f"{child.get('filled_quantity')}, broker says {broker_order.status} "
                f"{broker_order.filled_quantity} — the broker wins"
            )
            await journal.write(
                Entry(
                    kind="recovery.updated",
                    group_id=child["group_id"],
                    data={
                        "child_id": child_id,
                        "status": str(broker_order.status),
                        "filled_quantity": broker_order.filled_quantity,
                    },
                    state=("children", child_id, _row(child, broker_order)),
                )
            )

    await _check_positions(journal, broker, store, report)
    await journal.write(Entry(kind="recovery.report", data=report.as_dict()))
    level = logging.INFO if report.clean else logging.WARNING
    log.log(level, "reconciliation: %s", report.as_dict())
    return report


async def _check_positions(
    journal: Journal, broker: Broker, store: InstrumentStore, report: RecoveryReport
) -> None:
    """Positions explained by journalled fills (after adoption), else external; and the
    hedged invariant on the broker's own positions."""
    children = await journal.state("children")
    explained: dict[str, int] = defaultdict(int)
    for child in children.values():
        sign = 1 if child.get("side") == "BUY" else -1
        explained[child.get("tradingsymbol", "")] += sign * int(child.get("filled_quantity") or 0)
    positions = await broker.positions()
    for position in positions:
        difference = position.quantity - explained.get(position.tradingsymbol, 0)
        if difference:
            report.external.append(
                f"{position.tradingsymbol}: broker {position.quantity:+d}, journal "
                f"{explained.get(position.tradingsymbol, 0):+d} ({difference:+d} external)"
            )
    report.unhedged.extend(unhedged_positions(positions, store))


def unhedged_positions(positions: Iterable[Position], store: InstrumentStore) -> list[str]:
    """Per underlying/expiry/right, where the broker's own positions hold more short than
    long: the hedged invariant checked on the broker's numbers."""
    short: dict[tuple[str, str, str], int] = defaultdict(int)
    long: dict[tuple[str, str, str], int] = defaultdict(int)
    for position in positions:
        try:
            instrument = store.get(position.instrument_token)
        except LookupError:
            continue
        if instrument.expiry is None or str(instrument.instrument_type) not in {"CE", "PE"}:
            continue
        key = (instrument.name, instrument.expiry.isoformat(), str(instrument.instrument_type))
        if position.quantity < 0:
            short[key] += -position.quantity
        else:
            long[key] += position.quantity
    return [
        f"{' '.join(key)}: {quantity} short against {long.get(key, 0)} long at the broker"
        for key, quantity in sorted(short.items())
        if quantity > long.get(key, 0)
    ]
