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
    expected = f"{row.call.bid // 100:,}.{row.call.bid % 100:02d}"
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
    put_ask_column = STRIKE_COLUMN + 1 + list(reversed(CALL_FIELDS)).index(Field.ASK)
    buy = model.pick_at(atm, put_ask_column)
    assert buy is not None
    assert (buy.side, buy.right, buy.price, buy.lot_size) == ("BUY", "PE", row.put.ask, 65)
    assert model.pick_at(atm, STRIKE_COLUMN) is None
    assert model.pick_at(atm, CALL_FIELDS.index(Field.IV)) is None
