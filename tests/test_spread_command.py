"""``cockpit spread … --place --json`` as a process against a fresh paper exchange: the group
completes and the exchange's positions match the legs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET, ExchangeConfig
from cockpit.exchange.sessions import checksum

pytestmark = pytest.mark.slow


def spread(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COCKPIT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "cockpit", "spread", *args, "--broker-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def positions(url: str) -> dict[str, int]:
    token = httpx.get(f"{url}/connect/login", params={"api_key": PAPER_API_KEY}).json()["data"][
        "request_token"
    ]
    access = httpx.post(
        f"{url}/session/token",
        data={
            "api_key": PAPER_API_KEY,
            "request_token": token,
            "checksum": checksum(PAPER_API_KEY, token, PAPER_API_SECRET),
        },
    ).json()["data"]["access_token"]
    rows = httpx.get(
        f"{url}/portfolio/positions",
        headers={"Authorization": f"token {PAPER_API_KEY}:{access}"},
    ).json()["data"]["net"]
    return {row["tradingsymbol"]: row["quantity"] for row in rows if row["quantity"]}


def test_bull_put_places_completes_and_the_exchange_holds_the_legs(tmp_path: Path) -> None:
    config = ExchangeConfig(
        seed=31, speed=0, start=datetime(2026, 12, 2, 10, 0, tzinfo=IST), rate_limits=False
    )
    with ExchangeThread(config) as exchange:
        analysis = spread(tmp_path, exchange.url, "bull-put", "NIFTY", "--lots", "1", "--json")
        assert analysis.returncode == 0, analysis.stderr
        planned = json.loads(analysis.stdout)
        assert planned["structure"] == "bull-put" and "group_id" not in planned
        assert planned["max_loss"] > 0 and 0 < planned["pop"] < 1
        assert positions(exchange.url) == {}  # analysis alone sends nothing

        done = spread(
            tmp_path, exchange.url, "bull-put", "NIFTY", "--lots", "1", "--place", "--json"
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["state"] == "complete"
        legs = {leg["tradingsymbol"]: leg for leg in result["legs"]}
        assert [leg["role"] for leg in result["legs"]] == ["protection", "risk"]
        expected = {
            symbol: leg["quantity"] * (1 if leg["side"] == "BUY" else -1)
            for symbol, leg in legs.items()
        }
        assert positions(exchange.url) == expected
        assert set(expected.values()) == {65, -65}
        # Reconciliation after the fact: the journal explains every position, nothing unhedged.
        env = {**os.environ, "COCKPIT_HOME": str(tmp_path)}
        recovered = subprocess.run(
            [sys.executable, "-m", "cockpit", "recover", "--json", "--broker-url", exchange.url],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        report = json.loads(recovered.stdout)
        assert report["clean"] is True and report["external"] == []


def test_bad_input_is_named_and_nothing_is_sent(tmp_path: Path) -> None:
    config = ExchangeConfig(
        seed=32, speed=0, start=datetime(2026, 12, 2, 10, 0, tzinfo=IST), rate_limits=False
    )
    with ExchangeThread(config) as exchange:
        bad = spread(tmp_path, exchange.url, "bull-put", "NIFTY", "--lots", "0", "--place")
        assert bad.returncode == 2
        assert "cockpit spread: error:" in bad.stderr and "lots" in bad.stderr
        width = spread(tmp_path, exchange.url, "bear-call", "NIFTY", "--width", "-50")
        assert width.returncode == 2 and "width" in width.stderr
        assert positions(exchange.url) == {}
