"""The log dock: Python logging shown in a table, with a level filter and a search box.

Records arrive through :class:`QtLogHandler` from any thread; the handler only appends to a
lock-protected buffer, and a timer on the GUI thread moves the buffer into the model a few
times a second (one ``beginInsertRows`` per batch, never one repaint per record). The model
keeps the newest ``capacity`` records.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cockpit.clock import IST
from cockpit.ui.table_header import column_header

_Index = QModelIndex | QPersistentModelIndex

LEVELS = (
    ("Debug", logging.DEBUG),
    ("Info", logging.INFO),
    ("Warning", logging.WARNING),
    ("Error", logging.ERROR),
)
_LEVEL_COLOURS = {
    logging.WARNING: QColor("#b26a00"),
    logging.ERROR: QColor("#c62828"),
    logging.CRITICAL: QColor("#c62828"),
}


@dataclass(frozen=True, slots=True)
class LogRow:
    at: datetime
    level: int
    level_name: str
    logger: str
    message: str


class LogTableModel(QAbstractTableModel):
    COLUMNS = ("Time (IST)", "Level", "Source", "Message")

    def __init__(self, capacity: int = 5000, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[LogRow] = []
        self._capacity = capacity

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return column_header(self.COLUMNS, section, orientation, role)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return row.at.strftime("%H:%M:%S.%f")[:-3]
            if column == 1:
                return row.level_name
            if column == 2:
                return row.logger
            return row.message
        if role == Qt.ItemDataRole.ToolTipRole and column == 3:
            return row.message
        if role == Qt.ItemDataRole.ForegroundRole:
            return _LEVEL_COLOURS.get(row.level)
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def row(self, number: int) -> LogRow:
        return self._rows[number]

    def append(self, rows: list[LogRow]) -> None:
        if not rows:
            return
        rows = rows[-self._capacity :]
        overflow = len(self._rows) + len(rows) - self._capacity
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self._rows[:overflow]
            self.endRemoveRows()
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()


class LogFilterModel(QSortFilterProxyModel):
    """Shows records at or above a level whose source or message contains the search text."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._min_level = logging.INFO
        self._needle = ""

    def set_min_level(self, level: int) -> None:
        self.beginFilterChange()
        self._min_level = level
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self._needle = text.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, LogTableModel)
        row = model.row(source_row)
        if row.level < self._min_level:
            return False
        if not self._needle:
            return True
        return self._needle in row.message.casefold() or self._needle in row.logger.casefold()


class QtLogHandler(logging.Handler):
    """A logging handler safe to call from any thread; the dock drains it on the GUI thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._lock = threading.Lock()
        self._pending: list[LogRow] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_text:
                message = f"{message}\n{record.exc_text}"
            row = LogRow(
                at=datetime.fromtimestamp(record.created, IST),
                level=record.levelno,
                level_name=record.levelname,
                logger=record.name,
                message=message,
            )
        except Exception:
            self.handleError(record)
            return
        with self._lock:
            self._pending.append(row)

    def drain(self) -> list[LogRow]:
        with self._lock:
            rows, self._pending = self._pending, []
        return rows


class LogPanel(QWidget):
    """The content of ``logDock``: level filter, search box and the record table."""

    def __init__(self, handler: QtLogHandler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logPanel")
        self.handler = handler
        self.model = LogTableModel(parent=self)
        self.proxy = LogFilterModel(self)
        self.proxy.setSourceModel(self.model)

        self.level_filter = QComboBox(self)
        self.level_filter.setObjectName("logLevelFilter")
        self.level_filter.setAccessibleName("Minimum log level")
        for label, level in LEVELS:
            self.level_filter.addItem(label, level)
        self.level_filter.setCurrentIndex(1)
        self.level_filter.currentIndexChanged.connect(self._level_chosen)

        self.search = QLineEdit(self)
        self.search.setObjectName("logSearch")
        self.search.setAccessibleName("Search the log")
        self.search.setPlaceholderText("Search source or message…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_search)

        self.table = QTableView(self)
        self.table.setObjectName("logTable")
        self.table.setAccessibleName("Log records")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(2, 180)
        header.setStretchLastSection(True)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        level_label = QLabel("Level", self)
        level_label.setBuddy(self.level_filter)
        bar.addWidget(level_label)
        bar.addWidget(self.level_filter)
        bar.addWidget(self.search, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

        self._timer = QTimer(self)
        self._timer.setObjectName("logFlushTimer")
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.flush)
        self._timer.start()

    def _level_chosen(self, _index: int) -> None:
        self.proxy.set_min_level(int(self.level_filter.currentData()))

    def flush(self) -> None:
        """Move pending records into the table; keep the view at the bottom if it was."""
        rows = self.handler.drain()
        if not rows:
            return
        bar = self.table.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        self.model.append(rows)
        if at_bottom:
            self.table.scrollToBottom()

    def stop(self) -> None:
        self._timer.stop()
