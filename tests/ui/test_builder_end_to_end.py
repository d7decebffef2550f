"""The builder end to end: a bull put credit spread built with the dock's controls on the live
chain of the (in-process) paper venue shows its legs and numbers; Place → preview → Confirm
takes the group to COMPLETE at the venue; invalid input never reaches the broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from cockpit.builder_service import SpreadService
from cockpit.domain.groups import GroupState
from cockpit.marketdata.feed import ChainFeed
from cockpit.ui.builder_panel import BuilderPanel
from tests.execution.helpers import world


def test_build_by_clicks_place_through_the_preview_and_complete(
    qtbot: QtBot, qapp: QApplication, tmp_path: Path
) -> None:
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    panel = BuilderPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()

    async def until(predicate, what: str, within: float = 20.0) -> None:
        for _ in range(int(within / 0.05)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def scenario() -> None:
        async with world(tmp_path, seed=12) as (coordinator, venue, watch, bus):
            feed = ChainFeed(venue, venue.store, bus, now=lambda: venue.market.now)  # type: ignore[arg-type]
            service = SpreadService(venue, feed, coordinator, now=lambda: venue.market.now)  # type: ignore[arg-type]
            panel.attach(service)
            # Invalid input first: lots 0 shows its message and never reaches the broker.
            panel.lots.setValue(0)
            qtbot.mouseClick(
                panel.findChild(QPushButton, "builderBuild"), Qt.MouseButton.LeftButton
            )
            await until(lambda: panel.error.isVisible() and panel.error.text(), "the lots error")
            assert not panel.findChild(QPushButton, "builderPlace").isEnabled()
            assert venue.engine.orders() == []
            # A bull put on NIFTY, 2 lots, short |Δ| 0.20.
            panel.strategy.setCurrentIndex(0)
            panel.underlying.setCurrentText("NIFTY")
            panel.short_delta.setValue(0.20)
            panel.lots.setValue(2)
            qtbot.mouseClick(
                panel.findChild(QPushButton, "builderBuild"), Qt.MouseButton.LeftButton
            )
            await until(lambda: panel.plan is not None, "the plan")
            plan = panel.plan
            assert plan is not None and str(plan.structure) == "bull-put"
            assert plan.quantity == 130 and len(plan.legs) == 2
            protection, risk = plan.legs
            assert str(protection.spec.side) == "BUY" and str(risk.spec.side) == "SELL"
            assert protection.spec.strike < risk.spec.strike
            assert abs(abs(risk.delta) - 0.20) < 0.08
            shown = {w.objectName(): w.text() for w in panel.findChildren(QLabel) if w.objectName()}
            assert any("5" in text or "₹" in text for text in shown.values())
            assert panel.legs_model.rowCount() == 2
            # Place → preview → Confirm.
            place = panel.findChild(QPushButton, "builderPlace")
            await until(place.isEnabled, "Place to be enabled")
            qtbot.mouseClick(place, Qt.MouseButton.LeftButton)
            await until(
                lambda: any(
                    w.objectName() == "orderPreview" and w.isVisible()
                    for w in QApplication.topLevelWidgets()
                ),
                "the preview",
            )
            preview = next(
                w for w in QApplication.topLevelWidgets() if w.objectName() == "orderPreview"
            )
            assert isinstance(preview, QWidget)
            assert preview.findChild(QLabel, "previewWorstLoss").text()
            qtbot.mouseClick(
                preview.findChild(QPushButton, "previewConfirm"), Qt.MouseButton.LeftButton
            )
            await until(lambda: coordinator.groups, "the group")
            [group] = coordinator.groups.values()
            done = await coordinator.wait(group.group_id, 30)
            assert done.state is GroupState.COMPLETE
            positions = {p.tradingsymbol: p.quantity for p in await venue.positions()}
            assert positions == {
                protection.spec.tradingsymbol: 130,
                risk.spec.tradingsymbol: -130,
            }
            assert watch.breaches == []
            panel.stop()
            await feed.aclose()

    try:
        loop.run_until_complete(scenario())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
