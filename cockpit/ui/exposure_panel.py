"""The exposure dock's panel: short quantity not covered by protection, and for how long.

The table (:class:`ExposureTableModel`, objectName ``exposureTable``) has one row per
underlying, expiry and right the coordinator reports — uncovered keys first — with the short,
long and uncovered quantities, the premium received on the uncovered part and the key's
worst-case loss at expiry ("unbounded" for net short calls). Above it, each open unhedged
window has a live timer label (objectName ``exposureTimer-<underlying>-<yyyy-mm-dd>-<right>``)
counting the seconds since the window opened: neutral at first, amber from ``amber_after_s``,
red from ``red_after_s``; its ``tone`` property says which. Time is read from an injected
monotonic clock — the same clock the coordinator measures windows on — so tests drive it by
hand. ``ExposureChanged`` arrives up to ten times a second even when nothing moved (the
coordinator's watchdog); the panel keeps only the latest and applies it on its own timer,
which runs only while there is something to apply or a window is open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cockpit.domain.money import Paise, format_inr
from cockpit.execution.events import ExposureChanged
from cockpit.execution.exposure import ExposureKey, ExposureWindow, Uncovered
from cockpit.ui.naming import named as _named
from cockpit.ui.table_header import column_header

log = logging.getLogger(__name__)


_Index = QModelIndex | QPersistentModelIndex

COLUMNS = (
    "Underlying",
    "Expiry",
    "Right",
    "Uncovered",
    "Short",
    "Long",
    "Premium ₹",
    "Worst case ₹",
    "Unhedged for",
)
UNDERLYING, EXPIRY, RIGHT, UNCOVERED, SHORT, LONG, PREMIUM, WORST, UNHEDGED = range(len(COLUMNS))
HEADER_TIPS = {
    PREMIUM: "Premium received for the uncovered part of the shorts",
    WORST: "The key's largest loss at expiry; unbounded when calls are net short",
}
_NUMERIC = frozenset({UNCOVERED, SHORT, LONG, PREMIUM, WORST, UNHEDGED})

TONE_ROLE = Qt.ItemDataRole.UserRole + 1


class TimerTone(StrEnum):
    NEUTRAL = "neutral"
    AMBER = "amber"
    RED = "red"


TONE_COLOURS: Mapping[TimerTone, str] = {
    TimerTone.NEUTRAL: "",
    TimerTone.AMBER: "#b26a00",
    TimerTone.RED: "#c62828",
}
_LABEL_STYLE: Mapping[TimerTone, str] = {
    TimerTone.NEUTRAL: "padding: 2px 6px; border: 1px solid palette(mid); border-radius: 3px;",
    TimerTone.AMBER: (
        "color: #b26a00; font-weight: bold; padding: 2px 6px; border: 1px solid #b26a00; "
        "border-radius: 3px;"
    ),
    TimerTone.RED: (
        "color: white; background-color: #c62828; font-weight: bold; padding: 2px 6px; "
        "border: 1px solid #c62828; border-radius: 3px;"
    ),
}


def elapsed_text(seconds: float) -> str:
    """3.4 s, 2 m 05 s, 1 h 02 m: tenths while every tenth matters, then coarser."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} m"


def timer_object_name(key: ExposureKey) -> str:
    return f"exposureTimer-{key.underlying}-{key.expiry.isoformat()}-{key.right}"


def tone_for(elapsed: float, amber_after_s: float, red_after_s: float) -> TimerTone:
    if elapsed >= red_after_s:
        return TimerTone.RED
    if elapsed >= amber_after_s:
        return TimerTone.AMBER
    return TimerTone.NEUTRAL


def _worst(value: Paise | None) -> str:
    return "unbounded" if value is None else format_inr(value, symbol=False)


