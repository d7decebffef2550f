"""The order preview (objectName ``orderPreview``): what Place is about to send, for a last look.

It lists the plan's legs in execution order — protection (the buys) first, then the shorts
they cover — each with its side, quantity, symbol and prices; the margin the basket needs
against the funds available (with where the margin figure came from), and the worst case: the
plan's maximum loss. Confirm (``previewConfirm``: a click or Alt+C; Enter lands on Cancel)
and Cancel (``previewCancel``, Esc) only close the dialog with a result;
:attr:`OrderPreview.decision` is a future the builder awaits, so the dialog is shown
non-modally (``show()``) and no nested event loop runs inside async code. When the margin
needed is known to exceed the funds available, Confirm is disabled and the dialog says so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cockpit.domain.groups import LegRole
from cockpit.domain.money import Paise, format_inr

if TYPE_CHECKING:
    from cockpit.strategies.spreads import PlannedLeg, SpreadPlan

log = logging.getLogger(__name__)

STRUCTURE_TITLES = {
    "bull-put": "Bull put credit spread",
    "bear-call": "Bear call credit spread",
    "iron-condor": "Iron condor",
}


def price_text(value: Paise | None) -> str:
    """An option price in rupees without the symbol: ``101.35``, or ``—`` when unknown."""
    return "—" if value is None else format_inr(value, symbol=False)


def execution_order(plan: SpreadPlan) -> list[PlannedLeg]:
    """Protection first (stable within a role): the order the coordinator sends them."""
    return sorted(plan.legs, key=lambda leg: leg.spec.role is not LegRole.PROTECTION)


def leg_line(leg: PlannedLeg) -> str:
    spec = leg.spec
    return f"{spec.side} {spec.quantity} {spec.tradingsymbol}"


class OrderPreview(QDialog):
    """Confirm or cancel one plan; the answer arrives in :attr:`decision`."""

    def __init__(
        self,
        plan: SpreadPlan,
        margin: Paise | None,
        margin_source: str,
        available: Paise | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("orderPreview")
        self.setWindowTitle("Confirm order")
        self.setAccessibleName("Order preview")
        self.plan = plan
        self.decision: asyncio.Future[bool] = asyncio.get_event_loop().create_future()

        title = STRUCTURE_TITLES.get(str(plan.structure), str(plan.structure))
        heading = QLabel(
            f"<b>{title}</b> — {plan.underlying} {plan.expiry:%d %b %Y}, "
            f"{plan.lots} lot{'s' if plan.lots != 1 else ''} × {plan.lot_size}"
        )
        heading.setObjectName("previewHeading")

        legs = self._legs_grid(plan)
        order_note = QLabel("Protection is sent first; each short follows the cover that filled.")
        order_note.setObjectName("previewOrderNote")
        order_note.setWordWrap(True)

        numbers = self._numbers_grid(plan, margin, margin_source, available)

        self.shortfall = QLabel()
        self.shortfall.setObjectName("previewShortfall")
        self.shortfall.setStyleSheet("color: #c62828; font-weight: bold;")
        self.shortfall.setWordWrap(True)
        short_of_funds = margin is not None and available is not None and margin > available
        if short_of_funds:
            assert margin is not None and available is not None
            gap = format_inr(Paise(margin - available))
            self.shortfall.setText(f"Margin needed exceeds the funds available by {gap}.")
        self.shortfall.setVisible(short_of_funds)

        self.confirm_button = QPushButton("&Confirm and send")
        self.confirm_button.setObjectName("previewConfirm")
        self.confirm_button.setEnabled(not short_of_funds)
        # Sending takes a deliberate click (or Alt+C): an Enter meant for the builder, or a
        # held Ctrl+Enter, lands on Cancel, which has the focus.
        self.confirm_button.setAutoDefault(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("previewCancel")
        self.cancel_button.setDefault(True)
        self.confirm_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.confirm_button)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(legs)
        layout.addWidget(order_note)
        layout.addLayout(numbers)
        layout.addWidget(self.shortfall)
        layout.addLayout(buttons)
        self.finished.connect(self._finished)
        self.cancel_button.setFocus()

    def _numbers_grid(
        self,
        plan: SpreadPlan,
        margin: Paise | None,
        margin_source: str,
        available: Paise | None,
    ) -> QGridLayout:
        numbers = QGridLayout()
        numbers.setHorizontalSpacing(14)
        self.credit = self._number(numbers, 0, "Credit at mid", format_inr(plan.credit_mid))
        needed = "unknown" if margin is None else f"{format_inr(margin)} ({margin_source})"
        self.margin = self._number(numbers, 1, "Margin needed", needed)
        self.available = self._number(
            numbers, 2, "Funds available", "unknown" if available is None else format_inr(available)
        )
        self.worst = self._number(numbers, 3, "Worst-case loss", format_inr(plan.max_loss))
        self.worst.setObjectName("previewWorstLoss")
        self.margin.setObjectName("previewMargin")
        self.available.setObjectName("previewAvailable")
        self.credit.setObjectName("previewCredit")
        return numbers

    @staticmethod
    def _legs_grid(plan: SpreadPlan) -> QGridLayout:
        legs = QGridLayout()
        legs.setHorizontalSpacing(14)
        for column, text in enumerate(("#", "Order", "Role", "Bid", "Ask", "Limit (mid)")):
            header = QLabel(f"<b>{text}</b>")
            legs.addWidget(header, 0, column)
        for row, leg in enumerate(execution_order(plan), start=1):
            cells = (
                str(row),
                leg_line(leg),
                str(leg.spec.role),
                price_text(leg.bid),
                price_text(leg.ask),
                price_text(leg.mid),
            )
            for column, text in enumerate(cells):
                label = QLabel(text)
                label.setObjectName(f"previewLeg{row}_{column}")
                if column >= 3:
                    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                legs.addWidget(label, row, column)
        return legs

    @staticmethod
    def _number(grid: QGridLayout, row: int, name: str, value: str) -> QLabel:
        grid.addWidget(QLabel(name), row, 0)
        label = QLabel(value)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(label, row, 1)
        return label

    def _finished(self, result: int) -> None:
        if not self.decision.done():
            self.decision.set_result(result == QDialog.DialogCode.Accepted)

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if not self.decision.done():
            self.decision.set_result(False)
