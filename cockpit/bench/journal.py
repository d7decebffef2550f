"""Benchmark of the journal (:mod:`cockpit.store.journal`) against raw sqlite3 on the same rows, in
the same run and on the same disk (a temporary folder; ``--dir`` chooses another). Each entry is a
small ``child.intent`` (an event of ~100 bytes of JSON plus a ``children`` state row), the entry the
coordinator journals before every order. Sustained throughput: ``write_nowait`` of the entries then
``flush`` (the writer batches them into durable transactions), beside raw sqlite3 ``executemany`` of
the same event and state rows in transactions of the journal's batch size, the entries turned into
rows (``json.dumps``) inside the timing as the journal must; the same without the encoding is in the
detail. Durable write latency, in the detail: sequential ``await journal.write(entry)`` (one
transaction each), beside raw sqlite3 doing one ``BEGIN IMMEDIATE`` … ``COMMIT`` per row. Both sides
use the journal's settings (WAL, ``synchronous`` as the journal sets it), so the gap is what
aiosqlite's thread hops, the queue and the checks cost.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cockpit.bench.figure import Figure, median, percentile
from cockpit.clock import IST
from cockpit.store import Entry, Journal
from cockpit.store.journal import DEFAULT_MAX_BATCH, SYNCHRONOUS
from cockpit.store.schema import open_journal_file

AT = datetime(2026, 12, 2, 9, 20, tzinfo=IST)
ENTRIES = 20_000
TARGET_RATE = 20_000
TARGET_RATIO = 0.5
INSERT_EVENT = "INSERT INTO events (seq, at, kind, group_id, data) VALUES (?, ?, ?, ?, ?)"
UPSERT_STATE = (
    'INSERT INTO state ("table", "key", data, updated_seq) VALUES (?, ?, ?, ?) '
    'ON CONFLICT ("table", "key") DO UPDATE SET data = excluded.data, '
    "updated_seq = excluded.updated_seq"
)

Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def entry(i: int) -> Entry:
    child = f"g{i // 4}-c{i % 4}"
    return Entry(
        "child.intent",
        {"child_id": child, "tag": f"T{i:07d}", "qty": 75, "price": 12_345},
        group_id=f"g{i // 4}",
        state=("children", child, {"tag": f"T{i:07d}", "qty": 75, "status": "NEW"}),
        at=AT,
    )


def raw_rows(entries: list[Entry]) -> Rows:
    """The event and state rows the journal writes for ``entries``, JSON encoded."""
    events, states = [], []
    for seq, e in enumerate(entries, start=1):
        if e.state is None or e.state[2] is None or e.at is None:
            raise ValueError("benchmark entries carry a state row and a time")
        table, key, row = e.state
        events.append((seq, e.at.isoformat(), e.kind, e.group_id, json.dumps(e.data)))
        states.append((table, key, json.dumps(row), seq))
    return events, states


def _fresh(folder: Path, name: str) -> Path:
    path = folder / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def _raw_db(path: Path) -> sqlite3.Connection:
    return open_journal_file(path, busy_timeout=5, synchronous=SYNCHRONOUS)


def raw_throughput(path: Path, count: int, batch: int, *, encode: bool) -> float:
    """Entries per second through raw ``executemany``; with ``encode``, turning the entries
    into rows (JSON) is timed too."""
    entries = [entry(i) for i in range(count)]
    events, states = ([], []) if encode else raw_rows(entries)
    db = _raw_db(path)
    try:
        start = time.perf_counter()
        if encode:
            events, states = raw_rows(entries)
        for first in range(0, count, batch):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(INSERT_EVENT, events[first : first + batch])
            db.executemany(UPSERT_STATE, states[first : first + batch])
            db.execute("COMMIT")
        return count / (time.perf_counter() - start)
    finally:
        db.close()


def raw_latencies(path: Path, count: int) -> list[float]:
    events, states = raw_rows([entry(i) for i in range(count)])
    db = _raw_db(path)
    latencies = []
    try:
        for event, state in zip(events, states, strict=True):
            start = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(INSERT_EVENT, [event])
            db.executemany(UPSERT_STATE, [state])
            db.execute("COMMIT")
            latencies.append(time.perf_counter() - start)
    finally:
        db.close()
    return latencies


async def journal_throughput(path: Path, count: int) -> tuple[float, int]:
    """(entries per second, transactions) for ``write_nowait`` of ``count`` entries + flush."""
    entries = [entry(i) for i in range(count)]
    async with await Journal.open(path) as journal:
        before = journal.transactions_committed
        start = time.perf_counter()
        for e in entries:
            journal.write_nowait(e)
        await journal.flush()
        elapsed = time.perf_counter() - start
        return count / elapsed, journal.transactions_committed - before


async def journal_latencies(path: Path, count: int) -> list[float]:
    entries = [entry(i) for i in range(count)]
    latencies = []
    async with await Journal.open(path) as journal:
        for e in entries:
            start = time.perf_counter()
            await journal.write(e)
            latencies.append(time.perf_counter() - start)
    return latencies


def _latency(samples: list[float]) -> str:
    return f"median {median(samples) * 1e3:.3f} ms, p99 {percentile(samples, 0.99) * 1e3:.3f} ms"


def run(quick: bool, folder: Path | None = None) -> list[Figure]:
    writes = 200 if quick else 1_000
    with tempfile.TemporaryDirectory(dir=folder) as name:
        here = Path(name)
        rate, transactions = asyncio.run(journal_throughput(_fresh(here, "j1"), ENTRIES))
        raw = raw_throughput(_fresh(here, "r1"), ENTRIES, DEFAULT_MAX_BATCH, encode=True)
        raw_rows_only = raw_throughput(_fresh(here, "r2"), ENTRIES, DEFAULT_MAX_BATCH, encode=False)
        journal_lat = asyncio.run(journal_latencies(_fresh(here, "j2"), writes))
        raw_lat = raw_latencies(_fresh(here, "r3"), writes)
    setting = f"WAL, synchronous={SYNCHRONOUS}, SQLite {sqlite3.sqlite_version}"
    ratio = rate / raw
    return [
        Figure(
            "journal entries/s",
            rate,
            "entries/s",
            f"≥ {TARGET_RATE:,}/s",
            rate >= TARGET_RATE,
            f"{ENTRIES:,} entries (event + state row) by write_nowait + flush in {transactions} "
            f"durable transactions ({setting}); one awaited durable write "
            f"{_latency(journal_lat)} over {writes:,}, raw sqlite3 {_latency(raw_lat)}",
        ),
        Figure(
            "journal vs raw sqlite3 executemany",
            ratio,
            "×",
            f"≥ {TARGET_RATIO:g}×",
            ratio >= TARGET_RATIO,
            f"raw executemany in {DEFAULT_MAX_BATCH}-row transactions, rows JSON-encoded in the "
            f"timing: {raw:,.0f} entries/s; with the rows encoded beforehand {raw_rows_only:,.0f}"
            f"/s (the journal is {rate / raw_rows_only:.2f}× that)",
        ),
    ]


__all__ = ["ENTRIES", "entry", "raw_rows", "run"]
