"""The emergency-hedge dialog and its wiring: a proposal opens it, Approve and the other
remedy go to the coordinator's approve, Hold needs a typed reason and goes to its hold, the
countdown follows the injected clock and the proposal's resolution closes it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton
from pytestqt.qtbot import QtBot

from cockpit.bus import EventBus
from cockpit.clock import IST
from cockpit.domain.groups import OrderGroup
from cockpit.domain.money import Paise
from cockpit.execution.events import HedgeOrder, HedgeProposed, HedgeRemedy, HedgeResolved
from cockpit.execution.exposure import ExposureKey
from cockpit.ui.bridge import EventBridge
from cockpit.ui.hedge_dialog import ExecutionWiring, HedgeDialog, connect_execution
from cockpit.ui.log_dock import QtLogHandler
from cockpit.ui.main_window import MainWindow
from cockpit.ui.override_dialog import OverrideAction, OverrideDialog, OverrideRequest

AT = datetime(2026, 12, 2, 10, 15, tzinfo=IST)
KEY = ExposureKey("NIFTY", date(2026, 12, 29), "PE")
SINCE = 50.0
DEADLINE = 60.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class StubCoordinator:
    """Records what the window asks of the coordinator."""

    def __init__(self) -> None:
        self.groups: dict[str, OrderGroup] = {}
        self.approvals: list[tuple[str, str | None]] = []
        self.holds: list[tuple[str, str]] = []
        self.waiting = {"P1"}

    def approve(self, proposal_id: str, remedy: str | None = None, reason: str = "") -> None:
        if proposal_id not in self.waiting:
            raise KeyError(f"no hedge proposal {proposal_id} is waiting")
        self.approvals.append((proposal_id, remedy))

    async def hold(self, proposal_id: str, reason: str) -> None:
        await asyncio.sleep(0)
        self.holds.append((proposal_id, reason))


def proposal(proposal_id: str = "P1", deadline: float | None = DEADLINE) -> HedgeProposed:
    back = HedgeRemedy(
        "buy back", (HedgeOrder("NIFTY26DEC24000PE", "BUY", 65, Paise(11250)),), Paise(731250)
    )
    protect = HedgeRemedy(
        "buy protection", (HedgeOrder("NIFTY26DEC23900PE", "BUY", 65, None),), None
    )
    return HedgeProposed(
        at=AT,
        proposal_id=proposal_id,
        key=KEY,
        uncovered_quantity=65,
        unhedged_since=SINCE,
        remedies=(back, protect),
        default_remedy="buy back",
        deadline=deadline,
    )


def resolved(outcome: str, proposal_id: str = "P1") -> HedgeResolved:
    return HedgeResolved(at=AT, proposal_id=proposal_id, outcome=outcome)


class Harness:
    def __init__(self, qtbot: QtBot, home: Path) -> None:
        self.qtbot = qtbot
        self.clock = FakeClock(SINCE + 0.5)
        self.bus = EventBus()
        self.window = MainWindow(home / "window.ini", QtLogHandler())
        qtbot.addWidget(self.window)
        self.bridge = EventBridge(self.bus, self.window)
        self.coordinator = StubCoordinator()
        self.overrides: list[OverrideRequest] = []
        self.loop = asyncio.new_event_loop()
        self.wiring: ExecutionWiring = connect_execution(
            self.window,
            self.bridge,
            self.coordinator,
            self.overrides.append,
            clock=self.clock,
            loop=self.loop,
        )

    def open(self, event: HedgeProposed | None = None) -> HedgeDialog:
        event = event or proposal()
        with self.qtbot.waitSignal(self.wiring.dialogOpened, timeout=2000) as opened:
            self.bus.publish(event)
        dialog = opened.args[0]
        assert dialog is self.wiring.dialogs[event.proposal_id]
        assert dialog.isVisible()
        return dialog

    def run_tasks(self) -> None:
        if self.wiring.tasks:
            self.loop.run_until_complete(asyncio.gather(*self.wiring.tasks))
        self.loop.run_until_complete(asyncio.sleep(0))

    def close(self) -> None:
        self.bridge.detach()
        self.window.close()
        self.loop.close()


@pytest.fixture
def harness(qtbot: QtBot, tmp_path: Path) -> Iterator[Harness]:
    made = Harness(qtbot, tmp_path)
    yield made
    made.close()


def button(dialog: HedgeDialog, name: str) -> QPushButton:
    found = dialog.findChild(QPushButton, name)
    assert found is not None, name
    return found


def click(qtbot: QtBot, widget: QPushButton) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_a_proposal_opens_the_dialog_with_exposure_remedies_and_countdown(
    harness: Harness,
) -> None:
    dialog = harness.open()
    assert dialog.objectName() == "hedgeDialog"
    assert dialog.parent() is harness.window
    assert not dialog.isModal()
    exposure = dialog.findChild(QLabel, "hedgeExposure").text()
    assert "65" in exposure and "NIFTY 29 Dec 2026 PE" in exposure
    assert dialog.findChild(QLabel, "hedgeUnhedgedFor").text() == "Unhedged for 0.5 s"
    assert dialog.findChild(QLabel, "hedgeCountdown").text() == "Sending buy back in 10 s"
    back = dialog.findChild(QLabel, "hedgeRemedy-buy-back-cost")
    assert back.text() == "Estimated cost: ₹7,312.50"
    protect = dialog.findChild(QLabel, "hedgeRemedy-buy-protection-cost")
    assert "unknown" in protect.text()
    assert button(dialog, "hedgeApprove").text() == "Approve: buy back"
    assert button(dialog, "hedgeApprove").isDefault()
    assert button(dialog, "hedgeAlternative").text() == "Buy protection instead"
    assert button(dialog, "hedgeHold").text() == "Hold…"


def test_countdown_and_unhedged_time_follow_the_injected_clock(
    harness: Harness,
) -> None:
    dialog = harness.open()
    countdown = dialog.findChild(QLabel, "hedgeCountdown")
    unhedged = dialog.findChild(QLabel, "hedgeUnhedgedFor")
    harness.clock.now = DEADLINE - 6.5
    dialog.refresh()
    assert countdown.text() == "Sending buy back in 7 s"
    assert unhedged.text() == "Unhedged for 3.5 s" and unhedged.property("tone") == "amber"
    harness.clock.now = DEADLINE - 0.2
    dialog.refresh()
    assert countdown.text() == "Sending buy back in 1 s"
    assert unhedged.property("tone") == "red"
    harness.clock.now = DEADLINE + 0.1
    dialog.refresh()
    assert countdown.text() == "Sending buy back now…"
    # The dialog's own timer drives the text too.
    harness.clock.now = DEADLINE - 2.5
    harness.qtbot.waitUntil(lambda: countdown.text() == "Sending buy back in 3 s", timeout=2000)


def test_approve_sends_the_default_remedy_to_the_coordinator(harness: Harness) -> None:
    dialog = harness.open()
    with harness.qtbot.waitSignal(dialog.approved, timeout=2000) as signal:
        click(harness.qtbot, button(dialog, "hedgeApprove"))
    assert signal.args == ["P1", "buy back"]
    assert harness.coordinator.approvals == [("P1", "buy back")]
    assert not button(dialog, "hedgeApprove").isEnabled()
    assert not button(dialog, "hedgeHold").isEnabled()
    assert dialog.findChild(QLabel, "hedgeCountdown").text() == "Approved: sending buy back…"
    assert dialog.isVisible()  # until the coordinator says it went


def test_the_other_remedy_is_approved_by_name(harness: Harness) -> None:
    dialog = harness.open()
    with harness.qtbot.waitSignal(dialog.approved, timeout=2000) as signal:
        click(harness.qtbot, button(dialog, "hedgeAlternative"))
    assert signal.args == ["P1", "buy protection"]
    assert harness.coordinator.approvals == [("P1", "buy protection")]


def _hold_reason_dialog(harness: Harness, dialog: HedgeDialog) -> OverrideDialog:
    click(harness.qtbot, button(dialog, "hedgeHold"))
    reason = dialog.reason_dialog
    assert reason is not None and reason.isVisible()
    assert reason.objectName() == "overrideDialog"
    assert "Hold" in reason.windowTitle()
    return reason


def test_hold_with_a_reason_emits_held_and_calls_the_coordinators_hold(
    harness: Harness,
) -> None:
    dialog = harness.open()
    reason_dialog = _hold_reason_dialog(harness, dialog)
    harness.qtbot.keyClicks(
        reason_dialog.findChild(QLineEdit, "overrideReason"), "expiry in 5 minutes, OTM"
    )
    with harness.qtbot.waitSignal(dialog.held, timeout=2000) as signal:
        click(harness.qtbot, reason_dialog.findChild(QPushButton, "overrideConfirm"))
    assert signal.args == ["P1", "expiry in 5 minutes, OTM"]
    assert len(harness.wiring.tasks) == 1  # kept, not left to a weak reference
    harness.run_tasks()
    assert harness.coordinator.holds == [("P1", "expiry in 5 minutes, OTM")]
    assert harness.wiring.tasks == set()
    assert not button(dialog, "hedgeApprove").isEnabled()


def test_hold_without_a_reason_is_refused_and_nothing_is_held(harness: Harness) -> None:
    dialog = harness.open()
    reason_dialog = _hold_reason_dialog(harness, dialog)
    confirm = reason_dialog.findChild(QPushButton, "overrideConfirm")
    field = reason_dialog.findChild(QLineEdit, "overrideReason")
    with harness.qtbot.assertNotEmitted(dialog.held):
        assert not confirm.isEnabled()
        click(harness.qtbot, confirm)
        harness.qtbot.keyClick(field, Qt.Key.Key_Return)
        harness.qtbot.keyClicks(field, "no")
        harness.qtbot.keyClick(field, Qt.Key.Key_Return)
        assert reason_dialog.isVisible()
        assert "required" in reason_dialog.hint.text()
        click(harness.qtbot, reason_dialog.findChild(QPushButton, "overrideCancel"))
        assert dialog.hold("   ") is False
    status = dialog.findChild(QLabel, "hedgeStatus").text()
    assert "needs a reason" in status
    harness.run_tasks()
    assert harness.coordinator.holds == []
    assert harness.wiring.tasks == set()
    assert button(dialog, "hedgeApprove").isEnabled()  # still the trader's to decide


def test_hedge_resolved_closes_the_dialog(harness: Harness) -> None:
    dialog = harness.open()
    harness.bus.publish(resolved("sent", "P-other"))
    assert dialog.isVisible()
    with harness.qtbot.waitSignal(dialog.finished, timeout=2000):
        harness.bus.publish(resolved("sent"))
    assert not dialog.isVisible()
    assert "P1" not in harness.wiring.dialogs


def test_a_pending_dialog_is_not_dismissed_by_escape(harness: Harness) -> None:
    dialog = harness.open()
    harness.qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    dialog.close()
    assert dialog.isVisible()
    assert "would not stop the countdown" in dialog.findChild(QLabel, "hedgeStatus").text()


def test_an_approval_the_coordinator_no_longer_waits_for_closes_the_dialog(
    harness: Harness,
) -> None:
    harness.coordinator.waiting.clear()
    dialog = harness.open()
    with harness.qtbot.waitSignal(dialog.finished, timeout=2000):
        click(harness.qtbot, button(dialog, "hedgeApprove"))
    assert harness.coordinator.approvals == []
    assert dialog.resolved is not None and dialog.resolved.outcome == "gone"


def test_policy_auto_opens_no_dialog(harness: Harness) -> None:
    with harness.qtbot.assertNotEmitted(harness.wiring.dialogOpened):
        harness.bus.publish(proposal(deadline=None))
    assert harness.wiring.dialogs == {}


def test_group_overrides_go_to_the_apps_callable(harness: Harness) -> None:
    request = OverrideRequest(OverrideAction.FORCE_CLOSE, "G1", None, "stop is too far")
    harness.window.groups_panel.overrideRequested.emit(request)
    assert harness.overrides == [request]
    assert harness.window.execution is harness.wiring
