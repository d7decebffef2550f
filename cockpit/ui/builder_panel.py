"""The strategy builder dock's panel (objectName ``builderPanel``): plan a credit spread, see
its numbers and payoff, and place it through a preview.

The trader picks a structure (bull put, bear call, iron condor), the underlying and expiry,
the short by target delta or by strike, the width in points and the lots, and builds (Build
or Enter) — or clicks legs in the chain (:meth:`BuilderPanel.add_pick`, connected to
``ChainPanel.legPicked``) until they make a structure. The plan comes from the app's
:class:`~cockpit.builder_service.SpreadService`; the panel shows its legs (a table model),
its numbers (credit at mid and at the touch, maximum profit and loss, breakevens, probability
of profit, margin with where the figure came from, reward to risk, the exit plan) and its
payoff chart. An input the plan cannot honour is said in red under the field at fault
(``builderError``; :class:`~cockpit.strategies.spreads.SpreadError` names the field) and
Place stays disabled; so it does while a plan is stale (an input changed since it was built).
Place (or Ctrl+Enter) opens the :class:`~cockpit.ui.order_preview.OrderPreview` non-modally
and awaits its decision; Confirm calls ``service.place(plan)`` once, and the group shows up in
the groups dock through the coordinator's events. Until :meth:`BuilderPanel.attach` hands it
the service, the panel says it is connecting and Build and Place are disabled. Every task it
starts is kept in ``self.tasks`` and cancelled by :meth:`BuilderPanel.stop`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cockpit.domain.money import Paise, format_inr, paise_rounded
from cockpit.execution.coordinator import GroupRejectedError
from cockpit.strategies.spreads import SpreadError, SpreadPlan, SpreadRequest, Structure
from cockpit.ui.order_preview import STRUCTURE_TITLES, OrderPreview, price_text
from cockpit.ui.override_dialog import OverrideDialog
from cockpit.ui.payoff_plot import PayoffPlot
from cockpit.ui.table_header import column_header

if TYPE_CHECKING:
    from cockpit.domain.groups import OrderGroup
    from cockpit.ui.chain_panel import LegPick

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex

ERROR_STYLE = "color: #c62828;"
WARNING_STYLE = "color: #b26a00;"
CONNECTING = "Connecting to the broker…"


class SpreadServiceLike(Protocol):
    """What the panel needs of :class:`cockpit.builder_service.SpreadService`."""

    def underlyings(self) -> list[str]: ...
    def expiries(self, underlying: str) -> tuple[date, ...]: ...
    async def plan(
        self, request: SpreadRequest, underlying: str, expiry: date | None
    ) -> SpreadPlan: ...
    async def margin(self, plan: SpreadPlan) -> tuple[Paise | None, str]: ...
    async def available_funds(self) -> Paise | None: ...
    async def place(self, plan: SpreadPlan, override_reason: str = "") -> OrderGroup: ...
    def plan_from_picks(self, picks: Sequence[Any], lots: int) -> SpreadPlan: ...


# ---- text ------------------------------------------------------------------------------------


def money_per_unit(total: Paise, quantity: int) -> str:
    """``₹3,250.00 (₹50.00 a unit)``; the unit price is left out when it is not whole paise."""
    text = format_inr(total)
    if quantity > 0 and total % quantity == 0:
        text += f" ({format_inr(Paise(total // quantity))} a unit)"
    return text


def breakevens_text(values: Sequence[Decimal]) -> str:
    return " / ".join(format_inr(paise_rounded(v), symbol=False) for v in values) or "—"


def pop_text(pop: float) -> str:
    return "—" if pop is None or math.isnan(pop) else f"{pop * 100:.1f}%"


def exit_plan_text(plan: SpreadPlan) -> str:
    rules = plan.exit_plan
    return (
        f"Take profit when {rules.target_pct}% of the credit is kept; stop when the loss "
        f"reaches {rules.stop_pct}% of the credit; adjust at {rules.adjust_loss_pct_of_max}% "
        f"of the max loss or a short's |Δ| {rules.adjust_short_delta:.2f}."
    )


# ---- legs table ------------------------------------------------------------------------------

LEG_COLUMNS = ("Symbol", "Side", "Role", "Qty", "Bid", "Ask", "Mid", "IV %", "Δ")


class LegsTableModel(QAbstractTableModel):
    """The plan's legs, protection first, one row each."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[list[str]] = []

    def set_plan(self, plan: SpreadPlan | None) -> None:
        self.beginResetModel()
        self._rows = [] if plan is None else [self._row(leg) for leg in plan.legs]
        self.endResetModel()

    @staticmethod
    def _row(leg: Any) -> list[str]:
        spec = leg.spec
        return [
            spec.tradingsymbol,
            str(spec.side),
            str(spec.role),
            str(spec.quantity),
            price_text(leg.bid),
            price_text(leg.ask),
            price_text(leg.mid),
            "—" if leg.iv is None else f"{leg.iv * 100:.1f}",
            "—" if leg.delta is None else f"{leg.delta:+.2f}",
        ]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(LEG_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return column_header(LEG_COLUMNS, section, orientation, role)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


# ---- the panel -------------------------------------------------------------------------------

# Which cell shows a SpreadError about which field; anything else goes under the buttons.
_FIELD_CELLS = {
    "structure": "strategy",
    "underlying": "underlying",
    "expiry": "expiry",
    "short_delta": "delta",
    "short_strike": "strike",
    "distance": "strike",
    "call_short_strike": "call_strike",
    "width": "width",
    "lots": "lots",
    "picks": "picks",
}


class BuilderPanel(QWidget):
    """Plans, shows and places one credit spread at a time (module docstring)."""

    planBuilt = Signal(object)  # SpreadPlan
    marginKnown = Signal(object, str)  # Paise | None, source
    inputRefused = Signal(str, str)  # field, message
    previewShown = Signal(object)  # OrderPreview
    groupPlaced = Signal(object)  # OrderGroup
    placeFailed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("builderPanel")
        self.setAccessibleName("Strategy builder")
        self.service: SpreadServiceLike | None = None
        self.plan: SpreadPlan | None = None
        self.override_dialog: OverrideDialog | None = None
        self.margin: tuple[Paise | None, str] | None = None
        self.picks: list[LegPick] = []
        self.preview: OrderPreview | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self._stale = False
        self._placed = False
        self._building = False
        self._placing = False
        self._generation = 0
        self._error_field: str | None = None

        self._build_inputs()
        self._build_outputs()
        self._build_layout()
        self._build_shortcuts()
        self._connect_inputs()
        self._update_buttons()

    # ---- construction ------------------------------------------------------------------

    def _build_inputs(self) -> None:
        self.strategy = QComboBox()
        self.strategy.setObjectName("builderStrategy")
        self.strategy.setAccessibleName("Strategy")
        for structure in Structure:
            self.strategy.addItem(STRUCTURE_TITLES[str(structure)], structure)
        self.underlying = QComboBox()
        self.underlying.setObjectName("builderUnderlying")
        self.underlying.setAccessibleName("Underlying")
        self.expiry = QComboBox()
        self.expiry.setObjectName("builderExpiry")
        self.expiry.setAccessibleName("Expiry")
        for combo in (self.strategy, self.underlying, self.expiry):
            # Narrow docks: the combos may shrink below their longest item (it elides).
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
        self.short_delta = QDoubleSpinBox()
        self.short_delta.setObjectName("builderShortDelta")
        self.short_delta.setAccessibleName("Short delta")
        self.short_delta.setRange(0.05, 0.45)
        self.short_delta.setSingleStep(0.01)
        self.short_delta.setDecimals(2)
        self.short_delta.setValue(0.20)
        self.short_strike = QLineEdit()
        self.short_strike.setObjectName("builderShortStrike")
        self.short_strike.setAccessibleName("Short strike")
        self.short_strike.setPlaceholderText("by delta")
        self.short_strike.setClearButtonEnabled(True)
        self.call_strike = QLineEdit()
        self.call_strike.setObjectName("builderCallStrike")
        self.call_strike.setAccessibleName("Call short strike")
        self.call_strike.setPlaceholderText("mirror of the put")
        self.call_strike.setClearButtonEnabled(True)
        self._build_sizes()
        self._build_buttons()

    def _build_sizes(self) -> None:
        self.width = QSpinBox()
        self.width.setObjectName("builderWidth")
        self.width.setAccessibleName("Width in points")
        self.width.setRange(0, 20_000)
        self.width.setSingleStep(50)
        self.width.setValue(100)
        self.width.setSuffix(" pts")
        self.lots = QSpinBox()
        self.lots.setObjectName("builderLots")
        self.lots.setAccessibleName("Lots")
        self.lots.setRange(0, 10_000)
        self.lots.setValue(1)

    def _build_buttons(self) -> None:
        self.build_button = QPushButton("Build")
        self.build_button.setObjectName("builderBuild")
        self.build_button.setToolTip("Build the spread (Enter)")
        self.place_button = QPushButton("Place…")
        self.place_button.setObjectName("builderPlace")
        self.place_button.setToolTip("Preview and send the orders (Ctrl+Enter)")
        self.clear_picks_button = QPushButton("Clear picks")
        self.clear_picks_button.setObjectName("builderClearPicks")
        self.picks_label = QLabel("Or click a bid (sell) and an ask (buy) in the chain.")
        self.picks_label.setObjectName("builderPicks")
        self.picks_label.setWordWrap(True)
        self.status = QLabel(CONNECTING)
        self.status.setObjectName("builderStatus")
        self.status.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("builderError")
        self.error.setAccessibleName("Builder input error")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()

    def _build_outputs(self) -> None:
        self.legs_model = LegsTableModel(self)
        self.legs = QTableView()
        self.legs.setObjectName("builderLegs")
        self.legs.setAccessibleName("Planned legs")
        self.legs.setModel(self.legs_model)
        self.legs.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.legs.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.legs.verticalHeader().hide()
        self.legs.setWordWrap(False)
        header = self.legs.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The symbol is what the trader reads: it keeps its width; the role gives way.
        header.setSectionResizeMode(LEG_COLUMNS.index("Role"), QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        rows = self.legs.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.legs.fontMetrics().height() + 6)
        self._fit_legs(2)

        self.numbers: dict[str, QLabel] = {}
        self.numbers_grid = QGridLayout()
        self.numbers_grid.setHorizontalSpacing(10)
        self.numbers_grid.setVerticalSpacing(2)
        entries = (
            ("creditMid", "Credit at mid"),
            ("creditTouch", "Credit at touch"),
            ("maxProfit", "Max profit"),
            ("maxLoss", "Max loss"),
            ("breakevens", "Breakevens"),
            ("pop", "POP"),
            ("margin", "Margin"),
            ("rewardRisk", "Reward/risk"),
        )
        for i, (key, caption) in enumerate(entries):
            row, column = i % 4, (i // 4) * 2
            name = QLabel(caption)
            value = QLabel("—")
            value.setWordWrap(True)  # "₹1,00,000.00 (broker basket margin)" in a narrow dock
            value.setObjectName(f"builder{key[0].upper()}{key[1:]}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.numbers_grid.addWidget(name, row, column)
            self.numbers_grid.addWidget(value, row, column + 1)
            self.numbers[key] = value
        self.numbers_grid.setColumnStretch(1, 1)
        self.numbers_grid.setColumnStretch(3, 1)
        self.exit_plan = QLabel()
        self.exit_plan.setObjectName("builderExitPlan")
        self.exit_plan.setWordWrap(True)
        self.warnings = QLabel()
        self.warnings.setObjectName("builderWarnings")
        self.warnings.setStyleSheet(WARNING_STYLE)
        self.warnings.setWordWrap(True)
        self.warnings.hide()
        self.payoff = PayoffPlot()
        self.payoff.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def _fit_legs(self, rows: int) -> None:
        """As tall as the legs (two for a vertical, four for a condor): no empty rows."""
        height = self.legs.horizontalHeader().sizeHint().height()
        height += rows * self.legs.verticalHeader().defaultSectionSize()
        height += 2 * self.legs.frameWidth() + 2
        self.legs.setFixedHeight(height)

    def _cell(self, name: str, *widgets: QWidget) -> QWidget:
        cell = QWidget()
        cell.setObjectName(f"builderCell_{name}")
        box = QVBoxLayout(cell)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        for widget in widgets:
            box.addWidget(widget)
        self._cells[name] = cell
        return cell

    def _form_grid(self) -> QGridLayout:
        form = QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        self.call_strike_caption = QLabel("Call strike")
        rows = (
            (("Strategy", "strategy", self.strategy), ("Short Δ", "delta", self.short_delta)),
            (
                ("Underlying", "underlying", self.underlying),
                ("Strike", "strike", self.short_strike),
            ),
            (("Expiry", "expiry", self.expiry), ("Width", "width", self.width)),
            (
                ("Lots", "lots", self.lots),
                (self.call_strike_caption, "call_strike", self.call_strike),
            ),
        )
        for row, pair in enumerate(rows):
            for column, (caption, name, widget) in enumerate(pair):
                label = caption if isinstance(caption, QLabel) else QLabel(caption)
                label.setBuddy(widget)
                form.addWidget(label, row, column * 2, Qt.AlignmentFlag.AlignTop)
                # Top-aligned: a message under one field leaves its neighbour in place.
                form.addWidget(
                    self._cell(name, widget), row, column * 2 + 1, Qt.AlignmentFlag.AlignTop
                )
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        return form

    def _build_layout(self) -> None:
        self._cells: dict[str, QWidget] = {}
        form = self._form_grid()

        buttons = QHBoxLayout()
        buttons.addWidget(self.build_button)
        buttons.addWidget(self.place_button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_picks_button)
        picks = self._cell("picks", self.picks_label)
        general = self._cell("general", self.status)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(4)
        top_layout.addLayout(form)
        top_layout.addLayout(buttons)
        top_layout.addWidget(picks)
        top_layout.addWidget(general)
        top_layout.addWidget(self.legs)
        top_layout.addLayout(self.numbers_grid)
        top_layout.addWidget(self.exit_plan)
        top_layout.addWidget(self.warnings)

        # One scroll for the whole panel: in a short dock the trader scrolls to the chart; in a
        # tall one the chart takes the height the inputs and numbers leave.
        top_layout.addWidget(self.payoff, 1)
        scroll = QScrollArea()
        scroll.setObjectName("builderScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(top)
        self.scroll = scroll
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(scroll)

        self._structure_changed()

    def _build_shortcuts(self) -> None:
        self.enter_shortcuts = [self._shortcut(keys, self.build) for keys in ("Return", "Enter")]
        self.place_shortcuts = [
            self._shortcut(keys, self.request_place) for keys in ("Ctrl+Return", "Ctrl+Enter")
        ]

    def _shortcut(self, keys: str, slot: Any) -> QShortcut:
        # Explicit keys: QKeySequence.StandardKey can be empty offscreen on Linux.
        shortcut = QShortcut(QKeySequence(keys), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)
        return shortcut

    def _connect_inputs(self) -> None:
        self.build_button.clicked.connect(self.build)
        self.place_button.clicked.connect(self.request_place)
        self.clear_picks_button.clicked.connect(self.clear_picks)
        self.strategy.currentIndexChanged.connect(self._structure_changed)
        self.underlying.currentTextChanged.connect(self._underlying_chosen)
        # One bound slot that asks which widget spoke: lambdas holding self would keep the
        # panel alive past its window.
        self._field_of: dict[QObject, str] = {
            self.strategy: "structure",
            self.expiry: "expiry",
            self.short_delta: "short_delta",
            self.short_strike: "short_strike",
            self.call_strike: "call_short_strike",
            self.width: "width",
            self.lots: "lots",
        }
        self.strategy.currentIndexChanged.connect(self._input_edited)
        self.expiry.currentIndexChanged.connect(self._input_edited)
        self.short_delta.valueChanged.connect(self._input_edited)
        self.short_strike.textChanged.connect(self._input_edited)
        self.call_strike.textChanged.connect(self._input_edited)
        self.width.valueChanged.connect(self._input_edited)
        self.lots.valueChanged.connect(self._input_edited)

    def _input_edited(self, *_: Any) -> None:
        field = self._field_of.get(self.sender(), "")
        if field == "lots":  # the clicked legs still apply, at the new size
            self._inputs_changed(field)
        else:
            self._form_changed(field)

    # ---- service -------------------------------------------------------------------------

    def attach(self, service: SpreadServiceLike) -> None:
        """Give the panel its service once the broker is connected; fills the pickers."""
        self.service = service
        self.underlying.blockSignals(True)
        self.underlying.clear()
        names = service.underlyings()
        self.underlying.addItems(names)
        if "NIFTY" in names:  # the index most traders start with, as the chain dock does
            self.underlying.setCurrentText("NIFTY")
        self.underlying.blockSignals(False)
        self._fill_expiries()
        self.status.setStyleSheet("")
        self.status.setText("Ready: choose a spread and press Build (Enter).")
        self._update_buttons()

    def stop(self) -> None:
        """Cancel the panel's tasks (window shutdown)."""
        for task in list(self.tasks):
            task.cancel()
        if self.preview is not None:
            self.preview.reject()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_event_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("builder task %s failed", task.get_name(), exc_info=task.exception())

    # ---- inputs ----------------------------------------------------------------------------

    def _underlying_chosen(self, _: str) -> None:
        self._fill_expiries()
        self._form_changed("underlying")

    def _fill_expiries(self) -> None:
        self.expiry.blockSignals(True)
        self.expiry.clear()
        name = self.underlying.currentText()
        if self.service is not None and name:
            for expiry in self.service.expiries(name):
                self.expiry.addItem(f"{expiry:%d %b %Y}", expiry)
        self.expiry.blockSignals(False)

    def _structure_changed(self, *_: Any) -> None:
        condor = self.strategy.currentData() == Structure.IRON_CONDOR
        self.call_strike.setVisible(condor)
        self.call_strike_caption.setVisible(condor)

    def _form_changed(self, field: str) -> None:
        if self.picks:  # back to the form: the clicked legs no longer apply
            self.picks = []
            self._show_picks()
        self._inputs_changed(field)

    def _inputs_changed(self, field: str) -> None:
        if self._error_field is not None and _FIELD_CELLS.get(field) == _FIELD_CELLS.get(
            self._error_field, "general"
        ):
            self._clear_error()
        if self.plan is not None and not self._stale:
            self._stale = True
            self._set_status("Inputs changed: press Build (Enter) to plan again.")
        self._update_buttons()

    def _decimal(self, text: str, field: str, what: str) -> Decimal | None:
        text = text.strip().replace(",", "")
        if not text:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise SpreadError(field, f"{what} must be a number such as 24500") from None
        if not value.is_finite() or value <= 0:
            raise SpreadError(field, f"{what} must be a positive number, not {text}")
        return value

    def read_request(self) -> tuple[SpreadRequest, str, date | None]:
        """The form as a request; raises SpreadError for what the form itself can tell."""
        structure = Structure(self.strategy.currentData())
        if self.lots.value() <= 0:
            raise SpreadError("lots", "Lots must be 1 or more.")
        if self.width.value() <= 0:
            raise SpreadError("width", "Width must be more than 0 points.")
        underlying = self.underlying.currentText()
        if not underlying:
            raise SpreadError("underlying", "Choose an underlying.")
        expiry = self.expiry.currentData()
        if expiry is None:
            raise SpreadError("expiry", f"No expiry is listed for {underlying}.")
        short = self._decimal(self.short_strike.text(), "short_strike", "Strike")
        call_short = None
        if structure is Structure.IRON_CONDOR:
            call_short = self._decimal(self.call_strike.text(), "call_short_strike", "Call strike")
        request = SpreadRequest(
            structure=structure,
            lots=self.lots.value(),
            short_delta=None if short is not None else round(self.short_delta.value(), 2),
            short_strike=short,
            call_short_strike=call_short,
            width_points=Decimal(self.width.value()),
        )
        return request, underlying, expiry

    # ---- errors and status -------------------------------------------------------------------

    def show_error(self, field: str, message: str) -> None:
        """Say ``message`` in red under the field at fault; Place is disabled meanwhile."""
        cell = self._cells.get(_FIELD_CELLS.get(field, "general"), self._cells["general"])
        layout = cell.layout()
        assert layout is not None
        self.error.setParent(cell)
        layout.addWidget(self.error)
        self.error.setText(message)
        self.error.setProperty("field", field)
        self.error.show()
        self._error_field = field
        self.inputRefused.emit(field, message)
        self._update_buttons()

    def _clear_error(self) -> None:
        self._error_field = None
        self.error.setProperty("field", None)
        self.error.hide()
        self._update_buttons()

    @property
    def error_field(self) -> str | None:
        return self._error_field

    def _set_status(self, text: str, style: str = "") -> None:
        self.status.setStyleSheet(style)
        self.status.setText(text)

    def can_place(self) -> bool:
        return (
            self.service is not None
            and self.plan is not None
            and not self._stale
            and not self._placed
            and self._error_field is None
            and not self._building
            and not self._placing
        )

    def _update_buttons(self) -> None:
        attached = self.service is not None
        self.build_button.setEnabled(attached and not self._building)
        self.place_button.setEnabled(self.can_place())
        self.clear_picks_button.setEnabled(bool(self.picks))

    # ---- building ----------------------------------------------------------------------------

    def build(self) -> None:
        """Plan from the clicked legs if they make a structure, else from the form."""
        if self.service is None or self._building or self._placing:
            return
        self._clear_error()
        if self.picks:
            self._plan_picks()
            return
        try:
            request, underlying, expiry = self.read_request()
        except SpreadError as error:
            self._drop_plan()
            self._set_status("")
            self.show_error(error.field, str(error))
            return
        self._generation += 1
        self._spawn(self._build(request, underlying, expiry, self._generation), "builder-plan")

    async def _build(
        self, request: SpreadRequest, underlying: str, expiry: date | None, generation: int
    ) -> None:
        assert self.service is not None
        self._building = True
        self._set_status("Planning…")
        self._update_buttons()
        try:
            plan = await self.service.plan(request, underlying, expiry)
        except SpreadError as error:
            if generation == self._generation:
                self._drop_plan()
                self._set_status("")
                self.show_error(error.field, str(error))
            return
        except Exception as error:
            log.exception("planning %s failed", request.structure)
            if generation == self._generation:
                self._drop_plan()
                self._set_status(f"Could not plan: {error}", ERROR_STYLE)
            return
        finally:
            self._building = False
            self._update_buttons()
        if generation == self._generation:
            self._accept_plan(plan)

    def _drop_plan(self) -> None:
        self.plan = None
        self.margin = None
        self._stale = False
        self.legs_model.set_plan(None)
        for label in self.numbers.values():
            label.setText("—")
        self.exit_plan.clear()
        self.warnings.hide()
        self.payoff.clear()
        self._update_buttons()

    def _accept_plan(self, plan: SpreadPlan) -> None:
        self.plan = plan
        self.margin = None
        self._stale = False
        self._placed = False
        self.show_plan(plan)
        self._set_status(
            f"Planned {STRUCTURE_TITLES.get(str(plan.structure), plan.structure)} on "
            f"{plan.underlying} {plan.expiry:%d %b %Y}: check the numbers, then Place "
            "(Ctrl+Enter)."
        )
        self._update_buttons()
        self.planBuilt.emit(plan)
        self._spawn(self._fetch_margin(plan), "builder-margin")

    def show_plan(self, plan: SpreadPlan) -> None:
        """Legs, numbers and payoff of ``plan``."""
        self.legs_model.set_plan(plan)
        self._fit_legs(max(len(plan.legs), 2))
        n = self.numbers
        n["creditMid"].setText(money_per_unit(plan.credit_mid, plan.quantity))
        n["creditTouch"].setText(money_per_unit(plan.credit_touch, plan.quantity))
        n["maxProfit"].setText(format_inr(plan.max_profit))
        n["maxLoss"].setText(format_inr(plan.max_loss))
        n["breakevens"].setText(breakevens_text(plan.breakevens))
        n["pop"].setText(pop_text(plan.pop))
        n["margin"].setText("fetching…")
        n["rewardRisk"].setText(f"{plan.reward_risk:.2f}")
        self.exit_plan.setText(exit_plan_text(plan))
        self.warnings.setText("\n".join(plan.warnings))
        self.warnings.setVisible(bool(plan.warnings))
        try:
            self.payoff.show_plan(plan)
        except Exception:
            log.exception("payoff of %s could not be drawn", plan.structure)
            self.payoff.clear()

    async def _fetch_margin(self, plan: SpreadPlan) -> None:
        assert self.service is not None
        try:
            amount, source = await self.service.margin(plan)
        except Exception as error:
            log.warning("margin for %s unavailable: %s", plan.structure, error)
            amount, source = None, "unavailable"
        if plan is not self.plan:
            return
        self.margin = (amount, source)
        text = "unknown" if amount is None else format_inr(amount)
        self.numbers["margin"].setText(f"{text} ({source})")
        self.marginKnown.emit(amount, source)

    # ---- legs picked in the chain ------------------------------------------------------------

    def add_pick(self, pick: LegPick) -> None:
        """A bid (sell) or ask (buy) clicked in the chain; plans once the picks make a
        structure (two legs: a vertical; four: a condor)."""
        picks = self.picks
        if picks and (picks[0].underlying, picks[0].expiry) != (pick.underlying, pick.expiry):
            picks = []
        # Clicking the same contract again replaces the earlier click (its side may change).
        picks = [p for p in picks if p.tradingsymbol != pick.tradingsymbol]
        picks.append(pick)
        self.picks = picks[-4:]
        self._show_picks()
        if self.service is None:
            return
        self._clear_error()
        if len(self.picks) in (2, 4):
            self._plan_picks()
        else:
            self._drop_plan()

    def clear_picks(self) -> None:
        self.picks = []
        self._show_picks()
        if self._error_field == "picks":
            self._clear_error()
        self._update_buttons()

    def _show_picks(self) -> None:
        if not self.picks:
            self.picks_label.setText("Or click a bid (sell) and an ask (buy) in the chain.")
        else:
            legs = ", ".join(f"{p.side} {p.tradingsymbol}" for p in self.picks)
            self.picks_label.setText(f"Picked: {legs}")
        self._update_buttons()

    def _plan_picks(self) -> None:
        assert self.service is not None
        try:
            plan = self.service.plan_from_picks(self.picks, max(self.lots.value(), 1))
        except SpreadError as error:
            self._drop_plan()
            self.show_error("picks", str(error))
            return
        self.strategy.blockSignals(True)
        self.strategy.setCurrentIndex(max(self.strategy.findData(plan.structure), 0))
        self.strategy.blockSignals(False)
        self._structure_changed()
        self._accept_plan(plan)

    # ---- placing -----------------------------------------------------------------------------

    def request_place(self) -> None:
        """Open the preview for the current plan; Confirm sends it (once)."""
        if not self.can_place():
            return
        assert self.plan is not None
        self._placing = True
        self._update_buttons()
        self._spawn(self._place(self.plan), "builder-place")

    def _offer_override(self, plan: SpreadPlan, error: GroupRejectedError) -> None:
        """Soft limits only: the trader may send it anyway with a typed reason (journalled)."""
        limits = "\n".join(f"• {f.message}" for f in error.failures)
        dialog = OverrideDialog(
            "Override pre-trade limits",
            f"The spread breaks your own limits:\n{limits}",
            confirm_text="Send anyway",
            parent=self,
        )
        self.override_dialog = dialog

        def confirmed(reason: str) -> None:
            self.override_dialog = None
            self._placing = True
            self._update_buttons()
            self._spawn(self._place_overridden(plan, reason), "builder-place-override")

        dialog.confirmed.connect(confirmed)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    async def _place_overridden(self, plan: SpreadPlan, reason: str) -> None:
        assert self.service is not None
        try:
            self._set_status("Sending (limits overridden): protection first…")
            group = await self.service.place(plan, override_reason=reason)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._set_status(f"Not sent: {error}", ERROR_STYLE)
            self.placeFailed.emit(str(error))
        else:
            self._placed = True
            self._set_status(f"Sent as group {group.group_id} (limits overridden).")
            self.groupPlaced.emit(group)
        finally:
            self._placing = False
            self._update_buttons()

    async def _place(self, plan: SpreadPlan) -> None:
        assert self.service is not None
        try:
            if self.margin is not None and plan is self.plan:
                amount, source = self.margin
            else:
                amount, source = await self.service.margin(plan)
            available = await self.service.available_funds()
            preview = OrderPreview(plan, amount, source, available, self)
            self.preview = preview
            preview.show()
            self.previewShown.emit(preview)
            try:
                confirmed = await preview.decision
            finally:
                self.preview = None
                preview.deleteLater()
            if not confirmed:
                self._set_status("Not sent.")
                return
            self._set_status("Sending: protection first…")
            group = await self.service.place(plan)
        except asyncio.CancelledError:
            raise
        except GroupRejectedError as error:
            self._set_status(f"Not sent: {error}", ERROR_STYLE)
            self.placeFailed.emit(str(error))
            if error.overridable:
                self._offer_override(plan, error)
            log.exception("placing %s failed", plan.structure)
            self._set_status(f"Not sent: {error}", ERROR_STYLE)
            self.placeFailed.emit(str(error))
        else:
            self._placed = True
            self._set_status(f"Sent as group {group.group_id}: follow it in the Order groups dock.")
            self.groupPlaced.emit(group)
        finally:
            self._placing = False
            self._update_buttons()
