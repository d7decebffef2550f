"""The override dialog: the trader's typed reason for a manual override, and what it asks for.

Every action that overrides the cockpit's protection (force-closing a group, resolving a group
in NEEDS_ATTENTION, accepting unhedged exposure, cancelling a working order, holding an
emergency hedge) is journalled with the trader's reason. This dialog collects that reason: its
title says what is being overridden, the confirm button (``overrideConfirm``) stays disabled
until the reason (``overrideReason``) has at least :data:`MIN_REASON_LENGTH` characters, and a
hint says why. It is shown non-modally and emits :attr:`OverrideDialog.confirmed` with the
reason; the widget that opened it turns that into an :class:`OverrideRequest` (or a hold) for
the app. It calls no service itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cockpit.ui.naming import named as _named

MIN_REASON_LENGTH = 5


class OverrideAction(StrEnum):
    FORCE_CLOSE = "force close"
    RESOLVE_ATTENTION = "resolve needs_attention"
    ACCEPT_EXPOSURE = "accept unhedged exposure"
    CANCEL_ORDER = "cancel order"


@dataclass(frozen=True, slots=True)
class OverrideRequest:
    """The trader asked for a manual override of ``group_id`` (or of one of its child orders)
    and said why; the app sends it to the coordinator, which journals it."""

    action: OverrideAction
    group_id: str
    child_id: str | None
    reason: str


class OverrideDialog(QDialog):
    """Asks for a reason of at least ``min_length`` characters; emits ``confirmed(reason)``."""

    confirmed = Signal(str)

    def __init__(
        self,
        title: str,
        what: str,
        *,
        confirm_text: str = "Confirm override",
        min_length: int = MIN_REASON_LENGTH,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("overrideDialog")
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.setModal(False)
        self.min_length = min_length

        heading = _named(QLabel(f"<b>{title}</b>"), "overrideTitle")
        self.what = _named(QLabel(what), "overrideWhat")
        self.what.setWordWrap(True)
        note = _named(
            QLabel("This is a manual override. It is journalled with your reason."),
            "overrideNote",
        )
        note.setWordWrap(True)
        self.reason_edit = _named(QLineEdit(), "overrideReason")
        self.reason_edit.setAccessibleName("Reason for the override")
        self.reason_edit.setPlaceholderText(f"Why? (at least {min_length} characters)")
        self.reason_edit.setMinimumWidth(360)
        self.hint = _named(QLabel(), "overrideHint")
        self.hint.setWordWrap(True)

        buttons = _named(QDialogButtonBox(), "overrideButtons")
        self.confirm = _named(QPushButton(confirm_text), "overrideConfirm")
        self.confirm.setAccessibleName(confirm_text)
        self.cancel = _named(QPushButton("Cancel"), "overrideCancel")
        buttons.addButton(self.confirm, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.cancel, QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.what)
        layout.addWidget(note)
        layout.addWidget(self.reason_edit)
        layout.addWidget(self.hint)
        layout.addWidget(buttons)

        self.reason_edit.textChanged.connect(self._reason_changed)
        self._reason_changed("")

    def reason(self) -> str:
        return self.reason_edit.text().strip()

    def reason_is_valid(self) -> bool:
        return len(self.reason()) >= self.min_length

    def _reason_changed(self, _text: str) -> None:
        valid = self.reason_is_valid()
        self.confirm.setEnabled(valid)
        self.confirm.setDefault(valid)
        if valid:
            self.hint.setText("")
        else:
            missing = self.min_length - len(self.reason())
            self.hint.setText(
                f"A reason is required: at least {self.min_length} characters "
                f"({missing} more). Nothing is overridden without one."
            )
        self.hint.setStyleSheet("" if valid else "color: #b26a00;")

    def present(self) -> None:
        """Show without blocking any other window (an emergency-hedge dialog must stay usable
        while a reason is typed here)."""
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.show()
        self.activateWindow()
        self.reason_edit.setFocus()

    def accept(self) -> None:
        # Enter in the reason field lands here too: an empty or short reason is refused.
        if not self.reason_is_valid():
            self.hint.setStyleSheet("color: #c62828; font-weight: bold;")
            return
        self.confirmed.emit(self.reason())
        super().accept()
