"""The status bar: broker connection, the market clock in IST, funds used/available, and start-up
recovery (``recoveryProgress``, ``recoveryStatus``) while it runs and what it found.

Each part is a label with a stable objectName (``brokerStatus``, ``marketClock``,
``fundsStatus``) fed by events through the main window; until a value is known it says so
("not connected", "—") rather than showing a made-up figure.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

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
        self.recovery = QLabel(self)
        self.recovery.setObjectName("recoveryStatus")
        self.recovery.setAccessibleName("Start-up recovery")
        self.recovery.hide()
        self.addWidget(self.recovery)
        self.recovery_bar = QProgressBar(self)
        self.recovery_bar.setObjectName("recoveryProgress")
        self.recovery_bar.setAccessibleName("Start-up recovery progress")
        self.recovery_bar.setMaximumWidth(160)
        self.recovery_bar.hide()
        self.addWidget(self.recovery_bar)
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

    def set_recovery(self, step: int, total: int, detail: str) -> None:
        """Start-up recovery at ``step`` of ``total``: a progress bar and what it is doing."""
        self.recovery_bar.setRange(0, total)
        self.recovery_bar.setValue(step - 1)
        self.recovery_bar.setFormat(f"Recovery {step}/{total}")
        self.recovery_bar.show()
        self.recovery.setText(detail[:1].upper() + detail[1:] + "…")
        self.recovery.setStyleSheet("color: #b26a00;")
        self.recovery.show()

    def recovery_done(self, resumed: int, differences: int, external: int, unhedged: int) -> None:
        self.recovery_bar.hide()
        parts = [f"{resumed} group(s) resumed"]
        if differences:
            parts.append(f"{differences} difference(s) journalled")
        if external:
            parts.append(f"{external} external position(s)")
        if unhedged:
            parts.append(f"{unhedged} UNHEDGED at the broker")
        self.recovery.setText("Recovered: " + ", ".join(parts))
        self.recovery.setToolTip(
            "Start-up recovery reconciled the journal with the broker (the broker wins) and "
            "resumed unfinished groups. Details are in the log and the alerts."
        )
        bad = unhedged or differences or external
        self.recovery.setStyleSheet("color: #c62828;" if bad else "color: #2e7d32;")
