"""Start-up recovery: the first thing the window and every trading command do.

Four steps, each announced as a :class:`RecoveryProgressed` event (the window's status bar
shows them): (1) the journal is reconciled with the broker, broker wins
(:func:`cockpit.store.recovery.reconcile_journal`: intents adopted by tag or marked never
sent, statuses and fills corrected); (2) the groups are rebuilt from the corrected journal
(:mod:`cockpit.execution.restore`) and handed to the coordinator — every group whose contracts
have not expired, finished or not, so its fills explain broker positions and count in the
exposure; (3) each unfinished group is resumed from where it truly is
(:meth:`~cockpit.execution.coordinator.Coordinator.resume`) and every stop-loss that had not
finished is taken over at the broker or re-armed (:meth:`~cockpit.execution.coordinator.
Coordinator.resume_stops`); (4) broker positions are compared
with the groups — what no group explains is external and alerted, and any short the broker
shows uncovered is seen by the coordinator's hedger at once. Every difference becomes an
alert; the whole report is journalled (``recovery.report``) and published
(:class:`RecoveryFinished`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cockpit.broker.base import Broker
from cockpit.bus import EventBus
from cockpit.clock import Clock
from cockpit.domain.events import AlertSeverity
from cockpit.domain.groups import TERMINAL_STATES, GroupState
from cockpit.domain.instruments import InstrumentStore
from cockpit.execution.coordinator import Coordinator
from cockpit.execution.events import RecoveryFinished, RecoveryProgressed
from cockpit.execution.restore import RestoreError, restore_group
from cockpit.store.journal import Entry, Journal
from cockpit.store.recovery import RecoveryReport, reconcile_journal

log = logging.getLogger(__name__)

TERMINAL = frozenset(str(state) for state in TERMINAL_STATES)

STEPS = (
    "reconciling the journal with the broker",
    "rebuilding order groups",
    "resuming unfinished groups",
    "checking broker positions",
)


@dataclass(slots=True)
class StartupReport:
    reconciliation: RecoveryReport
    restored: list[str] = field(default_factory=list)  # group ids handed to the coordinator
    resumed: dict[str, str] = field(default_factory=dict)  # group id → what resume did
    stops: dict[str, str] = field(default_factory=dict)  # stop tag → its state once taken over
    unrestorable: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.reconciliation.clean and not (self.unrestorable or self.external)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.reconciliation.as_dict(),
            "restored": self.restored,
            "resumed": self.resumed,
            "stops": self.stops,
            "unrestorable": self.unrestorable,
            "external": sorted(set(self.reconciliation.external) | set(self.external)),
            "clean": self.clean,
        }


async def recover(
    journal: Journal,
    broker: Broker,
    store: InstrumentStore,
    coordinator: Coordinator,
    clock: Clock,
    bus: EventBus | None = None,
) -> StartupReport:
    """Run the four steps (module docstring) and return what they found and did."""

    def progress(step: int, detail: str = "") -> None:
        text = STEPS[step - 1] + (f": {detail}" if detail else "")
        log.info("recovery %d/%d: %s", step, len(STEPS), text)
        if bus is not None:
            bus.publish(
                RecoveryProgressed(at=clock.now(), step=step, total=len(STEPS), detail=text)
            )

    progress(1)
    reconciled = await reconcile_journal(journal, broker, store)
    report = StartupReport(reconciliation=reconciled)
    progress(2)
    rows = await journal.state("groups")
    children = await journal.state("children")
    today = clock.now().date()
    for group_id, row in sorted(rows.items(), key=lambda kv: str(kv[1].get("created_at"))):
        if group_id in coordinator.groups or not _still_relevant(row, today):
            continue
        try:
            restored = restore_group(row, children, store)
        except RestoreError as error:
            report.unrestorable.append(str(error))
            continue
        coordinator.adopt(restored)
        report.restored.append(group_id)
    progress(3, f"{len(report.restored)} group(s) rebuilt")
    for group_id in report.restored:
        if not coordinator.groups[group_id].is_terminal:
            report.resumed[group_id] = await coordinator.resume(group_id)
    report.stops = await coordinator.resume_stops()
    progress(4)
    external = await coordinator.reconcile_positions()
    report.external = [
        f"{instrument.tradingsymbol}: {quantity:+d} not explained by any group"
        for instrument, quantity in external.values()
    ]
    for message in (
        reconciled.differences
        + [f"never sent: {child}" for child in reconciled.never_sent]
        + report.unrestorable
    ):
        coordinator.alert(AlertSeverity.WARNING, f"recovery: {message}")
    for message in reconciled.unhedged:
        coordinator.alert(AlertSeverity.CRITICAL, f"recovery: unhedged at the broker: {message}")
    await journal.write(Entry(kind="recovery.startup", data=report.as_dict()))
    if bus is not None:
        bus.publish(RecoveryFinished(at=clock.now(), report=report))
    log.log(
        logging.INFO if report.clean else logging.WARNING,
        "recovery done: %d restored, %d resumed, %d difference(s), %d external",
        len(report.restored),
        len(report.resumed),
        len(reconciled.differences),
        len(report.external),
    )
    return report


def _still_relevant(row: Mapping[str, Any], today: date) -> bool:
    """A group matters after a restart while any of its contracts trades: unfinished, or
    holding a position the broker may still show."""
    state = row.get("state")
    if state not in TERMINAL:
        return True
    if state == GroupState.REJECTED:
        return False
    for leg in row.get("legs") or ():
        try:
            if date.fromisoformat(leg["expiry"]) >= today and leg.get("filled_quantity"):
                return True
        except (KeyError, TypeError, ValueError):
            return True  # unreadable: let restore_group say what is wrong
    return False