def _row_text(exposure: Uncovered) -> list[str]:
    key = exposure.key
    return [
        key.underlying,
        f"{key.expiry:%d %b %Y}",
        key.right,
        str(exposure.uncovered_quantity),
        str(exposure.short_quantity),
        str(exposure.long_quantity),
        format_inr(exposure.premium, symbol=False) if exposure.uncovered_quantity else "",
        _worst(exposure.worst_case_loss),
    ]


class ExposureTableModel(QAbstractTableModel):
    """One row per exposure key (uncovered first); the last column reads ``now``."""

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        amber_after_s: float = 1.0,
        red_after_s: float = 5.0,
    ) -> None:
        super().__init__(parent)
        self.amber_after_s = amber_after_s
        self.red_after_s = red_after_s
        self.now = 0.0
        self._rows: list[Uncovered] = []
        self._text: list[list[str]] = []
        self._opened: dict[ExposureKey, float] = {}
        self._bold = QFont()
        self._bold.setBold(True)
        self._brushes = {
            tone: QBrush(QColor(colour)) for tone, colour in TONE_COLOURS.items() if colour
        }
        self._breach_background = QBrush(QColor(198, 40, 40, 30))

    # ---- Qt model API -----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return column_header(COLUMNS, section, orientation, role, HEADER_TIPS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        exposure = self._rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            if column == UNHEDGED:
                opened = self._opened.get(exposure.key)
                return "" if opened is None else elapsed_text(self.now - opened)
            return self._text[row][column]
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        tone = self.tone_at(row)
        if role == TONE_ROLE:
            return str(tone) if tone is not None else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == UNHEDGED and tone is not None:
                return self._brushes.get(tone)
            if exposure.uncovered_quantity and column in (UNCOVERED, WORST):
                return self._brushes[TimerTone.RED]
            return None
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._breach_background if exposure.uncovered_quantity else None
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if exposure.uncovered_quantity and column == UNCOVERED else None
        return None

    # ---- ours --------------------------------------------------------------------------

    def exposure_at(self, row: int) -> Uncovered:
        return self._rows[row]

    def tone_at(self, row: int) -> TimerTone | None:
        opened = self._opened.get(self._rows[row].key)
        if opened is None:
            return None
        return tone_for(self.now - opened, self.amber_after_s, self.red_after_s)

    def set_exposures(
        self, exposures: tuple[Uncovered, ...], windows: Mapping[ExposureKey, ExposureWindow]
    ) -> None:
        """Show ``exposures`` (uncovered first); the same keys in the same order announce only
        the rows that changed, as one block; another set of keys resets the model."""
        rows = sorted(exposures, key=lambda e: e.uncovered_quantity == 0)
        opened = {key: window.opened_at for key, window in windows.items()}
        if [r.key for r in rows] != [r.key for r in self._rows]:
            self.beginResetModel()
            self._rows = rows
            self._text = [_row_text(r) for r in rows]
            self._opened = opened
            self.endResetModel()
            return
        changed = [
            i
            for i, (old, new) in enumerate(zip(self._rows, rows, strict=True))
            if old != new or self._opened.get(old.key) != opened.get(new.key)
        ]
        self._rows = rows
        self._opened = opened
        for i in changed:
            self._text[i] = _row_text(rows[i])
        if changed:
            self.dataChanged.emit(
                self.index(min(changed), 0), self.index(max(changed), len(COLUMNS) - 1)
            )

    def tick(self, now: float) -> None:
        """Move the clock the timer column reads; announces that column of timed rows."""
        self.now = now
        timed = [i for i, row in enumerate(self._rows) if row.key in self._opened]
        if timed:
            self.dataChanged.emit(
                self.index(min(timed), UNHEDGED),
                self.index(max(timed), UNHEDGED),
                [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole],
            )


