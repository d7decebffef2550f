"""The paper exchange's own SQLite file, so the venue survives its own restart.

One file (``paper-exchange.db`` in ``COCKPIT_HOME``), created 0600, WAL journal, written with the
stdlib ``sqlite3`` by the exchange's thread only. The matching engine writes through the
:class:`~cockpit.exchange.matching.ExchangeStore` methods inside one transaction per engine call
(a place, a modify, a market step), so each write is small (the rows that changed) and a crash
leaves either all of a call's changes or none. Tables: ``orders`` (current row), ``order_history``
(one row per state change), ``trades``, ``positions`` (the ledgers), ``account`` (opening
balance, cash, id counters, the fault generator's state) and ``market`` (an opaque JSON snapshot
the server passes in). Money columns are INTEGER paise; each row also keeps its full record as
JSON (integers only for money) from which :meth:`ExchangeState.load` rebuilds an
:class:`~cockpit.exchange.matching.EngineSnapshot` identical to what was saved.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cockpit.exchange.matching import (
    AccountState,
    EngineSnapshot,
    PositionLedger,
    Trade,
    VenueOrder,
    account_from_dict,
    account_to_dict,
    ledger_from_dict,
    ledger_to_dict,
    order_from_dict,
    order_to_dict,
    trade_from_dict,
    trade_to_dict,
)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    instrument_token INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    filled_quantity INTEGER NOT NULL,
    price INTEGER NOT NULL,
    trigger_price INTEGER NOT NULL,
    average_price INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_history (
    order_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (order_id, idx)
);
CREATE TABLE IF NOT EXISTS trades (
    trade_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    instrument_token INTEGER NOT NULL,
    transaction_type TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price INTEGER NOT NULL,
    fill_timestamp TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    instrument_token INTEGER NOT NULL,
    product TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    buy_value INTEGER NOT NULL,
    sell_value INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (instrument_token, product)
);
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    opening_balance INTEGER NOT NULL,
    cash INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS market (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    data TEXT NOT NULL
);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class ExchangeStateError(RuntimeError):
    """The state file is from a newer schema or is not the exchange's file."""


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _lock(path: Path) -> int:
    fd = os.open(lock_path(path), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ExchangeStateError(
            f"{path} is in use by another running paper exchange (a Cockpit window or "
            "`cockpit exchange`); stop it, or point this one at another --state file"
        ) from None
    return fd


def is_locked(path: Path) -> bool:
    """Whether a running exchange holds ``path`` (for commands that reuse it)."""
    if not lock_path(path).exists():
        return False
    fd = os.open(lock_path(path), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class ExchangeState:
    """The exchange's SQLite file; implements the engine's ``ExchangeStore`` protocol."""

    def __init__(self, connection: sqlite3.Connection, path: Path, lock_fd: int = -1) -> None:
        self._db = connection
        self._depth = 0
        self._lock_fd = lock_fd
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> ExchangeState:
        """Open (creating) the file, holding an exclusive lock on ``PATH.lock`` for as long as
        it is open: two exchanges on one state file would each believe they own the book."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(path)
        try:
            return cls._open_locked(path, lock_fd)
        except BaseException:
            os.close(lock_fd)
            raise

    @classmethod
    def _open_locked(cls, path: Path, lock_fd: int) -> ExchangeState:
        # Create the file 0600 before SQLite touches it; SQLite gives its -wal and -shm files
        # the database file's permissions.
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        # The exchange's thread is the only user, but it may not be the thread that opened it.
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            connection.close()
            raise ExchangeStateError(
                f"{path} has schema version {version}; this exchange understands up to "
                f"{SCHEMA_VERSION}. Use a newer Cockpit or move the file away."
            )
        connection.executescript(_SCHEMA)
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return cls(connection, path, lock_fd)

    def close(self) -> None:
        self._db.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = -1

    def __enter__(self) -> ExchangeState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- ExchangeStore ------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for the outermost caller; nested calls join it."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    def save_order(self, order: VenueOrder, history_index: int) -> None:
        with self.transaction():
            data = _dumps(order_to_dict(order))
            self._db.execute(
                """
                INSERT INTO orders (order_id, status, instrument_token, quantity,
                    filled_quantity, price, trigger_price, average_price, data)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(order_id) DO UPDATE SET status=excluded.status,
                    quantity=excluded.quantity, filled_quantity=excluded.filled_quantity,
                    price=excluded.price, trigger_price=excluded.trigger_price,
                    average_price=excluded.average_price, data=excluded.data
                """,
                (
                    order.order_id,
                    str(order.status),
                    order.instrument_token,
                    order.quantity,
                    order.filled_quantity,
                    int(order.price),
                    int(order.trigger_price),
                    int(order.average_price),
                    data,
                ),
            )
            self._db.execute(
                "INSERT OR REPLACE INTO order_history (order_id, idx, status, data) "
                "VALUES (?, ?, ?, ?)",
                (order.order_id, history_index, str(order.status), data),
            )

    def save_trade(self, trade: Trade) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO trades (trade_id, order_id, instrument_token, "
                "transaction_type, quantity, price, fill_timestamp, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trade.trade_id,
                    trade.order_id,
                    trade.instrument_token,
                    str(trade.transaction_type),
                    trade.quantity,
                    int(trade.average_price),
                    trade.fill_timestamp.isoformat(),
                    _dumps(trade_to_dict(trade)),
                ),
            )

    def save_position(self, ledger: PositionLedger) -> None:
        with self.transaction():
            self._db.execute(
                """
                INSERT INTO positions (instrument_token, product, quantity, buy_value,
                    sell_value, data)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(instrument_token, product) DO UPDATE SET
                    quantity=excluded.quantity, buy_value=excluded.buy_value,
                    sell_value=excluded.sell_value, data=excluded.data
                """,
                (
                    ledger.instrument_token,
                    str(ledger.product),
                    ledger.quantity,
                    ledger.buy_value,
                    ledger.sell_value,
                    _dumps(ledger_to_dict(ledger)),
                ),
            )

    def delete_position(self, instrument_token: int, product: str) -> None:
        with self.transaction():
            self._db.execute(
                "DELETE FROM positions WHERE instrument_token = ? AND product = ?",
                (instrument_token, str(product)),
            )

    def save_account(self, account: AccountState) -> None:
        with self.transaction():
            self._db.execute(
                """
                INSERT INTO account (id, opening_balance, cash, data) VALUES (1, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET opening_balance=excluded.opening_balance,
                    cash=excluded.cash, data=excluded.data
                """,
                (account.opening_balance, account.cash, _dumps(account_to_dict(account))),
            )

    # ---- the server's market snapshot ----------------------------------------------------

    def save_market(self, snapshot: dict[str, Any]) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO market (id, data) VALUES (1, ?) "
                "ON CONFLICT(id) DO UPDATE SET data=excluded.data",
                (_dumps(snapshot),),
            )

    def load_market(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT data FROM market WHERE id = 1").fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        assert isinstance(value, dict)
        return value

    # ---- restore --------------------------------------------------------------------------

    def load(self) -> EngineSnapshot | None:
        """Everything the engine saved, or None for a new file."""
        row = self._db.execute("SELECT data FROM account WHERE id = 1").fetchone()
        if row is None:
            return None
        account = account_from_dict(json.loads(row[0]))
        order_ids = [r[0] for r in self._db.execute("SELECT order_id FROM orders ORDER BY rowid")]
        rows: dict[str, list[VenueOrder]] = {order_id: [] for order_id in order_ids}
        for order_id, data in self._db.execute(
            "SELECT order_id, data FROM order_history ORDER BY order_id, idx"
        ):
            rows.setdefault(order_id, []).append(order_from_dict(json.loads(data)))
        trades = tuple(
            trade_from_dict(json.loads(data))
            for (data,) in self._db.execute("SELECT data FROM trades ORDER BY rowid")
        )
        ledgers = tuple(
            ledger_from_dict(json.loads(data))
            for (data,) in self._db.execute("SELECT data FROM positions ORDER BY rowid")
        )
        return EngineSnapshot(
            account=account,
            histories=tuple(tuple(rows[order_id]) for order_id in order_ids if rows[order_id]),
            trades=trades,
            ledgers=ledgers,
        )
