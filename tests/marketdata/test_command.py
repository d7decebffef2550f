"""``cockpit chain`` as a process against the paper exchange it starts for itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def run_chain(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COCKPIT_HOME": str(home)}
    env.pop("COCKPIT_BROKER_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "cockpit", "chain", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_chain_json_has_every_strike_with_iv_and_greeks(tmp_path: Path) -> None:
    done = run_chain(tmp_path, "NIFTY", "--json")
    assert done.returncode == 0, done.stderr
    chain = json.loads(done.stdout)
    assert chain["underlying"] == "NIFTY"
    assert chain["forward_source"] in {"future", "parity"}
    assert len(chain["rows"]) == 61
    strikes = [row["strike"] for row in chain["rows"]]
    assert strikes == sorted(strikes) and strikes[1] - strikes[0] == 50
    atm = [row for row in chain["rows"] if row["atm"]]
    assert len(atm) == 1
    call, put = atm[0]["call"], atm[0]["put"]
    prices = {"bid", "ask", "ltp", "oi"}
    analytics = {"iv", "delta", "gamma", "theta", "vega"}
    assert set(call) == {"tradingsymbol", "instrument_token", "lot_size"} | prices | analytics
    assert call["bid"] < call["ask"] and put["bid"] < put["ask"]
    assert 0.05 < call["iv"] < 0.5 and 0.35 < call["delta"] < 0.65
    assert -0.65 < put["delta"] < -0.35 and call["theta"] < 0 < call["vega"]
    assert abs(chain["forward"] - atm[0]["strike"]) <= 25
    assert call["lot_size"] == 65 and call["tradingsymbol"].startswith("NIFTY")


def test_chain_table_and_clear_errors(tmp_path: Path) -> None:
    table = run_chain(tmp_path, "banknifty")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("BANKNIFTY ") and "days to expiry" in lines[0]
    assert "Strike" in lines[1] and sum("►" in line for line in lines) == 1
    unknown = run_chain(tmp_path, "NOPE")
    assert unknown.returncode == 2
    assert "cockpit chain: error: no NOPE options on NFO" in unknown.stderr
    wrong_day = run_chain(tmp_path, "NIFTY", "--expiry", "2026-12-02")
    assert wrong_day.returncode == 2
    assert "no NIFTY options expiring 2026-12-02 on NFO; expiries:" in wrong_day.stderr
    bad = run_chain(tmp_path, "NIFTY", "--expiry", "soon")
    assert bad.returncode == 2 and "'soon': expected next or YYYY-MM-DD" in bad.stderr
