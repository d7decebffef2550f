"""The emergency-hedge dialog, and the wiring between the execution events and the window.

:class:`HedgeDialog` (objectName ``hedgeDialog``) is shown for a ``HedgeProposed`` under the
``confirm`` policy. It says what is exposed and for how long (live), lists each remedy's orders
with its estimated cost, and counts down to the moment the coordinator sends the default
remedy by itself ("Sending buy back in 7 s", ``hedgeCountdown``). The trader can approve the
default (``hedgeApprove``), choose the other remedy (``hedgeAlternative``) or hold
(``hedgeHold``: a manual override, so it asks for a typed reason and refuses an empty one). It
emits :attr:`HedgeDialog.approved` and :attr:`HedgeDialog.held` and calls no service; it stays
up until the proposal is resolved — closing it would not stop the countdown, so Esc and the
close button do nothing while the decision is open — and closes itself on the matching
``HedgeResolved`` (sent, held or overtaken, here or by the countdown).

It is shown non-modally (``show()``, never ``exec()``; ``open()`` would make it window-modal,
and two proposals at once, or the groups dock, must stay usable). Times come from an injected
monotonic clock — the coordinator's — so tests drive the countdown by hand.

:func:`connect_execution` is the one place the window meets the coordinator: it feeds the
groups and exposure docks from the bridge, opens a dialog per proposal with a deadline, routes
Approve to ``coordinator.approve``, Hold to ``coordinator.hold`` (a task it keeps a reference
to) and the groups dock's override requests to a callable the app supplies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cockpit.domain.groups import OrderGroup
from cockpit.domain.money import format_inr
from cockpit.execution.events import HedgeProposed, HedgeRemedy, HedgeResolved
from cockpit.ui.exposure_panel import TimerTone, elapsed_text, tone_for
from cockpit.ui.groups_panel import PriceLookup
from cockpit.ui.naming import named as _named
from cockpit.ui.override_dialog import MIN_REASON_LENGTH, OverrideDialog, OverrideRequest

if TYPE_CHECKING:
    from cockpit.ui.bridge import EventBridge
    from cockpit.ui.main_window import MainWindow

log = logging.getLogger(__name__)


_TONE_STYLE = {
    TimerTone.NEUTRAL: "",
    TimerTone.AMBER: "color: #b26a00; font-weight: bold;",
    TimerTone.RED: "color: #c62828; font-weight: bold;",
}


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


def alternative_text(name: str) -> str:
    """The button for the non-default remedy: "Buy protection instead"."""
    return f"{_capitalised(name)} instead"


def _remedy_object_name(name: str) -> str:
    return "hedgeRemedy-" + "-".join(name.split())


def _cost_text(remedy: HedgeRemedy) -> str:
    if remedy.estimated_cost is None:
        return "Estimated cost: unknown (no price for every order)"
    return f"Estimated cost: {format_inr(remedy.estimated_cost)}"


class HedgeDialog(QDialog):
    """One proposal's decision; see the module docstring."""

    approved = Signal(str, str)  # proposal_id, remedy
    held = Signal(str, str)  # proposal_id, reason

    def __init__(
        self,
        proposal: HedgeProposed,
        *,
        clock: Callable[[], float] = time.monotonic,
        amber_after_s: float = 1.0,
        red_after_s: float = 5.0,
        refresh_hz: int = 10,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.proposal = proposal
        self.clock = clock
        self.amber_after_s = amber_after_s
        self.red_after_s = red_after_s
        self.decision: str | None = None  # "approved <remedy>" / "held" once the trader chose
        self.resolved: HedgeResolved | None = None
        self.reason_dialog: OverrideDialog | None = None
        key = proposal.key
        self.setObjectName("hedgeDialog")
        self.setWindowTitle(f"Emergency hedge — {key}")
        self.setAccessibleName(f"Emergency hedge for {key}")
        self.setModal(False)

        self.exposure_label = _named(
            QLabel(
                f"<b>{proposal.uncovered_quantity}</b> short <b>{key.underlying} "
                f"{key.expiry:%d %b %Y} {key.right}</b> not covered by protection"
            ),
            "hedgeExposure",
        )
        self.unhedged_label = _named(QLabel(), "hedgeUnhedgedFor")
        self.countdown = _named(QLabel(), "hedgeCountdown")
        self.countdown.setAccessibleName("Countdown to the automatic hedge")
        font = self.countdown.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.countdown.setFont(font)
        self.status = _named(QLabel(), "hedgeStatus")
        self.status.setWordWrap(True)

        remedies = QHBoxLayout()
        for remedy in proposal.remedies:
            remedies.addWidget(self._remedy_box(remedy))

        self.alternative_remedy = next(
            (r.name for r in proposal.remedies if r.name != proposal.default_remedy), None
        )
        buttons = self._buttons()

        layout = QVBoxLayout(self)
        layout.addWidget(self.exposure_label)
        layout.addWidget(self.unhedged_label)
        layout.addLayout(remedies)
        layout.addWidget(self.countdown)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self.timer = QTimer(self)
        self.timer.setObjectName("hedgeCountdownTimer")
        self.timer.setInterval(max(1, 1000 // refresh_hz))
        self.timer.timeout.connect(self.refresh)
        self.refresh()

    def _buttons(self) -> QHBoxLayout:
        default = self.proposal.default_remedy
        alternative = self.alternative_remedy
        self.approve_button = _named(QPushButton(f"Approve: {default}"), "hedgeApprove")
        self.approve_button.setAccessibleName(f"Approve: {default}")
        self.approve_button.setAutoDefault(True)
        self.approve_button.setDefault(True)
        self.alternative_button = _named(
            QPushButton(alternative_text(alternative) if alternative else "—"),
            "hedgeAlternative",
        )
        self.alternative_button.setAutoDefault(False)
        self.alternative_button.setEnabled(alternative is not None)
        self.alternative_button.setVisible(alternative is not None)
        self.hold_button = _named(QPushButton("Hold…"), "hedgeHold")
        self.hold_button.setAutoDefault(False)
        self.hold_button.setAccessibleName("Hold: accept the exposure (asks for a reason)")
        self.hold_button.setToolTip(
            "Do not hedge: a manual override, journalled with the reason you give"
        )
        self.approve_button.clicked.connect(lambda: self.approve(default))
        self.alternative_button.clicked.connect(
            lambda: self.approve(alternative) if alternative else None
        )
        self.hold_button.clicked.connect(self.ask_hold_reason)
        row = QHBoxLayout()
        row.addWidget(self.approve_button)
        row.addWidget(self.alternative_button)
        row.addStretch(1)
        row.addWidget(self.hold_button)
        return row

    def _remedy_box(self, remedy: HedgeRemedy) -> QGroupBox:
        default = remedy.name == self.proposal.default_remedy
        title = _capitalised(remedy.name) + (" (default)" if default else "")
        box = _named(QGroupBox(title), _remedy_object_name(remedy.name))
        lines = QVBoxLayout(box)
        for order in remedy.orders:
            price = (
                f" at ~₹{format_inr(order.estimated_price, symbol=False)}"
                if order.estimated_price is not None
                else " (no price yet)"
            )
            lines.addWidget(QLabel(f"{order.side} {order.quantity} {order.tradingsymbol}{price}"))
        cost = _named(QLabel(_cost_text(remedy)), f"{box.objectName()}-cost")
        cost.setStyleSheet("font-weight: bold;")
        lines.addWidget(cost)
        return box

    # ---- live text -----------------------------------------------------------------------

    def present(self) -> None:
        """Show it without blocking the window, and start the live timers."""
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.timer.start()
        self.refresh()
        self.show()
        self.activateWindow()

    def refresh(self) -> None:
        now = self.clock()
        proposal = self.proposal
        if self.resolved is None:
            elapsed = now - proposal.unhedged_since
            tone = tone_for(elapsed, self.amber_after_s, self.red_after_s)
            self.unhedged_label.setText(f"Unhedged for {elapsed_text(elapsed)}")
            if self.unhedged_label.property("tone") != str(tone):
                self.unhedged_label.setProperty("tone", str(tone))
                self.unhedged_label.setStyleSheet(_TONE_STYLE[tone])
        self.countdown.setText(self.countdown_text(now))

    def countdown_text(self, now: float) -> str:
        proposal = self.proposal
        if self.resolved is not None:
            return f"Resolved: {self.resolved.outcome}"
        if self.decision is not None:
            return self.decision
        if proposal.deadline is None:
            return f"Policy auto: {proposal.default_remedy} is sent at once"
        left = proposal.deadline - now
        if left <= 0:
            return f"Sending {proposal.default_remedy} now…"
        return f"Sending {proposal.default_remedy} in {math.ceil(left)} s"

    # ---- decisions -----------------------------------------------------------------------

    def _decide(self, text: str) -> None:
        self.decision = text
        for button in (self.approve_button, self.alternative_button, self.hold_button):
            button.setEnabled(False)
        if self.reason_dialog is not None:
            self.reason_dialog.close()
        self.refresh()

    def approve(self, remedy: str) -> None:
        if self.decision is not None or self.resolved is not None:
            return
        self._decide(f"Approved: sending {remedy}…")
        self.status.setText("")
        self.approved.emit(self.proposal.proposal_id, remedy)

    def ask_hold_reason(self) -> OverrideDialog:
        """Open the override dialog for the hold's reason (the countdown keeps running)."""
        if self.reason_dialog is not None:
            self.reason_dialog.close()
        proposal = self.proposal
        dialog = OverrideDialog(
            f"Hold the emergency hedge for {proposal.key}",
            f"Do not hedge the {proposal.uncovered_quantity} short {proposal.key} left "
            "uncovered. The exposure stays open: you carry the naked short risk. The countdown "
            "keeps running until you confirm.",
            confirm_text="Hold: accept the exposure",
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.confirmed.connect(self.hold)
        dialog.finished.connect(lambda _result: self._reason_dialog_closed(dialog))
        self.reason_dialog = dialog
        dialog.present()
        return dialog

    def _reason_dialog_closed(self, dialog: OverrideDialog) -> None:
        if self.reason_dialog is dialog:
            self.reason_dialog = None

    def hold(self, reason: str) -> bool:
        """Hold with ``reason``; an empty or too short reason is refused with a message."""
        if self.decision is not None or self.resolved is not None:
            return False
        reason = reason.strip()
        if len(reason) < MIN_REASON_LENGTH:
            self.status.setText(
                f"Not held: a hold needs a reason of at least {MIN_REASON_LENGTH} characters "
                "(it is journalled as a manual override). The countdown continues."
            )
            self.status.setStyleSheet("color: #c62828; font-weight: bold;")
            return False
        self._decide("Held: waiting for the coordinator to record it…")
        self.status.setText(f"Reason: {reason}")
        self.status.setStyleSheet("")
        self.held.emit(self.proposal.proposal_id, reason)
        return True

    def resolve(self, event: HedgeResolved) -> None:
        """The coordinator decided this proposal (sent, held, overtaken): close."""
        if event.proposal_id != self.proposal.proposal_id:
            return
        self.resolved = event
        self.timer.stop()
        if self.reason_dialog is not None:
            self.reason_dialog.close()
        self.refresh()
        self.done(QDialog.DialogCode.Accepted)

    def abandon(self, message: str) -> None:
        """The coordinator no longer waits on this proposal (approve/hold found it gone)."""
        log.warning("hedge %s: %s", self.proposal.proposal_id, message)
        self.resolve(
            HedgeResolved(
                at=self.proposal.at,
                proposal_id=self.proposal.proposal_id,
                outcome="gone",
                reason=message,
            )
        )

    # ---- closing -------------------------------------------------------------------------

    def reject(self) -> None:
        # Esc and the close button: closing would not stop the countdown, so it is refused
        # while the decision is open.
        if self.resolved is None and self.decision is None:
            self.status.setText(
                "This stays open until the hedge is decided: closing it would not stop the "
                f"countdown. Approve, choose {self.alternative_remedy or 'another remedy'} "
                "or hold."
            )
            self.status.setStyleSheet("color: #b26a00;")
            return
        super().reject()

    def done(self, result: int) -> None:
        self.timer.stop()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.resolved is None and self.decision is None:
            self.reject()
            event.ignore()
            return
        self.timer.stop()
        super().closeEvent(event)


class ExecutionService(Protocol):
    """What the window needs of the coordinator."""

    groups: Mapping[str, OrderGroup]

    def approve(self, proposal_id: str, remedy: str | None = None, reason: str = "") -> None: ...

    def hold(self, proposal_id: str, reason: str) -> Coroutine[Any, Any, None]: ...


class ExecutionWiring(QObject):
    """Owns the open hedge dialogs and the hold tasks; made by :func:`connect_execution`."""

    dialogOpened = Signal(object)  # HedgeDialog

    def __init__(
        self,
        window: MainWindow,
        coordinator: ExecutionService,
        on_override: Callable[[OverrideRequest], object],
        *,
        clock: Callable[[], float],
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        super().__init__(window)
        self.setObjectName("executionWiring")
        self.window = window
        self.coordinator = coordinator
        self.on_override = on_override
        self.clock = clock
        self._loop = loop
        self.dialogs: dict[str, HedgeDialog] = {}
        self.tasks: set[asyncio.Task[Any]] = set()

    def on_hedge_proposed(self, event: HedgeProposed) -> None:
        if event.deadline is None:
            log.info("hedge %s: policy auto, sent without asking", event.proposal_id)
            return
        if event.proposal_id in self.dialogs:
            return
        dialog = HedgeDialog(event, clock=self.clock, parent=self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.approved.connect(self._approve)
        dialog.held.connect(self._hold)
        dialog.finished.connect(lambda _result: self._forget(event.proposal_id, dialog))
        self.dialogs[event.proposal_id] = dialog
        dialog.present()
        self.dialogOpened.emit(dialog)

    def on_hedge_resolved(self, event: HedgeResolved) -> None:
        dialog = self.dialogs.get(event.proposal_id)
        if dialog is not None:
            dialog.resolve(event)

    def _forget(self, proposal_id: str, dialog: HedgeDialog) -> None:
        if self.dialogs.get(proposal_id) is dialog:
            del self.dialogs[proposal_id]

    def _approve(self, proposal_id: str, remedy: str) -> None:
        try:
            self.coordinator.approve(proposal_id, remedy)
        except KeyError as error:
            self._gone(proposal_id, str(error.args[0]) if error.args else str(error))
        except Exception:
            log.exception("hedge %s: approve failed", proposal_id)
            self._gone(proposal_id, "approving it failed; see the log")

    def _hold(self, proposal_id: str, reason: str) -> None:
        task = self._spawn(f"hold-{proposal_id}", self.coordinator.hold(proposal_id, reason))
        task.add_done_callback(lambda t: self._hold_done(proposal_id, t))

    def _hold_done(self, proposal_id: str, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return  # HedgeResolved(held) closes the dialog
        if isinstance(error, KeyError | ValueError):
            self._gone(proposal_id, str(error.args[0]) if error.args else str(error))
        else:
            log.error("hedge %s: hold failed", proposal_id, exc_info=error)
            self._gone(proposal_id, "holding it failed; see the log")

    def _gone(self, proposal_id: str, message: str) -> None:
        dialog = self.dialogs.get(proposal_id)
        if dialog is not None:
            dialog.abandon(message)

    def _spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        loop = self._loop
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = asyncio.get_event_loop()
        task = loop.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def on_override_requested(self, request: OverrideRequest) -> None:
        try:
            self.on_override(request)
        except Exception:
            log.exception("override %s of %s failed", request.action, request.group_id)

    async def aclose(self) -> None:
        """Cancel and await the hold tasks still running (at shutdown)."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        for dialog in list(self.dialogs.values()):
            dialog.timer.stop()


def connect_execution(
    window: MainWindow,
    bridge: EventBridge,
    coordinator: ExecutionService,
    on_override: Callable[[OverrideRequest], object],
    *,
    clock: Callable[[], float] = time.monotonic,
    price_of: PriceLookup | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> ExecutionWiring:
    """Wire the execution events to the window's docks and dialogs.

    Feeds the groups dock (reading groups from ``coordinator.groups``) and the exposure dock
    from the bridge; opens a :class:`HedgeDialog` per ``HedgeProposed`` with a deadline and
    closes it on its ``HedgeResolved``; Approve calls ``coordinator.approve``; Hold schedules
    ``coordinator.hold`` as a task held in :attr:`ExecutionWiring.tasks`; the groups dock's
    override requests go to ``on_override``. ``price_of`` (instrument token → latest traded
    price in paise, or None) marks the groups' P&L to market. ``clock`` must be the
    coordinator's monotonic clock (``services.clock.monotonic``). Returns the wiring, also
    kept as ``window.execution``.
    """
    wiring = ExecutionWiring(window, coordinator, on_override, clock=clock, loop=loop)
    window.execution = wiring
    window.exposure_panel.clock = clock
    window.groups_panel.attach(coordinator.groups, price_of)
    bridge.groupChanged.connect(window.groups_panel.on_group_changed)
    bridge.exposureChanged.connect(window.exposure_panel.on_exposure_changed)
    bridge.hedgeProposed.connect(wiring.on_hedge_proposed)
    bridge.hedgeResolved.connect(wiring.on_hedge_resolved)
    window.groups_panel.overrideRequested.connect(wiring.on_override_requested)
    return wiring
