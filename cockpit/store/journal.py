"""The journal: the durable, ordered record every state transition goes through before it counts.

A :class:`Journal` is one SQLite file (``cockpit.db`` in ``COCKPIT_HOME``, 0600, WAL) holding an
append-only ``events`` log and the materialised current state (``groups``, ``children``,
``orders``, ``fills``, ``alerts``, ``overrides``, ``exposure``), both written by the same
transaction so the state never runs ahead of, or behind, the log. Writes go through ONE writer
task fed by an ``asyncio.Queue``: it drains whatever is queued (up to ``max_batch`` entries) into
one ``BEGIN IMMEDIATE`` … ``COMMIT`` and resolves each entry's future with its sequence number
only once that transaction is on disk, so ``await journal.write(entry)`` is the write-ahead
guarantee the Coordinator relies on before an order leaves. Readers use a second, query-only
connection and never wait for the writer (WAL). Entries are checked when they are made: data
must be JSON (money as int paise, Decimals as str, datetimes as ISO strings) and a float under a
money-looking key is refused. A batch that fails (disk full, locked file) fails every future in
it with a :class:`~cockpit.store.schema.JournalError` and leaves the journal usable; nothing
committed before it is touched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import aiosqlite

from cockpit.clock import IST, Clock, SystemClock
from cockpit.store.schema import (
    JournalError,
    Synchronous,
    journal_error,
    open_journal_file,
    open_reader,
)

log = logging.getLogger(__name__)

#: The materialised tables an :class:`Entry` may update (``state=(table, key, row)``).
STATE_TABLES: Final = frozenset(
    {"groups", "children", "orders", "fills", "alerts", "overrides", "exposure", "stops"}
)

# A float under one of these keys is a bug: money is int paise (or a Decimal as str).
_MONEY_SUFFIXES: Final = ("price", "prices", "premium", "premiums", "amount", "amounts", "paise")

# synchronous=FULL, chosen by measurement on this project's machine (2 cores, ext4 on a virtio
# disk, SQLite 3.40.1, WAL; `cockpit bench --only journal` and a NORMAL/FULL switch of it):
#   raw sqlite3, one small event per transaction, 1,000 transactions:
#     NORMAL: ~55,000 commits/s, p50 0.013 ms, p99 0.03 ms (max 4 ms: a checkpoint's fsync)
#     FULL:    ~4,300 commits/s, p50 0.23 ms,  p99 0.35 ms
#   through this Journal (event + state row per entry):
#     NORMAL: 65,000-67,000 entries/s batched; awaited write p50 0.22-0.34 ms
#     FULL:   61,500-62,800 entries/s batched; awaited write p50 0.48-0.64 ms
# Under WAL, NORMAL survives a crash of Cockpit but not of the machine (power cut, kernel
# panic): the last transactions may vanish because the WAL is fsynced only at checkpoints.
# A lost write-ahead intent for an order that did leave is exactly the unknown order this
# journal exists to prevent. FULL costs ~0.25 ms per commit, shared by every entry of a batch
# (batched throughput drops ~5 %); against a broker round trip of tens of milliseconds it is
# invisible. So FULL.
SYNCHRONOUS: Final[Synchronous] = "FULL"

DEFAULT_BUSY_TIMEOUT: Final = 5.0  # seconds another process may hold the write lock
DEFAULT_MAX_BATCH: Final = 512  # entries per transaction at most
_THREAD_EXIT_WAIT: Final = 5.0  # seconds aclose() waits for a connection's thread to end


class JournalClosedError(JournalError):
    """The journal was closed (or is closing): nothing more can be written or read."""


# ---- values -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing that happened, to be journalled; optionally with the row of the materialised
    state it changes (``state=(table, key, row)``, ``row=None`` deletes it) in the same
    transaction. ``at`` defaults to the journal's clock when written. ``data`` and ``row`` are
    JSON: str keys; str, int, bool, None, finite floats (never under a money key), lists (tuples
    read back as lists) and mappings; anything else is refused with a ValueError naming it."""

    kind: str
    data: Mapping[str, Any]
    group_id: str | None = None
    state: tuple[str, str, Mapping[str, Any] | None] | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"an Entry's kind must be a non-empty str, not {self.kind!r}")
        if self.group_id is not None and not isinstance(self.group_id, str):
            raise ValueError(f"Entry {self.kind!r}: group_id must be a str or None")
        if self.at is not None and (self.at.tzinfo is None or self.at.utcoffset() is None):
            raise ValueError(f"Entry {self.kind!r}: at={self.at!r} is naive; give it a timezone")
        if not isinstance(self.data, Mapping):
            raise ValueError(f"Entry {self.kind!r}: data must be a mapping")
        check_json(self.data, f"Entry {self.kind!r} data")
        if self.state is not None:
            table, key, row = self.state
            check_state_table(table)
            if not isinstance(key, str) or not key:
                raise ValueError(f"Entry {self.kind!r}: state key must be a non-empty str")
            if row is not None:
                if not isinstance(row, Mapping):
                    raise ValueError(f"Entry {self.kind!r}: state row must be a mapping or None")
                check_json(row, f"Entry {self.kind!r} state {table}[{key!r}]")


