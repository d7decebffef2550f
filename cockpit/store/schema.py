"""What a Cockpit journal file is: how it is created, recognised and migrated, and what is wrong
with it when it cannot be used.

:func:`open_journal_file` is the only way a journal file is opened for writing: it creates the
file 0600 before SQLite touches it (SQLite gives the ``-wal`` and ``-shm`` files the database's
permissions), refuses a file that is not a Cockpit journal (garbage bytes, another program's
SQLite file, including the paper exchange's ``paper-exchange.db``) or that a newer Cockpit wrote,
switches it to WAL and migrates it forward in one transaction. The schema version is
``PRAGMA user_version``; the file is marked as ours with ``PRAGMA application_id``. Migrations are
an ordered tuple of plain functions: ``MIGRATIONS[i]`` takes a database from version ``i`` to
``i + 1`` inside the caller's transaction, so adding v2 is one function appended here and one
row in ``tests/store/test_schema.py``. This module also owns the journal's exception family and
the mapping of SQLite's errors onto it (disk full, locked, corrupt), with messages a trader can
act on.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Literal

#: ``PRAGMA application_id`` of a Cockpit journal: "Ckpt" in ASCII.
APPLICATION_ID = 0x436B7074

Synchronous = Literal["NORMAL", "FULL"]


class JournalError(RuntimeError):
    """The journal cannot do what was asked; the message says why and what to do."""


class JournalCorruptError(JournalError):
    """The file is not a Cockpit journal, or SQLite found it damaged."""


class JournalVersionError(JournalError):
    """The file was written by a newer Cockpit, with a schema this one does not know."""


class JournalLockedError(JournalError):
    """Another process held the file's write lock for longer than the busy timeout."""


class JournalFullError(JournalError):
    """The disk (or the file's size limit) is full: the write was not saved."""


# ---- the schema, one function per version step ----------------------------------------------

Migration = Callable[[sqlite3.Connection], None]


def _v0_to_v1(db: sqlite3.Connection) -> None:
    """v0 is the empty file. v1: the append-only event log and the materialised current state
    (one generic table keyed by (table, key); the journal checks ``table`` against the known set,
    so a new materialised table needs no migration)."""
    db.execute(
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            group_id TEXT,
            data TEXT NOT NULL
        )
        """
    )
    # Recovery reads one group's history, or every intent of one kind, in order.
    db.execute("CREATE INDEX events_by_group ON events (group_id, seq)")
    db.execute("CREATE INDEX events_by_kind ON events (kind, seq)")
    db.execute(
        """
        CREATE TABLE state (
            "table" TEXT NOT NULL,
            "key" TEXT NOT NULL,
            data TEXT NOT NULL,
            updated_seq INTEGER NOT NULL,
            PRIMARY KEY ("table", "key")
        ) WITHOUT ROWID
        """
    )


#: ``MIGRATIONS[i]`` migrates version ``i`` to ``i + 1``. Append; never edit a released step.
MIGRATIONS: tuple[Migration, ...] = (_v0_to_v1,)

#: The version this Cockpit writes.
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection) -> int:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    assert isinstance(version, int)
    return version


def migrate(db: sqlite3.Connection, path: Path, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to ``target`` in one transaction (all steps or none); return the
    version it had. ``db`` must be in autocommit mode (``isolation_level=None``)."""
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"no schema version {target}; this Cockpit knows 0..{SCHEMA_VERSION}")
    db.execute("BEGIN IMMEDIATE")
    try:
        # Read inside the write lock: another process may have migrated it meanwhile.
        found = schema_version(db)
        _refuse_newer(path, found)
        for step in MIGRATIONS[found:target]:
            step(db)
        if found < target:
            if found == 0:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {target}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return found


def _refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise JournalVersionError(
            f"{path} is a journal of schema version {version}, written by a newer Cockpit; "
            f"this Cockpit understands versions up to {SCHEMA_VERSION}. Run the newer Cockpit, "
            "or move the file away to start a new journal."
        )


def _identify(db: sqlite3.Connection, path: Path) -> None:
    """Refuse anything but an empty file or a Cockpit journal of a version we know, before
    changing a byte of it (switching a stranger's file to WAL would already be a change)."""
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = schema_version(db)
    objects = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if application_id == APPLICATION_ID:
        _refuse_newer(path, version)
        return
    if application_id == 0 and version == 0 and objects == 0:
        return  # v0: the empty file
    raise JournalCorruptError(
        f"{path} is not a Cockpit journal (it is another program's SQLite database); "
        "move it away, or point COCKPIT_HOME elsewhere."
    )


def create_private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by the owner only, before SQLite does."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT; the umask too


def open_journal_file(
    path: Path, *, busy_timeout: float, synchronous: Synchronous
) -> sqlite3.Connection:
    """Open (creating) the journal at ``path`` for writing, migrated to :data:`SCHEMA_VERSION`.

    Autocommit mode: the caller writes ``BEGIN IMMEDIATE`` … ``COMMIT`` itself. Every failure is
    a :class:`JournalError` naming the file."""
    try:
        create_private_file(path)
    except OSError as exc:
        raise JournalError(f"cannot create the journal {path}: {exc.strerror or exc}") from exc
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise journal_error(exc, path, busy_timeout=busy_timeout) from exc
    try:
        _identify(db, path)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        migrate(db, path)
    except sqlite3.Error as exc:
        db.close()
        raise journal_error(exc, path, busy_timeout=busy_timeout) from exc
    except BaseException:
        db.close()
        raise
    return db


def open_reader(path: Path, *, busy_timeout: float) -> sqlite3.Connection:
    """A read-only connection to a journal that :func:`open_journal_file` has prepared."""
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
        try:
            db.execute("PRAGMA query_only = ON")
        except BaseException:
            db.close()
            raise
    except sqlite3.Error as exc:
        raise journal_error(exc, path, busy_timeout=busy_timeout) from exc
    return db


# ---- SQLite's errors in words a trader can act on --------------------------------------------


def journal_error(exc: BaseException, path: Path, *, busy_timeout: float) -> JournalError:
    """The :class:`JournalError` that says what ``exc`` (usually an ``sqlite3.Error``) means."""
    if isinstance(exc, JournalError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc).lower()
    if primary == sqlite3.SQLITE_FULL or "disk is full" in text:
        return JournalFullError(
            f"{path}: the disk is full ({exc}); these journal writes were not saved, everything "
            "journalled before them is safe. Free space on that disk; until then Cockpit cannot "
            "record new orders."
        )
    if primary in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED} or "database is locked" in text:
        return JournalLockedError(
            f"{path} is locked by another process, which held it for longer than "
            f"{busy_timeout:g} s; close the other program using it (another Cockpit, an sqlite3 "
            "shell, a backup tool) and try again."
        )
    if (
        primary in {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
        or "not a database" in text
        or "malformed" in text
    ):
        return JournalCorruptError(
            f"{path} is not a Cockpit journal or is corrupt ({exc}); move it away (keep it for "
            "diagnosis) and start again: Cockpit then starts a new journal and takes open orders "
            "and positions from the broker."
        )
    return JournalError(f"{path}: {exc}")
