"""The kill switch from the window, against the embedded paper exchange over its sockets:
Ctrl+Shift+K's action cancels the working order at the exchange, a new entry is refused, and
re-arming with a reason lets trading start again."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton
from pytestqt.qtbot import QtBot

from cockpit.app import Services
from cockpit.config import load_settings
from cockpit.domain.groups import GroupKind, GroupState, LegRole, OrderGroup, PricePolicy
from cockpit.domain.orders import Side
from cockpit.execution.coordinator import GroupRejectedError
from cockpit.ui.bridge import EventBridge
from cockpit.ui.log_dock import QtLogHandler
from cockpit.ui.main_window import MainWindow
from cockpit.ui.runtime import _attach_chain
from tests.chaos.test_kill_during_placement import client
from tests.execution.helpers import leg, option

RESTING = PricePolicy(offset_ticks=0, chase_steps=0, chase_every_s=600.0)


def test_ctrl_shift_k_cancels_at_the_exchange_and_blocks_entries_until_rearmed(
    qtbot: QtBot, qapp: QApplication, tmp_path: Path
) -> None:
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    window = MainWindow(tmp_path / "window.ini", QtLogHandler())
    qtbot.addWidget(window)

    async def until(predicate, what: str, within: float = 20.0) -> None:
        for _ in range(int(within / 0.05)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def entry(store) -> OrderGroup:
        expiry = store.expiries("NIFTY")[0]
        long = option(store, "NIFTY", expiry, 25000, "PE")
        short = option(store, "NIFTY", expiry, 25200, "PE")
        return OrderGroup(
            group_id=f"G{secrets.token_hex(4)}",
            kind=GroupKind.ENTRY,
            legs=[
                leg(long, LegRole.PROTECTION, Side.BUY, long.lot_size, RESTING),
                leg(short, LegRole.RISK, Side.SELL, short.lot_size, RESTING),
            ],
            created_at=services.clock.now(),
        )

    services = Services(load_settings(tmp_path))

    async def scenario() -> None:
        bridge = EventBridge(services.bus, window)
        try:
            await services.start()
            window.show()
            await asyncio.wait_for(services.connected.wait(), 30)
            await services.spawn("attach", _attach_chain(services, window, bridge))
            coordinator = services.coordinator
            first = entry(coordinator._store)
            await coordinator.submit(first)
            await until(lambda: first.legs[0].children and first.legs[0].children[0].order_id,
                        "the protection order")  # fmt: skip
            order_id = first.legs[0].children[0].order_id
            with client(services.exchange.url) as http:

                def status() -> str:
                    return http.get(f"/orders/{order_id}").json()["data"][-1]["status"]

                assert status() == "OPEN"
                window.kill_action.trigger()  # what Ctrl+Shift+K does
                await until(lambda: window.halted, "the halted state")
                assert await asyncio.to_thread(status) == "CANCELLED"
            assert first.state is GroupState.NEEDS_ATTENTION
            assert window.kill_action.text() == "Re-arm trading…"
            with pytest.raises(GroupRejectedError, match="kill switch is engaged"):
                await coordinator.submit(entry(coordinator._store))
            # Re-arm through the window with a reason.
            window.kill_action.trigger()
            dialog = window.rearm_dialog
            dialog.findChild(QLineEdit, "overrideReason").setText("checked every position")
            dialog.findChild(QPushButton, "overrideConfirm").click()
            await until(lambda: not window.halted, "re-armed")
            again = entry(coordinator._store)
            await coordinator.submit(again)
            assert again.state is not GroupState.REJECTED
        finally:
            bridge.detach()
            await services.aclose()

    with loop:
        loop.run_until_complete(scenario())
    window.close()
