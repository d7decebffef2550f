"""Test configuration shared by the whole suite.

Qt runs offscreen here (no display on CI). Every test gets its own ``COCKPIT_HOME`` so no
test reads or writes the developer's real settings, journal or window layout. A test that
leaves a non-daemon thread running fails: such a thread hangs the process at exit.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHONFAULTHANDLER", "1")

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def cockpit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("COCKPIT_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leftover = [
        t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon
    ]
    for thread in leftover:
        thread.join(timeout=2)
    still = [t.name for t in leftover if t.is_alive()]
    assert not still, f"test left non-daemon threads running: {still}"
