"""The alerts dock's panel: the alert centre as a table, the CRITICAL banner and the badge.

This module is responsible for showing the :class:`~cockpit.alert_service.AlertService`'s
alert centre and for the trader's acknowledgments, and calls nothing but that service.
:class:`AlertsModel` is a table of :class:`~cockpit.risk.alerts.Alert` snapshots (severity,
time in IST, source, message, group, count, acknowledged time and note), coloured by severity,
filtered by severity, text and "show acknowledged"; it announces what moved (new rows with
``beginInsertRows``, repeats and acknowledgments with ``dataChanged``, rows leaving the
unacknowledged view with ``beginRemoveRows``) and resets only when the filter changes.
:class:`AlertsPanel` re-reads the centre on a single-shot timer when :class:`AlertsRelay` (the
bus → Qt hop for :class:`~cockpit.alert_service.AlertsChanged` and
:class:`~cockpit.domain.events.AlertRaised`, which the event bridge does not carry) says it
changed, so a burst of alerts costs one repaint. It owns :class:`CriticalBanner` and
:class:`AlertBadge`, which the main window places above its central area and in its status
bar; both show the unacknowledged CRITICAL count and ask for the dock (``showRequested``).
Acknowledging a selection asks for an optional note in a non-blocking
:class:`AcknowledgeDialog`; the service call runs as a task the panel keeps until it is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cockpit.alert_service import AlertsChanged
from cockpit.bus import EventBus
from cockpit.clock import IST
from cockpit.domain.events import AlertRaised, AlertSeverity
from cockpit.risk.alerts import SEVERITY_RANK, Alert, AlertCentre
from cockpit.ui.naming import named as _named
from cockpit.ui.table_header import column_header

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Severity", "Time", "Source", "Message", "Group", "Count", "Acknowledged")
SEVERITY, TIME, SOURCE, MESSAGE, GROUP, COUNT, ACKNOWLEDGED = range(len(COLUMNS))
HEADER_TIPS = {
    TIME: "When the condition was last seen (IST)",
    COUNT: "How many times the condition was found while unacknowledged",
}

SEVERITY_ROLE = Qt.ItemDataRole.UserRole + 1
"""A row's severity value (``"critical"``), for tests and delegates."""
ALERT_ID_ROLE = Qt.ItemDataRole.UserRole + 2
"""A row's alert id."""
SORT_ROLE = Qt.ItemDataRole.UserRole + 3
"""What a column sorts by: severity rank, time stamps and counts as numbers."""

# Opaque tints with near-black text: readable (contrast > 12:1) in light and dark palettes.
_TINTS: Mapping[AlertSeverity, tuple[QColor, QColor]] = {
    AlertSeverity.CRITICAL: (QColor("#ffcdd2"), QColor("#1a0000")),
    AlertSeverity.WARNING: (QColor("#ffe0b2"), QColor("#1a1000")),
}
_ACKNOWLEDGED_TINTS: Mapping[AlertSeverity, tuple[QColor, QColor]] = {
    AlertSeverity.CRITICAL: (QColor("#fbeaea"), QColor("#3a3a3a")),
    AlertSeverity.WARNING: (QColor("#fdf3e6"), QColor("#3a3a3a")),
}

_SEVERITY_CHOICES: Sequence[tuple[str, AlertSeverity | None]] = (
    ("All", None),
    ("Critical", AlertSeverity.CRITICAL),
    ("Warning", AlertSeverity.WARNING),
    ("Info", AlertSeverity.INFO),
)

_BANNER_STYLE = """
QFrame#alertsBanner { background-color: #b71c1c; border: none; }
QFrame#alertsBanner QLabel { color: #ffffff; font-weight: bold; }
QFrame#alertsBanner QPushButton {
    color: #b71c1c; background-color: #ffffff; font-weight: bold;
    border: none; border-radius: 3px; padding: 3px 12px;
}
"""
_BADGE_STYLE = (
    "QLabel#alertsBadge { background-color: #c62828; color: #ffffff; font-weight: bold;"
    " border-radius: 9px; padding: 1px 7px; }"
)


