from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QLabel, QLineEdit, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from cockpit.ui.log_dock import QtLogHandler
from cockpit.ui.main_window import DOCKS, MainWindow

DOCK_NAMES = [
    "chainDock",
    "builderDock",
    "groupsDock",
    "exposureDock",
    "shockDock",
    "alertsDock",
    "logDock",
]


def make_window(qtbot: QtBot, home: Path) -> MainWindow:
    window = MainWindow(home / "window.ini", QtLogHandler())
    qtbot.addWidget(window)
    return window


def test_window_has_all_seven_docks_by_object_name(qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path)
    window.show()
    qtbot.waitExposed(window)
    found = {d.objectName() for d in window.findChildren(QDockWidget)}
    assert found == set(DOCK_NAMES)
    for name in DOCK_NAMES:
        dock = window.findChild(QDockWidget, name)
        assert dock is not None and dock.isVisibleTo(window), name
        assert dock.accessibleName()
    window.close()
    assert window.isHidden()


def test_every_dock_holds_its_panel_and_empty_panels_say_what_they_will_show(
    qtbot: QtBot, tmp_path: Path
) -> None:
    window = make_window(qtbot, tmp_path)
    for spec in DOCKS:
        assert window.findChild(QLabel, f"{spec.object_name}Note") is None
        assert window.docks[spec.object_name].widget() is not None
    empty = window.shock_panel.findChild(QLabel, "shockEmpty")
    assert empty is not None and empty.text() == "Waiting for the broker…"
    assert window.findChild(QWidget, "alertsTable") is not None
    badge = window.status.findChild(QLabel, "alertsBadge")
    assert badge is not None and badge.isHidden()


def test_the_kill_switch_is_one_shortcut_away_and_re_arming_asks_for_a_reason(
    qtbot: QtBot, tmp_path: Path
) -> None:
    window = make_window(qtbot, tmp_path)
    window.show()
    qtbot.waitExposed(window)
    assert window.kill_action.shortcut().toString() == "Ctrl+Shift+K"
    assert window.findChild(QWidget, "killSwitchButton") is not None
    with qtbot.waitSignal(window.killSwitchRequested, timeout=1000):
        window.kill_action.trigger()
    window.set_halted(True, "2 working order(s) cancelled")
    assert window.kill_action.text() == "Re-arm trading…"
    assert "TRADING HALTED" in window.status.currentMessage()
    window.kill_action.trigger()
    dialog = window.rearm_dialog
    assert dialog.isVisible()
    dialog.findChild(QLineEdit, "overrideReason").setText("checked the book")
    with qtbot.waitSignal(window.rearmRequested, timeout=1000) as reason:
        dialog.findChild(QPushButton, "overrideConfirm").click()
    assert reason.args == ["checked the book"]
    window.set_halted(False)
    assert window.kill_action.text() == "Kill switch" and window.status.currentMessage() == ""


def test_view_menu_toggles_each_dock(qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path)
    window.show()
    qtbot.waitExposed(window)
    actions = {a.objectName(): a for a in window.view_menu.actions() if a.objectName()}
    for name in DOCK_NAMES:
        action = actions[f"{name}Toggle"]
        dock = window.docks[name]
        assert action.isChecked()
        action.trigger()
        assert not dock.isVisible()
        assert not action.isChecked()
        action.trigger()
        assert action.isChecked()
    assert "resetLayoutAction" in actions


def test_layout_is_saved_and_restored(qtbot: QtBot, tmp_path: Path) -> None:
    first = make_window(qtbot, tmp_path)
    first.show()
    qtbot.waitExposed(first)
    first.resize(760, 560)  # the offscreen screen is 800×600
    first.docks["shockDock"].close()
    with qtbot.waitSignal(first.closed, timeout=2000):
        first.close()
    assert (tmp_path / "window.ini").exists()

    second = make_window(qtbot, tmp_path)
    second.show()
    qtbot.waitExposed(second)
    assert not second.docks["shockDock"].isVisible()
    assert second.docks["chainDock"].isVisible()
    assert (second.width(), second.height()) == (760, 560)
    second.reset_layout()
    assert second.docks["shockDock"].isVisible()


