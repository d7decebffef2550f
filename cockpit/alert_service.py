"""The alert service: every alert raised anywhere lands in one journalled alert centre.

This module is responsible for keeping the app's :class:`~cockpit.risk.alerts.AlertCentre`
whole and durable while the app runs, with no Qt. :meth:`AlertService.open` loads the centre
from the journal (:func:`~cockpit.store.alert_log.load_alerts`) and subscribes to
:class:`~cockpit.domain.events.AlertRaised` on the bus, so an alert from the coordinator, from
start-up recovery or from a checker becomes a row of the centre — a repeat of a condition
(``event.key``, else source, title and message) still unacknowledged counts on the alert
already there — and is journalled by a write task the service owns (a failed write is logged,
never raised into the bus). The coordinator also keeps its own older ``alerts`` row for each
of its alerts; once the centre's row for it is committed that row is removed, so a restart
shows the alert once and an acknowledgment sticks (a row left by a crash in between is adopted
by ``load_alerts`` and shows twice rather than never). :meth:`AlertService.acknowledge` and
:meth:`AlertService.acknowledge_all_warnings` journal the trader's acknowledgment before
announcing it (:class:`~cockpit.domain.events.AlertAcknowledged` per alert); every change of
the centre is announced as :class:`AlertsChanged` for the window's badge, banner and table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from cockpit.bus import EventBus
from cockpit.clock import Clock
from cockpit.domain.events import AlertAcknowledged, AlertRaised, AlertSeverity
from cockpit.risk.alerts import Alert, AlertCentre, AlertDraft, alert_raised
from cockpit.store.alert_log import LEGACY_SOURCE, TABLE, load_alerts, persist_alert
from cockpit.store.journal import Entry, Journal

log = logging.getLogger(__name__)

ADOPTED_ENTRY_KIND = "alert.adopted"
"""The journal entry that removes the coordinator's own row once the centre's row holds it."""

_UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsChanged:
    """The alert centre changed at ``at``: ``unacknowledged_critical`` CRITICAL alerts and
    ``unacknowledged`` alerts in all wait for the trader; ``alert_ids`` are the alerts that
    were raised, repeated or acknowledged."""

    at: datetime
    unacknowledged_critical: int
    unacknowledged: int
    alert_ids: tuple[str, ...] = ()


class AlertNotSavedError(RuntimeError):
    """An acknowledgment holds in this session but could not be journalled: after a restart
    the alert shows as unacknowledged again."""


def condition_key(event: AlertRaised) -> str:
    """The condition ``event`` reports: its ``key``, else its source, title and message."""
    return event.key or f"{event.source}:{event.title}:{event.message}"


def _group_of(event: AlertRaised) -> str | None:
    # AlertRaised carries no group id; the coordinator titles a group's alerts "group <id>".
    if event.source == LEGACY_SOURCE and event.title.startswith("group "):
        return event.title.removeprefix("group ").strip() or None
    return None


class AlertService:
    """Owns the alert centre for one journal and bus; see the module docstring.

    Open with ``await AlertService.open(journal, bus, clock)``; ``await service.aclose()``
    before the journal is closed (it waits for the writes still pending)."""

    def __init__(self, journal: Journal, bus: EventBus, clock: Clock, centre: AlertCentre) -> None:
        self._journal = journal
        self._bus = bus
        self._clock = clock
        self._centre = centre
        self._writes: set[asyncio.Task[bool]] = set()
        self._publishing: AlertRaised | None = None  # our own event, not to be raised twice
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False

    @classmethod
    async def open(cls, journal: Journal, bus: EventBus, clock: Clock) -> AlertService:
        """The service with the centre the journal holds, listening for alerts on ``bus``."""
        centre = await load_alerts(journal, now=clock.now())
        service = cls(journal, bus, clock, centre)
        service._unsubscribe = bus.subscribe(AlertRaised, service._on_alert_raised)
        waiting = centre.unacknowledged()
        log.info(
            "alert centre loaded: %d alert(s), %d unacknowledged (%d CRITICAL)",
            len(centre),
            len(waiting),
            centre.unacknowledged_critical(),
        )
        return service

    @property
    def centre(self) -> AlertCentre:
        """The alerts, for reading (change them only through this service)."""
        return self._centre

    @property
    def bus(self) -> EventBus:
        return self._bus

    @property
    def pending_writes(self) -> int:
        return len(self._writes)

    # ---- raising ---------------------------------------------------------------------------

    def _on_alert_raised(self, event: AlertRaised) -> None:
        if event is self._publishing or self._closed:
            return
        alert = self._centre.raise_(
            condition_key(event),
            event.severity,
            event.source or _UNKNOWN_SOURCE,
            event.message,
            event.at,
            title=event.title,
            group_id=_group_of(event),
        )
        self._spawn_write(alert, replaces=self._coordinator_row(event))
        self._publish_changed(alert.alert_id)

    def _coordinator_row(self, event: AlertRaised) -> str | None:
        """The id of the coordinator's own ``alerts`` row for ``event``, if it wrote one."""
        if event.source != LEGACY_SOURCE or event.key:
            return None
        try:
            self._centre.get(event.alert_id)
        except KeyError:
            return event.alert_id
        return None  # one of the centre's ids: never the coordinator's row

    def raise_draft(self, draft: AlertDraft, at: datetime | None = None) -> Alert:
        """Raise a checker's draft (at ``at``, default now), journal it and publish its
        :class:`AlertRaised` under the centre's id and the draft's key."""
        if self._closed:
            raise RuntimeError(f"the alert service is closed; {draft.key!r} was not raised")
        alert = self._centre.raise_draft(draft, at or self._clock.now())
        self._spawn_write(alert)
        event = replace(alert_raised(alert), key=alert.key)
        self._publishing = event
        try:
            self._bus.publish(event)
        finally:
            self._publishing = None
        self._publish_changed(alert.alert_id)
        return alert

    # ---- acknowledging ---------------------------------------------------------------------

    async def acknowledge(self, alert_ids: Iterable[str], note: str = "") -> list[Alert]:
        """Acknowledge the alerts ``alert_ids`` (all or none: KeyError names an unknown id)
        with ``note``; returns those that were unacknowledged, once journalled.
        :class:`AlertNotSavedError` if a write failed (the acknowledgment holds until a
        restart)."""
        ids = list(dict.fromkeys(alert_ids))
        waiting = {alert_id for alert_id in ids if not self._centre.get(alert_id).is_acknowledged}
        acknowledged = self._centre.acknowledge_many(ids, self._clock.now(), note.strip())
        return await self._record([a for a in acknowledged if a.alert_id in waiting])

    async def acknowledge_all_warnings(self, note: str = "") -> list[Alert]:
        """Acknowledge every unacknowledged WARNING (never a CRITICAL: each of those is
        acknowledged on its own); returns them once journalled."""
        acknowledged = self._centre.acknowledge_all(
            self._clock.now(), AlertSeverity.WARNING, note.strip()
        )
        return await self._record(acknowledged)

    async def _record(self, acknowledged: list[Alert]) -> list[Alert]:
        if not acknowledged:
            return []
        writes = [self._spawn_write(alert) for alert in acknowledged]
        saved = await asyncio.gather(*writes)
        for alert in acknowledged:
            assert alert.acknowledged_at is not None
            self._bus.publish(AlertAcknowledged(at=alert.acknowledged_at, alert_id=alert.alert_id))
        self._publish_changed(*(alert.alert_id for alert in acknowledged))
        unsaved = [alert.alert_id for alert, ok in zip(acknowledged, saved, strict=True) if not ok]
        if unsaved:
            raise AlertNotSavedError(
                f"acknowledgment of {', '.join(unsaved)} was not saved to the journal (see the "
                "log); after a restart it shows as unacknowledged again"
            )
        log.info(
            "acknowledged %s%s",
            ", ".join(alert.alert_id for alert in acknowledged),
            f": {acknowledged[0].ack_note}" if acknowledged[0].ack_note else "",
        )
        return acknowledged

    # ---- journal and bus -------------------------------------------------------------------

    def _spawn_write(self, alert: Alert, *, replaces: str | None = None) -> asyncio.Task[bool]:
        # Tasks start in creation order, so the rows reach the journal's queue in that order.
        task = asyncio.create_task(
            self._write(alert, replaces), name=f"alert log: {alert.alert_id} ({alert.count})"
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def _write(self, alert: Alert, replaces: str | None) -> bool:
        try:
            await persist_alert(self._journal, alert)
            if replaces is not None and replaces != alert.alert_id:
                await self._journal.write(
                    Entry(
                        kind=ADOPTED_ENTRY_KIND,
                        data={"alert_id": alert.alert_id, "replaces": replaces},
                        group_id=alert.group_id,
                        state=(TABLE, replaces, None),
                        at=alert.last_at,
                    )
                )
        except Exception:
            log.exception(
                "alert %s (%s, %s) could not be journalled",
                alert.alert_id,
                alert.severity,
                alert.message,
            )
            return False
        return True

    def _publish_changed(self, *alert_ids: str) -> None:
        self._bus.publish(
            AlertsChanged(
                at=self._clock.now(),
                unacknowledged_critical=self._centre.unacknowledged_critical(),
                unacknowledged=len(self._centre.unacknowledged()),
                alert_ids=alert_ids,
            )
        )

    async def flush(self) -> None:
        """Return once every write started so far has finished (failed ones are logged)."""
        while self._writes:
            await asyncio.gather(*self._writes)

    async def aclose(self) -> None:
        """Stop listening and wait for the pending writes; idempotent."""
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.flush()
