"""The first-run guide ticks its steps off as the trader does them and is shown once."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QPushButton
from pytestqt.qtbot import QtBot

from cockpit.ui.first_run import MARKER, first_run
from cockpit.ui.log_dock import QtLogHandler
from cockpit.ui.main_window import MainWindow
from cockpit.ui.runtime import show_first_run_guide


def test_the_guide_ticks_steps_as_they_happen_and_is_shown_once(
    qtbot: QtBot, tmp_path: Path
) -> None:
    window = MainWindow(tmp_path / "window.ini", QtLogHandler())
    qtbot.addWidget(window)
    window.show()
    assert first_run(tmp_path)
    guide = show_first_run_guide(window, tmp_path)
    assert guide.isVisible() and not guide.isModal()
    step = guide.findChild(QLabel, "firstRunStep-built")
    assert "2." in step.text() and "✔" not in step.text()
    window.builder_panel.planBuilt.emit(object())
    assert "✔" in step.text()
    window.builder_panel.groupPlaced.emit(object())
    window.docks["shockDock"].raise_()
    guide.mark("chain")
    guide.mark("shocks")
    assert guide.done_steps == {"chain", "built", "placed", "shocks"}
    assert guide.findChild(QPushButton, "firstRunDone").text() == "Done — well flown"
    guide.findChild(QPushButton, "firstRunDone").click()
    assert not guide.isVisible()
    assert (tmp_path / MARKER).exists() and not first_run(tmp_path)
