"""The alert log: alerts raised, repeated and acknowledged survive closing and reopening the
journal; the coordinator's older alert rows are adopted, not dropped."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from cockpit.clock import IST
from cockpit.domain.events import AlertSeverity
from cockpit.risk.alerts import AlertCentre
from cockpit.store import Entry, Journal
from cockpit.store.alert_log import (
    AlertEntryKind,
    entry_kind,
    load_alerts,
    persist_alert,
)

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=IST)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_acknowledged_alert_is_still_acknowledged_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.db"

    async def first_session() -> tuple[str, str]:
        async with await Journal.open(path) as journal:
            centre = await load_alerts(journal)
            assert len(centre) == 0
            breach = centre.raise_(
                "position-validator:1001",
                AlertSeverity.CRITICAL,
                "position-validator",
                "short 130 > long 0",
                T0,
                group_id="G1",
            )
            await persist_alert(journal, breach, AlertEntryKind.RAISED)
            repeat = centre.raise_(
                "position-validator:1001",
                AlertSeverity.CRITICAL,
                "position-validator",
                "short 130 > long 0",
                at(12),
            )
            await persist_alert(journal, repeat, AlertEntryKind.UPDATED)
            acked = centre.acknowledge(breach.alert_id, at(40), "hedged by hand at 25800")
            await persist_alert(journal, acked, AlertEntryKind.ACKNOWLEDGED)
            warning = centre.raise_("k2", AlertSeverity.WARNING, "exercise-monitor", "near", at(50))
            await persist_alert(journal, warning)  # kind from the alert: raised
            kinds = [e.kind for e in await journal.events()]
            assert kinds == ["alert.raised", "alert.updated", "alert.acknowledged", "alert.raised"]
            events = await journal.events(group_id="G1")
            assert [e.at for e in events] == [T0, at(12), at(40)]
            return breach.alert_id, warning.alert_id

    async def second_session() -> AlertCentre:
        async with await Journal.open(path) as journal:
            return await load_alerts(journal)

    breach_id, warning_id = asyncio.run(first_session())
    centre = asyncio.run(second_session())

    breach = centre.get(breach_id)
    assert breach.acknowledged_at == at(40)
    assert breach.ack_note == "hedged by hand at 25800"
    assert breach.count == 2
    assert (breach.raised_at, breach.last_at) == (T0, at(12))
    assert breach.group_id == "G1"
    assert centre.unacknowledged_critical() == 0
    assert [a.alert_id for a in centre.unacknowledged()] == [warning_id]
    # The repeat of the open warning still dedupes; a new id follows the loaded ones.
    assert centre.raise_("k2", AlertSeverity.WARNING, "exercise-monitor", "near", at(60)).count == 2
    assert centre.raise_("k3", AlertSeverity.INFO, "s", "m", at(61)).alert_id == "alert-3"


def test_entry_kind_follows_the_alerts_state() -> None:
    centre = AlertCentre()
    first = centre.raise_("k", AlertSeverity.WARNING, "s", "m", T0)
    assert entry_kind(first) is AlertEntryKind.RAISED
    again = centre.raise_("k", AlertSeverity.WARNING, "s", "m", at(1))
    assert entry_kind(again) is AlertEntryKind.UPDATED
    assert entry_kind(centre.acknowledge(again.alert_id, at(2))) is AlertEntryKind.ACKNOWLEDGED


def test_coordinator_alert_rows_are_adopted_unacknowledged(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.db"
    row = {"severity": "critical", "message": "group G7: short ahead of protection"}

    async def main() -> AlertCentre:
        async with await Journal.open(path) as journal:
            # As the coordinator writes them (cockpit/execution/coordinator.py, _alert).
            await journal.write(
                Entry(kind="alert", data=row, state=("alerts", "a1-0f3c2d", row), at=at(5))
            )
            centre = await load_alerts(journal, now=at(100))
            adopted = centre.get("a1-0f3c2d")
            acked = centre.acknowledge(adopted.alert_id, at(110), "seen")
            await persist_alert(journal, acked)
        async with await Journal.open(path) as journal:
            return await load_alerts(journal, now=at(200))

    centre = asyncio.run(main())
    alert = centre.get("a1-0f3c2d")
    assert alert.source == "coordinator"
    assert alert.severity is AlertSeverity.CRITICAL
    assert alert.message == "group G7: short ahead of protection"
    assert alert.raised_at == at(5)  # the time of the coordinator's journal event
    assert (alert.acknowledged_at, alert.ack_note) == (at(110), "seen")
