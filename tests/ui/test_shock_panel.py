"""The shock dock: a grid drawn as a heatmap with its colour bar, metric and widening switches, the
hover read-out, the worst cell outlined, the 100% frontier; refreshes coalesced by the throttle;
the proposed scope; errors in red; and, against the in-process paper venue, the heatmap
appearing when a bull put spread fills. Async scenarios run on a qasync loop and await futures
or poll with ``asyncio.sleep`` (never a nested Qt wait inside async code)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qasync
import shiboken6
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication, QComboBox, QLabel
from pytestqt.qtbot import QtBot

from cockpit.bus import EventBus
from cockpit.clock import IST, SystemClock
from cockpit.domain.money import Paise
from cockpit.execution.events import ExposureChanged, GroupChanged
from cockpit.risk.shocks import ShockAxes, ShockGrid, ShockLeg, shock_grid
from cockpit.shock_service import NothingToShockError, ShockError, ShockReport, ShockService
from cockpit.ui.bridge import EventBridge
from cockpit.ui.builder_panel import BuilderPanel
from cockpit.ui.shock_panel import EMPTY_TEXT, ShockPanel, frontier_points
from tests.execution.helpers import group, vertical, world
from tests.ui.test_builder_panel import bull_put_plan

NOW = datetime(2026, 1, 13, 10, 0, tzinfo=IST)
EXPIRY = datetime(2026, 1, 20, 15, 30, tzinfo=IST)
SPOT = Paise(2_400_000)
LOT = 75


def put(token: int, strike: int, quantity: int, *, bid: int, ask: int) -> ShockLeg:
    return ShockLeg(
        instrument_token=token,
        underlying="NIFTY",
        expiry=EXPIRY,
        quantity=quantity,
        lot_size=LOT,
        bid=Paise(bid),
        ask=Paise(ask),
        mark=Paise((bid + ask) // 2),
        forward=SPOT,
        spot=SPOT,
        vol=0.15,
        strike=Paise(strike * 100),
    )


BULL_PUT = [
    put(1, 24000, -LOT, bid=17_000, ask=17_100),
    put(2, 23800, LOT, bid=9_500, ask=9_600),
]


def bull_put_grid(funds: int = 50_000_000) -> ShockGrid:
    return shock_grid(BULL_PUT, funds=Paise(funds), now=NOW)


def tight_grid() -> ShockGrid:
    """Funds just above the unshocked margin: some shocks need more than all of it."""
    unshocked = bull_put_grid().margin[0, 3, 10]
    return bull_put_grid(int(unshocked * 1.05))


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    event_loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    asyncio.set_event_loop(None)
    event_loop.close()
    timer = getattr(event_loop, "_timer", None)  # see tests/ui/test_builder_panel.py
    if timer is not None and shiboken6.isValid(timer):
        shiboken6.delete(timer)


@pytest.fixture
def panel(qtbot: QtBot) -> Iterator[ShockPanel]:
    widget = ShockPanel(throttle_ms=150)
    qtbot.addWidget(widget)
    widget.resize(760, 520)
    yield widget
    widget.stop()


def run(loop: qasync.QEventLoop, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    loop.run_until_complete(asyncio.wait_for(scenario(), 20))


def label(panel: ShockPanel, name: str) -> QLabel:
    found = panel.findChild(QLabel, name)
    assert found is not None, name
    return found


def combo(panel: ShockPanel, name: str) -> QComboBox:
    found = panel.findChild(QComboBox, name)
    assert found is not None, name
    return found


# ---- drawing a grid --------------------------------------------------------------------------


def test_set_grid_shows_the_heatmap_with_the_grids_shape(panel: ShockPanel) -> None:
    assert panel.image.image is None and panel.stack.currentWidget() is label(panel, "shockEmpty")
    grid = bull_put_grid()
    panel.set_grid(grid)
    assert panel.stack.currentWidget() is panel.plot
    assert panel.plot.objectName() == "shockHeatmap"
    assert panel.image.image.shape == (grid.iv_shocks.size, grid.price_shocks.size)  # (14, 21)
    np.testing.assert_allclose(panel.image.image, grid.pnl[0] / 100)
    rect = panel.image.mapRectToParent(panel.image.boundingRect())
    assert (rect.left(), rect.top(), rect.width(), rect.height()) == (0, 0, 21, 14)
    item = panel.plot.getPlotItem()
    assert item.getAxis("bottom").labelText == "Underlying move %"
    assert item.getAxis("left").labelText == "IV change %"


def test_ticks_are_the_real_shocks_placed_by_index(panel: ShockPanel) -> None:
    axes = ShockAxes(price=(-0.1, -0.05, 0.0, 0.05, 0.1), iv=(-0.3, 0.0, 0.5, 2.0))
    panel.set_grid(shock_grid(BULL_PUT, funds=Paise(50_000_000), now=NOW, axes=axes))
    major, _ = panel.plot.getPlotItem().getAxis("left")._tickLevels
    assert major == [(0.5, "−30"), (1.5, "0"), (2.5, "+50"), (3.5, "+200")]
    major, _ = panel.plot.getPlotItem().getAxis("bottom")._tickLevels
    assert [text for _, text in major] == ["−10", "−5", "0", "+5", "+10"]


def test_the_colour_bar_sits_beside_the_heatmap_with_its_label(panel: ShockPanel) -> None:
    panel.set_grid(bull_put_grid())
    bar = panel.colorbar
    assert bar.scene() is panel.plot.scene()
    assert bar.getAxis("left").labelText == "P&L (₹)"
    reach = float(np.max(np.abs(bull_put_grid().pnl))) / 100
    assert bar.levels() == pytest.approx((-reach, reach))
    assert panel.image.getLevels() == pytest.approx((-reach, reach))


def test_switching_to_utilisation_recentres_the_levels_on_100_percent(panel: ShockPanel) -> None:
    grid = tight_grid()
    panel.set_grid(grid)
    pnl_levels = tuple(panel.image.getLevels())
    combo(panel, "shockMetric").setCurrentIndex(1)
    low, high = panel.image.getLevels()
    assert (low, high) != pytest.approx(pnl_levels)
    assert (low + high) / 2 == pytest.approx(100.0)
    assert high - 100 == pytest.approx(float(np.max(np.abs(grid.utilisation * 100 - 100))))
    np.testing.assert_allclose(panel.image.image, grid.utilisation[0] * 100)
    assert panel.colorbar.getAxis("left").labelText == "Margin utilisation (%)"


def test_the_widening_selector_shows_that_widenings_pnl(panel: ShockPanel) -> None:
    grid = bull_put_grid()
    panel.set_grid(grid)
    widening = combo(panel, "shockWidening")
    assert [widening.itemText(k) for k in range(widening.count())] == ["1×", "1.5×", "2×"]
    widening.setCurrentIndex(2)
    np.testing.assert_allclose(panel.image.image, grid.pnl[2] / 100)
    assert float(np.min(panel.image.image)) < float(np.min(grid.pnl[0] / 100))


def test_hovering_a_cell_reads_it_out(panel: ShockPanel, qtbot: QtBot) -> None:
    panel.show()
    qtbot.waitExposed(panel)
    grid = bull_put_grid()
    panel.set_grid(grid)
    combo(panel, "shockWidening").setCurrentIndex(1)
    i, j = 6, 7  # IV +30%, price −3%
    expected = panel.readout_for(i, j)
    assert expected.startswith("price −3%, IV +30%, 1.5× spread: P&L −₹")
    assert ", margin ₹" in expected and expected.endswith("%")
    vb = panel.plot.getPlotItem().vb
    panel.plot.scene().sigMouseMoved.emit(vb.mapViewToScene(QPointF(j + 0.5, i + 0.5)))
    assert label(panel, "shockReadout").text() == expected


def test_the_worst_cell_is_outlined(panel: ShockPanel) -> None:
    grid = bull_put_grid()
    panel.set_grid(grid)
    worst = grid.worst
    combo(panel, "shockWidening").setCurrentIndex(worst.widening_index)
    outline = panel.worst_outline.rect()
    assert panel.worst_outline.isVisible()
    assert outline.center() == QPointF(worst.price_index + 0.5, worst.iv_index + 0.5)
    assert 0.8 < outline.width() < 1 and 0.8 < outline.height() < 1  # inside its cell


def test_the_frontier_is_drawn_where_utilisation_reaches_100_percent(panel: ShockPanel) -> None:
    panel.set_grid(bull_put_grid())  # ₹5 lakh: never reached
    x, _ = panel.frontier_curve.getData()
    assert x is None or not np.isfinite(x).any()
    grid = tight_grid()
    assert any(row.down is not None or row.up is not None for row in grid.frontier)
    panel.set_grid(grid)
    x, y = panel.frontier_curve.getData()
    finite = np.isfinite(x)
    assert finite.sum() >= 2
    expected_x, expected_y = frontier_points(grid)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)
    # A boundary between cells, one step per row.
    assert set(np.unique(x[finite] % 1)) == {0.0} and set(np.unique(y[finite] % 1)) == {0.0}


def test_the_status_line_says_when_and_the_worst_cell(panel: ShockPanel) -> None:
    grid = bull_put_grid()
    panel.set_grid(grid, datetime(2026, 1, 13, 10, 32, 5, tzinfo=IST), ["one assumption"])
    status = label(panel, "shockStatus").text()
    assert status.startswith("as of 10:32:05 IST · worst: price −10%, IV ")
    assert ": −₹" in status and status.endswith("1 IV assumption(s)")


# ---- with a service ------------------------------------------------------------------------


class StubService:
    """Answers with a grid, or raises what it is told to; counts the calls."""

    def __init__(self) -> None:
        self.calls: list[object] = []
        self.raises: Exception | None = None

    async def report(self, plan: object = None) -> ShockReport:
        self.calls.append(plan)
        await asyncio.sleep(0)
        if self.raises is not None:
            raise self.raises
        grid = bull_put_grid()
        return ShockReport(grid, NOW, tuple(BULL_PUT), (), (), {})


async def until(condition: Callable[[], bool], seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_refreshes_on_group_and_exposure_changes_are_coalesced(
    panel: ShockPanel, loop: qasync.QEventLoop
) -> None:
    bus = EventBus()
    bridge = EventBridge(bus)
    service = StubService()

    async def scenario() -> None:
        panel.attach(service, bridge)
        await until(lambda: panel.grid is not None)
        assert len(service.calls) == 1
        for k in range(5):
            bus.publish(GroupChanged(at=NOW, group_id="G1", state=f"step {k}"))
        same = ExposureChanged(at=NOW, monotonic=0.0, exposures=(), open_windows=())
        for _ in range(5):
            bus.publish(same)
        await until(lambda: len(service.calls) == 2)
        await asyncio.sleep(0.4)
        assert len(service.calls) == 2  # ten events, one computation
        for _ in range(3):
            bus.publish(same)  # the watchdog repeating an unchanged exposure
        await asyncio.sleep(0.4)
        assert len(service.calls) == 2
        panel.stop()
        bus.publish(GroupChanged(at=NOW, group_id="G1", state="after stop"))
        await asyncio.sleep(0.3)
        assert len(service.calls) == 2

    run(loop, scenario)
    bridge.detach()


def test_nothing_to_shock_shows_the_empty_state_and_an_error_shows_in_red(
    panel: ShockPanel, loop: qasync.QEventLoop
) -> None:
    bus = EventBus()
    service = StubService()
    service.raises = NothingToShockError("no option or future positions")

    async def scenario() -> None:
        panel.attach(service, bus)
        await until(lambda: label(panel, "shockEmpty").text() == EMPTY_TEXT)
        assert panel.stack.currentWidget() is label(panel, "shockEmpty")
        service.raises = None
        bus.publish(GroupChanged(at=NOW, group_id="G1", state="complete"))
        await until(lambda: panel.grid is not None)
        service.raises = ShockError("NIFTY26D0825800PE: the broker returned no quote")
        bus.publish(GroupChanged(at=NOW, group_id="G1", state="exiting"))
        await until(lambda: "no quote" in label(panel, "shockStatus").text())
        status = label(panel, "shockStatus")
        assert "c62828" in status.styleSheet()
        assert status.text().startswith("Shocks unavailable: NIFTY26D0825800PE")
        assert panel.grid is not None  # the last grid stays

    run(loop, scenario)


def test_a_planned_spread_enables_the_proposed_scope_and_is_shocked_with_it(
    panel: ShockPanel, loop: qasync.QEventLoop, qtbot: QtBot
) -> None:
    bus = EventBus()
    service = StubService()
    service.raises = NothingToShockError("nothing")
    builder = BuilderPanel()
    qtbot.addWidget(builder)
    plan = bull_put_plan()
    scope = combo(panel, "shockScope")

    async def scenario() -> None:
        panel.attach(service, bus, builder)
        await until(lambda: len(service.calls) == 1 and not panel._computing)
        assert not scope.isEnabled()
        service.raises = None
        builder.planBuilt.emit(plan)
        # Nothing else on screen: the scope moves to "+ proposed" and the plan is shocked.
        await until(lambda: panel.grid is not None)
        assert scope.isEnabled() and scope.currentData() == "proposed"
        assert service.calls[-1] is plan
        scope.setCurrentIndex(0)
        await until(lambda: service.calls[-1] is None)
        builder.groupPlaced.emit(object())  # sent: it reaches the portfolio as it fills
        assert not scope.isEnabled() and panel.proposed is None

    run(loop, scenario)
    builder.stop()


# ---- end to end against the paper venue --------------------------------------------------------


def test_the_heatmap_shows_with_its_colour_bar_and_changes_when_a_group_fills(
    panel: ShockPanel, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as (coordinator, venue, _, bus):
            panel.attach(ShockService(venue, venue.store, SystemClock()), bus)  # type: ignore[arg-type]
            await until(lambda: label(panel, "shockEmpty").text() == EMPTY_TEXT)
            assert panel.image.image is None
            spread = group(vertical(venue.store, "PE", 25800, 25600, lots=1))
            await coordinator.submit(spread)
            done = await coordinator.wait(spread.group_id, 15)
            assert str(done.state) == "complete"
            await until(lambda: panel.report is not None and len(panel.report.positions) == 2)
            assert panel.stack.currentWidget() is panel.plot
            grid = panel.grid
            assert grid is not None
            image = panel.image.image
            assert image.shape == (grid.iv_shocks.size, grid.price_shocks.size)
            assert panel.colorbar.getAxis("left").labelText == "P&L (₹)"
            flat = int(np.argmin(np.abs(grid.iv_shocks)))
            down = int(np.argmin(np.abs(grid.price_shocks + 0.10)))
            up = int(np.argmin(np.abs(grid.price_shocks - 0.10)))
            assert image[flat, down] < image[flat, up]  # a bull put loses when NIFTY falls
            assert label(panel, "shockStatus").text().startswith("as of ")
            panel.stop()

    run(loop, scenario)
