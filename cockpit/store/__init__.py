"""The store: Cockpit's journal on aiosqlite and the schema of its file.

Everything that must survive a crash (order groups and their transitions, write-ahead order
intents, broker acknowledgements, fills, alerts, manual overrides) is written through
:class:`Journal` before it counts; :mod:`cockpit.store.schema` says what a journal file is and
migrates old ones forward.
"""

from cockpit.store.journal import (
    STATE_TABLES,
    Entry,
    Journal,
    JournalClosedError,
    JournalEvent,
)
from cockpit.store.schema import (
    SCHEMA_VERSION,
    JournalCorruptError,
    JournalError,
    JournalFullError,
    JournalLockedError,
    JournalVersionError,
)

__all__ = [
    "SCHEMA_VERSION",
    "STATE_TABLES",
    "Entry",
    "Journal",
    "JournalClosedError",
    "JournalCorruptError",
    "JournalError",
    "JournalEvent",
    "JournalFullError",
    "JournalLockedError",
    "JournalVersionError",
]
