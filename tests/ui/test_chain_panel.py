"""The chain table model: Qt's model contract, block updates, ATM marking and leg picks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from cockpit.clock import IST
from cockpit.domain.instruments import InstrumentStore
from cockpit.exchange.market import Market
from cockpit.exchange.universe import build_universe, load_underlyings
from cockpit.marketdata.chain import ChainView, value_chain
from cockpit.reference_data import load_calendar, load_contract_specs
from cockpit.ui.chain_panel import (
    CALL_FIELDS,
    COLUMN_COUNT,
    PUT_FIELDS,
    STRIKE_COLUMN,
    ChainTableModel,
    Field,
)

NOW = datetime(2026, 12, 2, 11, 0, tzinfo=IST)


@pytest.fixture(scope="module")
def views() -> tuple[ChainView, ChainView]:
    calendar = load_calendar()
    universe = build_universe(load_underlyings(), load_contract_specs(), calendar, NOW.date())
    market = Market(universe, calendar, seed=5, start=NOW)
    store = InstrumentStore(universe.instruments)
    chain = store.chain("NIFTY", store.expiries("NIFTY")[1])
    tokens = [i.instrument_token for r in chain.rows for i in (r.call, r.put) if i is not None]
    spot = market.spot("NIFTY")
    first = value_chain(chain, market.quotes(tokens), now=market.now, spot=spot)
    market.advance(30)
    second = value_chain(chain, market.quotes(tokens), now=market.now, spot=market.spot("NIFTY"))
    return first, second


def test_model_passes_qts_model_checks(qtmodeltester: ModelTester, views) -> None:
    model = ChainTableModel()
    model.set_view(views[0])
    qtmodeltester.check(model)
    assert model.rowCount() == len(views[0].rows) and model.columnCount() == COLUMN_COUNT


def test_cells_show_rupees_iv_and_greeks_and_mark_the_atm_row(views) -> None:
    model = ChainTableModel()
    model.set_view(views[0])
    atm = model.atm_row
    assert atm == views[0].atm_index
    row = views[0].rows[atm]
    strike = model.data(model.index(atm, STRIKE_COLUMN))
    assert strike == format(row.strike.normalize(), "f")
    bid_col = CALL_FIELDS.index(Field.BID)
    expected = f"{row.call.bid // 100}.{row.call.bid % 100:02d}"
    assert model.data(model.index(atm, bid_col)) == expected
    iv_col = CALL_FIELDS.index(Field.IV)
    assert model.data(model.index(atm, iv_col)) == f"{row.call.iv * 100:.1f}"
    assert model.data(model.index(atm, STRIKE_COLUMN), Qt.ItemDataRole.FontRole).bold()
    assert model.data(model.index(atm, 0), Qt.ItemDataRole.BackgroundRole) is not None
    assert model.headerData(STRIKE_COLUMN, Qt.Orientation.Horizontal) == "Strike"
    assert model.headerData(COLUMN_COUNT - 1, Qt.Orientation.Horizontal) == "PE OI"


def test_an_update_announces_one_block_of_changed_rows_not_a_reset(qtbot: QtBot, views) -> None:
    first, _ = views
    model = ChainTableModel()
    model.set_view(first)
    changed_row = 7
    rows = list(first.rows)
    call = rows[changed_row].call
    rows[changed_row] = replace(rows[changed_row], call=replace(call, bid=call.bid + 5))
    moved = replace(first, rows=tuple(rows))
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    with qtbot.waitSignal(model.dataChanged) as signal:
        model.set_view(moved)
    top, bottom = signal.args[0], signal.args[1]
    assert (top.row(), bottom.row()) == (changed_row, changed_row)
    assert (top.column(), bottom.column()) == (0, COLUMN_COUNT - 1)
    assert not resets
    with qtbot.assertNotEmitted(model.dataChanged):
        model.set_view(moved)  # nothing changed: nothing announced


def test_clicking_a_bid_is_a_sell_and_an_ask_a_buy(views) -> None:
    model = ChainTableModel()
    model.set_view(views[0])
    atm = model.atm_row
    row = views[0].rows[atm]
    sell = model.pick_at(atm, CALL_FIELDS.index(Field.BID))
    assert sell is not None
    assert (sell.side, sell.right, sell.strike, sell.price) == (
        "SELL",
        "CE",
        row.strike,
        row.call.bid,
    )
    put_ask_column = STRIKE_COLUMN + 1 + PUT_FIELDS.index(Field.ASK)
    buy = model.pick_at(atm, put_ask_column)
    assert buy is not None
    assert (buy.side, buy.right, buy.price, buy.lot_size) == ("BUY", "PE", row.put.ask, 65)
    assert model.pick_at(atm, STRIKE_COLUMN) is None
    assert model.pick_at(atm, CALL_FIELDS.index(Field.IV)) is None


# ---- live, from the paper exchange ------------------------------------------------------------


def test_the_chain_fills_from_the_paper_exchange_updates_and_a_click_emits_a_leg(
    qtbot: QtBot, tmp_path
) -> None:
    import asyncio

    import qasync

    from cockpit.app import Services
    from cockpit.config import load_settings
    from cockpit.ui.chain_panel import ChainPanel, LegPick

    settings = load_settings(tmp_path)
    loop = qasync.QEventLoop(already_running=False)
    asyncio.set_event_loop(loop)
    services = Services(settings)
    panel = ChainPanel(refresh_hz=20)
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    picks: list[LegPick] = []
    panel.legPicked.connect(picks.append)

    async def scenario() -> None:
        await services.start()
        await asyncio.wait_for(services.connected.wait(), 20)
        assert services.chain is not None and services.exchange is not None
        panel.attach(services.chain, "NIFTY")
        # Filled: every strike of the nearest expiry with bid, ask and an IV near the money.
        for _ in range(200):
            await asyncio.sleep(0.05)
            if panel.model.view is not None and panel.model.view.spot is not None:
                break
        view = panel.model.view
        assert view is not None and view.underlying == "NIFTY"
        assert len(view.rows) == 61
        atm = panel.model.atm_row
        assert atm is not None and view.rows[atm].call.iv is not None
        assert view.rows[atm].call.bid is not None and view.rows[atm].put.ask is not None
        # The ATM row is scrolled into view.
        await asyncio.sleep(0.1)
        rect = panel.table.visualRect(panel.model.index(atm, STRIKE_COLUMN))
        assert panel.table.viewport().rect().contains(rect.center())
        # Updates: move the market; ticks arrive over the WebSocket and the table follows.
        ticks_before = services.chain.ticks
        before = view.rows[atm].call.bid
        exchange = services.exchange.exchange
        assert exchange is not None

        async def gap(ex) -> None:
            async with ex._lock:
                ex.market.gap("NIFTY", 1.0)
                ex.engine.on_market_step()
            await ex._publish()

        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(gap(exchange), services.exchange._loop)
        )
        for _ in range(200):
            await asyncio.sleep(0.05)
            now_bid = panel.model.view.rows[atm].call.bid
            if now_bid is not None and now_bid > before:
                break
        assert services.chain.ticks > ticks_before
        assert panel.model.view.rows[atm].call.bid > before
        # A click on the ATM call's bid is a sell of that call.
        bid_column = CALL_FIELDS.index(Field.BID)
        index = panel.model.index(atm, bid_column)
        panel.table.scrollTo(index)
        qtbot.mouseClick(
            panel.table.viewport(),
            Qt.MouseButton.LeftButton,
            pos=panel.table.visualRect(index).center(),
        )
        assert len(picks) == 1
        pick = picks[0]
        assert (pick.side, pick.right, pick.underlying) == ("SELL", "CE", "NIFTY")
        assert pick.tradingsymbol == panel.model.view.rows[atm].call.tradingsymbol

    try:
        loop.run_until_complete(scenario())
    finally:
        panel.timer.stop()
        loop.run_until_complete(services.aclose())
        asyncio.set_event_loop(None)
        loop.close()
