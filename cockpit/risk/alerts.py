"""The alert centre model: every alert the trader has been shown, deduplicated and acknowledged.

This module is responsible for the alert centre's state, with no Qt and no I/O.
:class:`AlertCentre` holds :class:`Alert` values in the order they were raised. A condition
that repeats — the same ``key`` while its alert is still unacknowledged — bumps that alert's
``count`` and ``last_at`` (and takes the newer message, and the higher severity) instead of
adding a row, so a validator that finds the same mismatch every 12 seconds shows one line, not
three hundred; once the trader acknowledges it, the next occurrence is a new alert. Alerts are
acknowledged one, a selection, or all of one severity at a time, except that CRITICAL alerts
are never acknowledged in bulk: each one demands that the trader look at it.
:func:`to_row` and :func:`from_row` turn an alert into a JSON-safe row and back (ISO
datetimes), the shape the caller keeps in the journal's ``alerts`` state table;
:class:`AlertDraft` is what a checker (the position validator, the exercise monitor) hands the
centre to raise, and :func:`alert_raised` the :class:`~cockpit.domain.events.AlertRaised` event
to publish for an alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cockpit.clock import IST
from cockpit.domain.events import AlertRaised, AlertSeverity

SEVERITY_RANK: Mapping[AlertSeverity, int] = {
    AlertSeverity.INFO: 0,
    AlertSeverity.WARNING: 1,
    AlertSeverity.CRITICAL: 2,
}

_ID_PREFIX = "alert-"


def _require_aware(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__} {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """An alert a checker wants raised: ``key`` identifies the condition, so the same
    condition found again dedupes onto the alert already showing."""

    key: str
    severity: AlertSeverity
    title: str
    message: str
    source: str
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One row of the alert centre. ``count`` occurrences of condition ``key``, first at
    ``raised_at`` and last at ``last_at``; ``message`` is the latest occurrence's.
    ``acknowledged_at`` is None until the trader acknowledges it (with ``ack_note``)."""

    alert_id: str
    key: str
    severity: AlertSeverity
    source: str
    message: str
    raised_at: datetime
    group_id: str | None
    count: int
    last_at: datetime
    acknowledged_at: datetime | None = None
    ack_note: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        where = f"alert {self.alert_id!r}"
        if not isinstance(self.alert_id, str) or not self.alert_id:
            raise ValueError(f"alert: alert_id must be given, got {self.alert_id!r}")
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"{where}: key must be given, got {self.key!r}")
        if not isinstance(self.severity, AlertSeverity):
            raise ValueError(f"{where}: severity must be an AlertSeverity, got {self.severity!r}")
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"{where}: source must be given, got {self.source!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"{where}: count must be a whole number ≥ 1, got {self.count!r}")
        _require_aware(self.raised_at, f"{where}: raised_at")
        _require_aware(self.last_at, f"{where}: last_at")
        if self.acknowledged_at is not None:
            _require_aware(self.acknowledged_at, f"{where}: acknowledged_at")

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None


def to_row(alert: Alert) -> dict[str, Any]:
    """The alert as a JSON-safe row (datetimes as ISO strings, severity as its value)."""
    acknowledged = alert.acknowledged_at
    return {
        "alert_id": alert.alert_id,
        "key": alert.key,
        "severity": alert.severity.value,
        "source": alert.source,
        "title": alert.title,
        "message": alert.message,
        "raised_at": alert.raised_at.isoformat(),
        "group_id": alert.group_id,
        "count": alert.count,
        "last_at": alert.last_at.isoformat(),
        "acknowledged_at": None if acknowledged is None else acknowledged.isoformat(),
        "ack_note": alert.ack_note,
    }


def _time(row: Mapping[str, Any], name: str) -> datetime:
    text = row.get(name)
    if not isinstance(text, str):
        raise ValueError(f"alert row {row.get('alert_id')!r}: {name} must be an ISO string")
    value = _require_aware(datetime.fromisoformat(text), f"alert row {name}")
    return value.astimezone(IST)


def from_row(row: Mapping[str, Any]) -> Alert:
    """The alert a :func:`to_row` row describes; ValueError naming the field if it is not
    one."""
    try:
        acknowledged = row.get("acknowledged_at")
        return Alert(
            alert_id=row["alert_id"],
            key=row["key"],
            severity=AlertSeverity(row["severity"]),
            source=row["source"],
            message=row["message"],
            raised_at=_time(row, "raised_at"),
            group_id=row.get("group_id"),
            count=row["count"],
            last_at=_time(row, "last_at"),
            acknowledged_at=None if acknowledged is None else _time(row, "acknowledged_at"),
            ack_note=row.get("ack_note", ""),
            title=row.get("title", ""),
        )
    except KeyError as missing:
        raise ValueError(f"alert row {dict(row)!r} lacks {missing}") from None


def alert_raised(alert: Alert) -> AlertRaised:
    """The event to publish for ``alert`` as it stands now (at its latest occurrence)."""
    return AlertRaised(
        at=alert.last_at,
        alert_id=alert.alert_id,
        severity=alert.severity,
        title=alert.title or alert.source,
        message=alert.message,
        source=alert.source,
    )


