"""The journal: durability (across a close and a kill), batching, ordering, the state table,
the entry guards (money floats, JSON, tables), failure of a batch (disk full, locked file), and
a clean close that leaves no thread or task behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.clock import IST, ManualClock
from cockpit.store import (
    Entry,
    Journal,
    JournalClosedError,
    JournalCorruptError,
    JournalError,
    JournalEvent,
    JournalFullError,
    JournalLockedError,
)
from cockpit.store.schema import open_journal_file

AT = datetime(2026, 12, 2, 9, 20, tzinfo=IST)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "cockpit.db"


def intent(i: int, group: str = "g1") -> Entry:
    child = f"{group}-c{i}"
    row = {"tag": f"T{i:05d}", "qty": 75, "price": 12_345 + i, "order_id": None, "status": "NEW"}
    return Entry(
        "child.intent",
        {"child_id": child, "qty": 75, "price": 12_345 + i},
        group_id=group,
        state=("children", child, row),
        at=AT,
    )


# ---- durability ---------------------------------------------------------------------------------


def test_events_and_state_read_back_identically_after_close_and_reopen(path: Path) -> None:
    async def write_then_read() -> tuple[list[JournalEvent], dict[str, Any]]:
        async with await Journal.open(path) as journal:
            await journal.write(
                Entry(
                    "group.created",
                    {"strategy": "iron condor", "legs": [{"strike": "24000", "qty": 75}]},
                    group_id="g1",
                    state=("groups", "g1", {"state": "CREATED", "premium": 4_250}),
                    at=AT,
                )
            )
            for i in range(3):
                await journal.write(intent(i))
            await journal.write(
                Entry(
                    "group.transition",
                    {"from": "CREATED", "to": "VALIDATED"},
                    group_id="g1",
                    state=("groups", "g1", {"state": "VALIDATED", "premium": 4_250}),
                )
            )
            await journal.write(Entry("child.cancelled", {}, state=("children", "g1-c2", None)))
            events = await journal.events()
            state = {t: await journal.state(t) for t in ("groups", "children", "fills")}
        assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
        assert state["groups"] == {"g1": {"state": "VALIDATED", "premium": 4_250}}
        assert set(state["children"]) == {"g1-c0", "g1-c1"}
        assert state["fills"] == {}
        return events, state

    async def reopen_and_read() -> tuple[list[JournalEvent], dict[str, Any]]:
        async with await Journal.open(path) as journal:
            events = await journal.events()
            state = {t: await journal.state(t) for t in ("groups", "children", "fills")}
            assert await journal.write(Entry("alert", {})) == 7  # numbering carries on
            return events, state

    assert asyncio.run(write_then_read()) == asyncio.run(reopen_and_read())


def test_events_keep_their_time_and_read_back_in_ist(path: Path) -> None:
    clock = ManualClock(AT)
    utc = datetime(2026, 12, 2, 4, 0, 0, 123456, tzinfo=UTC)

    async def main() -> None:
        async with await Journal.open(path, clock=clock) as journal:
            await journal.write(Entry("alert", {"n": 1}))  # the journal's clock
            await journal.write(Entry("alert", {"n": 2}, at=utc))
            first, second = await journal.events()
        assert first.at == AT
        assert second.at == utc
        assert second.at.tzinfo == IST
        assert second.at.isoformat() == "2026-12-02T09:30:00.123456+05:30"

    asyncio.run(main())


CRASHING_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from cockpit.store import Entry, Journal

    async def main():
        journal = await Journal.open(sys.argv[1])
        for i in range(1_000_000):
            seq = await journal.write(Entry("fill", {"i": i}, state=("fills", f"f{i}", {"i": i})))
            print(seq, flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_every_awaited_write_survives_the_process_being_killed(path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = [int(child.stdout.readline()) for _ in range(200)]
    child.send_signal(signal.SIGKILL)  # mid-stream: no aclose, no checkpoint, no atexit
    child.wait(timeout=10)
    child.stdout.close()

    async def main() -> None:
        async with await Journal.open(path) as journal:
            events = await journal.events()
            fills = await journal.state("fills")
        seqs = [e.seq for e in events]
        assert seqs[: len(acknowledged)] == acknowledged
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(fills) == len(events)  # the state moved in the same transactions

    asyncio.run(main())


# ---- batching and ordering ----------------------------------------------------------------------


def test_concurrent_write_nowait_calls_share_few_transactions(path: Path) -> None:
    async def main() -> None:
        async with await Journal.open(path, max_batch=500) as journal:
            before = journal.transactions_committed
            futures = [journal.write_nowait(intent(i)) for i in range(2_000)]
            await journal.flush()
            assert all(f.done() for f in futures)
            assert journal.transactions_committed - before <= 5  # 2,000 / 500 (+1 slack)
            assert len(await journal.state("children")) == 2_000

    asyncio.run(main())


def test_awaited_writes_one_after_another_each_take_a_transaction(path: Path) -> None:
    async def main() -> None:
        async with await Journal.open(path) as journal:
            for i in range(20):
                await journal.write(intent(i))
            assert journal.transactions_committed == 20

    asyncio.run(main())


def test_writers_in_many_tasks_are_batched_together(path: Path) -> None:
    async def main() -> None:
        async with await Journal.open(path) as journal:
            seqs = await asyncio.gather(*(journal.write(intent(i)) for i in range(300)))
            assert sorted(seqs) == list(range(1, 301))
            assert journal.transactions_committed < 10

    asyncio.run(main())


def test_sequence_numbers_increase_in_submission_order(path: Path) -> None:
    async def main() -> None:
        async with await Journal.open(path, max_batch=7) as journal:
            futures = []
            for i in range(100):
                if i % 10 == 0:
                    futures.append(asyncio.ensure_future(journal.write(intent(i))))
                    await asyncio.sleep(0)  # let it be queued before the next ones
                else:
                    futures.append(journal.write_nowait(intent(i)))
            seqs = [await f for f in futures]
            assert seqs == sorted(seqs) == list(range(1, 101))
            events = await journal.events()
        assert [e.data["child_id"] for e in events] == [f"g1-c{i}" for i in range(100)]
        assert [e.seq for e in events] == seqs

    asyncio.run(main())


def test_the_last_change_to_a_row_within_one_batch_wins(path: Path) -> None:
    async def main() -> None:
        async with await Journal.open(path) as journal:
            journal.write_nowait(Entry("x", {}, state=("orders", "A", {"v": 1})))
            journal.write_nowait(Entry("x", {}, state=("orders", "A", None)))
            journal.write_nowait(Entry("x", {}, state=("orders", "B", None)))
            journal.write_nowait(Entry("x", {}, state=("orders", "B", {"v": 2})))
            journal.write_nowait(Entry("x", {}, state=("orders", "C", {"v": 3})))
            last = journal.write_nowait(Entry("x", {}, state=("orders", "C", {"v": 4})))
            await journal.flush()
            assert journal.transactions_committed == 1
            assert await journal.state("orders") == {"B": {"v": 2}, "C": {"v": 4}}
            assert await last == 6

    asyncio.run(main())


_change = st.tuples(
    st.sampled_from(["groups", "children", "exposure"]),
    st.sampled_from(["a", "b", "c"]),
    st.none() | st.dictionaries(st.sampled_from(["qty", "paise"]), st.integers(), max_size=2),
    st.booleans(),  # await this one (closes a batch) or only queue it
)


@settings(max_examples=25, deadline=None)
@given(changes=st.lists(_change, max_size=30))
def test_the_state_equals_applying_every_change_in_order(
    changes: list[tuple[str, str, dict[str, int] | None, bool]],
) -> None:
    expected: dict[str, dict[str, dict[str, int]]] = {t: {} for t in ("groups", "children")}
    expected["exposure"] = {}
    for table, key, row, _ in changes:
        if row is None:
            expected[table].pop(key, None)
        else:
            expected[table][key] = row

    async def main(path: Path) -> None:
        async with await Journal.open(path) as journal:
            for table, key, row, wait in changes:
                entry = Entry("x", {}, state=(table, key, row))
                if wait:
                    await journal.write(entry)
                else:
                    journal.write_nowait(entry)
            await journal.flush()
            for table, rows in expected.items():
                assert await journal.state(table) == rows

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(Path(folder) / "cockpit.db"))


def test_events_are_filtered_by_group_kind_and_since(path: Path) -> None:
    async def main() -> None:
        async with await Journal.open(path) as journal:
            await journal.write(Entry("group.created", {}, group_id="g1"))
            await journal.write(Entry("group.created", {}, group_id="g2"))
            await journal.write(intent(0, "g1"))
            await journal.write(Entry("alert", {"text": "no group"}))
            await journal.write(Entry("child.acked", {"order_id": "X1"}, group_id="g1"))
            assert await journal.last_seq() == 5

            assert [e.seq for e in await journal.events(group_id="g1")] == [1, 3, 5]
            assert [e.seq for e in await journal.events(since=3)] == [4, 5]
            kinds = {"child.intent", "child.acked"}
            assert [e.seq for e in await journal.events(kinds=kinds)] == [3, 5]
            assert [e.seq for e in await journal.events(group_id="g1", since=3)] == [5]
            assert await journal.events(kinds=[]) == []
            assert [e.seq for e in await journal.events(limit=2)] == [1, 2]
            assert [e.seq for e in await journal.events(since=2, limit=2)] == [3, 4]
            assert await journal.events(group_id="nobody") == []

    asyncio.run(main())


# ---- what an entry may hold ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"price": 123.45}, "price"),
        ({"limit_price": 100.0}, "limit_price"),
        ({"net_premium": 42.5}, "net_premium"),
        ({"Amount": 1.0}, "Amount"),
        ({"fee_paise": 10.0}, "fee_paise"),
        ({"legs": [{"qty": 75, "trigger_price": 99.5}]}, "trigger_price"),
        ({"prices": [100, 100.5]}, "prices"),
    ],
)
def test_a_float_under_a_money_key_is_refused_naming_the_key(
    data: dict[str, Any], key: str
) -> None:
    with pytest.raises(ValueError, match=f"'{key}' is the float") as raised:
        Entry("fill", data)
    assert "int paise" in str(raised.value)


def test_a_float_in_a_state_row_under_a_money_key_is_refused_too() -> None:
    with pytest.raises(ValueError, match="'average_price' is the float"):
        Entry("fill", {}, state=("fills", "F1", {"average_price": 101.25}))


def test_floats_elsewhere_and_int_paise_are_fine(path: Path) -> None:
    data = {"iv": 0.1425, "delta": -0.31, "price": 12_345, "premium": "123.45", "ok": True}

    async def main() -> None:
        async with await Journal.open(path) as journal:
            await journal.write(Entry("quote", data))
            (event,) = await journal.events()
        assert event.data == data

    asyncio.run(main())


def test_a_mapping_changed_after_the_entry_was_made_is_checked_again_when_written(
    path: Path,
) -> None:
    data: dict[str, Any] = {"qty": 75}
    entry = Entry("fill", data)
    data["price"] = 1.5

    async def main() -> None:
        async with await Journal.open(path) as journal:
            with pytest.raises(ValueError, match="'price' is the float"):
                journal.write_nowait(entry)
            assert await journal.events() == []

    asyncio.run(main())


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"strike": Decimal("24000")}, "Decimal"),
        ({"when": datetime(2026, 1, 1, tzinfo=IST)}, "datetime"),
        ({"iv": float("nan")}, "JSON cannot hold"),
        ({"nested": {1: "x"}}, "not a str"),
        ({"legs": [{1, 2}]}, "set"),
    ],
)
def test_data_that_is_not_json_is_refused(data: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Entry("x", data)


def test_an_entry_needs_a_kind_and_an_aware_time() -> None:
    with pytest.raises(ValueError, match="kind"):
        Entry("", {})
    with pytest.raises(ValueError, match="naive"):
        Entry("x", {}, at=datetime(2026, 1, 1, 9, 15))


def test_an_unknown_state_table_is_refused_naming_it(path: Path) -> None:
    with pytest.raises(ValueError, match="'positions'"):
        Entry("x", {}, state=("positions", "k", {}))

    async def main() -> None:
        async with await Journal.open(path) as journal:
            with pytest.raises(ValueError, match="'positions'"):
                await journal.state("positions")
            for table in ("groups", "children", "orders", "fills", "alerts", "overrides"):
                assert await journal.state(table) == {}
            assert await journal.state("exposure") == {}

    asyncio.run(main())


# ---- a batch that fails -------------------------------------------------------------------------


def test_a_full_disk_fails_the_whole_batch_and_loses_nothing_committed_before(
    path: Path,
) -> None:
    async def main() -> None:
        async with await Journal.open(path) as journal:
            for i in range(5):
                await journal.write(intent(i))
            writer = journal._writer
            assert writer is not None
            # A real SQLITE_FULL: the file may not grow past the pages it has now.
            ((pages,),) = await writer.execute_fetchall("PRAGMA page_count")
            await writer.execute(f"PRAGMA max_page_count = {pages}")
            futures = [
                journal.write_nowait(Entry("alert", {"text": "x" * 5_000})) for _ in range(8)
            ]
            with pytest.raises(JournalError, match="8 journal writes"):
                await journal.flush()
            for future in futures:
                error = future.exception()
                assert isinstance(error, JournalFullError)
                assert "the disk is full" in str(error)
                assert str(path) in str(error)
            assert await journal.last_seq() == 5

            await writer.execute("PRAGMA max_page_count = 1073741823")  # space freed
            assert await journal.write(Entry("alert", {"text": "after"})) == 6

    asyncio.run(main())

    async def reopen() -> None:
        async with await Journal.open(path) as journal:
            events = await journal.events()
            assert [e.kind for e in events] == ["child.intent"] * 5 + ["alert"]
            assert len(await journal.state("children")) == 5

    asyncio.run(reopen())


def test_a_commit_that_fails_with_disk_full_fails_every_future_in_its_batch(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        journal = await Journal.open(path)
        try:
            for i in range(3):
                await journal.write(intent(i))

            async def full_disk(db: object) -> None:
                raise sqlite3.OperationalError("database or disk is full")

            monkeypatch.setattr(journal, "_commit", full_disk)
            futures = [journal.write_nowait(intent(i)) for i in range(3, 10)]
            results = await asyncio.gather(*futures, return_exceptions=True)
            assert all(isinstance(r, JournalFullError) for r in results), results
            assert "disk is full" in str(results[0])
            monkeypatch.undo()

            assert await journal.write(intent(10)) == 4  # usable again, numbering intact
        finally:
            await journal.aclose()

        async with await Journal.open(path) as journal:
            events = await journal.events()
            children = await journal.state("children")
        assert [e.data["child_id"] for e in events] == ["g1-c0", "g1-c1", "g1-c2", "g1-c10"]
        assert set(children) == {"g1-c0", "g1-c1", "g1-c2", "g1-c10"}

    asyncio.run(main())


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    db.execute("ROLLBACK")
    """
)


