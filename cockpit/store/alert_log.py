"""The alert log: the alert centre's alerts kept in, and read back from, the journal.

This module is responsible for persisting :class:`~cockpit.risk.alerts.Alert` values through
the :class:`~cockpit.store.journal.Journal`: :func:`persist_alert` writes one entry
(``alert.raised``, ``alert.updated`` or ``alert.acknowledged``) whose data is the alert's row
and which upserts the same row into the ``alerts`` state table in the same transaction;
:func:`load_alerts` rebuilds an :class:`~cockpit.risk.alerts.AlertCentre` from that table at
start-up, so an acknowledgment (its time and note) and a repeat count survive a restart. The
coordinator also writes rows into ``alerts`` in an older, shorter shape (``severity`` and
``message`` only, under its own ids); those are adopted as unacknowledged alerts from source
``coordinator`` — a CRITICAL alert must never vanish because of its row's shape — timed by the
journal event that raised them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from cockpit.clock import IST
from cockpit.domain.events import AlertSeverity
from cockpit.risk.alerts import Alert, AlertCentre, from_row, to_row
from cockpit.store.journal import Entry, Journal

log = logging.getLogger(__name__)

TABLE = "alerts"
LEGACY_SOURCE = "coordinator"
_LEGACY_EVENT_KIND = "alert"


class AlertEntryKind(StrEnum):
    RAISED = "alert.raised"
    UPDATED = "alert.updated"
    ACKNOWLEDGED = "alert.acknowledged"


def entry_kind(alert: Alert) -> AlertEntryKind:
    """The entry kind for ``alert`` as :meth:`AlertCentre.raise_` or ``acknowledge`` left it."""
    if alert.is_acknowledged:
        return AlertEntryKind.ACKNOWLEDGED
    return AlertEntryKind.RAISED if alert.count == 1 else AlertEntryKind.UPDATED


async def persist_alert(
    journal: Journal, alert: Alert, kind: AlertEntryKind | str | None = None
) -> int:
    """Journal ``alert`` (``kind`` defaults to :func:`entry_kind`) and return the entry's
    sequence number once it is committed."""
    entry_kind_ = AlertEntryKind(kind) if kind is not None else entry_kind(alert)
    row = to_row(alert)
    at = {
        AlertEntryKind.RAISED: alert.raised_at,
        AlertEntryKind.UPDATED: alert.last_at,
        AlertEntryKind.ACKNOWLEDGED: alert.acknowledged_at or alert.last_at,
    }[entry_kind_]
    return await journal.write(
        Entry(
            kind=entry_kind_.value,
            data=row,
            group_id=alert.group_id,
            state=(TABLE, alert.alert_id, row),
            at=at,
        )
    )


def _is_legacy(row: Mapping[str, Any]) -> bool:
    return "key" not in row and "severity" in row and "message" in row


async def _legacy_times(journal: Journal) -> dict[tuple[str, str], datetime]:
    """(severity, message) → when the coordinator's last ``alert`` event said so."""
    times: dict[tuple[str, str], datetime] = {}
    for event in await journal.events(kinds=[_LEGACY_EVENT_KIND]):
        times[(str(event.data.get("severity")), str(event.data.get("message")))] = event.at
    return times


def _adopt(
    alert_id: str, row: Mapping[str, Any], times: Mapping[tuple[str, str], datetime], now: datetime
) -> Alert:
    severity, message = str(row["severity"]), str(row["message"])
    at = times.get((severity, message), now)
    return Alert(
        alert_id=alert_id,
        key=f"{LEGACY_SOURCE}:{alert_id}",
        severity=AlertSeverity(severity),
        source=LEGACY_SOURCE,
        message=message,
        raised_at=at,
        group_id=None,
        count=1,
        last_at=at,
    )


async def load_alerts(journal: Journal, *, now: datetime | None = None) -> AlertCentre:
    """The alert centre as the journal's ``alerts`` table left it. Coordinator rows in the
    older shape are adopted (see the module docstring); one with no matching journal event is
    timed ``now`` (default: the current time). ValueError names a row that is neither."""
    rows = await journal.state(TABLE)
    legacy = {alert_id: row for alert_id, row in rows.items() if _is_legacy(row)}
    alerts = [from_row(row) for alert_id, row in rows.items() if alert_id not in legacy]
    if legacy:
        times = await _legacy_times(journal)
        when = now or datetime.now(IST)
        alerts += [_adopt(alert_id, row, times, when) for alert_id, row in legacy.items()]
        log.info("adopted %d coordinator alert(s) into the alert centre", len(legacy))
    return AlertCentre(alerts)
