"""Benchmark of the journal against raw sqlite3 on the same rows (a script, not a test).

    .venv/bin/python tests/perf/bench_journal.py [--entries 20000] [--writes 1000] [--dir DIR]

Each entry is a small ``child.intent`` (an event of ~100 bytes of JSON plus a ``children`` state
row), the entry the Coordinator journals before every order. Prints, for a fresh file each:

- sustained throughput: ``write_nowait`` of ``--entries`` entries, then ``flush`` (the writer
  batches them), beside raw sqlite3 ``executemany`` of the same event and state rows (already
  JSON) in one transaction and in transactions of the journal's batch size, and the latter
  again with the JSON encoding timed too;
- durable write latency: ``--writes`` sequential ``await journal.write(entry)`` (each its own
  transaction), median / p99 / max, beside raw sqlite3 doing one ``BEGIN IMMEDIATE`` … ``COMMIT``
  per row on the loop's thread.

Both sides use the journal's settings (WAL, ``synchronous`` as the journal sets it), so the gap
is what aiosqlite's thread hops, the queue and the JSON checks cost. Put ``--dir`` on the disk
that will hold ``COCKPIT_HOME``: fsync speed is most of the latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cockpit.clock import IST
from cockpit.store import Entry, Journal
from cockpit.store.journal import DEFAULT_MAX_BATCH, SYNCHRONOUS
from cockpit.store.schema import open_journal_file

AT = datetime(2026, 12, 2, 9, 20, tzinfo=IST)


def entry(i: int) -> Entry:
    child = f"g{i // 4}-c{i % 4}"
    return Entry(
        "child.intent",
        {"child_id": child, "tag": f"T{i:07d}", "qty": 75, "price": 12_345},
        group_id=f"g{i // 4}",
        state=("children", child, {"tag": f"T{i:07d}", "qty": 75, "status": "NEW"}),
        at=AT,
    )


def raw_rows(entries: list[Entry]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    events, states = [], []
    for seq, e in enumerate(entries, start=1):
        assert e.state is not None and e.state[2] is not None
        assert e.at is not None
        table, key, row = e.state
        events.append((seq, e.at.isoformat(), e.kind, e.group_id, json.dumps(e.data)))
        states.append((table, key, json.dumps(row), seq))
    return events, states


INSERT_EVENT = "INSERT INTO events (seq, at, kind, group_id, data) VALUES (?, ?, ?, ?, ?)"
UPSERT_STATE = (
    'INSERT INTO state ("table", "key", data, updated_seq) VALUES (?, ?, ?, ?) '
    'ON CONFLICT ("table", "key") DO UPDATE SET data = excluded.data, '
    "updated_seq = excluded.updated_seq"
)


def fresh(folder: Path, name: str) -> Path:
    path = folder / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def raw_db(path: Path) -> sqlite3.Connection:
    return open_journal_file(path, busy_timeout=5, synchronous=SYNCHRONOUS)


def raw_throughput(path: Path, count: int, batch: int, *, encode: bool = False) -> float:
    """Entries per second; with ``encode``, turning the entries into rows (JSON) is timed too."""
    entries = [entry(i) for i in range(count)]
    events, states = ([], []) if encode else raw_rows(entries)
    db = raw_db(path)
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
    db = raw_db(path)
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


def describe(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"median {statistics.median(ordered) * 1e3:6.3f} ms   p99 {p99 * 1e3:6.3f} ms   "
        f"max {ordered[-1] * 1e3:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--writes", type=int, default=1_000)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the files")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as name:
        folder = Path(name)
        print(
            f"journal benchmark: synchronous={SYNCHRONOUS}, WAL, SQLite {sqlite3.sqlite_version}, "
            f"files in {folder}"
        )

        rate, transactions = asyncio.run(journal_throughput(fresh(folder, "j1"), args.entries))
        raw_one = raw_throughput(fresh(folder, "r1"), args.entries, args.entries)
        raw_batched = raw_throughput(fresh(folder, "r2"), args.entries, DEFAULT_MAX_BATCH)
        raw_encoded = raw_throughput(
            fresh(folder, "r4"), args.entries, DEFAULT_MAX_BATCH, encode=True
        )
        print(f"\nthroughput, {args.entries:,} entries (event + state row each):")
        print(
            f"  Journal write_nowait + flush      {rate:10,.0f} entries/s   "
            f"({transactions} transactions)"
        )
        print(f"  raw sqlite3 executemany, 1 txn    {raw_one:10,.0f} entries/s")
        print(
            f"  raw sqlite3 executemany, {DEFAULT_MAX_BATCH}/txn  {raw_batched:10,.0f} entries/s   "
            f"({-(-args.entries // DEFAULT_MAX_BATCH)} transactions)"
        )
        print(f"  … the same, json.dumps timed too   {raw_encoded:10,.0f} entries/s")

        journal = asyncio.run(journal_latencies(fresh(folder, "j2"), args.writes))
        raw = raw_latencies(fresh(folder, "r3"), args.writes)
        print(f"\ndurable write latency, {args.writes:,} sequential writes (1 txn each):")
        print(f"  Journal await write               {describe(journal)}")
        print(f"  raw sqlite3 BEGIN…COMMIT          {describe(raw)}")


if __name__ == "__main__":
    main()
