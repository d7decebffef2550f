"""The first-run guide: on the first start on the paper exchange, a small non-modal window walks a
new trader through a first credit spread — the chain, Build, Place (protection goes first), the
shock heatmap — ticking each step off as it happens in the window. "Done" (or finishing every
step) records it in ``COCKPIT_HOME/first-run-done`` so it is shown once."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QVBoxLayout, QWidget

from cockpit.ui.naming import named

MARKER = "first-run-done"

STEPS: tuple[tuple[str, str], ...] = (
    (
        "chain",
        "The option chain fills from the paper exchange (left). Click a bid to sell or "
        "an ask to buy — or use the builder.",
    ),
    (
        "built",
        "In the Strategy builder, keep “Bull put credit spread”, 1 lot, and press "
        "Build (Enter): the legs, payoff, POP and margin appear.",
    ),
    (
        "placed",
        "Press Place… (Ctrl+Enter), read the preview and Confirm: the protection leg "
        "is bought before the short is sold.",
    ),
    (
        "shocks",
        "Open the Margin shock tab: the spread's P&L under price × IV shocks, worst cell outlined.",
    ),
)


def first_run(home: Path) -> bool:
    return not (home / MARKER).exists()


class FirstRunGuide(QDialog):
    def __init__(self, home: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunGuide")
        self.setWindowTitle("Welcome to Cockpit")
        self.setAccessibleName("First-run guide")
        self.setModal(False)
        self._home = home
        self.done_steps: set[str] = set()
        layout = QVBoxLayout(self)
        intro = QLabel(
            "<b>Your first credit spread, on the paper exchange</b><br>"
            "Nothing here is real money. Cockpit never leaves you with a naked short you did "
            "not choose: protection fills first, always."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.labels: dict[str, QLabel] = {}
        for number, (key, text) in enumerate(STEPS, start=1):
            label = named(QLabel(), f"firstRunStep-{key}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            self.labels[key] = label
            self._paint(key, number, text)
            layout.addWidget(label)
        self.done_button = named(QPushButton("Done"), "firstRunDone")
        self.done_button.setToolTip("Close the guide; it will not be shown again")
        self.done_button.clicked.connect(self.finish)
        layout.addWidget(self.done_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(420)

    def _paint(self, key: str, number: int, text: str) -> None:
        done = key in self.done_steps
        mark = "✔" if done else f"{number}."
        colour = "#2e7d32" if done else "palette(text)"
        self.labels[key].setText(f"<span style='color:{colour}'><b>{mark}</b> {text}</span>")

    def mark(self, key: str) -> None:
        """Step ``key`` happened; when all have, the guide is done."""
        if key in self.done_steps or key not in self.labels:
            return
        self.done_steps.add(key)
        for number, (each, text) in enumerate(STEPS, start=1):
            if each == key:
                self._paint(key, number, text)
        if len(self.done_steps) == len(STEPS):
            self.done_button.setText("Done — well flown")

    def finish(self) -> None:
        (self._home / MARKER).write_text("shown\n", encoding="utf-8")
        self.close()
