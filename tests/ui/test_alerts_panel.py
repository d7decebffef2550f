"""The alerts panel over a real alert service, journal and bus: rows, badge and banner follow
what is raised; acknowledging a selection with a note (typed into the dialog) hides it from
the unacknowledged view, the history shows it with its note, and after a restart on the same
journal it is still acknowledged; severity and text filters; repaints announce only what moved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import qasync
import shiboken6
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from cockpit.alert_service import AlertService
from cockpit.bus import EventBus
from cockpit.clock import IST, ManualClock
from cockpit.domain.events import AlertRaised, AlertSeverity
from cockpit.risk.alerts import AlertCentre
from cockpit.store.journal import Journal
from cockpit.ui.alerts_panel import (
    ACKNOWLEDGED,
    COUNT,
    MESSAGE,
    SEVERITY_ROLE,
    AcknowledgeDialog,
    AlertFilter,
    AlertsModel,
    AlertsPanel,
)

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=IST)
BREACH = "NIFTY 26 Dec PE: short 130 > long 0"


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    event_loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    asyncio.set_event_loop(None)
    event_loop.close()
    # As in test_builder_panel: delete qasync's timer object here, on the GUI thread.
    timer = getattr(event_loop, "_timer", None)
    if timer is not None and shiboken6.isValid(timer):
        shiboken6.delete(timer)


def run(loop: qasync.QEventLoop, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    loop.run_until_complete(asyncio.wait_for(scenario(), 10))


@dataclass
class App:
    journal: Journal
    bus: EventBus
    clock: ManualClock
    service: AlertService
    panel: AlertsPanel


@asynccontextmanager
async def app(path: Path, qtbot: QtBot, start: datetime = T0) -> AsyncIterator[App]:
    """One run of the app's alert part: journal, bus, service and a shown panel."""
    async with await Journal.open(path) as journal:
        bus, clock = EventBus(), ManualClock(start)
        service = await AlertService.open(journal, bus, clock)
        panel = AlertsPanel()
        qtbot.addWidget(panel)
        panel.resize(900, 400)
        panel.show()
        panel.attach(service)
        try:
            yield App(journal, bus, clock, service, panel)
        finally:
            panel.detach()
            await service.aclose()


async def refreshed_until(panel: AlertsPanel, ready: Callable[[], bool]) -> None:
    """Wait for the panel's repaints until ``ready()`` (call right after the action)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while not ready():
        future: asyncio.Future[None] = loop.create_future()

        def done(future: asyncio.Future[None] = future) -> None:
            if not future.done():
                future.set_result(None)

        panel.refreshed.connect(done)
        try:
            await asyncio.wait_for(future, max(0.01, deadline - loop.time()))
        finally:
            panel.refreshed.disconnect(done)


def alert(
    severity: AlertSeverity,
    message: str,
    at: datetime,
    *,
    key: str | None = None,
    source: str = "position-validator",
) -> AlertRaised:
    return AlertRaised(
        at=at,
        alert_id=f"ev-{message}",
        severity=severity,
        title="Naked short" if severity is AlertSeverity.CRITICAL else "Market",
        message=message,
        source=source,
        key=key if key is not None else f"{source}:{message}",
    )


def shown(panel: AlertsPanel) -> list[tuple[str, ...]]:
    """The table's rows as the trader sees them, top to bottom."""
    proxy = panel.table.model()
    return [
        tuple(proxy.index(row, column).data() for column in range(proxy.columnCount()))
        for row in range(proxy.rowCount())
    ]


def click_row(qtbot: QtBot, panel: AlertsPanel, message: str) -> None:
    proxy = panel.table.model()
    for row in range(proxy.rowCount()):
        if proxy.index(row, MESSAGE).data() == message:
            rect = panel.table.visualRect(proxy.index(row, MESSAGE))
            qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            return
    raise AssertionError(f"no row says {message!r}: {shown(panel)}")