@pytest.mark.slow
def test_a_write_lock_held_by_another_process_fails_the_batch_clearly(path: Path) -> None:
    open_journal_file(path, busy_timeout=1, synchronous="FULL").close()

    async def main() -> None:
        async with await Journal.open(path, busy_timeout=0.2) as journal:
            await journal.write(Entry("alert", {"n": 1}))
            locker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                LOCKER,
                str(path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert locker.stdin is not None
            assert locker.stdout is not None
            try:
                assert await locker.stdout.readline() == b"locked\n"
                with pytest.raises(JournalLockedError) as raised:
                    await journal.write(Entry("alert", {"n": 2}))
                assert str(path) in str(raised.value)
                assert "locked by another process" in str(raised.value)
                assert [e.data for e in await journal.events()] == [{"n": 1}]  # reads go on
            finally:
                locker.stdin.write(b"done\n")
                await locker.stdin.drain()
                await locker.wait()
            assert await journal.write(Entry("alert", {"n": 3})) == 2

    asyncio.run(main())


# ---- closing ------------------------------------------------------------------------------------


def test_close_commits_what_was_queued_and_then_refuses_writes_clearly(path: Path) -> None:
    async def main() -> None:
        journal = await Journal.open(path)
        futures = [journal.write_nowait(intent(i)) for i in range(50)]
        await journal.aclose()
        assert [f.result() for f in futures] == list(range(1, 51))
        with pytest.raises(JournalClosedError, match="closed") as raised:
            journal.write_nowait(intent(51))
        assert str(path) in str(raised.value)
        with pytest.raises(JournalClosedError):
            await journal.write(intent(51))
        with pytest.raises(JournalClosedError):
            await journal.events()
        await journal.flush()  # nothing queued: nothing to wait for
        await journal.aclose()  # idempotent

        async with await Journal.open(path) as again:
            assert await again.last_seq() == 50

    asyncio.run(main())


def test_no_thread_or_task_is_left_after_aclose(path: Path) -> None:
    async def main() -> None:
        before = threading.active_count()
        journal = await Journal.open(path)
        assert threading.active_count() == before + 2  # aiosqlite: one thread per connection
        journal.write_nowait(intent(0))
        await journal.aclose()
        assert threading.active_count() == before
        assert asyncio.all_tasks() == {asyncio.current_task()}

    threads = threading.active_count()
    asyncio.run(main())
    assert threading.active_count() == threads


def test_a_journal_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "home"
    not_a_folder.write_text("a file where the folder should be")
    path = not_a_folder / "cockpit.db"

    async def main() -> None:
        with pytest.raises(JournalError, match="cannot create the journal") as raised:
            await Journal.open(path)
        assert str(path) in str(raised.value)

    asyncio.run(main())


def test_a_failed_open_leaves_no_thread_behind(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage" * 512)

    async def main() -> None:
        before = threading.active_count()
        with pytest.raises(JournalCorruptError):
            await Journal.open(path)
        assert threading.active_count() == before
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())


def test_a_cancelled_aclose_still_closes_the_connections(path: Path) -> None:
    async def main() -> None:
        before = threading.active_count()
        journal = await Journal.open(path, max_batch=10)
        futures = [journal.write_nowait(intent(i)) for i in range(500)]
        closing = asyncio.create_task(journal.aclose())
        await asyncio.sleep(0.002)  # a batch or two in
        closing.cancel()
        with suppress(asyncio.CancelledError):
            await closing
        assert threading.active_count() == before
        assert all(f.done() for f in futures)
        outcomes = {type(f.exception()) for f in futures if f.exception() is not None}
        assert outcomes <= {JournalClosedError}
        await journal.aclose()
        with pytest.raises(JournalClosedError):
            journal.write_nowait(intent(0))

    asyncio.run(main())


def test_the_journal_file_is_created_readable_by_the_owner_only(path: Path) -> None:
    async def main() -> None:
        async with await Journal.open(path) as journal:
            await journal.write(intent(0))
            for name in ("cockpit.db", "cockpit.db-wal", "cockpit.db-shm"):
                file = path.with_name(name)
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, name

    old_umask = os.umask(0o022)
    try:
        asyncio.run(main())
    finally:
        os.umask(old_umask)