@dataclass(frozen=True, slots=True)
class JournalEvent:
    """One committed entry as read back: ``seq`` orders the whole journal."""

    seq: int
    at: datetime
    kind: str
    group_id: str | None
    data: dict[str, Any]


def check_state_table(table: str) -> None:
    if table not in STATE_TABLES:
        raise ValueError(
            f"unknown journal state table {table!r}; "
            f"the tables are {', '.join(sorted(STATE_TABLES))}"
        )


def check_json(value: Any, where: str) -> None:
    """Raise ValueError (naming the key, e.g. ``data['legs'][0]['price']``) unless ``value`` is
    JSON that reads back as written and holds no float under a money-looking key."""
    try:
        _check(value, None)
    except _RefusedError as refused:
        raise ValueError(f"{where}{''.join(reversed(refused.path))}: {refused}") from None


class _RefusedError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: list[str] = []  # innermost first, built only on the way out of an error


_SCALARS: Final = frozenset({str, int, bool, type(None)})


def _check(value: Any, key: str | None) -> None:
    # Every entry is walked twice on the loop: exact-type tests first, and the key's path is
    # built only on the way out of an error (building it on the way in tripled the cost).
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is dict or isinstance(value, Mapping):
        for name, item in value.items():
            if type(name) is not str and not isinstance(name, str):
                raise _RefusedError(f"the key {name!r} is not a str")
            try:
                _check(item, name)
            except _RefusedError as refused:
                refused.path.append(f"[{name!r}]")
                raise
        return
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        for index, item in enumerate(value):
            try:
                _check(item, key)  # "prices": [...] is still money
            except _RefusedError as refused:
                refused.path.append(f"[{index}]")
                raise
        return
    if isinstance(value, float):
        if key is not None and key.lower().endswith(_MONEY_SUFFIXES):
            raise _RefusedError(
                f"{key!r} is the float {value!r}; money is journalled as int paise "
                "(or a Decimal as str), never a float"
            )
        if not math.isfinite(value):
            raise _RefusedError(f"{key!r} is {value!r}, which JSON cannot hold")
        return
    if isinstance(value, str | int):  # StrEnum, IntEnum: JSON writes their values
        return
    raise _RefusedError(
        f"{key!r} is a {kind.__name__}, which is not JSON; pass Decimals as str, "
        "datetimes as ISO strings, money as int paise"
    )


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")  # check_json already refused it


_ENCODER: Final = json.JSONEncoder(
    default=_json_default, allow_nan=False, ensure_ascii=False, separators=(",", ":")
)


def _dumps(value: Mapping[str, Any]) -> str:
    return _ENCODER.encode(value)


# ---- the queue's items --------------------------------------------------------------------------


@dataclass(slots=True)
class _Write:
    kind: str
    group_id: str | None
    at: str
    data: str
    state: tuple[str, str, str | None] | None
    future: asyncio.Future[int]


@dataclass(slots=True)
class _Barrier:
    """Resolved with the count of failed writes once everything queued before it is done."""

    future: asyncio.Future[int]


@dataclass(slots=True)
class _Stop:
    pass


_Item = _Write | _Barrier | _Stop


