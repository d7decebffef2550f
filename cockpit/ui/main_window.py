"""The main window: seven docks, the View menu, the status bar and saved window state.

The window owns no trading state. It shows what the services publish and forwards the
trader's actions to them. A dock whose panel has not been built yet says in one line what
it will show — never fake data. Geometry and dock layout are saved with QSettings in an INI
file inside ``COCKPIT_HOME`` (so test runs and separate homes never share a layout).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QToolBar,
    QWidget,
)

from cockpit import __version__
from cockpit.ui.alerts_panel import AlertsPanel
from cockpit.ui.builder_panel import BuilderPanel
from cockpit.ui.chain_panel import ChainPanel
from cockpit.ui.exposure_panel import ExposurePanel
from cockpit.ui.groups_panel import GroupsPanel
from cockpit.ui.log_dock import LogPanel, QtLogHandler
from cockpit.ui.override_dialog import OverrideDialog
from cockpit.ui.shock_panel import ShockPanel
from cockpit.ui.status_bar import CockpitStatusBar

if TYPE_CHECKING:
    from cockpit.ui.hedge_dialog import ExecutionWiring

log = logging.getLogger(__name__)

# Bump when the dock set or their default arrangement changes: an old saved state is then
# ignored instead of restoring a layout that no longer fits.
STATE_VERSION = 2

Area = Qt.DockWidgetArea


@dataclass(frozen=True, slots=True)
class DockSpec:
    object_name: str
    title: str
    area: Qt.DockWidgetArea
    note: str  # what the dock will show, until its panel exists


DOCKS: tuple[DockSpec, ...] = (
    DockSpec(
        "chainDock",
        "Option chain",
        Area.LeftDockWidgetArea,
        "Option chain: live bid/ask, LTP, IV, delta and OI per strike for the chosen "
        "underlying and expiry, once a broker is connected.",
    ),
    DockSpec(
        "builderDock",
        "Strategy builder",
        Area.RightDockWidgetArea,
        "Strategy builder: bull put, bear call and iron condor credit spreads with payoff, "
        "POP, breakevens and margin, placed hedge-first.",
    ),
    DockSpec(
        "shockDock",
        "Margin shock",
        Area.RightDockWidgetArea,
        "Margin shock heatmap: portfolio P&L and margin under price × IV × spread shocks.",
    ),
    DockSpec(
        "groupsDock",
        "Order groups",
        Area.BottomDockWidgetArea,
        "Order groups: each multi-leg group, its legs and child orders, and where it is in "
        "its lifecycle.",
    ),
    DockSpec(
        "exposureDock",
        "Exposure",
        Area.BottomDockWidgetArea,
        "Exposure: short quantity not covered by filled protection, per underlying, expiry "
        "and right, with how long it has been open.",
    ),
    DockSpec(
        "alertsDock",
        "Risk alerts",
        Area.BottomDockWidgetArea,
        "Risk alerts: hedge breaches, rejected legs, exercise risk and reconciliation "
        "differences, each to acknowledge.",
    ),
    DockSpec("logDock", "Log", Area.BottomDockWidgetArea, ""),
)


def _scrollable(panel: QWidget, name: str) -> QScrollArea:
    area = QScrollArea()
    area.setObjectName(name)
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


class MainWindow(QMainWindow):
    """Emits ``closed`` once the trader has closed the window (state already saved)."""

    closed = Signal()
    shown = Signal()
    killSwitchRequested = Signal()
    rearmRequested = Signal(str)  # the trader's reason
    settingsRequested = Signal()

    def __init__(
        self, settings_file: Path, log_handler: QtLogHandler, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("Cockpit")
        self.setAccessibleName("Cockpit main window")
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
            | QMainWindow.DockOption.AllowNestedDocks
        )
        self._state = QSettings(str(settings_file), QSettings.Format.IniFormat)
        self._closing = False
        self._shown_once = False
        self._default_layout_pending = True

        self.docks: dict[str, QDockWidget] = {}
        self.log_panel = LogPanel(log_handler, self)
        self.chain_panel = ChainPanel(self)
        # The app calls builder_panel.attach(service) once the broker is connected.
        self.builder_panel = BuilderPanel(self)
        self.chain_panel.legPicked.connect(self.builder_panel.add_pick)
        self.groups_panel = GroupsPanel(self)
        self.exposure_panel = ExposurePanel(self)
        self.alerts_panel = AlertsPanel(self)
        self.shock_panel = ShockPanel(self)
        # Set by cockpit.ui.hedge_dialog.connect_execution once a coordinator exists.
        self.execution: ExecutionWiring | None = None
        panels: dict[str, QWidget] = {
            "logDock": self.log_panel,
            "chainDock": self.chain_panel,
            "builderDock": self.builder_panel,
            "groupsDock": self.groups_panel,
            "exposureDock": self.exposure_panel,
            # Scrolled rather than squeezed when the window is small (a laptop screen).
            "alertsDock": _scrollable(self.alerts_panel, "alertsScroll"),
            "shockDock": _scrollable(self.shock_panel, "shockScroll"),
        }
        for spec in DOCKS:
            content = panels.get(spec.object_name) or self._note(spec)
            self.docks[spec.object_name] = self._add_dock(spec, content)
        self._arrange_default()

        self.status = CockpitStatusBar(self)
        self.setStatusBar(self.status)
        self.status.addPermanentWidget(self.alerts_panel.badge)
        self.alerts_panel.showRequested.connect(self.show_alerts)
        self._build_toolbar()
        self._build_menus()
        self.restore_state()

    # --- construction -----------------------------------------------------------------

    def _note(self, spec: DockSpec) -> QWidget:
        label = QLabel(spec.note)
        label.setObjectName(f"{spec.object_name}Note")
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setMargin(16)
        label.setEnabled(False)  # rendered in the palette's disabled (muted) colour
        return label

    def _add_dock(self, spec: DockSpec, content: QWidget) -> QDockWidget:
        dock = QDockWidget(spec.title, self)
        dock.setObjectName(spec.object_name)
        dock.setAccessibleName(spec.title)
        dock.setWidget(content)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        return dock

    def _arrange_default(self) -> None:
        """Chain on the left, builder and shock tabbed on the right, the rest at the bottom."""
        d = self.docks
        for dock in d.values():
            self.removeDockWidget(dock)
        self.addDockWidget(Area.LeftDockWidgetArea, d["chainDock"])
        self.addDockWidget(Area.RightDockWidgetArea, d["builderDock"])
        self.splitDockWidget(d["chainDock"], d["builderDock"], Qt.Orientation.Horizontal)
        # Tabbed, not split: on a laptop screen neither the builder nor the heatmap is usable
        # in half a column. Placing a spread is followed by a look at its shocks.
        self.tabifyDockWidget(d["builderDock"], d["shockDock"])
        self.addDockWidget(Area.BottomDockWidgetArea, d["groupsDock"])
        self.splitDockWidget(d["groupsDock"], d["alertsDock"], Qt.Orientation.Horizontal)
        self.tabifyDockWidget(d["groupsDock"], d["exposureDock"])
        self.tabifyDockWidget(d["exposureDock"], d["logDock"])
        for dock in d.values():
            dock.show()
        d["groupsDock"].raise_()
        d["builderDock"].raise_()
        self._default_layout_pending = True
        self._apply_default_sizes()

    def _apply_default_sizes(self) -> None:
        """resizeDocks takes pixels, so the default proportions are applied from the window's
        real size: the chain gets 58% of the width and 60% of the height (it is where the
        trader works)."""
        d = self.docks
        width, height = max(self.width(), 640), max(self.height(), 480)
        across, down = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        left = int(width * 0.58)
        self.resizeDocks([d["chainDock"], d["builderDock"]], [left, width - left], across)
        top = int(height * 0.60)
        self.resizeDocks([d["chainDock"], d["groupsDock"]], [top, height - top], down)
        self.resizeDocks([d["groupsDock"], d["alertsDock"]], [left, width - left], across)

    def _build_toolbar(self) -> None:
        """The kill switch, always one keystroke away, and the CRITICAL alerts banner."""
        bar = QToolBar("Trading", self)
        bar.setObjectName("tradingToolBar")
        bar.setMovable(False)
        self.kill_action = QAction("Kill switch", self)
        self.kill_action.setObjectName("killSwitchAction")
        self.kill_action.setShortcut(QKeySequence("Ctrl+Shift+K"))
        self.kill_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.kill_action.setToolTip(
            "Kill switch (Ctrl+Shift+K): cancel every working entry and exit order and refuse "
            "new entries until re-armed. Emergency hedges and stop-losses keep working."
        )
        self.kill_action.triggered.connect(self._kill_or_rearm)
        bar.addAction(self.kill_action)
        button = bar.widgetForAction(self.kill_action)
        if button is not None:
            button.setObjectName("killSwitchButton")
            button.setStyleSheet(
                "QToolButton { background: #b71c1c; color: white; font-weight: bold; "
                "padding: 3px 10px; border-radius: 3px; }"
            )
        bar.addSeparator()
        bar.addWidget(self.alerts_panel.banner)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.trading_bar = bar
        self.halted = False
        self.rearm_dialog: OverrideDialog | None = None
        self.shortcuts_box: QMessageBox | None = None
        self.first_run_guide: QWidget | None = None  # set by the runtime on a first start
        self.settings_dialog: QWidget | None = None

    def _kill_or_rearm(self) -> None:
        if not self.halted:
            self.killSwitchRequested.emit()
            return
        dialog = OverrideDialog(
            "Re-arm trading",
            "The kill switch is engaged: new entries are refused. Re-arming lets trading "
            "start again.",
            confirm_text="Re-arm",
            parent=self,
        )
        self.rearm_dialog = dialog
        dialog.confirmed.connect(self.rearmRequested.emit)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def set_halted(self, halted: bool, detail: str = "") -> None:
        """The coordinator's kill switch state, shown on the button and in the status bar."""
        self.halted = halted
        if halted:
            self.kill_action.setText("Re-arm trading…")
            self.status.showMessage(f"TRADING HALTED — {detail}" if detail else "TRADING HALTED")
        else:
            self.kill_action.setText("Kill switch")
            self.status.clearMessage()

    def focus_dock(self, name: str) -> None:
        dock = self.docks[name]
        dock.show()
        dock.raise_()
        widget = dock.widget()
        if widget is not None:
            widget.setFocus()

    def _acknowledge_selected(self) -> None:
        self.show_alerts()
        self.alerts_panel.request_acknowledge()

    def show_alerts(self) -> None:
        dock = self.docks["alertsDock"]
        dock.show()
        dock.raise_()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        bar.setObjectName("menuBar")
        file_menu = bar.addMenu("&File")
        file_menu.setObjectName("fileMenu")
        settings_action = QAction("&Settings…", self)
        settings_action.setObjectName("settingsAction")
        settings_action.setShortcut(QKeySequence("Ctrl+,"))
        settings_action.triggered.connect(self.settingsRequested.emit)
        file_menu.addAction(settings_action)
        quit_action = QAction("&Quit", self)
        quit_action.setObjectName("quitAction")
        # StandardKey.Quit can be empty on Linux offscreen: give an explicit fallback.
        keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit) or [QKeySequence("Ctrl+Q")]
        quit_action.setShortcuts(keys)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        self.view_menu = bar.addMenu("&View")
        self.view_menu.setObjectName("viewMenu")
        for spec in DOCKS:
            action = self.docks[spec.object_name].toggleViewAction()
            action.setObjectName(f"{spec.object_name}Toggle")
            self.view_menu.addAction(action)
        self.view_menu.addSeparator()
        # Alt+1…7: bring a dock to the front (shown if it was closed).
        for number, spec in enumerate(DOCKS, start=1):
            go = QAction(f"Go to {spec.title}", self)
            go.setObjectName(f"{spec.object_name}Focus")
            go.setShortcut(QKeySequence(f"Alt+{number}"))
            go.triggered.connect(lambda _=False, name=spec.object_name: self.focus_dock(name))
            self.view_menu.addAction(go)
        acknowledge = QAction("Acknowledge selected alerts…", self)
        acknowledge.setObjectName("acknowledgeAction")
        acknowledge.setShortcut(QKeySequence("Ctrl+Shift+A"))
        acknowledge.triggered.connect(self._acknowledge_selected)
        self.view_menu.addAction(acknowledge)
        self.view_menu.addSeparator()
        reset = QAction("&Reset layout", self)
        reset.setObjectName("resetLayoutAction")
        reset.triggered.connect(self.reset_layout)
        self.view_menu.addAction(reset)

        help_menu = bar.addMenu("&Help")
        help_menu.setObjectName("helpMenu")
        shortcuts = QAction("&Keyboard shortcuts", self)
        shortcuts.setObjectName("shortcutsAction")
        shortcuts.setShortcut(QKeySequence("F1"))
        shortcuts.triggered.connect(self.show_shortcuts)
        help_menu.addAction(shortcuts)
        about = QAction("&About Cockpit", self)
        about.setObjectName("aboutAction")
        about.triggered.connect(self._show_about)
        help_menu.addAction(about)

    SHORTCUTS: tuple[tuple[str, str], ...] = (
        ("Ctrl+Shift+K", "Kill switch: cancel working entry/exit orders, refuse new entries"),
        ("Enter", "Strategy builder: build the spread"),
        ("Ctrl+Enter", "Strategy builder: place (opens the preview)"),
        ("Click bid / ask", "Option chain: pick a leg to sell / buy into the builder"),
        ("Ctrl+,", "Settings: broker and Kite login, hedging, risk limits, shocks, theme"),
        ("Ctrl+Shift+A", "Risk alerts: acknowledge the selected alerts"),
        ("Alt+1 … Alt+7", "Go to chain, builder, shock, groups, exposure, alerts, log"),
        ("F1", "This list"),
        ("Ctrl+Q", "Quit"),
    )

    def show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{keys}</b></td><td>&nbsp;&nbsp;{what}</td></tr>"
            for keys, what in self.SHORTCUTS
        )
        box = QMessageBox(self)
        box.setObjectName("shortcutsBox")
        box.setWindowTitle("Keyboard shortcuts")
        box.setText(f"<table>{rows}</table>")
        box.open()
        self.shortcuts_box = box

    def _show_about(self) -> None:
        box = QMessageBox(self)
        box.setObjectName("aboutBox")
        box.setWindowTitle("About Cockpit")
        box.setText(
            f"<b>Cockpit {__version__}</b><br>Multi-leg NSE options, hedge first: never a "
            "naked short you did not choose."
        )
        box.open()

    # --- state ---------------------------------------------------------------------------

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
        self._arrange_default()
        log.info("window layout reset to default")

    def restore_state(self) -> None:
        geometry = self._state.value("window/geometry")
        state = self._state.value("window/state")
        restored = False
        if isinstance(geometry, QByteArray):
            restored = self.restoreGeometry(geometry)
        if not restored:
            self.resize(1366, 768)
        if isinstance(state, QByteArray):
            if self.restoreState(state, STATE_VERSION):
                self._default_layout_pending = False
            else:
                log.info("saved window layout is from another version; using the default layout")

    def save_state(self) -> None:
        self._state.setValue("window/geometry", self.saveGeometry())
        self._state.setValue("window/state", self.saveState(STATE_VERSION))
        self._state.sync()

    # --- events --------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if self._default_layout_pending:
                # Proportions need the real size, known only once the window is shown.
                self._apply_default_sizes()
                self._default_layout_pending = False
            self.shown.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            self._closing = True
            self.save_state()
            self.log_panel.stop()
            self.chain_panel.timer.stop()
            self.builder_panel.stop()
            self.groups_panel.stop()
            self.exposure_panel.stop()
            self.shock_panel.stop()
            self.alerts_panel.detach()
            self.closed.emit()
        event.accept()
