"""The exposure dock: uncovered quantity per key, and a live timer per open unhedged window
that turns amber at 1 s and red at 5 s — driven by an injected clock, never by sleeping."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableView
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from cockpit.bus import EventBus
from cockpit.clock import IST
from cockpit.domain.money import Paise
from cockpit.execution.events import ExposureChanged
from cockpit.execution.exposure import ExposureKey, ExposureWindow, Uncovered
from cockpit.ui.bridge import EventBridge
from cockpit.ui.exposure_panel import (
    PREMIUM,
    UNCOVERED,
    UNHEDGED,
    WORST,
    ExposurePanel,
    ExposureTableModel,
    elapsed_text,
    timer_object_name,
)

AT = datetime(2026, 12, 2, 10, 15, tzinfo=IST)
PUTS = ExposureKey("NIFTY", date(2026, 12, 29), "PE")
CALLS = ExposureKey("BANKNIFTY", date(2026, 12, 30), "CE")
OPENED = 100.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def uncovered(key: ExposureKey, short: int, long: int, worst: int | None) -> Uncovered:
    gap = max(0, short - long)
    return Uncovered(
        key=key,
        short_quantity=short,
        long_quantity=long,
        uncovered_quantity=gap,
        premium=Paise(gap * 10500),
        delta=0.0,
        worst_case_loss=None if worst is None else Paise(worst),
    )


def event(now: float, *, breached: bool = True) -> ExposureChanged:
    covered = uncovered(PUTS, 65, 130 if not breached else 0, 1_234_500)
    calls = uncovered(CALLS, 30, 0, None)
    windows = (ExposureWindow(CALLS, OPENED, None, 30, Paise(315000)),)
    if breached:
        windows = (ExposureWindow(PUTS, OPENED, None, 65, Paise(682500)), *windows)
    return ExposureChanged(at=AT, monotonic=now, exposures=(covered, calls), open_windows=windows)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(OPENED)


@pytest.fixture
def panel(qtbot: QtBot, clock: FakeClock) -> ExposurePanel:
    widget = ExposurePanel(clock=clock)
    qtbot.addWidget(widget)
    return widget


def timer_label(panel: ExposurePanel, key: ExposureKey) -> QLabel:
    label = panel.findChild(QLabel, timer_object_name(key))
    assert label is not None, timer_object_name(key)
    return label


def test_timer_counts_seconds_and_turns_amber_at_1s_and_red_at_5s(
    panel: ExposurePanel, clock: FakeClock
) -> None:
    panel.on_exposure_changed(event(OPENED))
    panel.refresh()
    label = timer_label(panel, PUTS)
    assert label.objectName() == "exposureTimer-NIFTY-2026-12-29-PE"
    assert label.text() == "NIFTY 29 Dec PE: 65 short uncovered for 0.0 s"
    steps = [(0.4, "0.4 s", "neutral"), (1.0, "1.0 s", "amber"), (4.9, "4.9 s", "amber")]
    steps += [(5.0, "5.0 s", "red"), (65.0, "1 m 05 s", "red")]
    for elapsed, shown, tone in steps:
        clock.now = OPENED + elapsed
        panel.refresh()
        assert label.text().endswith(f"for {shown}"), label.text()
        assert label.property("tone") == tone
    assert "background-color: #c62828" in label.styleSheet()


def test_thresholds_are_configurable(qtbot: QtBot, clock: FakeClock) -> None:
    panel = ExposurePanel(clock=clock, amber_after_s=0.25, red_after_s=2.0)
    qtbot.addWidget(panel)
    panel.on_exposure_changed(event(OPENED))
    clock.now = OPENED + 0.3
    panel.refresh()
    assert timer_label(panel, PUTS).property("tone") == "amber"
    clock.now = OPENED + 2.0
    panel.refresh()
    assert timer_label(panel, PUTS).property("tone") == "red"
    panel.stop()


def test_the_panels_own_timer_moves_the_labels(
    qtbot: QtBot, panel: ExposurePanel, clock: FakeClock
) -> None:
    bus = EventBus()
    bridge = EventBridge(bus)
    bridge.exposureChanged.connect(panel.on_exposure_changed)
    bus.publish(event(OPENED))
    assert panel.timer.isActive() and panel.timer.interval() <= 100
    qtbot.waitUntil(lambda: panel.findChild(QLabel, timer_object_name(CALLS)) is not None)
    clock.now = OPENED + 2.5
    label = timer_label(panel, CALLS)
    qtbot.waitUntil(lambda: label.text().endswith("for 2.5 s"), timeout=2000)
    assert label.property("tone") == "amber"
    bridge.detach()
    panel.stop()


def test_table_shows_uncovered_premium_and_worst_case_with_uncovered_rows_first(
    panel: ExposurePanel, clock: FakeClock
) -> None:
    panel.on_exposure_changed(event(OPENED, breached=False))
    clock.now = OPENED + 6
    panel.refresh()
    table = panel.findChild(QTableView, "exposureTable")
    assert table is panel.table
    model = panel.model
    assert model.rowCount() == 2
    assert [model.index(r, 0).data() for r in range(2)] == ["BANKNIFTY", "NIFTY"]
    assert model.index(0, UNCOVERED).data() == "30"
    assert model.index(0, PREMIUM).data() == "3,150.00"
    assert model.index(0, WORST).data() == "unbounded"
    assert model.index(0, UNHEDGED).data() == "6.0 s"
    assert model.index(0, UNHEDGED).data(Qt.ItemDataRole.ForegroundRole).color().name() == (
        "#c62828"
    )
    assert model.index(1, UNCOVERED).data() == "0"
    assert model.index(1, PREMIUM).data() == ""
    assert model.index(1, WORST).data() == "12,345.00"
    assert model.index(1, UNHEDGED).data() == ""


def test_a_closed_window_loses_its_label_and_the_timer_stops(
    panel: ExposurePanel, clock: FakeClock
) -> None:
    panel.on_exposure_changed(event(OPENED))
    panel.refresh()
    assert not panel.all_clear.isVisibleTo(panel)
    clock.now = OPENED + 3
    cleared = ExposureChanged(
        at=AT, monotonic=clock.now, exposures=(uncovered(PUTS, 65, 65, 0),), open_windows=()
    )
    panel.on_exposure_changed(cleared)
    panel.refresh()
    assert panel.timer_labels == {}
    assert panel.all_clear.isVisibleTo(panel)
    assert not panel.timer.isActive()
    assert panel.model.rowCount() == 1


def test_exposure_model_passes_qts_model_checks(qtmodeltester: ModelTester) -> None:
    model = ExposureTableModel()
    first = event(OPENED)
    model.set_exposures(first.exposures, {w.key: w for w in first.open_windows})
    qtmodeltester.check(model)
    model.tick(OPENED + 2)
    second = event(OPENED, breached=False)
    model.set_exposures(second.exposures, {w.key: w for w in second.open_windows})
    model.set_exposures((), {})
    assert model.rowCount() == 0


def test_elapsed_text() -> None:
    assert elapsed_text(-0.2) == "0.0 s"
    assert elapsed_text(59.94) == "59.9 s"
    assert elapsed_text(125) == "2 m 05 s"
    assert elapsed_text(3725) == "1 h 02 m"
