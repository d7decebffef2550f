"""Start-up recovery in the window: the app stops with a group working at the paper exchange;
the next start recovers before offering trading — the status bar shows each step and then
what it found — and the group is back in the coordinator's hands. A WebSocket reconnect runs
reconciliation again."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication, QLabel, QProgressBar
from pytestqt.qtbot import QtBot

from cockpit.app import Services
from cockpit.config import load_settings
from cockpit.domain.events import ConnectionChanged, ConnectionState
from cockpit.domain.groups import GroupKind, LegRole, OrderGroup, PricePolicy
from cockpit.domain.orders import Side
from cockpit.execution.events import RecoveryProgressed
from cockpit.ui.bridge import EventBridge
from cockpit.ui.log_dock import QtLogHandler
from cockpit.ui.main_window import MainWindow
from cockpit.ui.runtime import _wire_status_bar
from tests.execution.helpers import leg, option

# Rests at the mid and is never chased: it is still working when the app stops.
RESTING = PricePolicy(offset_ticks=0, chase_steps=0, chase_every_s=600.0)


def test_the_next_start_recovers_the_working_group_and_shows_its_progress(
    qtbot: QtBot, qapp: QApplication, tmp_path: Path
) -> None:
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    settings = load_settings(tmp_path)
    window = MainWindow(tmp_path / "window.ini", QtLogHandler())
    qtbot.addWidget(window)
    window.show()
    status = window.status
    bar = status.findChild(QProgressBar, "recoveryProgress")
    label = status.findChild(QLabel, "recoveryStatus")

    async def first_run() -> str:
        services = Services(settings)
        try:
            await services.start()
            await asyncio.wait_for(services.connected.wait(), 30)
            coordinator = services.coordinator
            assert coordinator is not None and services.recovery is not None
            assert services.recovery.restored == []
            store = coordinator._store
            expiry = store.expiries("NIFTY")[0]
            long = option(store, "NIFTY", expiry, 25000, "PE")
            short = option(store, "NIFTY", expiry, 25200, "PE")
            entry = OrderGroup(
                group_id=f"G{secrets.token_hex(4)}",
                kind=GroupKind.ENTRY,
                legs=[
                    leg(long, LegRole.PROTECTION, Side.BUY, long.lot_size, RESTING),
                    leg(short, LegRole.RISK, Side.SELL, short.lot_size, RESTING),
                ],
                created_at=services.clock.now(),
            )
            await coordinator.submit(entry)
            for _ in range(200):
                await asyncio.sleep(0.05)
                if entry.legs[0].children and entry.legs[0].children[0].order_id:
                    break
            assert entry.legs[0].children[0].order_id
            return entry.group_id
        finally:
            await services.aclose()  # tasks cancelled where they stand: the group is unfinished

    async def second_run(group_id: str) -> None:
        services = Services(settings)
        bridge = EventBridge(services.bus, window)
        _wire_status_bar(bridge, window)
        steps: list[int] = []
        services.bus.subscribe(RecoveryProgressed, lambda e: steps.append(e.step))
        try:
            await services.start()
            await asyncio.wait_for(services.connected.wait(), 30)
            report = services.recovery
            assert report is not None
            assert steps == [1, 2, 3, 4]
            assert group_id in report.restored
            assert report.resumed[group_id] in (
                "resumed from protection_working",
                "resumed from risk_working",
                "already complete",
            )
            await asyncio.sleep(0.05)
            assert bar is not None and not bar.isVisible()
            assert label is not None and label.isVisible()
            assert label.text().startswith("Recovered: 1 group(s) resumed"), label.text()
            # The group's working order is known again: the coordinator holds it.
            coordinator = services.coordinator
            assert coordinator is not None and group_id in coordinator.groups
            # A WebSocket reconnect reconciles again, by the same rules.
            before = services.reconciliations
            services.bus.publish(
                ConnectionChanged(at=services.clock.now(), state=ConnectionState.POLLING)
            )
            services.bus.publish(
                ConnectionChanged(at=services.clock.now(), state=ConnectionState.CONNECTED)
            )
            for _ in range(100):
                await asyncio.sleep(0.05)
                if services.reconciliations > before:
                    break
            assert services.reconciliations == before + 1
        finally:
            bridge.detach()
            await services.aclose()

    async def scenario() -> None:
        group_id = await first_run()
        await second_run(group_id)

    with loop:
        loop.run_until_complete(scenario())


def test_the_status_bar_shows_recovery_steps_then_the_outcome(qtbot: QtBot, tmp_path: Path) -> None:
    window = MainWindow(tmp_path / "window.ini", QtLogHandler())
    qtbot.addWidget(window)
    window.show()
    status = window.status
    status.set_recovery(2, 4, "rebuilding order groups")
    bar = status.findChild(QProgressBar, "recoveryProgress")
    label = status.findChild(QLabel, "recoveryStatus")
    assert bar.isVisible() and (bar.value(), bar.maximum()) == (1, 4)
    assert bar.format() == "Recovery 2/4"
    assert label.text() == "Rebuilding order groups…"
    status.recovery_done(resumed=2, differences=1, external=0, unhedged=1)
    assert not bar.isVisible()
    assert label.text() == (
        "Recovered: 2 group(s) resumed, 1 difference(s) journalled, 1 UNHEDGED at the broker"
    )
    assert "c62828" in label.styleSheet()
