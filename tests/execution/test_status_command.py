"""``cockpit status`` reads the journal the coordinator wrote."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.execution.status_command import read_status
from tests.execution.helpers import group, vertical, world


@pytest.mark.slow
def test_status_shows_groups_fills_and_covered_exposure(tmp_path: Path) -> None:
    async def scenario() -> Path:
        async with world(tmp_path, seed=8) as (coordinator, venue, _, _):
            spread = group(vertical(venue.store, "PE", 25800, 25600, lots=2))
            await coordinator.submit(spread)
            await coordinator.wait(spread.group_id, 20)
            await coordinator._journal.flush()
            return coordinator._journal.path

    journal = asyncio.run(scenario())
    status = read_status(journal)
    [only] = status["groups"]
    assert only["state"] == "complete" and only["kind"] == "entry"
    assert [leg["filled_quantity"] for leg in only["legs"]] == [130, 130]
    assert status["exposure"] == [
        {
            "underlying": "NIFTY",
            "expiry": "2026-12-08",
            "right": "PE",
            "short": 130,
            "long": 130,
            "uncovered": 0,
        }
    ]
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(journal, home / "cockpit.db")
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "status", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "COCKPIT_HOME": str(home)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["groups"][0]["group_id"] == only["group_id"]
    text = subprocess.run(
        [sys.executable, "-m", "cockpit", "status"],
        capture_output=True,
        text=True,
        env={**os.environ, "COCKPIT_HOME": str(home)},
        timeout=60,
    )
    assert "complete" in text.stdout and "every short is covered" in text.stdout


def test_a_garbage_journal_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "cockpit.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RuntimeError, match="not a readable Cockpit journal"):
        read_status(bad)
    assert read_status(tmp_path / "absent.db")["groups"] == []
