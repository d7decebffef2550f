"""The order-groups dock: the groups → legs → child orders tree fed by GroupChanged, its
colours, P&L, coalesced refresh and the override context menu."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QLineEdit, QPushButton
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from cockpit.bus import EventBus
from cockpit.clock import IST
from cockpit.domain.groups import (
    ChildOrder,
    GroupKind,
    GroupState,
    Leg,
    LegRole,
    LegSpec,
    OrderGroup,
)
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderStatus
from cockpit.execution.events import GroupChanged
from cockpit.ui.bridge import EventBridge
from cockpit.ui.groups_panel import (
    AVERAGE,
    FILLED,
    NAME,
    PNL,
    STATE,
    TONE_ROLE,
    UPDATED,
    GroupsPanel,
    GroupTreeModel,
    group_pnl,
)
from cockpit.ui.override_dialog import OverrideAction, OverrideDialog, OverrideRequest

EXPIRY = date(2026, 12, 29)
AT = datetime(2026, 12, 2, 10, 15, 30, tzinfo=IST)
LOT = 65


def spec(strike: int, role: LegRole, quantity: int, token: int) -> LegSpec:
    return LegSpec(
        role=role,
        side=role.side,
        tradingsymbol=f"NIFTY26DEC{strike}PE",
        instrument_token=token,
        exchange="NFO",
        underlying="NIFTY",
        expiry=EXPIRY,
        strike=Decimal(strike),
        right="PE",
        lot_size=LOT,
        tick_size_paise=5,
        freeze_quantity=1800,
        quantity=quantity,
    )


def child(
    leg_index: int,
    seq: int,
    quantity: int,
    *,
    filled: int = 0,
    price: int = 0,
    status: OrderStatus | None = OrderStatus.OPEN,
) -> ChildOrder:
    return ChildOrder(
        child_id=f"G1-{leg_index}-{seq}",
        leg_index=leg_index,
        seq=seq,
        tag=f"G1L{leg_index}C{seq}",
        quantity=quantity,
        price=Paise(price or 1000),
        order_id=f"26120200000{leg_index}{seq}",
        status=status,
        filled_quantity=filled,
        average_price=Paise(price),
        sent=True,
    )


def credit_spread(group_id: str = "G1") -> OrderGroup:
    """Buy 2 lots of the 23800 put (two children: one filled, one working); sell 1 lot of the
    24000 put (one child, working)."""
    protection = Leg(
        spec=spec(23800, LegRole.PROTECTION, 2 * LOT, 101),
        children=[
            child(0, 0, LOT, filled=LOT, price=8050, status=OrderStatus.COMPLETE),
            child(0, 1, LOT),
        ],
    )
    risk = Leg(spec=spec(24000, LegRole.RISK, LOT, 102), children=[child(1, 0, LOT)])
    group = OrderGroup(
        group_id=group_id,
        kind=GroupKind.ENTRY,
        legs=[protection, risk],
        created_at=AT,
        state=GroupState.CREATED,
    )
    for state in (GroupState.VALIDATED, GroupState.PROTECTION_WORKING):
        group.transition(state, AT)
    return group


def changed(group: OrderGroup, at: datetime = AT) -> GroupChanged:
    return GroupChanged(at=at, group_id=group.group_id, state=str(group.state))


def texts(model: GroupTreeModel, parent: QModelIndex, column: int) -> list[str]:
    return [model.index(r, column, parent).data() for r in range(model.rowCount(parent))]


@pytest.fixture
def panel(qtbot: QtBot) -> GroupsPanel:
    widget = GroupsPanel()
    qtbot.addWidget(widget)
    return widget


def test_tree_model_passes_qts_model_checks_while_groups_legs_and_children_arrive(
    qtmodeltester: ModelTester,
) -> None:
    model = GroupTreeModel()
    group = credit_spread()
    model.upsert(group, AT)
    qtmodeltester.check(model)  # keeps watching every change below
    group.legs[1].children.append(child(1, 1, LOT))
    group.legs[1].children[0].filled_quantity = 30
    model.upsert(group, AT)
    model.upsert(credit_spread("G2"), AT)
    grown = credit_spread("G3")
    extra = Leg(spec=spec(23600, LegRole.PROTECTION, LOT, 103))
    model.upsert(grown, AT)
    grown.legs.append(extra)
    model.upsert(grown, AT)
    assert model.group_ids() == ["G3", "G2", "G1"]
    assert model.rowCount(model.group_index("G3")) == 3


def test_group_changed_shows_the_group_its_two_legs_and_their_child_orders(
    qtbot: QtBot, panel: GroupsPanel
) -> None:
    bus = EventBus()
    bridge = EventBridge(bus)
    bridge.groupChanged.connect(panel.on_group_changed)
    groups: dict[str, OrderGroup] = {}
    panel.attach(groups)
    model = panel.model
    assert model.rowCount() == 0
    group = credit_spread()
    groups["G1"] = group
    bus.publish(changed(group))
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=2000)

    root = QModelIndex()
    assert texts(model, root, NAME) == ["G1 · entry"]
    assert texts(model, root, STATE) == ["protection working"]
    assert texts(model, root, FILLED) == ["65/195"]
    assert texts(model, root, UPDATED) == ["10:15:30"]
    g1 = model.index(0, 0)
    assert texts(model, g1, NAME) == [
        "NIFTY26DEC23800PE BUY protection",
        "NIFTY26DEC24000PE SELL risk",
    ]
    assert texts(model, g1, STATE) == ["part filled, working", "working"]
    assert texts(model, g1, FILLED) == ["65/130", "0/65"]
    assert texts(model, g1, AVERAGE) == ["80.50", ""]
    protection = model.index(0, 0, g1)
    assert texts(model, protection, NAME) == ["G1L0C0", "G1L0C1"]
    assert texts(model, protection, STATE) == ["complete", "open"]
    assert texts(model, protection, FILLED) == ["65/65", "0/65"]
    assert texts(model, model.index(1, 0, g1), NAME) == ["G1L1C0"]
    assert panel.tree.isExpanded(g1) and panel.tree.isExpanded(protection)
    assert panel.summary.text() == "1 group · 1 working"
    bridge.detach()


def test_a_fill_updates_rows_in_place_and_a_new_child_is_inserted_not_reset(
    qtbot: QtBot, panel: GroupsPanel
) -> None:
    group = credit_spread()
    panel.attach({"G1": group})
    model = panel.model
    resets: list[bool] = []
    inserted: list[tuple[str, int, int]] = []
    model.modelReset.connect(lambda: resets.append(True))
    model.rowsInserted.connect(
        lambda parent, first, last: inserted.append((parent.data(), first, last))
    )
    risk = group.legs[1]
    risk.children[0].filled_quantity = 30
    risk.children[0].average_price = Paise(10500)
    risk.children.append(child(1, 1, 35, status=None))
    later = AT.replace(second=45)
    with qtbot.waitSignal(model.dataChanged, timeout=2000):
        panel.on_group_changed(changed(group, later))
    qtbot.waitUntil(lambda: model.rowCount(model.index(1, 0, model.index(0, 0))) == 2)
    g1 = model.index(0, 0)
    risk_index = model.index(1, 0, g1)
    assert model.index(1, FILLED, g1).data() == "30/65"
    assert model.index(1, AVERAGE, g1).data() == "105.00"
    assert model.index(1, UPDATED, g1).data() == "10:15:45"
    assert model.index(0, UPDATED, g1).data() == "10:15:30"  # the protection leg did not move
    assert texts(model, risk_index, STATE) == ["open", "sending"]
    assert inserted == [("NIFTY26DEC24000PE SELL risk", 1, 1)]
    assert not resets


def test_a_burst_of_group_changes_is_read_once_per_refresh(
    qtbot: QtBot, panel: GroupsPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = credit_spread()
    panel.attach({"G1": group})
    reads: list[str] = []
    upsert = panel.model.upsert
    monkeypatch.setattr(
        panel.model, "upsert", lambda g, at, p=None: (reads.append(g.group_id), upsert(g, at, p))
    )
    for second in range(40):
        panel.on_group_changed(changed(group, AT.replace(second=second)))
    assert reads == []  # nothing is read until the refresh timer fires
    assert panel.timer.isActive() and panel.timer.interval() <= 100
    qtbot.waitUntil(lambda: reads == ["G1"], timeout=2000)
    assert panel.model.index(0, UPDATED).data() == "10:15:39"


@pytest.mark.parametrize(
    ("path", "tone"),
    [
        ([GroupState.PROTECTION_FILLED, GroupState.COMPLETE], "good"),
        ([GroupState.FLAT], "muted"),
        ([GroupState.NEEDS_ATTENTION], "alert"),
        (
            [GroupState.PROTECTION_FILLED, GroupState.RISK_WORKING, GroupState.EMERGENCY_HEDGING],
            "alert",
        ),
        ([], "working"),
    ],
)
def test_group_rows_are_coloured_by_state(
    path: list[GroupState], tone: str, panel: GroupsPanel
) -> None:
    group = credit_spread()
    group.legs.pop()  # protection only, so PROTECTION_FILLED → COMPLETE is allowed
    for state in path:
        group.transition(state, AT)
    panel.attach({"G1": group})
    index = panel.model.index(0, STATE)
    assert index.data(TONE_ROLE) == tone
    colours = {"good": "#2e7d32", "muted": "#757575", "alert": "#c62828", "working": "#b26a00"}
    assert index.data(Qt.ItemDataRole.ForegroundRole).color().name() == colours[tone]


def test_a_rejected_group_is_dimmed(panel: GroupsPanel) -> None:
    group = OrderGroup(
        group_id="G9",
        kind=GroupKind.ENTRY,
        legs=[Leg(spec=spec(23800, LegRole.PROTECTION, LOT, 101))],
        created_at=AT,
    )
    group.transition(GroupState.REJECTED, AT, "margin")
    panel.attach({"G9": group})
    index = panel.model.index(0, NAME)
    assert index.data(TONE_ROLE) == "dim"
    assert index.data(Qt.ItemDataRole.FontRole).italic()
    assert "margin" in index.data(Qt.ItemDataRole.ToolTipRole)


def test_pnl_is_marked_to_the_latest_price_and_blank_without_one(
    qtbot: QtBot, panel: GroupsPanel
) -> None:
    group = credit_spread()
    risk = group.legs[1].children[0]
    risk.filled_quantity, risk.average_price = LOT, Paise(10500)
    prices = {101: Paise(9000), 102: Paise(11000)}
    panel.attach({"G1": group}, prices.get)
    g1 = panel.model.index(0, 0)
    # Long 65 bought at 80.50, now 90.00: +617.50; short 65 sold at 105.00, now 110.00: −325.00.
    assert panel.model.index(0, PNL, g1).data() == "+617.50"
    assert panel.model.index(1, PNL, g1).data() == "-325.00"
    assert panel.model.index(0, PNL).data() == "+292.50"
    assert group_pnl(group, prices.get) == 29250
    prices[102] = Paise(10000)
    panel.refresh_prices()
    assert panel.model.index(0, PNL).data() == "+942.50"
    assert panel.model.index(0, UPDATED).data() == "10:15:30"  # a price is not an order event
    del prices[101]
    panel.refresh_prices()
    assert panel.model.index(0, PNL).data() == ""
    assert group_pnl(group, None) is None
    panel.stop()


def _trigger(panel: GroupsPanel, index: QModelIndex, name: str) -> OverrideDialog:
    menu = panel.menu_for(index)
    assert menu is not None
    action = next(a for a in menu.actions() if a.objectName() == name)
    assert action.isEnabled()
    action.trigger()
    dialog = panel.override_dialog
    assert dialog is not None and dialog.isVisible()
    menu.deleteLater()
    return dialog


def test_group_menu_offers_overrides_and_resolve_only_in_needs_attention(
    panel: GroupsPanel,
) -> None:
    group = credit_spread()
    panel.attach({"G1": group})
    menu = panel.menu_for(panel.model.index(0, STATE))
    assert menu is not None
    enabled = {a.objectName(): a.isEnabled() for a in menu.actions()}
    assert enabled == {
        "forceCloseAction": True,
        "resolveAttentionAction": False,
        "acceptExposureAction": True,
    }
    assert [a.text() for a in menu.actions()] == [
        "Force close…",
        "Resolve NEEDS_ATTENTION…",
        "Accept unhedged exposure…",
    ]
    group.transition(GroupState.NEEDS_ATTENTION, AT, "broker did not answer")
    panel.on_group_changed(changed(group))
    panel.refresh()
    menu = panel.menu_for(panel.model.index(0, 0))
    assert menu is not None
    assert {a.objectName(): a.isEnabled() for a in menu.actions()}["resolveAttentionAction"]
    assert panel.menu_for(QModelIndex()) is None


def test_resolving_needs_attention_asks_a_reason_and_emits_the_request(
    qtbot: QtBot, panel: GroupsPanel
) -> None:
    group = credit_spread()
    group.transition(GroupState.NEEDS_ATTENTION, AT)
    panel.attach({"G1": group})
    dialog = _trigger(panel, panel.model.index(0, 0), "resolveAttentionAction")
    assert "NEEDS_ATTENTION" in dialog.windowTitle() and "G1" in dialog.windowTitle()
    reason = dialog.findChild(QLineEdit, "overrideReason")
    confirm = dialog.findChild(QPushButton, "overrideConfirm")
    assert not confirm.isEnabled()
    qtbot.keyClicks(reason, "ok")
    assert not confirm.isEnabled()  # too short
    qtbot.keyClicks(reason, ": checked the order book, all filled")
    assert confirm.isEnabled()
    with qtbot.waitSignal(panel.overrideRequested, timeout=2000) as signal:
        qtbot.mouseClick(confirm, Qt.MouseButton.LeftButton)
    request = signal.args[0]
    assert request == OverrideRequest(
        OverrideAction.RESOLVE_ATTENTION, "G1", None, "ok: checked the order book, all filled"
    )
    assert not dialog.isVisible()


def test_cancel_is_offered_on_a_working_child_only(qtbot: QtBot, panel: GroupsPanel) -> None:
    group = credit_spread()
    panel.attach({"G1": group})
    protection = panel.model.index(0, 0, panel.model.index(0, 0))
    done = panel.menu_for(panel.model.index(0, 0, protection))
    assert done is not None
    assert [(a.objectName(), a.isEnabled()) for a in done.actions()] == [
        ("cancelOrderAction", False)
    ]
    dialog = _trigger(panel, panel.model.index(1, 0, protection), "cancelOrderAction")
    assert "G1-0-1" in dialog.windowTitle()
    qtbot.keyClicks(dialog.findChild(QLineEdit, "overrideReason"), "price ran away")
    with qtbot.waitSignal(panel.overrideRequested, timeout=2000) as signal:
        qtbot.keyClick(dialog.findChild(QLineEdit, "overrideReason"), Qt.Key.Key_Return)
    assert signal.args[0] == OverrideRequest(
        OverrideAction.CANCEL_ORDER, "G1", "G1-0-1", "price ran away"
    )


def test_an_override_without_a_reason_is_never_emitted(qtbot: QtBot, panel: GroupsPanel) -> None:
    panel.attach({"G1": credit_spread()})
    dialog = _trigger(panel, panel.model.index(0, 0), "forceCloseAction")
    reason = dialog.findChild(QLineEdit, "overrideReason")
    with qtbot.assertNotEmitted(panel.overrideRequested):
        qtbot.keyClicks(reason, "   ")
        qtbot.keyClick(reason, Qt.Key.Key_Return)
        dialog.accept()
    assert dialog.isVisible()
    assert "required" in dialog.hint.text()
    qtbot.mouseClick(dialog.findChild(QPushButton, "overrideCancel"), Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
