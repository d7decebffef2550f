"""The alert service: alerts published on the bus land in the centre and the journal, repeats
count on one alert, acknowledgments (with their note and time) survive closing and reopening,
bulk acknowledgment spares CRITICAL alerts, and the coordinator's own alert rows do not come
back as duplicates after a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.alert_service import (
    ADOPTED_ENTRY_KIND,
    AlertNotSavedError,
    AlertsChanged,
    AlertService,
)
from cockpit.bus import EventBus
from cockpit.clock import IST, ManualClock
from cockpit.domain.events import AlertAcknowledged, AlertRaised, AlertSeverity
from cockpit.execution.coordinator import Coordinator
from cockpit.risk.alerts import AlertDraft
from cockpit.store.journal import Journal
from tests.execution.engine_broker import EngineBroker

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=IST)


def raised(
    severity: AlertSeverity = AlertSeverity.CRITICAL,
    message: str = "NIFTY 26 Dec PE: short 130 > long 0",
    *,
    at: datetime = T0,
    key: str = "position-validator:NIFTY 26 Dec PE",
    alert_id: str = "pv-1",
    source: str = "position-validator",
) -> AlertRaised:
    return AlertRaised(
        at=at,
        alert_id=alert_id,
        severity=severity,
        title="Naked short",
        message=message,
        source=source,
        key=key,
    )


class Session:
    """One run of the app: a journal, a bus, a clock, the service, and what it published."""

    def __init__(self, journal: Journal, bus: EventBus, clock: ManualClock) -> None:
        self.journal, self.bus, self.clock = journal, bus, clock
        self.changed: list[AlertsChanged] = []
        self.acknowledged: list[AlertAcknowledged] = []
        self.raised: list[AlertRaised] = []
        bus.subscribe(AlertsChanged, self.changed.append)
        bus.subscribe(AlertAcknowledged, self.acknowledged.append)
        bus.subscribe(AlertRaised, self.raised.append)
        self.service: AlertService

    async def rows(self) -> dict[str, dict[str, Any]]:
        await self.service.flush()
        return await self.journal.state("alerts")

    async def kinds(self) -> list[str]:
        await self.service.flush()
        return [event.kind for event in await self.journal.events()]


def run_session(
    path: Path, scenario: Callable[[Session], Awaitable[Any]], start: datetime = T0
) -> Any:
    async def main() -> Any:
        async with await Journal.open(path) as journal:
            session = Session(journal, EventBus(), ManualClock(start))
            session.service = await AlertService.open(journal, session.bus, session.clock)
            try:
                return await scenario(session)
            finally:
                await session.service.aclose()

    return asyncio.run(main())


def test_an_alert_published_on_the_bus_lands_in_the_centre_and_the_journal(
    tmp_path: Path,
) -> None:
    async def scenario(s: Session) -> None:
        s.bus.publish(raised())
        [alert] = s.service.centre.alerts
        assert (alert.alert_id, alert.severity, alert.source, alert.count) == (
            "alert-1",
            AlertSeverity.CRITICAL,
            "position-validator",
            1,
        )
        assert alert.message == "NIFTY 26 Dec PE: short 130 > long 0"
        assert alert.raised_at == T0
        assert s.changed == [
            AlertsChanged(
                at=T0, unacknowledged_critical=1, unacknowledged=1, alert_ids=("alert-1",)
            )
        ]
        rows = await s.rows()
        assert list(rows) == ["alert-1"]
        assert rows["alert-1"]["key"] == "position-validator:NIFTY 26 Dec PE"
        assert rows["alert-1"]["acknowledged_at"] is None
        assert await s.kinds() == ["alert.raised"]
        assert s.bus.failures == 0

    run_session(tmp_path / "cockpit.db", scenario)


def test_the_same_condition_twice_is_one_alert_counted_twice(tmp_path: Path) -> None:
    async def scenario(s: Session) -> None:
        s.bus.publish(raised(message="short 130 > long 0"))
        s.bus.publish(raised(message="short 195 > long 0", at=T0 + timedelta(seconds=12)))
        # No key: the same source, title and message are the same condition.
        keyless = raised(AlertSeverity.WARNING, "spread wide", key="", alert_id="x")
        s.bus.publish(keyless)
        s.bus.publish(keyless)
        first, second = s.service.centre.alerts
        assert (first.count, first.message, first.last_at) == (
            2,
            "short 195 > long 0",
            T0 + timedelta(seconds=12),
        )
        assert (second.count, second.key) == (2, "position-validator:Naked short:spread wide")
        rows = await s.rows()
        assert sorted(rows) == ["alert-1", "alert-2"]
        assert rows["alert-1"]["count"] == 2
        assert rows["alert-1"]["message"] == "short 195 > long 0"
        assert await s.kinds() == [
            "alert.raised",
            "alert.updated",
            "alert.raised",
            "alert.updated",
        ]
        assert [c.unacknowledged for c in s.changed] == [1, 1, 2, 2]

    run_session(tmp_path / "cockpit.db", scenario)


def test_an_acknowledgment_with_its_note_is_journalled_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cockpit.db"
    acked_at = T0 + timedelta(minutes=3)

    async def first(s: Session) -> None:
        s.bus.publish(raised())
        s.clock.advance(180)
        done = await s.service.acknowledge(["alert-1"], "  hedged by hand at 25800 ")
        assert [(a.alert_id, a.acknowledged_at, a.ack_note) for a in done] == [
            ("alert-1", acked_at, "hedged by hand at 25800")
        ]
        assert s.acknowledged == [AlertAcknowledged(at=acked_at, alert_id="alert-1")]
        assert s.changed[-1] == AlertsChanged(
            at=acked_at, unacknowledged_critical=0, unacknowledged=0, alert_ids=("alert-1",)
        )
        row = (await s.rows())["alert-1"]
        assert (row["acknowledged_at"], row["ack_note"]) == (
            acked_at.isoformat(),
            "hedged by hand at 25800",
        )
        assert await s.kinds() == ["alert.raised", "alert.acknowledged"]
        # Acknowledging it again changes nothing and announces nothing.
        assert await s.service.acknowledge(["alert-1"], "again") == []
        assert len(s.acknowledged) == 1

    async def second(s: Session) -> None:
        [alert] = s.service.centre.alerts
        assert alert.is_acknowledged
        assert (alert.acknowledged_at, alert.ack_note) == (acked_at, "hedged by hand at 25800")
        assert s.service.centre.unacknowledged() == []
        # The same condition found again after the acknowledgment is a new alert.
        s.bus.publish(raised(at=T0 + timedelta(hours=1)))
        assert [(a.alert_id, a.count) for a in s.service.centre.unacknowledged()] == [
            ("alert-2", 1)
        ]

    run_session(path, first)
    run_session(path, second, start=T0 + timedelta(hours=1))


def test_acknowledging_all_warnings_leaves_critical_alerts_waiting(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.db"

    async def first(s: Session) -> None:
        s.bus.publish(raised())
        s.bus.publish(raised(AlertSeverity.WARNING, "spread wide", key="w1"))
        s.bus.publish(raised(AlertSeverity.WARNING, "IV stale", key="w2"))
        s.bus.publish(raised(AlertSeverity.INFO, "reconnected", key="i1"))
        done = await s.service.acknowledge_all_warnings("seen")
        assert [a.message for a in done] == ["spread wide", "IV stale"]
        assert [e.alert_id for e in s.acknowledged] == ["alert-2", "alert-3"]
        waiting = s.service.centre.unacknowledged()
        assert [(a.severity, a.message) for a in waiting] == [
            (AlertSeverity.CRITICAL, "NIFTY 26 Dec PE: short 130 > long 0"),
            (AlertSeverity.INFO, "reconnected"),
        ]
        last = s.changed[-1]
        assert (last.unacknowledged_critical, last.unacknowledged) == (1, 2)
        assert await s.service.acknowledge_all_warnings() == []

    async def second(s: Session) -> None:
        centre = s.service.centre
        assert centre.unacknowledged_critical() == 1
        assert [a.ack_note for a in centre.history(acknowledged=True)] == ["seen", "seen"]

    run_session(path, first)
    run_session(path, second)


def test_acknowledging_an_unknown_id_acknowledges_nothing(tmp_path: Path) -> None:
    async def scenario(s: Session) -> None:
        s.bus.publish(raised())
        with pytest.raises(KeyError, match="alert-9"):
            await s.service.acknowledge(["alert-1", "alert-9"], "both")
        assert s.service.centre.unacknowledged_critical() == 1
        assert s.acknowledged == []

    run_session(tmp_path / "cockpit.db", scenario)


def test_a_coordinator_alert_shows_once_and_stays_acknowledged_after_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cockpit.db"

    async def first(s: Session) -> None:
        venue = EngineBroker(s.bus, seed=1)
        coordinator = Coordinator(venue, s.journal, s.bus, s.clock, venue.store)
        try:
            coordinator.alert(AlertSeverity.CRITICAL, "recovery: unhedged at the broker: NIFTY")
            coordinator.alert(AlertSeverity.CRITICAL, "recovery: unhedged at the broker: NIFTY")
        finally:
            await coordinator.aclose()
            await venue.aclose()
        [alert] = s.service.centre.alerts
        assert (alert.source, alert.count, alert.title) == ("coordinator", 2, "exposure")
        # The coordinator's own rows are replaced by the centre's.
        assert list(await s.rows()) == ["alert-1"]
        kinds = await s.kinds()
        assert kinds.count("alert") == 2 and kinds.count(ADOPTED_ENTRY_KIND) == 2
        await s.service.acknowledge(["alert-1"], "checked the broker")

    async def second(s: Session) -> None:
        [alert] = s.service.centre.alerts
        assert alert.message == "recovery: unhedged at the broker: NIFTY"
        assert (alert.is_acknowledged, alert.ack_note) == (True, "checked the broker")
        assert s.service.centre.unacknowledged_critical() == 0

    run_session(path, first)
    run_session(path, second)


def test_a_coordinator_row_left_without_the_service_is_still_adopted(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.db"

    async def without_service() -> None:
        async with await Journal.open(path) as journal:
            bus = EventBus()
            venue = EngineBroker(bus, seed=1)
            coordinator = Coordinator(venue, journal, bus, ManualClock(T0), venue.store)
            coordinator.alert(AlertSeverity.CRITICAL, "stop-loss failed: SL rejected")
            await coordinator.aclose()
            await venue.aclose()
            await journal.flush()

    async def scenario(s: Session) -> None:
        [alert] = s.service.centre.alerts
        assert (alert.source, alert.severity, alert.message) == (
            "coordinator",
            AlertSeverity.CRITICAL,
            "stop-loss failed: SL rejected",
        )
        [legacy_id] = await s.rows()
        await s.service.acknowledge([legacy_id], "re-placed the stop")
        assert (await s.rows())[legacy_id]["ack_note"] == "re-placed the stop"

    async def reopened(s: Session) -> None:
        [alert] = s.service.centre.alerts
        assert (alert.is_acknowledged, alert.ack_note) == (True, "re-placed the stop")

    asyncio.run(without_service())
    run_session(path, scenario)
    run_session(path, reopened)


def test_a_draft_raised_through_the_service_is_published_once_and_counted_once(
    tmp_path: Path,
) -> None:
    async def scenario(s: Session) -> None:
        draft = AlertDraft(
            key="exercise:NIFTY 24000 CE",
            severity=AlertSeverity.WARNING,
            title="Exercise risk",
            message="ITM short into expiry",
            source="exercise-monitor",
            group_id="G7",
        )
        alert = s.service.raise_draft(draft)
        assert (alert.alert_id, alert.count, alert.group_id) == ("alert-1", 1, "G7")
        [event] = s.raised
        assert (event.alert_id, event.key, event.severity) == (
            "alert-1",
            "exercise:NIFTY 24000 CE",
            AlertSeverity.WARNING,
        )
        assert len(s.service.centre) == 1 and alert.count == 1
        assert (await s.rows())["alert-1"]["group_id"] == "G7"
        assert [c.alert_ids for c in s.changed] == [("alert-1",)]

    run_session(tmp_path / "cockpit.db", scenario)


def test_a_failed_write_is_logged_and_never_raised_into_the_bus(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(s: Session) -> None:
        await s.journal.aclose()
        with caplog.at_level(logging.ERROR, logger="cockpit.alert_service"):
            s.bus.publish(raised())
            await s.service.flush()
        assert s.bus.failures == 0
        assert s.service.centre.unacknowledged_critical() == 1  # still shown this session
        assert "alert alert-1 (critical, NIFTY 26 Dec PE: short 130 > long 0) could not be" in (
            caplog.text
        )
        assert s.service.pending_writes == 0

    run_session(tmp_path / "cockpit.db", scenario)


def test_an_acknowledgment_the_journal_refuses_holds_for_the_session_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(s: Session) -> None:
        s.bus.publish(raised())
        await s.service.flush()
        await s.journal.aclose()
        with (
            caplog.at_level(logging.ERROR, logger="cockpit.alert_service"),
            pytest.raises(AlertNotSavedError, match="acknowledgment of alert-1 was not saved"),
        ):
            await s.service.acknowledge(["alert-1"], "hedged")
        assert s.service.centre.get("alert-1").ack_note == "hedged"
        assert [e.alert_id for e in s.acknowledged] == ["alert-1"]
        assert s.changed[-1].unacknowledged_critical == 0

    run_session(tmp_path / "cockpit.db", scenario)
