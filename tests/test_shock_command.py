"""``cockpit shock`` as a process against a fresh paper exchange (speed 0): an empty account
says so, a proposed spread alone can lose, a placed spread's grid comes back as JSON with its
axes, worst cell and legs, and the text table is printed for a chosen widening."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import ExchangeConfig

pytestmark = pytest.mark.slow


def cockpit(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COCKPIT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *args, "--broker-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def test_shock_grids_of_a_proposed_spread_and_of_the_placed_one(tmp_path: Path) -> None:
    config = ExchangeConfig(
        seed=41, speed=0, start=datetime(2026, 12, 2, 10, 0, tzinfo=IST), rate_limits=False
    )
    with ExchangeThread(config) as exchange:
        empty = cockpit(tmp_path, exchange.url, "shock", "--json")
        assert empty.returncode == 1 and empty.stdout == ""
        assert "cockpit shock: error: no option or future positions" in empty.stderr

        proposed = cockpit(
            tmp_path, exchange.url, "shock", "--json", "--proposed", "bull-put NIFTY --lots 1"
        )
        assert proposed.returncode == 0, proposed.stderr
        alone = json.loads(proposed.stdout)
        assert alone["positions"] == [] and len(alone["proposed"]) == 2
        assert alone["worst"]["pnl"] < 0
        assert alone["worst"]["price_shock"] < 0  # a bull put loses on the way down

        placed = cockpit(
            tmp_path, exchange.url, "spread", "bull-put", "NIFTY", "--lots", "1", "--place"
        )
        assert placed.returncode == 0, placed.stdout + placed.stderr

        done = cockpit(tmp_path, exchange.url, "shock", "--json")
        assert done.returncode == 0, done.stderr
        grid = json.loads(done.stdout)
        assert grid["price_shocks"][0] == -0.1 and grid["price_shocks"][-1] == 0.1
        assert len(grid["price_shocks"]) == 21 and len(grid["iv_shocks"]) == 14
        assert grid["widenings"] == [1.0, 1.5, 2.0]
        assert len(grid["pnl"]) == 3 and len(grid["pnl"][0]) == 14 and len(grid["pnl"][0][0]) == 21
        worst = grid["worst"]
        assert worst["pnl"] == min(min(min(row) for row in w) for w in grid["pnl"])
        assert worst["pnl"] < 0 and 0 < worst["utilisation"] < 1
        assert len(grid["frontier"]) == 14 and grid["money"] == "paise"
        assert grid["as_of"].startswith("2026-12-02T10:00")
        legs = {leg["tradingsymbol"]: leg["quantity"] for leg in grid["positions"]}
        assert sorted(legs.values()) == [-65, 65] and grid["proposed"] == []

        text = cockpit(tmp_path, exchange.url, "shock", "--widening", "1.5")
        assert text.returncode == 0, text.stderr
        assert "P&L in ₹ thousand at 1.5× spread" in text.stdout
        assert "worst: price −10%" in text.stdout
        assert "100% utilisation frontier" in text.stdout


def test_a_bad_spec_is_named_and_nothing_is_computed(tmp_path: Path) -> None:
    config = ExchangeConfig(
        seed=42, speed=0, start=datetime(2026, 12, 2, 10, 0, tzinfo=IST), rate_limits=False
    )
    with ExchangeThread(config) as exchange:
        bad = cockpit(tmp_path, exchange.url, "shock", "--proposed", "bull-pt NIFTY")
        assert bad.returncode == 1
        assert "cockpit shock: error: --proposed: argument structure: invalid choice" in bad.stderr
        assert "Traceback" not in bad.stderr
        place = cockpit(tmp_path, exchange.url, "shock", "--proposed", "bear-call NIFTY --place")
        assert place.returncode == 1 and "--place is not allowed" in place.stderr
        lots = cockpit(tmp_path, exchange.url, "shock", "--proposed", "bull-put NIFTY --lots 0")
        assert lots.returncode == 1 and "lots" in lots.stderr
        widening = cockpit(tmp_path, exchange.url, "shock", "--widening", "3")
        assert widening.returncode == 1
        assert "--widening 3 is not on the grid; choose one of 1, 1.5, 2" in widening.stderr