class ExposurePanel(QWidget):
    """Timer labels for the open unhedged windows over the exposure table."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        amber_after_s: float = 1.0,
        red_after_s: float = 5.0,
        refresh_hz: int = 10,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exposurePanel")
        self.setAccessibleName("Exposure")
        self.clock = clock
        self.amber_after_s = amber_after_s
        self.red_after_s = red_after_s

        self.windows_bar = _named(QWidget(), "exposureWindows")
        self._windows_layout = QHBoxLayout(self.windows_bar)
        self._windows_layout.setContentsMargins(0, 0, 0, 0)
        self.all_clear = _named(QLabel("No uncovered short exposure."), "exposureAllClear")
        self.all_clear.setStyleSheet("color: #2e7d32;")
        self._windows_layout.addWidget(self.all_clear)
        self._windows_layout.addStretch(1)

        self.model = ExposureTableModel(self, amber_after_s=amber_after_s, red_after_s=red_after_s)
        self.table = _named(QTableView(), "exposureTable")
        self.table.setAccessibleName("Uncovered short exposure")
        self.table.setModel(self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(50)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.windows_bar)
        layout.addWidget(self.table)

        self.timer_labels: dict[ExposureKey, QLabel] = {}
        self._windows: dict[ExposureKey, ExposureWindow] = {}
        self._quantities: dict[ExposureKey, int] = {}
        self._pending: ExposureChanged | None = None
        self._applied: ExposureChanged | None = None
        self.timer = QTimer(self)
        self.timer.setObjectName("exposureRefreshTimer")
        self.timer.setInterval(max(1, 1000 // refresh_hz))
        self.timer.timeout.connect(self.refresh)

    def on_exposure_changed(self, event: ExposureChanged) -> None:
        """Keep the latest event; the timer applies it (at most ``refresh_hz`` times a second)."""
        self._pending = event
        if not self.timer.isActive():
            self.timer.start()

    def refresh(self) -> None:
        """Apply the latest event, if any, and move every live timer to the clock's now."""
        event, self._pending = self._pending, None
        if event is not None:
            self._apply(event)
        now = self.clock()
        self.model.tick(now)
        for key, label in self.timer_labels.items():
            self._show_timer(label, key, now)
        if not self._windows and self._pending is None:
            self.timer.stop()

    def stop(self) -> None:
        self.timer.stop()

    def label_for(self, key: ExposureKey) -> QLabel | None:
        return self.timer_labels.get(key)

    def _apply(self, event: ExposureChanged) -> None:
        previous = self._applied
        self._applied = event
        if (
            previous is not None
            and previous.exposures == event.exposures
            and previous.open_windows == event.open_windows
        ):
            return
        windows = {w.key: w for w in event.open_windows}
        self._windows = windows
        self._quantities = {e.key: e.uncovered_quantity for e in event.exposures}
        self.model.set_exposures(event.exposures, windows)
        for key in [k for k in self.timer_labels if k not in windows]:
            label = self.timer_labels.pop(key)
            self._windows_layout.removeWidget(label)
            label.hide()
            label.deleteLater()
        for key in windows:
            if key not in self.timer_labels:
                label = _named(QLabel(), timer_object_name(key))
                label.setAccessibleName(f"Unhedged timer {key}")
                label.setProperty("tone", "")
                # Before the stretch: the labels read left to right in the order windows opened.
                self._windows_layout.insertWidget(self._windows_layout.count() - 1, label)
                self.timer_labels[key] = label
        self.all_clear.setVisible(not windows)

    def _show_timer(self, label: QLabel, key: ExposureKey, now: float) -> None:
        window = self._windows[key]
        elapsed = now - window.opened_at
        quantity = self._quantities.get(key, window.peak_quantity)
        label.setText(
            f"{key.underlying} {key.expiry:%d %b} {key.right}: {quantity} short uncovered "
            f"for {elapsed_text(elapsed)}"
        )
        tone = tone_for(elapsed, self.amber_after_s, self.red_after_s)
        if label.property("tone") != str(tone):
            label.setProperty("tone", str(tone))
            label.setStyleSheet(_LABEL_STYLE[tone])
