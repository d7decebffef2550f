"""The alert centre: dedupe of a repeated condition, acknowledging one / a selection / all of a
severity, history filters, and rows that round-trip through JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cockpit.clock import IST
from cockpit.domain.events import AlertRaised, AlertSeverity
from cockpit.risk.alerts import (
    Alert,
    AlertCentre,
    AlertDraft,
    alert_raised,
    from_row,
    to_row,
)

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=IST)
WARNING, CRITICAL, INFO = AlertSeverity.WARNING, AlertSeverity.CRITICAL, AlertSeverity.INFO


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_repeated_condition_counts_up_on_one_alert_instead_of_adding_rows() -> None:
    centre = AlertCentre()
    first = centre.raise_(
        "mismatch:1", WARNING, "position-validator", "broker -65, expect -130", T0
    )
    again = centre.raise_(
        "mismatch:1", WARNING, "position-validator", "broker -65, expect -195", at(12)
    )
    third = centre.raise_(
        "mismatch:1", WARNING, "position-validator", "broker 0, expect -195", at(24)
    )

    assert len(centre) == 1
    assert first.alert_id == again.alert_id == third.alert_id == "alert-1"
    assert (first.count, again.count, third.count) == (1, 2, 3)
    assert third.raised_at == T0
    assert third.last_at == at(24)
    assert third.message == "broker 0, expect -195"  # the latest numbers


def test_a_repeat_escalates_to_the_higher_severity_and_never_back_down() -> None:
    centre = AlertCentre()
    centre.raise_("k", WARNING, "validator", "differs", T0)
    escalated = centre.raise_("k", CRITICAL, "validator", "short uncovered", at(1))
    calmer = centre.raise_("k", WARNING, "validator", "differs", at(2))
    assert escalated.severity is CRITICAL
    assert calmer.severity is CRITICAL
    assert calmer.count == 3


def test_different_keys_are_different_alerts() -> None:
    centre = AlertCentre()
    a = centre.raise_("a", WARNING, "s", "one", T0)
    b = centre.raise_("b", WARNING, "s", "two", T0)
    assert a.alert_id != b.alert_id
    assert len(centre) == 2


def test_after_acknowledgment_the_same_key_raises_a_new_alert() -> None:
    centre = AlertCentre()
    first = centre.raise_("k", WARNING, "s", "differs", T0)
    centre.acknowledge(first.alert_id, at(5), "looked at it")
    second = centre.raise_("k", WARNING, "s", "differs again", at(10))

    assert second.alert_id != first.alert_id
    assert second.count == 1
    assert centre.get(first.alert_id).count == 1  # the acknowledged one is untouched
    assert centre.get(first.alert_id).acknowledged_at == at(5)
    assert len(centre) == 2


def test_acknowledge_one_records_time_and_note() -> None:
    centre = AlertCentre()
    alert = centre.raise_("k", CRITICAL, "s", "naked short", T0)
    assert centre.unacknowledged_critical() == 1

    done = centre.acknowledge(alert.alert_id, at(30), "hedged by hand")

    assert done.acknowledged_at == at(30)
    assert done.ack_note == "hedged by hand"
    assert done.is_acknowledged
    assert centre.unacknowledged_critical() == 0


def test_acknowledging_twice_keeps_the_first_acknowledgment() -> None:
    centre = AlertCentre()
    alert = centre.raise_("k", WARNING, "s", "m", T0)
    centre.acknowledge(alert.alert_id, at(1), "first")
    again = centre.acknowledge(alert.alert_id, at(2), "second")
    assert (again.acknowledged_at, again.ack_note) == (at(1), "first")


def test_acknowledging_an_unknown_id_raises_key_error_naming_it() -> None:
    centre = AlertCentre()
    with pytest.raises(KeyError, match="alert-99"):
        centre.acknowledge("alert-99", T0)


def test_acknowledge_the_selected_alerts_only() -> None:
    centre = AlertCentre()
    ids = [centre.raise_(f"k{i}", WARNING, "s", f"m{i}", at(i)).alert_id for i in range(4)]

    done = centre.acknowledge_many([ids[0], ids[2]], at(10), "batch")

    assert [a.alert_id for a in done] == [ids[0], ids[2]]
    assert all(a.ack_note == "batch" and a.acknowledged_at == at(10) for a in done)
    assert [a.alert_id for a in centre.unacknowledged()] == [ids[1], ids[3]]


def test_a_selection_with_an_unknown_id_acknowledges_nothing() -> None:
    centre = AlertCentre()
    known = centre.raise_("k", WARNING, "s", "m", T0).alert_id
    with pytest.raises(KeyError, match="nope"):
        centre.acknowledge_many([known, "nope"], at(1))
    assert not centre.get(known).is_acknowledged


def test_acknowledge_all_warnings_leaves_critical_and_info_alone() -> None:
    centre = AlertCentre()
    w1 = centre.raise_("w1", WARNING, "s", "m", T0)
    crit = centre.raise_("c", CRITICAL, "s", "m", at(1))
    w2 = centre.raise_("w2", WARNING, "s", "m", at(2))
    info = centre.raise_("i", INFO, "s", "m", at(3))

    done = centre.acknowledge_all(at(9), note="noise")

    assert [a.alert_id for a in done] == [w1.alert_id, w2.alert_id]
    assert {a.alert_id for a in centre.unacknowledged()} == {crit.alert_id, info.alert_id}
    assert centre.unacknowledged_critical() == 1
    assert centre.acknowledge_all(at(10)) == []  # nothing left of that severity


def test_critical_alerts_are_never_acknowledged_in_bulk() -> None:
    centre = AlertCentre()
    centre.raise_("c", CRITICAL, "s", "m", T0)
    with pytest.raises(ValueError, match="CRITICAL alerts are not acknowledged in bulk"):
        centre.acknowledge_all(at(1), severity=CRITICAL)
    assert centre.unacknowledged_critical() == 1


def test_history_filters_by_severity_source_acknowledged_and_text_newest_first() -> None:
    centre = AlertCentre()
    a = centre.raise_("a", WARNING, "position-validator", "NIFTY qty differs", T0)
    b = centre.raise_("b", CRITICAL, "position-validator", "BANKNIFTY short uncovered", at(1))
    c = centre.raise_("c", INFO, "exercise-monitor", "NIFTY cash settlement", at(2), title="Cash")
    centre.acknowledge(a.alert_id, at(3))

    assert [x.alert_id for x in centre.history()] == [c.alert_id, b.alert_id, a.alert_id]
    assert [x.alert_id for x in centre.history(severity=CRITICAL)] == [b.alert_id]
    assert [x.alert_id for x in centre.history(source="exercise-monitor")] == [c.alert_id]
    assert [x.alert_id for x in centre.history(acknowledged=True)] == [a.alert_id]
    assert [x.alert_id for x in centre.history(acknowledged=False)] == [c.alert_id, b.alert_id]
    assert [x.alert_id for x in centre.history(text="nifty")] == [
        c.alert_id,
        b.alert_id,
        a.alert_id,
    ]
    assert [x.alert_id for x in centre.history(text="qty")] == [a.alert_id]
    assert [x.alert_id for x in centre.history(text="cash", source="exercise-monitor")] == [
        c.alert_id
    ]


def test_rows_round_trip_through_json() -> None:
    centre = AlertCentre()
    alert = centre.raise_("k", CRITICAL, "validator", "₹1,20,000.00 short", T0, group_id="G1")
    centre.raise_("k", CRITICAL, "validator", "₹1,30,000.00 short", at(12), title="Breach")
    acked = centre.acknowledge(alert.alert_id, at(20), "hedged")

    row = to_row(acked)
    back = from_row(json.loads(json.dumps(row)))

    assert back == acked
    assert row == {
        "alert_id": "alert-1",
        "key": "k",
        "severity": "critical",
        "source": "validator",
        "title": "Breach",
        "message": "₹1,30,000.00 short",
        "raised_at": "2026-12-02T10:00:00+05:30",
        "group_id": "G1",
        "count": 2,
        "last_at": "2026-12-02T10:00:12+05:30",
        "acknowledged_at": "2026-12-02T10:00:20+05:30",
        "ack_note": "hedged",
    }
    assert back.raised_at.tzinfo is IST


def test_an_unacknowledged_row_round_trips_with_no_acknowledgment() -> None:
    alert = AlertCentre().raise_("k", INFO, "s", "m", datetime(2026, 12, 2, 4, 30, tzinfo=UTC))
    back = from_row(to_row(alert))
    assert back == alert
    assert back.acknowledged_at is None
    assert back.raised_at.isoformat() == "2026-12-02T10:00:00+05:30"


def test_a_row_missing_a_field_is_refused_naming_it() -> None:
    row = to_row(AlertCentre().raise_("k", INFO, "s", "m", T0))
    del row["source"]
    with pytest.raises(ValueError, match="source"):
        from_row(row)


def test_a_centre_rebuilt_from_rows_keeps_dedupe_and_continues_ids() -> None:
    centre = AlertCentre()
    open_alert = centre.raise_("open", WARNING, "s", "m", T0)
    done = centre.raise_("done", WARNING, "s", "m", at(1))
    centre.acknowledge(done.alert_id, at(2))

    rebuilt = AlertCentre.from_rows(to_row(a) for a in centre.alerts)
    repeat = rebuilt.raise_("open", WARNING, "s", "again", at(3))
    fresh = rebuilt.raise_("done", WARNING, "s", "again", at(4))

    assert repeat.alert_id == open_alert.alert_id and repeat.count == 2
    assert fresh.alert_id == "alert-3"  # after the highest loaded id, never a reused one


def test_a_draft_raises_like_raise_and_becomes_an_alert_raised_event() -> None:
    centre = AlertCentre()
    draft = AlertDraft(
        key="position-validator:1",
        severity=CRITICAL,
        title="Unhedged short",
        message="short 130 > long 65",
        source="position-validator",
        group_id="G1",
    )
    centre.raise_draft(draft, T0)
    alert = centre.raise_draft(draft, at(12))

    event = alert_raised(alert)

    assert alert.count == 2
    assert event == AlertRaised(
        at=at(12),
        alert_id="alert-1",
        severity=CRITICAL,
        title="Unhedged short",
        message="short 130 > long 65",
        source="position-validator",
    )


def test_naive_times_are_refused() -> None:
    centre = AlertCentre()
    with pytest.raises(ValueError, match="timezone-aware"):
        centre.raise_("k", INFO, "s", "m", datetime(2026, 12, 2, 10, 0))
    with pytest.raises(ValueError, match="count"):
        Alert("a", "k", INFO, "s", "m", T0, None, 0, T0)