class AlertCentre:
    """Every alert raised, in raise order, with at most one unacknowledged alert per key.

    Ids are ``alert-1``, ``alert-2`` …, continuing after the highest loaded one, so an id is
    never given twice by the centres of one journal.
    """

    def __init__(self, alerts: Iterable[Alert] = ()) -> None:
        self._alerts: dict[str, Alert] = {}
        self._open_by_key: dict[str, str] = {}  # key → id of its unacknowledged alert
        self._last_number = 0
        for alert in sorted(alerts, key=lambda a: (a.raised_at, a.alert_id)):
            if alert.alert_id in self._alerts:
                raise ValueError(f"alert id {alert.alert_id!r} repeats")
            self._store(alert)
            number = alert.alert_id.removeprefix(_ID_PREFIX)
            if alert.alert_id.startswith(_ID_PREFIX) and number.isdigit():
                self._last_number = max(self._last_number, int(number))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> AlertCentre:
        return cls(from_row(row) for row in rows)

    def _store(self, alert: Alert) -> Alert:
        self._alerts[alert.alert_id] = alert
        if alert.is_acknowledged:
            if self._open_by_key.get(alert.key) == alert.alert_id:
                del self._open_by_key[alert.key]
        else:
            self._open_by_key[alert.key] = alert.alert_id
        return alert

    def __len__(self) -> int:
        return len(self._alerts)

    def get(self, alert_id: str) -> Alert:
        try:
            return self._alerts[alert_id]
        except KeyError:
            known = len(self._alerts)
            raise KeyError(f"no alert with id {alert_id!r} (the centre holds {known})") from None

    @property
    def alerts(self) -> list[Alert]:
        """Every alert, oldest first."""
        return list(self._alerts.values())

    def raise_(
        self,
        key: str,
        severity: AlertSeverity,
        source: str,
        message: str,
        at: datetime,
        *,
        title: str = "",
        group_id: str | None = None,
    ) -> Alert:
        """Raise condition ``key`` at ``at``. While an alert for ``key`` is unacknowledged the
        repeat bumps its ``count`` and ``last_at``, takes this message (the latest numbers)
        and keeps the higher severity; otherwise a new alert is added. Returns the alert as it
        now stands: ``count == 1`` means it is new."""
        _require_aware(at, f"alert {key!r}: at")
        severity = AlertSeverity(severity)
        open_id = self._open_by_key.get(key)
        if open_id is not None:
            current = self._alerts[open_id]
            higher = max(current.severity, severity, key=SEVERITY_RANK.__getitem__)
            return self._store(
                replace(
                    current,
                    count=current.count + 1,
                    last_at=max(current.last_at, at),
                    message=message,
                    severity=higher,
                    title=title or current.title,
                )
            )
        self._last_number += 1
        return self._store(
            Alert(
                alert_id=f"{_ID_PREFIX}{self._last_number}",
                key=key,
                severity=severity,
                source=source,
                message=message,
                raised_at=at,
                group_id=group_id,
                count=1,
                last_at=at,
                title=title,
            )
        )

    def raise_draft(self, draft: AlertDraft, at: datetime) -> Alert:
        """:meth:`raise_` for a checker's :class:`AlertDraft`."""
        return self.raise_(
            draft.key,
            draft.severity,
            draft.source,
            draft.message,
            at,
            title=draft.title,
            group_id=draft.group_id,
        )

    def acknowledge(self, alert_id: str, at: datetime, note: str = "") -> Alert:
        """Acknowledge one alert; KeyError naming the id if there is none. Acknowledging an
        acknowledged alert changes nothing (the first acknowledgment stands)."""
        _require_aware(at, f"acknowledging {alert_id!r}: at")
        alert = self.get(alert_id)
        if alert.is_acknowledged:
            return alert
        return self._store(replace(alert, acknowledged_at=at, ack_note=note))

    def acknowledge_many(
        self, alert_ids: Iterable[str], at: datetime, note: str = ""
    ) -> list[Alert]:
        """Acknowledge the selected alerts, all or none: every id is looked up first, so one
        unknown id (KeyError) acknowledges nothing. Returns them in the order given."""
        ids = list(dict.fromkeys(alert_ids))
        for alert_id in ids:
            self.get(alert_id)
        return [self.acknowledge(alert_id, at, note) for alert_id in ids]

    def acknowledge_all(
        self, at: datetime, severity: AlertSeverity = AlertSeverity.WARNING, note: str = ""
    ) -> list[Alert]:
        """Acknowledge every unacknowledged alert of ``severity``; returns those it
        acknowledged. CRITICAL alerts are refused (ValueError): each one is acknowledged on
        its own or in an explicit selection, after the trader has looked at it."""
        severity = AlertSeverity(severity)
        if severity is AlertSeverity.CRITICAL:
            raise ValueError(
                "CRITICAL alerts are not acknowledged in bulk: acknowledge each one, or a "
                "selection, after looking at it"
            )
        wanted = [a.alert_id for a in self.unacknowledged() if a.severity is severity]
        return [self.acknowledge(alert_id, at, note) for alert_id in wanted]

    def unacknowledged(self) -> list[Alert]:
        """Alerts not yet acknowledged, oldest first."""
        return [a for a in self._alerts.values() if not a.is_acknowledged]

    def unacknowledged_critical(self) -> int:
        """How many CRITICAL alerts wait for the trader."""
        return sum(1 for a in self.unacknowledged() if a.severity is AlertSeverity.CRITICAL)

    def history(
        self,
        *,
        severity: AlertSeverity | None = None,
        source: str | None = None,
        acknowledged: bool | None = None,
        text: str | None = None,
    ) -> list[Alert]:
        """Alerts matching every filter given, newest first. ``text`` matches the title,
        message or key, ignoring case."""
        needle = text.casefold() if text else None
        found = []
        for alert in reversed(self._alerts.values()):
            if severity is not None and alert.severity is not severity:
                continue
            if source is not None and alert.source != source:
                continue
            if acknowledged is not None and alert.is_acknowledged is not acknowledged:
                continue
            if needle is not None and not any(
                needle in field.casefold() for field in (alert.title, alert.message, alert.key)
            ):
                continue
            found.append(alert)
        return found
