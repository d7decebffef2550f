"""The four journeys a trader makes every day, end to end in the window against the embedded
paper exchange, as one test: launch; build a bull put credit spread by clicks and place it;
view the margin shock heatmap of the resulting portfolio; and, when a price gap makes the
spread hit its stop, read the risk alert and acknowledge it.

With ``COCKPIT_JOURNEY_SCREENSHOTS=DIR`` each journey's window is saved as a PNG in DIR — the
README's screenshots come from ``make journeys`` (this test under Xvfb)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QTableView
from pytestqt.qtbot import QtBot

from cockpit.app import Services
from cockpit.config import load_settings
from cockpit.domain.events import AlertSeverity
from cockpit.domain.groups import GroupKind, GroupState
from cockpit.exchange.server import PAPER_API_SECRET
from cockpit.ui.bridge import EventBridge
from cockpit.ui.log_dock import QtLogHandler
from cockpit.ui.main_window import MainWindow
from cockpit.ui.runtime import _attach_chain, _wire_status_bar

SHOTS = os.environ.get("COCKPIT_JOURNEY_SCREENSHOTS")


def test_the_four_journeys(
    qtbot: QtBot, qapp: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    settings = load_settings(tmp_path)
    window = MainWindow(tmp_path / "window.ini", QtLogHandler())
    qtbot.addWidget(window)
    window.resize(1600, 900)

    def shot(name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            assert window.grab().save(str(Path(SHOTS) / f"journey-{name}.png"), "PNG")

    async def until(predicate, what: str, within: float = 30.0) -> None:
        for _ in range(int(within / 0.05)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def scenario() -> None:
        services = Services(settings)
        bridge = EventBridge(services.bus, window)
        _wire_status_bar(bridge, window)
        try:
            # 1. Launch: the paper exchange, the broker, recovery — then the window trades.
            await services.start()
            window.show()
            await asyncio.wait_for(services.connected.wait(), 30)
            attach = services.spawn("attach", _attach_chain(services, window, bridge))
            await attach
            broker = window.status.findChild(QLabel, "brokerStatus")
            await until(lambda: "connected" in broker.text(), "the broker status")
            assert (
                window.status.findChild(QLabel, "recoveryStatus")
                .text()
                .startswith("Recovered: 0 group(s) resumed")
            )
            chain = window.chain_panel
            await until(lambda: chain.model.view is not None, "the option chain")
            shot("1-launch")

            # 2. Build a bull put credit spread by clicks and place it.
            builder = window.builder_panel
            builder.strategy.setCurrentIndex(0)
            builder.lots.setValue(1)
            build = builder.findChild(QPushButton, "builderBuild")
            await until(build.isEnabled, "Build to be enabled")
            qtbot.mouseClick(build, Qt.MouseButton.LeftButton)
            await until(lambda: builder.plan is not None, "the plan")
            plan = builder.plan
            assert str(plan.structure) == "bull-put"
            place = builder.findChild(QPushButton, "builderPlace")
            await until(place.isEnabled, "Place to be enabled")
            qtbot.mouseClick(place, Qt.MouseButton.LeftButton)
            await until(lambda: builder.preview is not None, "the preview")
            shot("2-preview")
            qtbot.mouseClick(
                builder.preview.findChild(QPushButton, "previewConfirm"),
                Qt.MouseButton.LeftButton,
            )
            coordinator = services.coordinator
            await until(lambda: coordinator.groups, "the group")
            [entry] = coordinator.groups.values()
            done = await coordinator.wait(entry.group_id, 60)
            assert done.state is GroupState.COMPLETE, done.history
            groups = window.groups_panel
            await until(lambda: groups.model.rowCount() >= 1, "the groups dock")

            # 3. The margin shock heatmap of the resulting portfolio.
            shock = window.shock_panel

            def settled_grid() -> bool:
                # The panel refreshes (throttled) as the legs fill: wait for the grid of the
                # whole spread, where a bull put loses as the underlying falls.
                grid = shock.grid
                if grid is None:
                    return False
                pnl = grid.pnl[0, list(grid.iv_shocks).index(0.0)]
                return bool(pnl[0] < 0 < pnl[-1] or pnl[0] < pnl[-1] < 0)

            await until(settled_grid, "the shock grid of the filled spread", within=40)
            image = shock.image.image
            assert image is not None and image.shape == (14, 21)  # IV rows × price columns
            assert np.isfinite(image).all()
            assert shock.colorbar is not None
            assert shock.grid.price_shocks[0] < 0 < shock.grid.price_shocks[-1]
            window.docks["shockDock"].raise_()
            shot("3-shock")

            # 4. A price gap: the spread reaches its stop, an alert is raised; acknowledge it.
            exchange = services.exchange

            async def gap(ex) -> None:
                async with ex._lock:
                    ex.market.gap("NIFTY", -6.0)
                    ex.engine.on_market_step()
                await ex._publish()

            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(gap(exchange.exchange), exchange._loop)
            )
            alerts = window.alerts_panel
            centre = services.alerts.centre

            def stop_alert():
                return next(
                    (
                        a
                        for a in centre.unacknowledged()
                        if a.severity is AlertSeverity.WARNING and "stop reached" in a.message
                    ),
                    None,
                )

            await until(lambda: stop_alert() is not None, "the stop alert", within=40)
            alert = stop_alert()

            def exits() -> list:
                return [g for g in coordinator.groups.values() if g.kind is GroupKind.EXIT]

            await until(exits, "the exit group")
            assert exits()[0].parent_id == entry.group_id
            window.show_alerts()
            table = alerts.findChild(QTableView, "alertsTable")
            await until(lambda: table.model().rowCount() >= 1, "the alert row")
            shot("4-alert")
            model = table.model()
            row = next(
                r
                for r in range(model.rowCount())
                if "stop reached" in str(model.index(r, 3).data())
            )
            table.selectRow(row)
            qtbot.mouseClick(
                alerts.findChild(QPushButton, "alertsAcknowledge"), Qt.MouseButton.LeftButton
            )
            await until(lambda: alerts.ack_dialog is not None, "the note dialog")
            dialog = alerts.ack_dialog
            dialog.findChild(QLineEdit, "alertsAckNote").setText("gap down, exit running")
            qtbot.mouseClick(dialog.confirm, Qt.MouseButton.LeftButton)
            await until(lambda: centre.get(alert.alert_id).is_acknowledged, "the acknowledgment")
            assert centre.get(alert.alert_id).ack_note == "gap down, exit running"
            shot("5-acknowledged")
            # Login, trading, a gap, an exit, errors: not one secret in any log record.
            secrets = [services.broker._session.access_token, PAPER_API_SECRET]
            assert all(len(secret) >= 8 for secret in secrets)
            logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
            assert len(caplog.records) > 50
            for secret in secrets:
                assert secret not in logged
        finally:
            bridge.detach()
            await services.aclose()

    with loop:
        loop.run_until_complete(scenario())
    window.close()