def label(panel: AlertsPanel, name: str) -> QLabel:
    found = panel.findChild(QLabel, name)
    assert found is not None, name
    return found


def acknowledge_button(panel: AlertsPanel) -> QPushButton:
    button = panel.findChild(QPushButton, "alertsAcknowledge")
    assert button is not None
    return button


async def publish_two(a: App) -> None:
    a.bus.publish(alert(AlertSeverity.CRITICAL, BREACH, T0))
    a.bus.publish(alert(AlertSeverity.WARNING, "BANKNIFTY spread wide", T0 + timedelta(seconds=5)))
    await refreshed_until(a.panel, lambda: a.panel.model.rowCount() == 2)


# ---- the model ----------------------------------------------------------------------------


def test_the_model_passes_the_model_tester_through_inserts_updates_and_removals(
    qtmodeltester: ModelTester,
) -> None:
    centre = AlertCentre()
    centre.raise_("k1", AlertSeverity.CRITICAL, "position-validator", BREACH, T0, group_id="G1")
    centre.raise_("k2", AlertSeverity.WARNING, "coordinator", "spread wide", T0)
    centre.raise_("k3", AlertSeverity.INFO, "market", "reconnected", T0)
    centre.acknowledge("alert-3", T0 + timedelta(seconds=9), "fine")
    model = AlertsModel()
    model.reset(centre.alerts, AlertFilter(show_acknowledged=True))
    qtmodeltester.check(model)
    assert model.rowCount() == 3
    assert model.index(0, 0).data(SEVERITY_ROLE) == "critical"
    assert model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole).color().name() == "#ffcdd2"
    assert model.index(2, 0).data(Qt.ItemDataRole.BackgroundRole) is None  # INFO: default
    assert model.index(2, ACKNOWLEDGED).data() == "10:00:09 — fine"

    model.reset(centre.alerts, AlertFilter())  # the unacknowledged view
    assert model.alert_ids() == ["alert-1", "alert-2"]
    centre.raise_("k2", AlertSeverity.WARNING, "coordinator", "spread wider", T0)
    centre.raise_("k4", AlertSeverity.WARNING, "coordinator", "IV stale", T0)
    centre.acknowledge("alert-1", T0, "")
    model.sync(centre.alerts)
    assert model.alert_ids() == ["alert-2", "alert-4"]
    assert model.index(0, COUNT).data() == "2"
    assert model.index(0, MESSAGE).data() == "spread wider"


def test_a_repeat_changes_its_row_in_place_and_adds_none(qtbot: QtBot) -> None:
    centre = AlertCentre()
    centre.raise_("k1", AlertSeverity.CRITICAL, "position-validator", BREACH, T0)
    centre.raise_("k2", AlertSeverity.WARNING, "coordinator", "spread wide", T0)
    model = AlertsModel()
    model.reset(centre.alerts)
    inserted: list[tuple[int, int]] = []
    changed: list[tuple[int, int]] = []
    resets: list[bool] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.dataChanged.connect(lambda top, bottom, _r: changed.append((top.row(), bottom.row())))
    model.modelReset.connect(lambda: resets.append(True))
    centre.raise_("k2", AlertSeverity.WARNING, "coordinator", "spread wider", T0)
    model.sync(centre.alerts)
    assert (inserted, changed, resets) == ([], [(1, 1)], [])
    centre.raise_("k3", AlertSeverity.INFO, "market", "reconnected", T0)
    model.sync(centre.alerts)
    assert (inserted, resets) == ([(2, 2)], [])


# ---- the panel over the service -----------------------------------------------------------


