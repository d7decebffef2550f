"""The strategy builder panel: build → legs, numbers and payoff; inputs refused at the field;
Place → preview → Confirm sends once; Enter and Ctrl+Enter; legs picked in the chain.

The service is a stub whose coroutines complete at once; each scenario runs on a qasync loop
and awaits futures the panel's signals complete (never a nested Qt wait inside async code).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import qasync
import shiboken6
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from cockpit.domain.groups import LegRole, LegSpec
from cockpit.domain.money import Paise
from cockpit.execution.coordinator import GroupRejectedError
from cockpit.risk.checks import CheckCode, CheckFailure
from cockpit.strategies.payoff import expiry_payoff, legs_of, today_pnl
from cockpit.strategies.spreads import (
    ExitPlan,
    PlannedLeg,
    SpreadError,
    SpreadPlan,
    SpreadRequest,
    Structure,
)
from cockpit.ui.builder_panel import CONNECTING, BuilderPanel
from cockpit.ui.chain_panel import LegPick
from cockpit.ui.order_preview import OrderPreview
from cockpit.ui.payoff_plot import PayoffCurves, PayoffPlot

EXPIRY = date(2026, 12, 29)
LOT = 75
MARGIN = Paise(1_00_000_00)
FUNDS = Paise(5_00_000_00)


def leg(role: LegRole, strike: int, bid: int, ask: int, iv: float, delta: float) -> PlannedLeg:
    spec = LegSpec(
        role=role,
        side=role.side,
        tradingsymbol=f"NIFTY26DEC{strike}PE",
        instrument_token=strike * 10,
        exchange="NFO",
        underlying="NIFTY",
        expiry=EXPIRY,
        strike=Decimal(strike),
        right="PE",
        lot_size=LOT,
        tick_size_paise=5,
        freeze_quantity=1800,
        quantity=LOT,
    )
    return PlannedLeg(spec, Paise(bid), Paise(ask), Paise((bid + ask) // 2), iv, delta)


def bull_put_plan() -> SpreadPlan:
    """Sell the 24500 put at 99.00 (mid), buy the 24400 put at 70.00, one lot of 75:
    credit 29.00 a unit (27.00 at the touch), max loss (100 − 29) × 75, breakeven 24471."""
    return SpreadPlan(
        structure=Structure.BULL_PUT,
        underlying="NIFTY",
        expiry=EXPIRY,
        lots=1,
        lot_size=LOT,
        quantity=LOT,
        legs=(
            leg(LegRole.PROTECTION, 24400, 6900, 7100, 0.145, -0.14),
            leg(LegRole.RISK, 24500, 9800, 10000, 0.142, -0.20),
        ),
        credit_mid=Paise(2900 * LOT),
        credit_touch=Paise(2700 * LOT),
        max_profit=Paise(2900 * LOT),
        max_loss=Paise(7100 * LOT),
        breakevens=(Decimal("24471.00"),),
        pop=0.6834,
        reward_risk=2900 / 7100,
        spot=Paise(2_480_000),
        forward=Paise(2_485_000),
        years=27 / 365,
        exit_plan=ExitPlan(),
        warnings=(),
    )


@dataclass
class StubService:
    plan_result: SpreadPlan = field(default_factory=bull_put_plan)
    plan_error: SpreadError | None = None
    margin_amount: Paise | None = MARGIN
    funds: Paise | None = FUNDS
    requests: list[tuple[SpreadRequest, str, date | None]] = field(default_factory=list)
    picked: list[tuple[list[Any], int]] = field(default_factory=list)
    placed: list[SpreadPlan] = field(default_factory=list)
    refusals: list[GroupRejectedError] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def underlyings(self) -> list[str]:
        return ["NIFTY", "BANKNIFTY"]

    def expiries(self, underlying: str) -> tuple[date, ...]:
        return (EXPIRY, date(2027, 1, 26))

    async def plan(self, request: SpreadRequest, underlying: str, expiry: date | None) -> Any:
        self.requests.append((request, underlying, expiry))
        if self.plan_error is not None:
            raise self.plan_error
        return self.plan_result

    async def margin(self, plan: SpreadPlan) -> tuple[Paise | None, str]:
        return self.margin_amount, "broker basket margin"

    async def available_funds(self) -> Paise | None:
        return self.funds

    async def place(self, plan: SpreadPlan, override_reason: str = "") -> Any:
        self.reasons.append(override_reason)
        if self.refusals and not override_reason:
            raise self.refusals.pop(0)
        self.placed.append(plan)
        return type("Group", (), {"group_id": "G0001"})()

    def plan_from_picks(self, picks: Sequence[Any], lots: int) -> SpreadPlan:
        self.picked.append((list(picks), lots))
        return self.plan_result


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    event_loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    asyncio.set_event_loop(None)
    event_loop.close()
    # qasync's close() leaves cancelled call_later timers registered on its timer object
    # (asyncio.wait_for's, say). If that object were collected later on a worker thread (the
    # paper exchange's, in another test), Qt would warn "Timers cannot be stopped from another
    # thread": delete it now, on the GUI thread.
    timer = getattr(event_loop, "_timer", None)
    if timer is not None and shiboken6.isValid(timer):
        shiboken6.delete(timer)


@pytest.fixture
def panel(qtbot: QtBot) -> Iterator[BuilderPanel]:
    widget = BuilderPanel()
    qtbot.addWidget(widget)
    widget.resize(620, 820)
    yield widget
    widget.stop()


def run(loop: qasync.QEventLoop, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    loop.run_until_complete(asyncio.wait_for(scenario(), 5))


def next_emit(signal: Any) -> asyncio.Future[tuple[Any, ...]]:
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_event_loop().create_future()

    def done(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(done)
    return future


def text(panel: BuilderPanel, name: str) -> str:
    label = panel.findChild(QLabel, name)
    assert label is not None, name
    return label.text()


async def build(panel: BuilderPanel) -> None:
    built, margin = next_emit(panel.planBuilt), next_emit(panel.marginKnown)
    panel.build_button.click()
    await built
    await margin


# ---- before the broker ---------------------------------------------------------------------------


def test_before_attach_the_panel_says_connecting_and_cannot_build_or_place(
    panel: BuilderPanel,
) -> None:
    assert panel.objectName() == "builderPanel"
    assert text(panel, "builderStatus") == CONNECTING
    assert not panel.build_button.isEnabled()
    assert not panel.findChild(QPushButton, "builderPlace").isEnabled()
    panel.attach(StubService())
    assert panel.build_button.isEnabled()
    assert panel.underlying.currentText() == "NIFTY"
    assert panel.expiry.currentData() == EXPIRY
    assert panel.short_delta.value() == pytest.approx(0.20)
    assert (panel.short_delta.minimum(), panel.short_delta.maximum()) == (0.05, 0.45)
    assert not panel.place_button.isEnabled()  # nothing built yet


# ---- building ------------------------------------------------------------------------------------


def test_build_shows_the_legs_protection_first_and_the_numbers(
    panel: BuilderPanel, loop: qasync.QEventLoop, qtmodeltester: ModelTester
) -> None:
    service = StubService()
    panel.attach(service)

    async def scenario() -> None:
        await build(panel)

    run(loop, scenario)
    request, underlying, expiry = service.requests[0]
    assert request == SpreadRequest(
        structure=Structure.BULL_PUT, lots=1, short_delta=0.20, width_points=Decimal(100)
    )
    assert (underlying, expiry) == ("NIFTY", EXPIRY)
    model = panel.legs_model
    qtmodeltester.check(model)
    rows = [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(2)]
    assert rows[0] == [
        "NIFTY26DEC24400PE",
        "BUY",
        "protection",
        "75",
        "69.00",
        "71.00",
        "70.00",
        "14.5",
        "-0.14",
    ]
    assert rows[1][:3] == ["NIFTY26DEC24500PE", "SELL", "risk"]
    assert text(panel, "builderCreditMid") == "₹2,175.00 (₹29.00 a unit)"
    assert text(panel, "builderCreditTouch") == "₹2,025.00 (₹27.00 a unit)"
    assert text(panel, "builderMaxProfit") == "₹2,175.00"
    assert text(panel, "builderMaxLoss") == "₹5,325.00"
    assert text(panel, "builderBreakevens") == "24,471.00"
    assert text(panel, "builderPop") == "68.3%"
    assert text(panel, "builderRewardRisk") == "0.41"
    assert text(panel, "builderMargin") == "₹1,00,000.00 (broker basket margin)"
    assert "50% of the credit" in text(panel, "builderExitPlan")
    assert panel.place_button.isEnabled()


def test_a_strike_and_a_condor_call_strike_go_into_the_request(
    panel: BuilderPanel, loop: qasync.QEventLoop
) -> None:
    service = StubService()
    panel.attach(service)
    panel.strategy.setCurrentIndex(panel.strategy.findData(Structure.IRON_CONDOR))
    assert not panel.call_strike.isHidden()
    panel.short_strike.setText("24300")
    panel.call_strike.setText("25400")
    panel.width.setValue(200)
    panel.lots.setValue(3)
    run(loop, lambda: build(panel))
    request = service.requests[0][0]
    assert request == SpreadRequest(
        structure=Structure.IRON_CONDOR,
        lots=3,
        short_delta=None,
        short_strike=Decimal(24300),
        call_short_strike=Decimal(25400),
        width_points=Decimal(200),
    )


def test_changing_an_input_after_building_disables_place_until_rebuilt(
    panel: BuilderPanel, loop: qasync.QEventLoop
) -> None:
    panel.attach(StubService())
    run(loop, lambda: build(panel))
    assert panel.place_button.isEnabled()
    panel.width.setValue(150)
    assert not panel.place_button.isEnabled()
    assert "press Build" in text(panel, "builderStatus")
    run(loop, lambda: build(panel))
    assert panel.place_button.isEnabled()


# ---- refused inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "spin", "message"),
    [
        ("width", "width", "Width must be more than 0 points."),
        ("lots", "lots", "Lots must be 1 or more."),
    ],
)
def test_an_invalid_width_or_lots_is_said_at_the_field_and_nothing_can_be_placed(
    panel: BuilderPanel, loop: qasync.QEventLoop, field: str, spin: str, message: str
) -> None:
    service = StubService()
    panel.attach(service)
    panel.show()
    run(loop, lambda: build(panel))
    getattr(panel, spin).setValue(0)
    panel.build_button.click()
    error = panel.findChild(QLabel, "builderError")
    assert error.isVisible()
    assert error.text() == message
    assert error.parentWidget() is getattr(panel, spin).parentWidget()  # under the field
    assert panel.error_field == field
    assert not panel.place_button.isEnabled()
    panel.request_place()
    assert panel.preview is None
    assert len(service.requests) == 1  # the form refused it; the service was not asked
    assert service.placed == []
    getattr(panel, spin).setValue(1)  # fixing the field clears the message
    assert not error.isVisible()


def test_a_strike_not_in_the_chain_is_said_under_the_strike(
    panel: BuilderPanel, loop: qasync.QEventLoop
) -> None:
    service = StubService(
        plan_error=SpreadError("short_strike", "short strike 24510 is not listed")
    )
    panel.attach(service)
    panel.show()
    panel.short_strike.setText("24510")
    refused = []
    panel.inputRefused.connect(lambda f, m: refused.append((f, m)))

    async def scenario() -> None:
        done = next_emit(panel.inputRefused)
        panel.build_button.click()
        await done

    run(loop, scenario)
    assert refused == [("short_strike", "short strike 24510 is not listed")]
    error = panel.findChild(QLabel, "builderError")
    assert error.isVisible() and error.parentWidget() is panel.short_strike.parentWidget()
    assert not panel.place_button.isEnabled()
    assert panel.legs_model.rowCount() == 0


def test_a_strike_that_is_not_a_number_is_refused_by_the_form(panel: BuilderPanel) -> None:
    service = StubService()
    panel.attach(service)
    panel.short_strike.setText("24k")
    panel.build_button.click()
    assert panel.error_field == "short_strike"
    assert text(panel, "builderError") == "Strike must be a number such as 24500"
    assert service.requests == []


# ---- placing -------------------------------------------------------------------------------


def test_place_opens_the_preview_and_confirm_places_the_plan_exactly_once(
    panel: BuilderPanel, loop: qasync.QEventLoop
) -> None:
    service = StubService()
    panel.attach(service)
    placed: list[Any] = []
    panel.groupPlaced.connect(placed.append)

    async def scenario() -> None:
        await build(panel)
        shown = next_emit(panel.previewShown)
        panel.place_button.click()
        (preview,) = await shown
        assert isinstance(preview, OrderPreview)
        assert preview.objectName() == "orderPreview" and preview.isVisible()
        assert not preview.isModal()
        first = preview.findChild(QLabel, "previewLeg1_1").text()
        second = preview.findChild(QLabel, "previewLeg2_1").text()
        assert first == "BUY 75 NIFTY26DEC24400PE"  # protection first
        assert second == "SELL 75 NIFTY26DEC24500PE"
        assert preview.findChild(QLabel, "previewLeg1_5").text() == "70.00"
        margin = preview.findChild(QLabel, "previewMargin").text()
        assert margin == "₹1,00,000.00 (broker basket margin)"
        assert preview.findChild(QLabel, "previewAvailable").text() == "₹5,00,000.00"
        assert preview.findChild(QLabel, "previewWorstLoss").text() == "₹5,325.00"
        assert not panel.place_button.isEnabled()  # one preview at a time
        group = next_emit(panel.groupPlaced)
        confirm = preview.findChild(QPushButton, "previewConfirm")
        confirm.click()
        confirm.click()  # a second click on a closed dialog sends nothing more
        await group

    run(loop, scenario)
    assert service.placed == [service.plan_result]
    assert len(placed) == 1
    assert "G0001" in text(panel, "builderStatus")
    assert not panel.place_button.isEnabled()  # this plan is sent; build again for another


def test_a_soft_limit_refusal_offers_an_override_and_sends_with_the_typed_reason(
    panel: BuilderPanel, loop: qasync.QEventLoop
) -> None:
    limit = CheckFailure(
        CheckCode.GROUP_MAX_LOSS, "worst loss ₹5,325.00 exceeds your limit ₹5,000.00", False
    )
    service = StubService(refusals=[GroupRejectedError("group G1: " + limit.message, [limit])])
    panel.attach(service)

    async def scenario() -> None:
        await build(panel)
        shown = next_emit(panel.previewShown)
        panel.place_button.click()
        (preview,) = await shown
        preview.findChild(QPushButton, "previewConfirm").click()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if panel.override_dialog is not None:
                break
        dialog = panel.override_dialog
        assert dialog is not None and dialog.isVisible()
        assert "exceeds your limit ₹5,000.00" in dialog.findChild(QLabel, "overrideWhat").text()
        assert "Not sent" in text(panel, "builderStatus")
        dialog.findChild(QLineEdit, "overrideReason").setText("sized on purpose today")
        group = next_emit(panel.groupPlaced)
        dialog.findChild(QPushButton, "overrideConfirm").click()
        await group

    run(loop, scenario)
    assert service.reasons == ["", "sized on purpose today"]
    assert service.placed == [service.plan_result]
    assert "limits overridden" in text(panel, "builderStatus")


def test_cancel_in_the_preview_sends_nothing(panel: BuilderPanel, loop: qasync.QEventLoop) -> None:
    service = StubService()
    panel.attach(service)

    async def scenario() -> None:
        await build(panel)
        shown = next_emit(panel.previewShown)
        panel.request_place()
        (preview,) = await shown
        preview.findChild(QPushButton, "previewCancel").click()
        await asyncio.wait_for(asyncio.gather(*panel.tasks), 2)

    run(loop, scenario)
    assert service.placed == []
    assert text(panel, "builderStatus") == "Not sent."
    assert panel.place_button.isEnabled()


def test_the_preview_refuses_when_margin_exceeds_the_funds(
    panel: BuilderPanel, loop: qasync.QEventLoop
) -> None:
    service = StubService(funds=Paise(50_000_00))
    panel.attach(service)

    async def scenario() -> None:
        await build(panel)
        shown = next_emit(panel.previewShown)
        panel.request_place()
        (preview,) = await shown
        assert not preview.findChild(QPushButton, "previewConfirm").isEnabled()
        shortfall = preview.findChild(QLabel, "previewShortfall")
        assert shortfall.text() == "Margin needed exceeds the funds available by ₹50,000.00."
        preview.reject()
        await asyncio.wait_for(asyncio.gather(*panel.tasks), 2)

    run(loop, scenario)
    assert service.placed == []


def test_enter_builds_and_ctrl_enter_opens_the_preview(
    panel: BuilderPanel, loop: qasync.QEventLoop, qtbot: QtBot
) -> None:
    service = StubService()
    panel.attach(service)
    panel.show()
    panel.activateWindow()
    qtbot.waitActive(panel)
    panel.width.setFocus()

    async def scenario() -> None:
        built = next_emit(panel.planBuilt)
        qtbot.keyClick(panel.width, Qt.Key.Key_Return)
        await built
        await next_emit(panel.marginKnown)
        panel.short_strike.setFocus()
        qtbot.keyClicks(panel.short_strike, "24500")
        built = next_emit(panel.planBuilt)
        qtbot.keyClick(panel.short_strike, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
        await built
        await next_emit(panel.marginKnown)
        shown = next_emit(panel.previewShown)
        qtbot.keyClick(panel.width, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        (preview,) = await shown
        preview.reject()
        await asyncio.wait_for(asyncio.gather(*panel.tasks), 2)

    run(loop, scenario)
    assert len(service.requests) == 2
    assert service.requests[1][0].short_strike == Decimal(24500)
    assert service.placed == []


# ---- legs picked in the chain ------------------------------------------------------------------


def pick(strike: int, side: str) -> LegPick:
    return LegPick(
        underlying="NIFTY",
        expiry=EXPIRY,
        strike=Decimal(strike),
        right="PE",
        side=side,
        tradingsymbol=f"NIFTY26DEC{strike}PE",
        instrument_token=strike * 10,
        lot_size=LOT,
        price=Paise(9800),
    )


def test_two_picks_make_a_spread_and_one_pick_waits_for_its_pair(
    panel: BuilderPanel, loop: qasync.QEventLoop
) -> None:
    service = StubService()
    panel.attach(service)
    panel.lots.setValue(2)

    async def scenario() -> None:
        panel.add_pick(pick(24500, "SELL"))
        assert service.picked == [] and panel.plan is None
        assert "SELL NIFTY26DEC24500PE" in text(panel, "builderPicks")
        built, margin = next_emit(panel.planBuilt), next_emit(panel.marginKnown)
        panel.add_pick(pick(24400, "BUY"))
        await built
        await margin

    run(loop, scenario)
    ((picks, lots),) = service.picked
    assert [p.strike for p in picks] == [Decimal(24500), Decimal(24400)]
    assert lots == 2
    assert panel.legs_model.rowCount() == 2
    assert panel.place_button.isEnabled()


def test_picks_that_make_no_structure_are_said_at_the_picks(panel: BuilderPanel) -> None:
    service = StubService()

    def refuse(picks: Sequence[Any], lots: int) -> SpreadPlan:
        raise SpreadError("short_strike", "pick one sell and one buy PE")

    service.plan_from_picks = refuse  # type: ignore[method-assign]
    panel.attach(service)
    panel.add_pick(pick(24500, "SELL"))
    panel.add_pick(pick(24400, "SELL"))
    assert panel.error_field == "picks"
    assert text(panel, "builderError") == "pick one sell and one buy PE"
    assert not panel.place_button.isEnabled()
    panel.clear_picks_button.click()
    assert panel.error_field is None and panel.picks == []


# ---- the payoff chart ----------------------------------------------------------------------------


def test_payoff_plot_draws_expiry_and_today_with_the_right_values(qtbot: QtBot) -> None:
    plan = bull_put_plan()
    plot = PayoffPlot()
    qtbot.addWidget(plot)
    plot.resize(600, 360)
    plot.show()
    qtbot.waitExposed(plot)
    plot.show_plan(plan)
    x, y = plot.expiry_curve.getData()
    assert x is not None and y is not None
    legs = legs_of(plan)
    # By hand: above both strikes the credit is kept, below both the width less credit is lost,
    # at the breakeven nothing.
    for price, expected in ((24600.0, 2175.0), (24300.0, -5325.0), (24471.0, 0.0)):
        assert float(np.interp(price, x, y)) == pytest.approx(expected, abs=1e-6)
        assert plot.values_at(price)[0] == pytest.approx(expected, abs=1e-6)
    tx, ty = plot.today_curve.getData()
    assert ty is not None and plot.today_curve.isVisible()
    assert ty == pytest.approx(
        today_pnl(legs, tx, plan.years, 0.065, np.array([0.145, 0.142])), rel=1e-9
    )
    # Today lies between the worst and best case, and nearer the credit far above the strikes.
    assert ty.min() > -5325.0 and ty.max() < 2175.0
    assert float(np.interp(x[-1], tx, ty)) > 2000
    # Spot and breakeven markers; profit and loss shading against zero.
    assert plot.spot_line.isVisible() and plot.spot_line.value() == pytest.approx(24800.0)
    assert [line.value() for line in plot.breakeven_lines] == [pytest.approx(24471.0)]
    _, profit = plot.profit_edge.getData()
    _, loss = plot.loss_edge.getData()
    assert profit.min() >= 0 and loss.max() <= 0
    assert not plot.profit_fill.path().isEmpty() and not plot.loss_fill.path().isEmpty()
    # Hover: the scene position of a price reads out both P&Ls there.
    vb = plot.plot.getPlotItem().vb
    scene_pos = vb.mapViewToScene(QPointF(24300.0, 0.0))
    plot.plot.scene().sigMouseMoved.emit(scene_pos)
    assert plot.readout.text().startswith("At 24,300: expiry -₹5,325 · today ")
    assert plot.cursor_line.isVisible()


def test_payoff_plot_draws_given_arrays_without_a_today_curve(qtbot: QtBot) -> None:
    plot = PayoffPlot()
    qtbot.addWidget(plot)
    prices = np.linspace(100.0, 200.0, 11)
    legs = legs_of(bull_put_plan())
    curves = PayoffCurves(prices, expiry_payoff(legs, prices), None, None, ())
    plot.show_curves(curves)
    assert not plot.today_curve.isVisible() and not plot.spot_line.isVisible()
    assert plot.readout_at(150.0) == "At 150: expiry -₹5,325"
    assert plot.readout_at(250.0) == ""


def test_the_window_installs_the_panel_and_feeds_it_the_chains_picks(
    qtbot: QtBot, tmp_path: Any
) -> None:
    from cockpit.ui.log_dock import QtLogHandler
    from cockpit.ui.main_window import MainWindow

    window = MainWindow(tmp_path / "window.ini", QtLogHandler())
    qtbot.addWidget(window)
    assert window.docks["builderDock"].widget() is window.builder_panel
    window.chain_panel.legPicked.emit(pick(24500, "SELL"))
    assert [p.strike for p in window.builder_panel.picks] == [Decimal(24500)]
    assert text(window.builder_panel, "builderStatus") == CONNECTING
