"""The option chain dock's panel: underlying and expiry pickers over a calls | strike | puts
table, live from the :class:`~cockpit.marketdata.feed.ChainFeed`.

The table is a :class:`ChainTableModel` (a ``QAbstractTableModel``), never a widget rebuilt per
tick. A timer asks the feed for its valued view at most ``refresh_hz`` times a second and only
when the feed's version moved; rows whose values changed are announced with one
``dataChanged`` over the changed block, so thousands of ticks a second cost ten small repaints.
The row nearest the forward is the ATM row: its strike is bold and the row shaded. Clicking a
bid or an ask emits :attr:`ChainPanel.legPicked` with a :class:`LegPick` — hitting the bid is a
sell, lifting the ask a buy — which the strategy builder takes as a leg.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cockpit.domain.money import Paise
from cockpit.marketdata.chain import ChainSide, ChainStrike, ChainView
from cockpit.marketdata.feed import ChainFeed

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex


class Field(enum.Enum):
    OI = "OI"
    IV = "IV"
    DELTA = "Δ"
    THETA = "Θ/day"
    LTP = "LTP"
    BID = "Bid"
    ASK = "Ask"


_WIDE_FIELDS = frozenset({Field.LTP, Field.BID, Field.ASK, Field.OI})
CALL_FIELDS = (Field.OI, Field.IV, Field.DELTA, Field.THETA, Field.LTP, Field.BID, Field.ASK)
# Mirrored around the strike, except that each side reads bid then ask, left to right.
PUT_FIELDS = (Field.BID, Field.ASK, Field.LTP, Field.THETA, Field.DELTA, Field.IV, Field.OI)
STRIKE_COLUMN = len(CALL_FIELDS)
COLUMN_COUNT = 2 * len(CALL_FIELDS) + 1


@dataclass(frozen=True, slots=True)
class LegPick:
    """A click on a bid (sell) or an ask (buy) of one option."""

    underlying: str
    expiry: date
    strike: Decimal
    right: str  # "CE" or "PE"
    side: str  # "BUY" or "SELL"
    tradingsymbol: str
    instrument_token: int
    lot_size: int
    price: Paise | None


def _rupees(value: Paise | None) -> str:
    # No digit grouping: option prices are read across, and 1528.40 fits a narrow column.
    if value is None:
        return ""
    whole, part = divmod(int(value), 100)
    return f"{whole}.{part:02d}"


def _lakh(oi: int | None) -> str:
    """Open interest the Indian way, compact: 23.5K, 1.08L, 2.4Cr."""
    if oi is None:
        return ""
    if oi >= 10_000_000:
        return f"{oi / 10_000_000:.2f}Cr"
    if oi >= 100_000:
        return f"{oi / 100_000:.2f}L"
    if oi >= 1_000:
        return f"{oi / 1_000:.1f}K"
    return str(oi)


def _cell(side: ChainSide | None, field: Field) -> str:
    if side is None:
        return ""
    match field:
        case Field.OI:
            return _lakh(side.oi)
        case Field.IV:
            return "" if side.iv is None else f"{side.iv * 100:.1f}"
        case Field.DELTA:
            return "" if side.delta is None else f"{side.delta:+.2f}"
        case Field.THETA:
            return "" if side.theta is None else f"{side.theta:.1f}"
        case Field.LTP:
            return _rupees(side.ltp)
        case Field.BID:
            return _rupees(side.bid)
        case Field.ASK:
            return _rupees(side.ask)


_CENTRED = int(Qt.AlignmentFlag.AlignCenter | Qt.AlignmentFlag.AlignVCenter)


def _row_text(row: ChainStrike) -> list[str]:
    calls = [_cell(row.call, f) for f in CALL_FIELDS]
    puts = [_cell(row.put, f) for f in PUT_FIELDS]
    return [*calls, format(row.strike.normalize(), "f"), *puts]


class ChainTableModel(QAbstractTableModel):
    """Rows are strikes; columns are the call's fields, the strike, the put's fields."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view: ChainView | None = None
        self.atm_row: int | None = None
        self._text: list[list[str]] = []
        self._bold = QFont()
        self._bold.setBold(True)
        self._atm_brush = QBrush(QColor(255, 214, 102, 70))
        self._bid_brush = QBrush(QColor(46, 160, 67, 28))
        self._ask_brush = QBrush(QColor(218, 54, 51, 28))

    # ---- Qt model API -----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        if parent.isValid() or self.view is None:
            return 0
        return len(self.view.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else COLUMN_COUNT

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if section == STRIKE_COLUMN:
                return "Strike"
            field, right = self.field_at(section)
            return f"{right} {field.value}" if field in (Field.OI, Field.IV) else field.value
        if role == Qt.ItemDataRole.ToolTipRole and section != STRIKE_COLUMN:
            field, right = self.field_at(section)
            return f"{'Call' if right == 'CE' else 'Put'} {field.value}"
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.view is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            # Painting asks for every visible cell on every repaint: answer from the strings
            # made once per changed row in set_view.
            return self._text[index.row()][column]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _CENTRED
        row = self.view.rows[index.row()]
        if role == Qt.ItemDataRole.FontRole and column == STRIKE_COLUMN:
            return self._bold if index.row() == self.atm_row else None
        if role == Qt.ItemDataRole.BackgroundRole:
            if index.row() == self.atm_row:
                return self._atm_brush
            if column != STRIKE_COLUMN:
                field, _ = self.field_at(column)
                if field is Field.BID:
                    return self._bid_brush
                if field is Field.ASK:
                    return self._ask_brush
            return None
        if role == Qt.ItemDataRole.ToolTipRole and column != STRIKE_COLUMN:
            field, right = self.field_at(column)
            side = row.call if right == "CE" else row.put
            if side is not None and field in (Field.BID, Field.ASK):
                action = "Sell at the bid" if field is Field.BID else "Buy at the ask"
                return f"{action}: {side.tradingsymbol} (click to add as a leg)"
        return None

    # ---- ours --------------------------------------------------------------------------

    @staticmethod
    def field_at(column: int) -> tuple[Field, str]:
        if column < STRIKE_COLUMN:
            return CALL_FIELDS[column], "CE"
        return PUT_FIELDS[column - STRIKE_COLUMN - 1], "PE"

    def set_view(self, view: ChainView | None) -> None:
        """Show ``view``: a new chain resets the model; the same chain announces only the
        rows that changed, as one block."""
        old = self.view
        same_shape = (
            old is not None
            and view is not None
            and (old.underlying, old.expiry) == (view.underlying, view.expiry)
            and len(old.rows) == len(view.rows)
        )
        if not same_shape:
            self.beginResetModel()
            self.view = view
            self.atm_row = view.atm_index if view is not None else None
            self._text = [_row_text(r) for r in view.rows] if view is not None else []
            self.endResetModel()
            return
        assert old is not None and view is not None
        changed = [i for i, (a, b) in enumerate(zip(old.rows, view.rows, strict=True)) if a != b]
        for i in changed:
            self._text[i] = _row_text(view.rows[i])
        old_atm = self.atm_row
        self.view = view
        self.atm_row = view.atm_index
        if old_atm != self.atm_row:
            changed += [r for r in (old_atm, self.atm_row) if r is not None]
        if changed:
            top, bottom = min(changed), max(changed)
            self.dataChanged.emit(
                self.index(top, 0),
                self.index(bottom, COLUMN_COUNT - 1),
                [Qt.ItemDataRole.DisplayRole],
            )

    def pick_at(self, row: int, column: int) -> LegPick | None:
        if self.view is None or column == STRIKE_COLUMN or not 0 <= row < len(self.view.rows):
            return None
        field, right = self.field_at(column)
        if field not in (Field.BID, Field.ASK):
            return None
        strike_row = self.view.rows[row]
        side = strike_row.call if right == "CE" else strike_row.put
        if side is None:
            return None
        return LegPick(
            underlying=self.view.underlying,
            expiry=self.view.expiry,
            strike=strike_row.strike,
            right=right,
            side="SELL" if field is Field.BID else "BUY",
            tradingsymbol=side.tradingsymbol,
            instrument_token=side.instrument_token,
            lot_size=side.lot_size,
            price=side.bid if field is Field.BID else side.ask,
        )


class ChainPanel(QWidget):
    """Pickers, a summary line and the chain table; fed by a ChainFeed once one exists."""

    legPicked = Signal(object)  # LegPick

    def __init__(self, parent: QWidget | None = None, *, refresh_hz: int = 10) -> None:
        super().__init__(parent)
        self.setObjectName("chainPanel")
        self.feed: ChainFeed | None = None
        self.underlying_box = QComboBox(objectName="chainUnderlying")
        self.underlying_box.setAccessibleName("Underlying")
        self.expiry_box = QComboBox(objectName="chainExpiry")
        self.expiry_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.expiry_box.setAccessibleName("Expiry")
        self.summary = QLabel("Waiting for the broker…", objectName="chainSummary")
        self.model = ChainTableModel(self)
        self.table = QTableView(objectName="chainTable")
        self.table.setAccessibleName("Option chain")
        self.table.setModel(self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self._size_columns()
        self.table.setAlternatingRowColors(True)
        self.table.clicked.connect(self._clicked)

        pickers = QHBoxLayout()
        pickers.addWidget(QLabel("Underlying"))
        pickers.addWidget(self.underlying_box)
        pickers.addWidget(QLabel("Expiry"))
        pickers.addWidget(self.expiry_box)
        pickers.addStretch(1)
        pickers.addWidget(self.summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(pickers)
        layout.addWidget(self.table)

        self._seen_version = -1
        self._centred_on: tuple[str, date] | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, 1000 // refresh_hz))
        self.timer.timeout.connect(self.refresh)
        self.underlying_box.currentTextChanged.connect(self._underlying_chosen)
        self.expiry_box.currentIndexChanged.connect(self._expiry_chosen)

    def _size_columns(self) -> None:
        """Prices, OI and strikes are never elided: fixed at the width of the widest value.
        The table's font is a notch smaller than the window's: fifteen columns must fit."""
        font = QFont(self.table.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        self.table.setFont(font)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(30)
        # Prices, OI and strikes are never elided: their columns are fixed at the width of the
        # widest value they can show. (ResizeToContents would measure every row on every
        # update — at ten updates a second that alone costs tens of milliseconds.)
        metrics = self.table.fontMetrics()
        bold = QFont(self.table.font())
        bold.setBold(True)
        # Option premiums stay under ₹10,000 (deep ITM BANKNIFTY included); OI prints ≤ 6 chars.
        price = metrics.horizontalAdvance("9999.99") + 10
        oi = metrics.horizontalAdvance("99.99L") + 10
        strike = QFontMetrics(bold).horizontalAdvance("99999") + 12
        for column in range(COLUMN_COUNT):
            if column == STRIKE_COLUMN:
                width = strike
            else:
                field = ChainTableModel.field_at(column)[0]
                if field not in _WIDE_FIELDS:
                    continue
                width = oi if field is Field.OI else price
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, width)

    def attach(self, feed: ChainFeed, underlying: str = "NIFTY") -> None:
        """Start showing ``feed``; picks ``underlying`` (or the first) and its nearest expiry."""
        self.feed = feed
        names = feed.underlyings()
        self.underlying_box.blockSignals(True)
        self.underlying_box.clear()
        self.underlying_box.addItems(names)
        self.underlying_box.blockSignals(False)
        if names:
            choice = underlying if underlying in names else names[0]
            self.underlying_box.setCurrentText(choice)
            self._underlying_chosen(choice)
        self.timer.start()

    def _underlying_chosen(self, underlying: str) -> None:
        if self.feed is None or not underlying:
            return
        self.expiry_box.blockSignals(True)
        self.expiry_box.clear()
        for expiry in self.feed.expiries(underlying):
            self.expiry_box.addItem(expiry.strftime("%d %b %Y"), expiry)
        self.expiry_box.blockSignals(False)
        self._expiry_chosen(0)

    def _expiry_chosen(self, position: int) -> None:
        if self.feed is None or position < 0:
            return
        expiry = self.expiry_box.itemData(position)
        self.feed.request(self.underlying_box.currentText(), expiry)

    def refresh(self) -> None:
        """Pull the feed's view if it moved (the timer calls this ≈10 times a second)."""
        if self.feed is None or self.feed.version == self._seen_version:
            return
        self._seen_version = self.feed.version
        view = self.feed.view()
        self.model.set_view(view)
        if view is None:
            return
        self.summary.setText(_summary(view))
        # A newly chosen chain opens on its ATM row, once; after that the trader scrolls.
        key = (view.underlying, view.expiry)
        if key != self._centred_on and self.model.atm_row is not None and view.spot is not None:
            self._centred_on = key
            # After the reset is laid out: scrolling now would measure stale geometry.
            QTimer.singleShot(0, self.centre_on_atm)

    def centre_on_atm(self) -> None:
        if self.model.atm_row is not None:
            # Lay the rows out now: after a reset the scroll range is still the empty one.
            self.table.doItemsLayout()
            self.table.scrollTo(
                self.model.index(self.model.atm_row, STRIKE_COLUMN),
                QAbstractItemView.ScrollHint.PositionAtCenter,
            )

    def _clicked(self, index: QModelIndex) -> None:
        pick = self.model.pick_at(index.row(), index.column())
        if pick is not None:
            log.info("chain: %s %s at %s", pick.side, pick.tradingsymbol, _rupees(pick.price))
            self.legPicked.emit(pick)


def _summary(view: ChainView) -> str:
    spot = f"Spot {_rupees(view.spot)}" if view.spot is not None else "Spot —"
    forward = (
        f"Fwd {_rupees(view.forward)} ({view.forward_source})" if view.forward is not None else ""
    )
    days = view.years * 365
    return f"{spot}   {forward}   {days:.1f} days to expiry"
