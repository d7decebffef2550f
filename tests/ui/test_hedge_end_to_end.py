"""End to end in the window: a real breach at the (in-process) paper venue opens the hedge
dialog; Approve sends the hedge and the short is bought back; the exposure timer counts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton
from pytestqt.qtbot import QtBot

from cockpit.execution.coordinator import ExecutionSettings
from cockpit.execution.events import HedgeProposed, HedgeResolved
from cockpit.execution.hedger import HedgePolicy
from cockpit.ui.bridge import EventBridge
from cockpit.ui.hedge_dialog import connect_execution
from cockpit.ui.log_dock import QtLogHandler
from cockpit.ui.main_window import MainWindow
from tests.execution.helpers import world
from tests.execution.test_hedging import naked_short


def test_a_breach_opens_the_dialog_and_approve_buys_the_short_back(
    qtbot: QtBot, qapp: QApplication, tmp_path: Path
) -> None:
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    settings = ExecutionSettings(hedge_policy=HedgePolicy.CONFIRM, hedge_countdown_s=60)
    window = MainWindow(tmp_path / "window.ini", QtLogHandler())
    qtbot.addWidget(window)
    window.show()

    async def scenario() -> None:
        async with world(tmp_path, settings=settings) as (coordinator, venue, _, bus):
            bridge = EventBridge(bus, window)
            proposed: list[HedgeProposed] = []
            resolved: list[HedgeResolved] = []
            bus.subscribe(HedgeProposed, proposed.append)
            bus.subscribe(HedgeResolved, resolved.append)
            wiring = connect_execution(
                window,
                bridge,
                coordinator,
                lambda request: None,
                clock=coordinator._clock.monotonic,
            )
            request = naked_short(venue, 26200)
            await venue.place(request)
            await coordinator.reconcile_positions()
            for _ in range(100):
                await asyncio.sleep(0.05)
                if wiring.dialogs:
                    break
            assert proposed and proposed[0].deadline is not None
            dialog = wiring.dialogs[proposed[0].proposal_id]
            assert dialog.isVisible()
            assert "65" in dialog.findChild(QLabel, "hedgeExposure").text()
            # The exposure dock times the open window.
            timers = [
                label
                for label in window.exposure_panel.findChildren(QLabel)
                if label.objectName().startswith("exposureTimer-NIFTY-")
            ]
            assert timers and timers[0].text()
            # Approve: the default remedy (buy back) goes to the venue.
            qtbot.mouseClick(
                dialog.findChild(QPushButton, "hedgeApprove"), Qt.MouseButton.LeftButton
            )
            for _ in range(200):
                await asyncio.sleep(0.05)
                if resolved and coordinator.groups[resolved[0].group_id].is_terminal:
                    break
            assert resolved[0].outcome == "sent" and resolved[0].remedy == "buy back"
            positions = {p.tradingsymbol: p.quantity for p in await venue.positions()}
            assert positions[request.tradingsymbol] == 0
            await asyncio.sleep(0.2)
            assert proposed[0].proposal_id not in wiring.dialogs  # closed on HedgeResolved
            await wiring.aclose()
            bridge.detach()

    try:
        loop.run_until_complete(scenario())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