def test_status_bar_shows_placeholders_until_values_arrive(qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path)
    broker = window.findChild(QLabel, "brokerStatus")
    clock = window.findChild(QLabel, "marketClock")
    funds = window.findChild(QLabel, "fundsStatus")
    assert broker.text() == "Broker: not connected"
    assert clock.text() == "Market: —"
    assert funds.text() == "Funds: —"
    window.status.set_funds("₹12,345.00", "₹4,87,655.00")
    assert funds.text() == "Funds used ₹12,345.00 · available ₹4,87,655.00"
    window.status.set_broker("connected", "paper exchange 127.0.0.1:8123")
    assert broker.text() == "Broker: connected — paper exchange 127.0.0.1:8123"


def test_log_dock_shows_records_filtered_by_level_and_search(qtbot: QtBot, tmp_path: Path) -> None:
    handler = QtLogHandler()
    window = MainWindow(tmp_path / "window.ini", handler)
    qtbot.addWidget(window)
    logger = logging.getLogger("cockpit.test.logdock")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.debug("debug detail")
        logger.info("order placed NIFTY24DEC24000CE")
        logger.warning("hedge lagging on BANKNIFTY")
        logger.error("leg rejected")
    finally:
        logger.removeHandler(handler)
    panel = window.log_panel
    panel.flush()
    assert panel.model.rowCount() == 4
    proxy = panel.proxy

    def shown() -> list[str]:
        return [
            proxy.index(r, 3).data(Qt.ItemDataRole.DisplayRole) for r in range(proxy.rowCount())
        ]

    # Default level is Info.
    assert shown() == [
        "order placed NIFTY24DEC24000CE",
        "hedge lagging on BANKNIFTY",
        "leg rejected",
    ]
    panel.level_filter.setCurrentIndex(2)  # Warning
    assert shown() == ["hedge lagging on BANKNIFTY", "leg rejected"]
    panel.level_filter.setCurrentIndex(0)  # Debug
    qtbot.keyClicks(panel.search, "nifty")
    assert shown() == ["order placed NIFTY24DEC24000CE", "hedge lagging on BANKNIFTY"]
    panel.search.clear()
    assert len(shown()) == 4


def test_log_model_keeps_only_the_newest_records(qtmodeltester: object) -> None:
    from datetime import datetime

    from cockpit.clock import IST
    from cockpit.ui.log_dock import LogRow, LogTableModel

    model = LogTableModel(capacity=3)
    rows = [
        LogRow(datetime(2026, 11, 24, 9, 15, i, tzinfo=IST), logging.INFO, "INFO", "t", f"m{i}")
        for i in range(5)
    ]
    model.append(rows[:2])
    model.append(rows[2:])
    assert [model.row(i).message for i in range(model.rowCount())] == ["m2", "m3", "m4"]
    qtmodeltester.check(model)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", DOCK_NAMES)
def test_docks_are_closable_movable_floatable(qtbot: QtBot, tmp_path: Path, name: str) -> None:
    window = make_window(qtbot, tmp_path)
    features = window.docks[name].features()
    assert features & QDockWidget.DockWidgetFeature.DockWidgetClosable
    assert features & QDockWidget.DockWidgetFeature.DockWidgetMovable


def test_help_lists_the_keyboard_shortcuts(qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path)
    window.show()
    qtbot.waitExposed(window)
    actions = {a.objectName(): a for a in window.findChildren(QAction) if a.objectName()}
    assert actions["shortcutsAction"].shortcut().toString() == "F1"
    actions["shortcutsAction"].trigger()
    text = window.shortcuts_box.text()
    for keys in ("Ctrl+Shift+K", "Ctrl+Enter", "Ctrl+Q"):
        assert keys in text
    assert actions["killSwitchAction"].shortcut().toString() in text


def test_alt_digits_bring_each_dock_forward(qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(qtbot, tmp_path)
    window.show()
    qtbot.waitExposed(window)
    actions = {a.objectName(): a for a in window.findChildren(QAction) if a.objectName()}
    assert actions["shockDockFocus"].shortcut().toString() == "Alt+3"
    assert actions["acknowledgeAction"].shortcut().toString() == "Ctrl+Shift+A"
    window.docks["shockDock"].close()
    actions["shockDockFocus"].trigger()
    assert window.docks["shockDock"].isVisible()
