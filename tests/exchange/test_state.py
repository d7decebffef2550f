"""The exchange's SQLite file: a restart brings back identical orders, trades, positions and
funds, writes are transactional, and the file is private."""

from __future__ import annotations

import sqlite3
import stat
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from cockpit.clock import IST
from cockpit.domain.money import Paise
from cockpit.exchange.errors import ExchangeError
from cockpit.exchange.faults import Faults
from cockpit.exchange.matching import MatchingEngine, ModifyParams
from cockpit.exchange.state import ExchangeState
from tests.exchange.fakes import WEEKLY, FakeMarket, FakeUniverse, nifty_future, nifty_option
from tests.exchange.test_matching import order

CE = nifty_option(101, 24000, "CE")
PE = nifty_option(102, 23800, "PE")
FUT = nifty_future(900, expiry=WEEKLY)


@pytest.fixture
def market() -> FakeMarket:
    m = FakeMarket()
    m.spots["NIFTY"] = 2_400_000
    m.book(CE, last=100.0, bids=[(99.95, 650)], asks=[(100.0, 65), (100.5, 65)])
    m.book(PE, last=35.0, bids=[(34.95, 650)], asks=[(35.05, 650)])
    m.book(FUT, last=24000.0, bids=[(23999.0, 650)], asks=[(24000.0, 650)])
    return m


def _engine(
    market: FakeMarket, store: ExchangeState | None, faults: Faults | None = None
) -> MatchingEngine:
    return MatchingEngine(
        market,
        FakeUniverse(CE, PE, FUT),
        opening_funds=Paise(10_00_000_00),
        seed=11,
        store=store,
        faults=faults,
    )


def _busy_day(engine: MatchingEngine, market: FakeMarket) -> None:
    engine.place(order(CE, "BUY", 195, "100.50"))  # partial fill, rests
    engine.place(order(PE, "SELL", 65, "34.95"))
    engine.place(order(FUT, "BUY", 65, "24000.00"))
    resting = engine.place(order(PE, "BUY", 65, "30.00", tag="hedge-1"))
    engine.modify(resting, ModifyParams(price=Paise(3100)))
    engine.place(order(CE, "BUY", 65, "101.50", order_type="SL", trigger="101.00"))
    with pytest.raises(ExchangeError):
        engine.place(order(CE, "BUY", 100, "100.00"))  # input error: nothing stored
    market.advance(1)
    market.book(CE, last=101.0, asks=[(100.25, 260)])
    market.book(FUT, last=24050.0)
    engine.on_market_step()


def _everything(engine: MatchingEngine) -> tuple[object, ...]:
    return (
        engine.orders(),
        [engine.order_history(o.order_id) for o in engine.orders()],
        engine.trades(),
        engine.positions(),
        engine.funds(),
    )


def test_a_restart_restores_identical_orders_trades_positions_and_funds(
    tmp_path: Path, market: FakeMarket
) -> None:
    path = tmp_path / "paper-exchange.db"
    state = ExchangeState.open(path)
    engine = _engine(market, state, faults=Faults(partial_fill_rate=0.5))
    _busy_day(engine, market)
    before = _everything(engine)
    assert engine.trades() and engine.positions().net
    # "Restart": copy the committed file as another process would find it, and open the copy
    # while the original engine carries on writing to its own.
    copy = tmp_path / "after-restart.db"
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)

    reopened = ExchangeState.open(copy)
    snapshot = reopened.load()
    assert snapshot is not None
    restored = _engine(market, reopened, faults=Faults(partial_fill_rate=0.5))
    restored.restore(snapshot)
    assert _everything(restored) == before

    # The restored engine carries on exactly as the original would have (ids, fault draws).
    market.advance(1)
    market.book(CE, last=101.0, asks=[(100.25, 260)])
    engine.on_market_step()
    restored.on_market_step()
    for _ in range(8):  # each draws from the restored fault generator
        market.advance(1)
        market.book(PE, last=35.0, bids=[(34.95, 650)], asks=[(35.05, 650)])
        next_id = engine.place(order(PE, "BUY", 260, "35.05"))
        assert restored.place(order(PE, "BUY", 260, "35.05")) == next_id
    assert _everything(restored) == _everything(engine)
    reopened.close()
    state.close()


def test_a_new_file_loads_nothing_and_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "home" / "paper-exchange.db"
    with ExchangeState.open(path) as state:
        assert state.load() is None
        assert state.load_market() is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_money_is_stored_as_integer_paise(tmp_path: Path, market: FakeMarket) -> None:
    path = tmp_path / "x.db"
    with ExchangeState.open(path) as state:
        engine = _engine(market, state)
        engine.place(order(CE, "BUY", 130, "100.50"))
    with closing(sqlite3.connect(path)) as db:
        prices = db.execute("SELECT price, typeof(price) FROM trades ORDER BY rowid").fetchall()
        average = db.execute("SELECT average_price, typeof(average_price) FROM orders").fetchone()
        cash = db.execute("SELECT cash, typeof(cash) FROM account").fetchone()
    assert prices == [(10000, "integer"), (10050, "integer")]
    assert average == (10025, "integer")
    assert cash == (10_00_000_00 - 65 * 10000 - 65 * 10050, "integer")


def test_market_snapshot_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    snapshot = {"seed": 3, "now": "2026-01-12T10:00:00+05:30", "spots": {"NIFTY": 2400000}}
    with ExchangeState.open(path) as state:
        state.save_market(snapshot)
        state.save_market({**snapshot, "seed": 4})
    with ExchangeState.open(path) as state:
        assert state.load_market() == {**snapshot, "seed": 4}


def test_a_failed_call_writes_nothing(tmp_path: Path, market: FakeMarket) -> None:
    path = tmp_path / "x.db"
    with ExchangeState.open(path) as state:
        engine = _engine(market, state)
        with pytest.raises(RuntimeError), state.transaction():
            engine.place(order(CE, "BUY", 65, "100.00"))
            raise RuntimeError("crash inside the transaction")
        assert state.load() is None
        # Nested transactions join the outer one and commit with it.
        with state.transaction():
            engine.place(order(PE, "BUY", 65, "35.05"))
        snapshot = state.load()
    assert snapshot is not None
    # The rolled-back order never reached the file (as after a crash mid-call).
    assert [h[-1].tradingsymbol for h in snapshot.histories] == [PE.tradingsymbol]


def test_order_history_rows_are_kept_in_order(tmp_path: Path, market: FakeMarket) -> None:
    path = tmp_path / "x.db"
    with ExchangeState.open(path) as state:
        engine = _engine(market, state)
        oid = engine.place(order(CE, "BUY", 195, "100.50"))
        engine.cancel(oid)
        snapshot = state.load()
    assert snapshot is not None
    (history,) = snapshot.histories
    assert [str(row.status) for row in history] == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
        "OPEN",
        "CANCEL PENDING",
        "CANCELLED",
    ]
    assert history[-1].order_timestamp == datetime(2026, 1, 12, 10, 0, tzinfo=IST)


def test_a_second_exchange_cannot_open_a_state_file_in_use(tmp_path: Path) -> None:
    from cockpit.exchange.state import ExchangeState, ExchangeStateError, is_locked

    path = tmp_path / "paper-exchange.db"
    first = ExchangeState.open(path)
    assert is_locked(path)
    with pytest.raises(ExchangeStateError, match="in use by another running paper exchange"):
        ExchangeState.open(path)
    first.close()
    assert not is_locked(path)
    ExchangeState.open(path).close()