@dataclass(slots=True)
class _Counters:
    transactions: int = 0
    failed_writes: int = 0
    last_error: JournalError | None = field(default=None)


# ---- the journal ------------------------------------------------------------------------------


class Journal:
    """The journal file: one writer task batching entries into transactions, one reader.

    Open with ``await Journal.open(path)`` and close with ``await journal.aclose()`` (or
    ``async with await Journal.open(path) as journal``): aiosqlite's worker threads are not
    daemons, so an unclosed journal keeps the process from exiting."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock,
        busy_timeout: float,
        max_batch: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.path = path
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._max_batch = max_batch
        self._loop = loop
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._counters = _Counters()
        self._next_seq: int | None = None
        self._closing = False
        self._closed = asyncio.Event()

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        clock: Clock | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> Journal:
        """Open (creating, 0600) or migrate the journal at ``path`` and start its writer.

        Raises :class:`JournalError` (corrupt, newer version, locked …) naming the file; on any
        failure everything opened so far is closed again."""
        journal = cls(
            Path(path),
            clock=clock or SystemClock(),
            busy_timeout=busy_timeout,
            max_batch=max_batch,
            loop=asyncio.get_running_loop(),
        )
        try:
            await journal._start()
        except BaseException:
            await journal.aclose()
            raise
        return journal

    async def _start(self) -> None:
        # The file is created and migrated by the writer connection's own thread (the
        # connector runs there), so opening blocks neither the loop nor an executor.
        self._writer = aiosqlite.Connection(
            partial(
                open_journal_file,
                self.path,
                busy_timeout=self._busy_timeout,
                synchronous=SYNCHRONOUS,
            ),
            64,
        )
        await self._writer
        self._reader = aiosqlite.Connection(
            partial(open_reader, self.path, busy_timeout=self._busy_timeout), 64
        )
        await self._reader
        self._writer_task = asyncio.create_task(
            self._run_writer(), name=f"journal writer ({self.path.name})"
        )
        self._writer_task.add_done_callback(self._writer_stopped)

    def _writer_stopped(self, task: asyncio.Task[None]) -> None:
        if not self._closing:  # a bug, not a close: nobody may wait forever on its queue
            log.error("journal writer stopped unexpectedly; writes now fail until reopened")
            self._fail_queued("lost its writer (see the log)")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- writing ------------------------------------------------------------------------------

    def write_nowait(self, entry: Entry) -> asyncio.Future[int]:
        """Queue ``entry``; the future resolves with its sequence number once it is committed,
        or fails with a :class:`JournalError`. Cancelling the future does not unqueue it."""
        self._check_writable(entry.kind)
        check_json(entry.data, f"Entry {entry.kind!r} data")  # again: the mapping may have changed
        state: tuple[str, str, str | None] | None = None
        if entry.state is not None:
            table, key, row = entry.state
            if row is not None:
                check_json(row, f"Entry {entry.kind!r} state {table}[{key!r}]")
            state = (table, key, None if row is None else _dumps(row))
        at = entry.at if entry.at is not None else self._clock.now()
        future: asyncio.Future[int] = self._loop.create_future()
        self._queue.put_nowait(
            _Write(
                kind=entry.kind,
                group_id=entry.group_id,
                at=at.isoformat(),
                data=_dumps(entry.data),
                state=state,
                future=future,
            )
        )
        return future

    async def write(self, entry: Entry) -> int:
        """Journal ``entry`` and return its sequence number once it is durably committed."""
        return await self.write_nowait(entry)

    async def flush(self) -> None:
        """Return once everything queued before this call is committed; raise
        :class:`JournalError` if any of it failed meanwhile (its own future says which)."""
        if self._closing:
            return  # aclose() already finished (or is finishing) everything queued
        self._check_writer_alive()
        failed_before = self._counters.failed_writes
        barrier: asyncio.Future[int] = self._loop.create_future()
        self._queue.put_nowait(_Barrier(barrier))
        failed_after = await barrier
        if failed_after > failed_before:
            raise JournalError(
                f"{failed_after - failed_before} journal writes queued before this flush failed: "
                f"{self._counters.last_error}"
            )

    @property
    def transactions_committed(self) -> int:
        """How many write transactions this journal has committed since it was opened."""
        return self._counters.transactions

    def _check_writable(self, kind: str) -> None:
        if self._closing:
            raise JournalClosedError(f"the journal {self.path} is closed; {kind!r} was not written")
        self._check_writer_alive()

    def _check_writer_alive(self) -> None:
        task = self._writer_task
        if task is None or task.done():
            raise JournalError(f"the journal {self.path} has no running writer; reopen it")

    async def _run_writer(self) -> None:
        queue = self._queue
        while True:
            items = [await queue.get()]
            while len(items) < self._max_batch and not queue.empty():
                items.append(queue.get_nowait())
            writes = [item for item in items if isinstance(item, _Write)]
            try:
                if writes:
                    await self._commit_batch(writes)
            finally:  # a flush waiting on this batch is answered even if the writer is cancelled
                for item in items:
                    if isinstance(item, _Barrier) and not item.future.done():
                        item.future.set_result(self._counters.failed_writes)
            if any(isinstance(item, _Stop) for item in items):
                return

    async def _commit_batch(self, writes: list[_Write]) -> None:
        try:
            first_seq = await self._transact(writes)
        except asyncio.CancelledError:
            self._counters.failed_writes += len(writes)
            for write in writes:
                if not write.future.done():
                    write.future.set_exception(
                        JournalClosedError(
                            f"the journal {self.path} was closed while {write.kind!r} was being "
                            "written; it may or may not be in the journal"
                        )
                    )
            raise
        except Exception as exc:
            error = journal_error(exc, self.path, busy_timeout=self._busy_timeout)
            log.error("journal batch of %d entries failed: %s", len(writes), error)
            self._counters.failed_writes += len(writes)
            self._counters.last_error = error
            for write in writes:
                if not write.future.done():
                    write.future.set_exception(type(error)(*error.args))
            return
        self._counters.transactions += 1
        for offset, write in enumerate(writes):
            if not write.future.done():
                write.future.set_result(first_seq + offset)

    async def _transact(self, writes: list[_Write]) -> int:
        """Write the batch in one transaction; return the first entry's sequence number."""
        db = self._writer
        assert db is not None
        await db.execute("BEGIN IMMEDIATE")
        try:
            # The one writer holds the write lock, so the next numbers are ours to give; after
            # the first batch they are known without asking (a round trip to the thread saved).
            first_seq = self._next_seq
            if first_seq is None:
                rows = await db.execute_fetchall("SELECT COALESCE(MAX(seq), 0) FROM events")
                first_seq = int(next(iter(rows))[0]) + 1
            await db.executemany(
                "INSERT INTO events (seq, at, kind, group_id, data) VALUES (?, ?, ?, ?, ?)",
                [
                    (first_seq + offset, w.at, w.kind, w.group_id, w.data)
                    for offset, w in enumerate(writes)
                ],
            )
            upserts, deletes = _final_state_changes(writes, first_seq)
            if upserts:
                await db.executemany(
                    'INSERT INTO state ("table", "key", data, updated_seq) VALUES (?, ?, ?, ?) '
                    'ON CONFLICT ("table", "key") DO UPDATE SET '
                    "data = excluded.data, updated_seq = excluded.updated_seq",
                    upserts,
                )
            if deletes:
                await db.executemany('DELETE FROM state WHERE "table" = ? AND "key" = ?', deletes)
            await self._commit(db)
        except BaseException:
            self._next_seq = None  # ask the file again: it is the truth
            await self._rollback(db)
            raise
        self._next_seq = first_seq + len(writes)
        return first_seq

    async def _commit(self, db: aiosqlite.Connection) -> None:
        await db.execute("COMMIT")

    async def _rollback(self, db: aiosqlite.Connection) -> None:
        try:
            await db.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass  # SQLite already rolled it back (it does on a full disk), or nothing began
        except Exception:
            log.exception("journal rollback failed")

    # ---- reading ------------------------------------------------------------------------------

    async def events(
        self,
        *,
        group_id: str | None = None,
        since: int = 0,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[JournalEvent]:
        """Committed events with ``seq > since``, oldest first, optionally of one group and of
        some kinds only, at most ``limit`` of them (page on with ``since=last.seq``)."""
        clauses = ["seq > ?"]
        params: list[Any] = [since]
        if group_id is not None:
            clauses.append("group_id = ?")
            params.append(group_id)
        if kinds is not None:
            kind_list = list(kinds)
            if not kind_list:
                return []
            clauses.append(f"kind IN ({', '.join('?' * len(kind_list))})")
            params.extend(kind_list)
        sql = f"SELECT seq, at, kind, group_id, data FROM events WHERE {' AND '.join(clauses)}"
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._read(sql, params)
        return [
            JournalEvent(
                seq=seq,
                at=datetime.fromisoformat(at).astimezone(IST),
                kind=kind,
                group_id=group,
                data=json.loads(data),
            )
            for seq, at, kind, group, data in rows
        ]

    async def state(self, table: str) -> dict[str, dict[str, Any]]:
        """The materialised ``table`` as committed: key → row."""
        check_state_table(table)
        rows = await self._read(
            'SELECT "key", data FROM state WHERE "table" = ? ORDER BY "key"', [table]
        )
        return {key: json.loads(data) for key, data in rows}

    async def last_seq(self) -> int:
        """The sequence number of the newest committed event (0 for an empty journal)."""
        rows = await self._read("SELECT COALESCE(MAX(seq), 0) FROM events", [])
        return int(rows[0][0])

    async def _read(self, sql: str, params: list[Any]) -> list[Any]:
        db = self._reader
        if self._closing or db is None:
            raise JournalClosedError(f"the journal {self.path} is closed")
        try:
            return list(await db.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise journal_error(exc, self.path, busy_timeout=self._busy_timeout) from exc

    # ---- closing ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Commit what is queued, stop the writer and close both connections (joining their
        threads). Idempotent; safe after a failed open; closes the connections even if it is
        cancelled (the writer is then cancelled too, and its batch fails)."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        task = self._writer_task
        try:
            if task is not None and not task.done():
                self._queue.put_nowait(_Stop())
                await asyncio.wait([task])
        finally:
            if task is not None:
                if not task.done():
                    task.cancel()
                    await asyncio.wait([task])  # its rollback runs before the close below
                if not task.cancelled() and task.exception() is not None:
                    log.error("journal writer failed", exc_info=task.exception())
            self._fail_queued()
            await self._close_connections()
            self._closed.set()

    def _fail_queued(self, why: str = "was closed") -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Write | _Barrier) and not item.future.done():
                kind = item.kind if isinstance(item, _Write) else "flush"
                item.future.set_exception(
                    JournalClosedError(f"the journal {self.path} {why} before {kind!r} was written")
                )

    async def _close_connections(self) -> None:
        for name in ("_reader", "_writer"):
            connection: aiosqlite.Connection | None = getattr(self, name)
            if connection is None:
                continue
            setattr(self, name, None)
            try:
                await connection.close()
            except Exception:
                log.exception("closing the journal's %s connection failed", name.strip("_"))
            await _thread_ended(connection)


async def _thread_ended(connection: aiosqlite.Connection) -> None:
    """Wait (without blocking the loop) until aiosqlite's worker thread has exited: close()
    returns as the thread hands back its last result, a moment before it ends."""
    thread = getattr(connection, "_thread", None)
    deadline = asyncio.get_running_loop().time() + _THREAD_EXIT_WAIT
    while thread is not None and thread.is_alive():
        if asyncio.get_running_loop().time() > deadline:
            log.warning("journal connection thread still running after %g s", _THREAD_EXIT_WAIT)
            return
        await asyncio.sleep(0.001)


def _final_state_changes(
    writes: list[_Write], first_seq: int
) -> tuple[list[tuple[str, str, str, int]], list[tuple[str, str]]]:
    """The batch's net effect on the state table: the last change to each row wins."""
    final: dict[tuple[str, str], tuple[str | None, int]] = {}
    for offset, write in enumerate(writes):
        if write.state is not None:
            table, key, row = write.state
            final[(table, key)] = (row, first_seq + offset)
    upserts = [(t, k, row, seq) for (t, k), (row, seq) in final.items() if row is not None]
    deletes = [(t, k) for (t, k), (row, _) in final.items() if row is None]
    return upserts, deletes