class AlertSource(Protocol):
    """What the panel needs of the alert service."""

    @property
    def centre(self) -> AlertCentre: ...

    @property
    def bus(self) -> EventBus: ...

    def acknowledge(self, alert_ids: Iterable[str], note: str = "") -> Awaitable[list[Alert]]: ...

    def acknowledge_all_warnings(self, note: str = "") -> Awaitable[list[Alert]]: ...


def _clock_text(at: datetime) -> str:
    return f"{at.astimezone(IST):%H:%M:%S}"


def _stamp(at: datetime) -> str:
    return f"{at.astimezone(IST):%a %d %b %H:%M:%S} IST"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts the table shows: one severity (None: all), acknowledged ones too or
    not, and those whose title, message, source, group, key or note contain ``text``."""

    severity: AlertSeverity | None = None
    show_acknowledged: bool = False
    text: str = ""

    def matches(self, alert: Alert) -> bool:
        if self.severity is not None and alert.severity is not self.severity:
            return False
        if alert.is_acknowledged and not self.show_acknowledged:
            return False
        needle = self.text.strip().casefold()
        if not needle:
            return True
        fields = (alert.title, alert.message, alert.source, alert.group_id or "", alert.key)
        return any(needle in field.casefold() for field in (*fields, alert.ack_note))


def _acknowledged_text(alert: Alert) -> str:
    if alert.acknowledged_at is None:
        return ""
    when = _clock_text(alert.acknowledged_at)
    return f"{when} — {alert.ack_note}" if alert.ack_note else when


def _tooltip(alert: Alert) -> str:
    lines = [f"{alert.severity.upper()} from {alert.source}: {alert.title or alert.source}"]
    lines.append(alert.message)
    if alert.count > 1:
        lines.append(
            f"{alert.count} times, first {_stamp(alert.raised_at)}, last {_stamp(alert.last_at)}"
        )
    else:
        lines.append(f"raised {_stamp(alert.raised_at)}")
    if alert.acknowledged_at is not None:
        note = f": {alert.ack_note}" if alert.ack_note else " (no note)"
        lines.append(f"acknowledged {_stamp(alert.acknowledged_at)}{note}")
    else:
        lines.append("not acknowledged")
    return "\n".join(lines)


class AlertsModel(QAbstractTableModel):
    """The alerts the filter lets through, in the order they were raised; see the module
    docstring."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Alert] = []
        self._row_of: dict[str, int] = {}
        self._filter = AlertFilter()
        self._brushes = {
            acknowledged: {
                severity: (QBrush(background), QBrush(foreground))
                for severity, (background, foreground) in tints.items()
            }
            for acknowledged, tints in ((False, _TINTS), (True, _ACKNOWLEDGED_TINTS))
        }
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)

    # ---- Qt model API -----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return column_header(COLUMNS, section, orientation, role, HEADER_TIPS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        alert = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(alert, column)
        if role == SORT_ROLE:
            return self._sort_key(alert, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(alert)
        if role == SEVERITY_ROLE:
            return alert.severity.value
        if role == ALERT_ID_ROLE:
            return alert.alert_id
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            brushes = self._brushes[alert.is_acknowledged].get(alert.severity)
            if brushes is None:
                return None
            return brushes[0] if role == Qt.ItemDataRole.BackgroundRole else brushes[1]
        if role == Qt.ItemDataRole.FontRole:
            if alert.is_acknowledged:
                return self._italic
            if alert.severity is AlertSeverity.CRITICAL:
                return self._bold
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COUNT:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None

    @staticmethod
    def _text(alert: Alert, column: int) -> str:
        if column == SEVERITY:
            return alert.severity.upper()
        if column == TIME:
            return _clock_text(alert.last_at)
        if column == SOURCE:
            return alert.source
        if column == MESSAGE:
            return alert.message
        if column == GROUP:
            return alert.group_id or ""
        if column == COUNT:
            return str(alert.count)
        return _acknowledged_text(alert)

    @staticmethod
    def _sort_key(alert: Alert, column: int) -> Any:
        if column == SEVERITY:
            return SEVERITY_RANK[alert.severity]
        if column == TIME:
            return alert.last_at.timestamp()
        if column == COUNT:
            return alert.count
        if column == ACKNOWLEDGED:
            acknowledged = alert.acknowledged_at
            return 0.0 if acknowledged is None else acknowledged.timestamp()
        return AlertsModel._text(alert, column).casefold()

    # ---- reading -----------------------------------------------------------------------

    @property
    def filter(self) -> AlertFilter:
        return self._filter

    def alert_at(self, row: int) -> Alert:
        return self._rows[row]

    def alert_ids(self) -> list[str]:
        return [alert.alert_id for alert in self._rows]

    def row_of(self, alert_id: str) -> int | None:
        return self._row_of.get(alert_id)

    # ---- feeding -----------------------------------------------------------------------

    def reset(self, alerts: Iterable[Alert], alert_filter: AlertFilter | None = None) -> None:
        """Show ``alerts`` (oldest first) through ``alert_filter`` (default: the current
        one), from scratch."""
        self.beginResetModel()
        if alert_filter is not None:
            self._filter = alert_filter
        self._rows = [alert for alert in alerts if self._filter.matches(alert)]
        self._reindex()
        self.endResetModel()

    def sync(self, alerts: Iterable[Alert]) -> None:
        """Show ``alerts`` (oldest first) as they are now, announcing only what moved."""
        wanted = {alert.alert_id: alert for alert in alerts if self._filter.matches(alert)}
        self._remove_rows([row for row, a in enumerate(self._rows) if a.alert_id not in wanted])
        changed = [row for row, a in enumerate(self._rows) if wanted[a.alert_id] != a]
        for row in changed:
            self._rows[row] = wanted[self._rows[row].alert_id]
        if changed:
            last = len(COLUMNS) - 1
            self.dataChanged.emit(self.index(changed[0], 0), self.index(changed[-1], last))
        new = [alert for alert_id, alert in wanted.items() if alert_id not in self._row_of]
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._rows.extend(new)
            self._reindex()
            self.endInsertRows()

    def _remove_rows(self, rows: list[int]) -> None:
        # Contiguous runs, last run first, so the rows above keep their numbers.
        runs: list[list[int]] = []
        for row in rows:
            if runs and runs[-1][1] == row - 1:
                runs[-1][1] = row
            else:
                runs.append([row, row])
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            self._reindex()
            self.endRemoveRows()

    def _reindex(self) -> None:
        self._row_of = {alert.alert_id: row for row, alert in enumerate(self._rows)}


class AlertsRelay(QObject):
    """The bus → Qt hop for the alert events the event bridge does not carry. The bus calls
    its subscribers on the asyncio loop's thread, which under qasync is the Qt thread."""

    alertsChanged = Signal(object)  # AlertsChanged
    alertRaised = Signal(object)  # AlertRaised

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsRelay")
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(AlertsChanged, self.alertsChanged.emit),
            bus.subscribe(AlertRaised, self.alertRaised.emit),
        ]

    def detach(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()


class CriticalBanner(QFrame):
    """A red strip naming the unacknowledged CRITICAL alerts; hidden when there are none."""

    showRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsBanner")
        self.setAccessibleName("Unacknowledged critical alerts")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setStyleSheet(_BANNER_STYLE)
        self.text = _named(QLabel(), "alertsBannerText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.show_button = _named(QPushButton("Show"), "alertsBannerShow")
        self.show_button.setAccessibleName("Show the alerts")
        self.show_button.setToolTip("Open the alerts dock")
        self.show_button.clicked.connect(self.showRequested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.show_button)
        self.set_alerts(0, "")

    def set_alerts(self, critical: int, latest_message: str) -> None:
        """Show ``critical`` unacknowledged CRITICAL alerts, the newest saying
        ``latest_message``; hide at 0."""
        if critical <= 0:
            self.text.setText("")
            self.hide()
            return
        text = f"{_plural(critical, 'unacknowledged CRITICAL alert')}: {latest_message}"
        self.text.setText(text)
        self.text.setAccessibleName(text)
        self.setToolTip(text)
        self.show()


class AlertBadge(QLabel):
    """The unacknowledged CRITICAL count on a red pill for the status bar; hidden at 0.
    Clicking it asks for the alerts dock."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsBadge")
        self.setAccessibleName("Unacknowledged critical alerts")
        self.setStyleSheet(_BADGE_STYLE)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.set_count(0)

    def set_count(self, critical: int) -> None:
        if critical <= 0:
            self.setText("")
            self.setToolTip("")
            self.hide()
            return
        self.setText(str(critical))
        tip = (
            f"{_plural(critical, 'CRITICAL alert')} not yet acknowledged. Each one needs "
            "looking at: click to open the alerts."
        )
        self.setToolTip(tip)
        self.setAccessibleDescription(tip)
        self.show()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
            event.accept()
            return
        super().mousePressEvent(event)


class AcknowledgeDialog(QDialog):
    """Acknowledge the chosen alerts with an optional note; Enter confirms, with or without
    one. Emits ``confirmed(note)``."""

    confirmed = Signal(str)

    def __init__(self, alerts: Sequence[Alert], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsAckDialog")
        title = f"Acknowledge {_plural(len(alerts), 'alert')}"
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        heading = _named(QLabel(f"<b>{title}</b>"), "alertsAckTitle")
        shown = [f"{a.severity.upper()}: {a.message}" for a in alerts[:5]]
        if len(alerts) > 5:
            shown.append(f"… and {len(alerts) - 5} more")
        self.what = _named(QLabel("\n".join(shown)), "alertsAckWhat")
        self.what.setTextFormat(Qt.TextFormat.PlainText)
        self.what.setWordWrap(True)
        self.note_edit = _named(QLineEdit(), "alertsAckNote")
        self.note_edit.setAccessibleName("Acknowledgment note (optional)")
        self.note_edit.setPlaceholderText("Note (optional): what you checked or did")
        self.note_edit.setMinimumWidth(360)
        buttons = _named(QDialogButtonBox(), "alertsAckButtons")
        self.confirm = _named(QPushButton("Acknowledge"), "alertsAckConfirm")
        self.confirm.setAccessibleName("Acknowledge")
        self.confirm.setDefault(True)
        self.cancel = _named(QPushButton("Cancel"), "alertsAckCancel")
        self.cancel.setAutoDefault(False)
        buttons.addButton(self.confirm, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.cancel, QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.what)
        layout.addWidget(self.note_edit)
        layout.addWidget(buttons)

    def note(self) -> str:
        return self.note_edit.text().strip()

    def present(self) -> None:
        """Open without blocking the event loop (``open()``, never ``exec()``)."""
        self.open()
        self.note_edit.setFocus()

    def accept(self) -> None:
        self.confirmed.emit(self.note())
        super().accept()


class AlertsPanel(QWidget):
    """The alerts table, its filters and acknowledgment buttons, the banner and the badge;
    see the module docstring. ``sound`` beeps once per repaint that brought a CRITICAL."""

    showRequested = Signal()  # the banner's Show or a click on the badge: raise the dock
    refreshed = Signal()  # the table, banner and badge show the centre as it is now

    def __init__(
        self, parent: QWidget | None = None, *, sound: bool = False, refresh_ms: int = 100
    ) -> None:
        super().__init__(parent)
        self.setObjectName("alertsPanel")
        self.setAccessibleName("Alerts")
        self.sound = sound
        self.model = AlertsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setObjectName("alertsSortModel")
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)

        self.banner = CriticalBanner(self)
        self.banner.showRequested.connect(self.showRequested)
        self.badge = AlertBadge(self)
        self.badge.clicked.connect(self.showRequested)

        self.severity_filter, self.show_acknowledged, self.text_filter = self._build_filters()
        self.table = self._build_table()
        self.acknowledge_button, self.warnings_button = self._build_buttons()
        self.summary = _named(QLabel("No alerts."), "alertsSummary")
        self.summary.setAccessibleName("Alerts summary")
        self.status = _named(QLabel(), "alertsStatus")
        self.status.setAccessibleName("Alerts problems")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #c62828; font-weight: bold;")
        self.status.hide()

        self._lay_out()

        self._service: AlertSource | None = None
        self._relay: AlertsRelay | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._critical_raised = False
        self.ack_dialog: AcknowledgeDialog | None = None
        self.timer = QTimer(self)
        self.timer.setObjectName("alertsRefreshTimer")
        self.timer.setSingleShot(True)
        self.timer.setInterval(max(1, refresh_ms))
        self.timer.timeout.connect(self.refresh)

        self.severity_filter.currentIndexChanged.connect(self._filter_changed)
        self.show_acknowledged.toggled.connect(self._filter_changed)
        self.text_filter.textChanged.connect(self._filter_changed)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.acknowledge_button.clicked.connect(self.request_acknowledge)
        self.warnings_button.clicked.connect(self.acknowledge_warnings)
        self._update_buttons()

    def _lay_out(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(self.severity_filter)
        filters.addWidget(self.show_acknowledged)
        filters.addWidget(self.text_filter, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.acknowledge_button)
        actions.addWidget(self.warnings_button)
        actions.addStretch(1)
        actions.addWidget(self.summary)
        actions.addWidget(self.badge)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)  # until the main window moves it above its centre
        layout.addLayout(filters)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addLayout(actions)

    def _build_filters(self) -> tuple[QComboBox, QCheckBox, QLineEdit]:
        severity = _named(QComboBox(), "alertsSeverityFilter")
        severity.setAccessibleName("Show alerts of severity")
        for label, choice in _SEVERITY_CHOICES:
            severity.addItem(label, None if choice is None else choice.value)
        acknowledged = _named(QCheckBox("Show acknowledged"), "alertsShowAcknowledged")
        acknowledged.setAccessibleName("Show acknowledged alerts")
        acknowledged.setToolTip("Show the acknowledged history with its notes")
        text = _named(QLineEdit(), "alertsFilter")
        text.setAccessibleName("Filter alerts by text")
        text.setPlaceholderText("Filter: message, source, group…")
        text.setClearButtonEnabled(True)
        return severity, acknowledged, text

    def _build_table(self) -> QTableView:
        table = _named(QTableView(), "alertsTable")
        table.setAccessibleName("Alerts, newest first")
        table.setModel(self.proxy)
        table.setSortingEnabled(True)
        table.sortByColumn(TIME, Qt.SortOrder.DescendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(50)
        header.setSectionResizeMode(MESSAGE, QHeaderView.ResizeMode.Stretch)
        widths = {SEVERITY: 70, TIME: 70, SOURCE: 100, GROUP: 70, COUNT: 50, ACKNOWLEDGED: 120}
        for column, width in widths.items():
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        return table

    @staticmethod
    def _build_buttons() -> tuple[QPushButton, QPushButton]:
        selected = _named(QPushButton("Acknowledge…"), "alertsAcknowledge")
        selected.setAccessibleName("Acknowledge the selected alerts")
        selected.setToolTip("Acknowledge the selected alerts, with an optional note")
        warnings = _named(QPushButton("Acknowledge all warnings"), "alertsAcknowledgeWarnings")
        warnings.setAccessibleName("Acknowledge all warnings")
        warnings.setToolTip(
            "Acknowledge every unacknowledged WARNING. CRITICAL alerts are acknowledged one "
            "selection at a time."
        )
        return selected, warnings

    # ---- feeding -------------------------------------------------------------------------

    def attach(self, service: AlertSource) -> None:
        """Show ``service``'s centre and follow its changes (on ``service.bus``)."""
        self.detach()
        self._service = service
        self._relay = AlertsRelay(service.bus, self)
        self._relay.alertsChanged.connect(self.on_alerts_changed)
        self._relay.alertRaised.connect(self.on_alert_raised)
        self.model.reset(service.centre.alerts, self._current_filter())
        self.refresh()

    def detach(self) -> None:
        """Stop following the service (at shutdown, before it closes); pending
        acknowledgments still finish."""
        if self._relay is not None:
            self._relay.detach()
            self._relay.deleteLater()
            self._relay = None
        self.timer.stop()
        if self.ack_dialog is not None:
            self.ack_dialog.close()

    def on_alerts_changed(self, _event: AlertsChanged) -> None:
        self._schedule()

    def on_alert_raised(self, event: AlertRaised) -> None:
        if event.severity is AlertSeverity.CRITICAL:
            self._critical_raised = True
        self._schedule()

    def _schedule(self) -> None:
        if not self.timer.isActive():
            self.timer.start()

    def refresh(self) -> None:
        """Show the centre as it is now: the table, the banner, the badge, the buttons."""
        self.timer.stop()
        if self._service is None:
            return
        centre = self._service.centre
        self.model.sync(centre.alerts)
        waiting = centre.unacknowledged()
        critical = [a for a in waiting if a.severity is AlertSeverity.CRITICAL]
        latest = max(critical, key=lambda a: a.last_at).message if critical else ""
        self.banner.set_alerts(len(critical), latest)
        self.badge.set_count(len(critical))
        self._update_summary(len(waiting), len(critical), len(centre))
        self._update_buttons()
        if self._critical_raised and critical and self.sound:
            QApplication.beep()
        self._critical_raised = False
        self.refreshed.emit()

    def _current_filter(self) -> AlertFilter:
        value = self.severity_filter.currentData()
        return AlertFilter(
            severity=AlertSeverity(value) if value else None,
            show_acknowledged=self.show_acknowledged.isChecked(),
            text=self.text_filter.text(),
        )

    def _filter_changed(self, *_args: object) -> None:
        alerts = self._service.centre.alerts if self._service is not None else []
        self.model.reset(alerts, self._current_filter())
        self._update_buttons()

    def _update_summary(self, waiting: int, critical: int, total: int) -> None:
        if not total:
            self.summary.setText("No alerts.")
        elif not waiting:
            self.summary.setText(f"All {_plural(total, 'alert')} acknowledged.")
        else:
            text = f"{waiting} unacknowledged"
            if critical:
                text += f" ({critical} CRITICAL)"
            self.summary.setText(text)

    # ---- acknowledging -------------------------------------------------------------------

    def selected_alerts(self) -> list[Alert]:
        """The selected rows' alerts, top to bottom as shown."""
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda i: i.row())
        return [self.model.alert_at(self.proxy.mapToSource(index).row()) for index in rows]

    def select_alerts(self, alert_ids: Iterable[str]) -> None:
        """Select the rows of ``alert_ids`` (those shown), replacing the selection."""
        selection = QItemSelection()
        for alert_id in alert_ids:
            row = self.model.row_of(alert_id)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.table.selectionModel().select(
            selection, flags | QItemSelectionModel.SelectionFlag.Rows
        )

    def _selection_changed(self, *_args: object) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        service = self._service
        waiting = [a for a in self.selected_alerts() if not a.is_acknowledged]
        self.acknowledge_button.setEnabled(service is not None and bool(waiting))
        self.warnings_button.setEnabled(
            service is not None
            and any(a.severity is AlertSeverity.WARNING for a in service.centre.unacknowledged())
        )

    def request_acknowledge(self) -> AcknowledgeDialog | None:
        """Ask for a note for the selected unacknowledged alerts; confirming acknowledges
        them through the service. None when nothing unacknowledged is selected."""
        alerts = [a for a in self.selected_alerts() if not a.is_acknowledged]
        if self._service is None or not alerts:
            return None
        if self.ack_dialog is not None:
            self.ack_dialog.close()
        dialog = AcknowledgeDialog(alerts, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        ids = [a.alert_id for a in alerts]
        service = self._service

        def confirmed(note: str) -> None:
            self._spawn(service.acknowledge(ids, note), f"acknowledging {', '.join(ids)}")

        dialog.confirmed.connect(confirmed)
        dialog.finished.connect(lambda _result: self._dialog_closed(dialog))
        self.ack_dialog = dialog
        dialog.present()
        return dialog

    def acknowledge_warnings(self) -> None:
        """Acknowledge every unacknowledged WARNING through the service (no CRITICAL)."""
        if self._service is not None:
            self._spawn(self._service.acknowledge_all_warnings(), "acknowledging all warnings")

    def _dialog_closed(self, dialog: AcknowledgeDialog) -> None:
        if self.ack_dialog is dialog:
            self.ack_dialog = None

    def _spawn(self, work: Awaitable[list[Alert]], what: str) -> asyncio.Future[Any]:
        # qasync holds tasks only weakly: the panel keeps each one until it is done.
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(done, what))
        return task

    def _task_done(self, task: asyncio.Future[Any], what: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self.status.hide()
            self.status.setText("")
            return
        log.error("%s failed", what, exc_info=error)
        self.status.setText(f"{what.capitalize()} failed: {error}")
        self.status.show()
        self._schedule()

    @property
    def pending(self) -> int:
        """How many acknowledgments are still running."""
        return len(self._tasks)