def test_a_critical_and_a_warning_show_two_rows_the_badge_and_the_banner(
    qtbot: QtBot, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with app(tmp_path / "cockpit.db", qtbot) as a:
            panel = a.panel
            assert not panel.badge.isVisible() and not panel.banner.isVisible()
            await publish_two(a)
            assert shown(panel) == [
                ("WARNING", "10:00:05", "position-validator", "BANKNIFTY spread wide", "", "1", ""),
                ("CRITICAL", "10:00:00", "position-validator", BREACH, "", "1", ""),
            ]
            assert panel.badge.isVisible() and panel.badge.text() == "1"
            assert "1 CRITICAL alert not yet acknowledged" in panel.badge.toolTip()
            assert panel.banner.isVisible()
            banner_text = panel.banner.findChild(QLabel, "alertsBannerText")
            assert banner_text is not None
            assert banner_text.text() == f"1 unacknowledged CRITICAL alert: {BREACH}"
            assert label(panel, "alertsSummary").text() == ("2 unacknowledged (1 CRITICAL)")
            # A second CRITICAL: the count and the newest message.
            a.bus.publish(
                alert(AlertSeverity.CRITICAL, "stop-loss failed", T0 + timedelta(seconds=20))
            )
            await refreshed_until(panel, lambda: panel.badge.text() == "2")
            assert banner_text.text() == "2 unacknowledged CRITICAL alerts: stop-loss failed"
            # The same condition again counts on its row.
            a.bus.publish(alert(AlertSeverity.CRITICAL, BREACH, T0 + timedelta(seconds=12)))
            await refreshed_until(
                panel, lambda: ("CRITICAL", "10:00:12") in [r[:2] for r in shown(panel)]
            )
            assert panel.model.rowCount() == 3
            [repeat] = [row for row in shown(panel) if row[3] == BREACH]
            assert repeat[5] == "2"

    run(loop, scenario)


def test_an_acknowledged_alert_is_still_acknowledged_after_a_restart(
    qtbot: QtBot, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    path = tmp_path / "cockpit.db"

    async def first_run() -> None:
        async with app(path, qtbot) as a:
            panel = a.panel
            await publish_two(a)
            assert not acknowledge_button(panel).isEnabled()  # nothing selected
            click_row(qtbot, panel, BREACH)
            assert [x.message for x in panel.selected_alerts()] == [BREACH]
            assert acknowledge_button(panel).isEnabled()
            a.clock.advance(95)
            qtbot.mouseClick(acknowledge_button(panel), Qt.MouseButton.LeftButton)
            dialog = panel.ack_dialog
            assert isinstance(dialog, AcknowledgeDialog) and dialog.isVisible()
            assert dialog.windowTitle() == "Acknowledge 1 alert"
            assert dialog.what.text() == f"CRITICAL: {BREACH}"
            qtbot.keyClicks(dialog.note_edit, "hedged by hand at 25800")
            qtbot.keyClick(dialog.note_edit, Qt.Key.Key_Return)
            await refreshed_until(panel, lambda: panel.model.rowCount() == 1)
            assert [row[3] for row in shown(panel)] == ["BANKNIFTY spread wide"]
            assert not panel.badge.isVisible() and not panel.banner.isVisible()
            assert panel.ack_dialog is None and panel.pending == 0
            # The history shows it with its time and note.
            qtbot.mouseClick(panel.show_acknowledged, Qt.MouseButton.LeftButton)
            assert panel.show_acknowledged.isChecked()
            [acked] = [row for row in shown(panel) if row[3] == BREACH]
            assert acked[ACKNOWLEDGED] == "10:01:35 — hedged by hand at 25800"

    async def after_restart() -> None:
        async with app(path, qtbot, start=T0 + timedelta(hours=2)) as a:
            panel = a.panel
            assert [row[3] for row in shown(panel)] == ["BANKNIFTY spread wide"]
            assert not panel.badge.isVisible() and not panel.banner.isVisible()
            panel.show_acknowledged.setChecked(True)
            [acked] = [row for row in shown(panel) if row[3] == BREACH]
            assert acked[0] == "CRITICAL"
            assert acked[ACKNOWLEDGED] == "10:01:35 — hedged by hand at 25800"

    run(loop, first_run)
    run(loop, after_restart)


def test_enter_without_a_note_acknowledges_the_selection(
    qtbot: QtBot, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with app(tmp_path / "cockpit.db", qtbot) as a:
            panel = a.panel
            await publish_two(a)
            panel.table.selectAll()
            assert len(panel.selected_alerts()) == 2
            qtbot.mouseClick(acknowledge_button(panel), Qt.MouseButton.LeftButton)
            dialog = panel.ack_dialog
            assert dialog is not None and dialog.windowTitle() == "Acknowledge 2 alerts"
            qtbot.keyClick(dialog.note_edit, Qt.Key.Key_Return)
            await refreshed_until(panel, lambda: panel.model.rowCount() == 0)
            assert a.service.centre.unacknowledged() == []
            assert [x.ack_note for x in a.service.centre.alerts] == ["", ""]
            panel.show_acknowledged.setChecked(True)
            assert [row[ACKNOWLEDGED] for row in shown(panel)] == ["10:00:00", "10:00:00"]
            assert label(panel, "alertsSummary").text() == "All 2 alerts acknowledged."

    run(loop, scenario)


def test_cancelling_the_note_dialog_acknowledges_nothing(
    qtbot: QtBot, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with app(tmp_path / "cockpit.db", qtbot) as a:
            panel = a.panel
            await publish_two(a)
            click_row(qtbot, panel, BREACH)
            qtbot.mouseClick(acknowledge_button(panel), Qt.MouseButton.LeftButton)
            dialog = panel.ack_dialog
            assert dialog is not None
            qtbot.keyClicks(dialog.note_edit, "not yet")
            qtbot.mouseClick(dialog.cancel, Qt.MouseButton.LeftButton)
            await asyncio.sleep(0)
            assert panel.ack_dialog is None and panel.pending == 0
            assert a.service.centre.unacknowledged_critical() == 1
            assert panel.badge.text() == "1"

    run(loop, scenario)


def test_acknowledge_all_warnings_leaves_the_critical_alert_showing(
    qtbot: QtBot, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with app(tmp_path / "cockpit.db", qtbot) as a:
            panel = a.panel
            assert not panel.warnings_button.isEnabled()
            await publish_two(a)
            assert panel.warnings_button.isEnabled()
            qtbot.mouseClick(panel.warnings_button, Qt.MouseButton.LeftButton)
            await refreshed_until(panel, lambda: panel.model.rowCount() == 1)
            assert [row[:1] + row[3:4] for row in shown(panel)] == [("CRITICAL", BREACH)]
            assert panel.badge.text() == "1" and panel.banner.isVisible()
            assert not panel.warnings_button.isEnabled()

    run(loop, scenario)


def test_an_acknowledgment_that_could_not_be_saved_is_said_in_the_panel(
    qtbot: QtBot, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with app(tmp_path / "cockpit.db", qtbot) as a:
            panel = a.panel
            await publish_two(a)
            await a.service.flush()
            await a.journal.aclose()  # the disk went away
            status = label(panel, "alertsStatus")
            assert not status.isVisible()
            click_row(qtbot, panel, BREACH)
            qtbot.mouseClick(acknowledge_button(panel), Qt.MouseButton.LeftButton)
            assert panel.ack_dialog is not None
            qtbot.keyClick(panel.ack_dialog.note_edit, Qt.Key.Key_Return)
            await refreshed_until(panel, lambda: panel.pending == 0 and status.isVisible())
            assert status.text() == (
                "Acknowledging alert-1 failed: acknowledgment of alert-1 was not saved to the "
                "journal (see the log); after a restart it shows as unacknowledged again"
            )
            assert not panel.badge.isVisible()  # it holds for this session

    run(loop, scenario)


def test_the_severity_and_text_filters_narrow_the_table(
    qtbot: QtBot, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with app(tmp_path / "cockpit.db", qtbot) as a:
            panel = a.panel
            await publish_two(a)
            a.bus.publish(
                alert(AlertSeverity.INFO, "WebSocket reconnected", T0 + timedelta(seconds=9))
            )
            await refreshed_until(panel, lambda: panel.model.rowCount() == 3)
            combo = panel.severity_filter
            assert [combo.itemText(i) for i in range(combo.count())] == [
                "All",
                "Critical",
                "Warning",
                "Info",
            ]
            combo.setCurrentIndex(combo.findText("Critical"))
            assert [row[3] for row in shown(panel)] == [BREACH]
            combo.setCurrentIndex(combo.findText("Info"))
            assert [row[3] for row in shown(panel)] == ["WebSocket reconnected"]
            combo.setCurrentIndex(combo.findText("All"))
            qtbot.keyClicks(panel.text_filter, "banknifty")
            assert [row[3] for row in shown(panel)] == ["BANKNIFTY spread wide"]
            panel.text_filter.clear()
            qtbot.keyClicks(panel.text_filter, "position-VALIDATOR")  # the source matches too
            assert len(shown(panel)) == 3
            # A new alert that does not match the filter stays out of the table.
            a.bus.publish(alert(AlertSeverity.WARNING, "IV stale", T0, source="chain"))
            await refreshed_until(panel, lambda: len(a.service.centre) == 4)
            assert len(shown(panel)) == 3
            panel.text_filter.clear()
            assert len(shown(panel)) == 4

    run(loop, scenario)


def test_show_and_the_badge_ask_for_the_dock_and_critical_beeps_when_enabled(
    qtbot: QtBot, loop: qasync.QEventLoop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beeps: list[bool] = []
    monkeypatch.setattr(QApplication, "beep", staticmethod(lambda: beeps.append(True)))

    async def scenario() -> None:
        async with app(tmp_path / "cockpit.db", qtbot) as a:
            panel = a.panel
            panel.sound = True
            a.bus.publish(alert(AlertSeverity.WARNING, "spread wide", T0))
            await refreshed_until(panel, lambda: panel.model.rowCount() == 1)
            assert beeps == []
            a.bus.publish(alert(AlertSeverity.CRITICAL, BREACH, T0))
            a.bus.publish(alert(AlertSeverity.CRITICAL, "stop-loss failed", T0))
            await refreshed_until(panel, lambda: panel.model.rowCount() == 3)
            assert beeps == [True]  # one repaint, one beep
            requests: list[bool] = []
            panel.showRequested.connect(lambda: requests.append(True))
            show = panel.banner.findChild(QPushButton, "alertsBannerShow")
            assert show is not None
            qtbot.mouseClick(show, Qt.MouseButton.LeftButton)
            qtbot.mouseClick(panel.badge, Qt.MouseButton.LeftButton)
            assert requests == [True, True]

    run(loop, scenario)


def test_the_widgets_carry_stable_names_for_the_window_and_assistive_tools(qtbot: QtBot) -> None:
    panel = AlertsPanel()
    qtbot.addWidget(panel)
    names = {
        "alertsTable",
        "alertsAcknowledge",
        "alertsAcknowledgeWarnings",
        "alertsSeverityFilter",
        "alertsShowAcknowledged",
        "alertsFilter",
        "alertsBanner",
        "alertsBannerShow",
        "alertsBadge",
    }
    for name in names:
        widget = panel.findChild(QWidget, name)
        assert widget is not None, name
        assert widget.accessibleName(), name
    assert panel.banner.objectName() == "alertsBanner"
    assert panel.badge.objectName() == "alertsBadge"
    assert not panel.show_acknowledged.isChecked()
    header = panel.table.horizontalHeader()
    assert [panel.table.model().headerData(i, Qt.Orientation.Horizontal) for i in range(7)] == [
        "Severity",
        "Time",
        "Source",
        "Message",
        "Group",
        "Count",
        "Acknowledged",
    ]
    assert header.sortIndicatorSection() == 1
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert panel.model.rowCount(QModelIndex()) == 0
