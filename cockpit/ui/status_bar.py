"""The status bar: broker connection, the market clock in IST, and funds used/available.

Each part is a label with a stable objectName (``brokerStatus``, ``marketClock``,
``fundsStatus``) fed by events through the main window; until a value is known it says so
("not connected", "—") rather than showing a made-up figure.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from cockpit.clock import IST

_STATE_STYLE = {
    "connected": "color: #2e7d32;",
    "open": "color: #2e7d32;",
    "pre-open": "color: #b26a00;",
    "connecting": "color: #b26a00;",
    "polling": "color: #b26a00;",
}


class CockpitStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.broker = self._label("brokerStatus", "Broker connection")
        self.market = self._label("marketClock", "Market clock")
        self.funds = self._label("fundsStatus", "Funds")
        self.set_broker("not connected", "")
        self.market.setText("Market: —")
        self.set_funds(None, None)

    def _label(self, name: str, accessible: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setAccessibleName(accessible)
        label.setContentsMargins(8, 0, 8, 0)
        self.addPermanentWidget(label)
        return label

    def set_broker(self, state: str, detail: str) -> None:
        text = f"Broker: {state}"
        if detail:
            text += f" — {detail}"
        self.broker.setText(text)
        self.broker.setStyleSheet(_STATE_STYLE.get(state.lower(), "color: #c62828;"))

    def set_market(self, now: datetime, state: str, reason: str) -> None:
        local = now.astimezone(IST)
        text = f"{local:%a %d %b %H:%M:%S} IST · {state}"
        if reason:
            text += f" ({reason})"
        self.market.setText(text)
        self.market.setStyleSheet(_STATE_STYLE.get(state.lower(), ""))

    def set_funds(self, used: str | None, available: str | None) -> None:
        if used is None or available is None:
            self.funds.setText("Funds: —")
            self.funds.setToolTip("Funds appear once the broker reports margins.")
        else:
            self.funds.setText(f"Funds used {used} · available {available}")
            self.funds.setToolTip("")
