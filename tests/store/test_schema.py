"""The journal file: creation 0600, recognition, forward migration from every earlier version,
and clear errors for a newer, foreign, corrupt or locked file.

Adding schema v2 = one function appended to ``cockpit.store.schema.MIGRATIONS`` and one row in
``EARLIER_VERSIONS`` below: how to fill a v1 database, and what must hold once it is at v2.
"""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cockpit.store import (
    SCHEMA_VERSION,
    Entry,
    Journal,
    JournalCorruptError,
    JournalLockedError,
    JournalVersionError,
    schema,
)
from cockpit.store.schema import (
    APPLICATION_ID,
    create_private_file,
    migrate,
    open_journal_file,
    schema_version,
)

# ---- the migration harness ------------------------------------------------------------------


@dataclass(frozen=True)
class EarlierVersion:
    """A database as version ``version`` left it, and what must hold after migrating it."""

    version: int
    fill: Callable[[sqlite3.Connection], None]
    check: Callable[[sqlite3.Connection], None]


def _fill_v0(db: sqlite3.Connection) -> None:
    """v0 is the empty file: nothing to fill."""


def _check_from_v0(db: sqlite3.Connection) -> None:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"events", "state"} <= tables
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM state").fetchone()[0] == 0


EARLIER_VERSIONS = [
    EarlierVersion(0, _fill_v0, _check_from_v0),
    # EarlierVersion(1, _fill_v1, _check_from_v1),  ← the row that comes with MIGRATIONS[1]
]


def database_at(path: Path, version: int) -> None:
    """Make the file a journal of schema ``version`` using the real migrations up to it."""
    create_private_file(path)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        migrate(db, path, target=version)
        assert schema_version(db) == version
    finally:
        db.close()


def test_every_earlier_version_has_a_row_in_the_harness() -> None:
    assert [row.version for row in EARLIER_VERSIONS] == list(range(SCHEMA_VERSION))


@pytest.mark.parametrize("earlier", EARLIER_VERSIONS, ids=lambda row: f"v{row.version}")
def test_a_database_at_an_earlier_version_is_migrated_forward(
    earlier: EarlierVersion, tmp_path: Path
) -> None:
    path = tmp_path / "cockpit.db"
    database_at(path, earlier.version)
    db = sqlite3.connect(path, isolation_level=None)
    earlier.fill(db)
    db.close()

    db = open_journal_file(path, busy_timeout=1, synchronous="FULL")
    try:
        assert schema_version(db) == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        earlier.check(db)
    finally:
        db.close()

    async def still_a_working_journal() -> None:
        async with await Journal.open(path) as journal:
            seq = await journal.write(Entry("alert", {"text": "migrated"}))
            assert (await journal.events(since=seq - 1))[0].data == {"text": "migrated"}

    asyncio.run(still_a_working_journal())


def test_opening_a_current_journal_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.db"
    open_journal_file(path, busy_timeout=1, synchronous="FULL").close()
    db = open_journal_file(path, busy_timeout=1, synchronous="FULL")
    try:
        assert schema_version(db) == SCHEMA_VERSION
    finally:
        db.close()


def test_a_failing_migration_step_leaves_the_file_at_its_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cockpit.db"
    database_at(path, 0)

    def broken_step(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("step failed")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken_step))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(RuntimeError, match="step failed"):
            migrate(db, path, target=SCHEMA_VERSION + 1)
        assert schema_version(db) == 0  # not even v1: all steps or none
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        db.close()


# ---- files that are not (or not yet) ours -------------------------------------------------------


def _open(path: Path, *, busy_timeout: float = 1.0) -> None:
    async def main() -> None:
        journal = await Journal.open(path, busy_timeout=busy_timeout)
        await journal.aclose()

    asyncio.run(main())


def test_a_journal_from_a_newer_cockpit_is_refused_naming_the_file_and_both_versions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cockpit.db"
    _open(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()

    with pytest.raises(JournalVersionError) as raised:
        _open(path)
    message = str(raised.value)
    assert str(path) in message
    assert f"version {SCHEMA_VERSION + 1}" in message
    assert f"up to {SCHEMA_VERSION}" in message


def test_garbage_bytes_are_refused_as_corrupt_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.db"
    garbage = b"this is not a database, it is a shopping list\n" * 100
    path.write_bytes(garbage)

    with pytest.raises(JournalCorruptError) as raised:
        _open(path)
    message = str(raised.value)
    assert str(path) in message
    assert "is not a Cockpit journal or is corrupt" in message
    assert "move it away" in message
    assert path.read_bytes() == garbage


def test_another_programs_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "paper-exchange.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    before = path.read_bytes()

    with pytest.raises(JournalCorruptError, match="is not a Cockpit journal") as raised:
        _open(path)
    assert str(path) in str(raised.value)
    assert path.read_bytes() == before


def test_a_file_locked_by_another_connection_during_migration_is_a_clear_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cockpit.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode = WAL")
    other.execute("BEGIN IMMEDIATE")  # holds the write lock on an empty (v0) file
    try:
        with pytest.raises(JournalLockedError) as raised:
            _open(path, busy_timeout=0.2)
        assert str(path) in str(raised.value)
        assert "locked by another process" in str(raised.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    _open(path)  # and once it lets go, the journal opens


# ---- permissions ------------------------------------------------------------------------------


def test_a_new_journal_and_its_wal_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "home" / "cockpit.db"
    db = open_journal_file(path, busy_timeout=1, synchronous="FULL")
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO events (at, kind, data) VALUES ('t', 'k', '{}')")
        db.execute("COMMIT")
        for name in ("cockpit.db", "cockpit.db-wal", "cockpit.db-shm"):
            mode = stat.S_IMODE((path.parent / name).stat().st_mode)
            assert mode == 0o600, f"{name} is {oct(mode)}"
    finally:
        db.close()


def test_an_existing_journal_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    open_journal_file(path, busy_timeout=1, synchronous="FULL").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
