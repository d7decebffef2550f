"""Chaos: ``cockpit spread … --place`` is killed with SIGKILL at a seeded random moment while
the paper exchange (latency, partial fills) keeps running; then ``cockpit recover`` reconciles.
At the exchange, after every kill: never more short than long per underlying/expiry/right, and
no client tag ever sent twice. The journal agrees with the exchange once recovered.

``COCKPIT_CHAOS_KILLS`` sets the number of kill points (default 20 in CI; 500 on demand)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.faults import Faults
from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET, ExchangeConfig
from cockpit.exchange.sessions import checksum

pytestmark = pytest.mark.slow
KILLS = int(os.environ.get("COCKPIT_CHAOS_KILLS", "20"))


def client(url: str) -> httpx.Client:
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
    return httpx.Client(
        base_url=url, headers={"Authorization": f"token {PAPER_API_KEY}:{access}"}, timeout=30
    )


def uncovered(http: httpx.Client) -> list[str]:
    rows = http.get("/portfolio/positions").json()["data"]["net"]
    net: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        symbol = row["tradingsymbol"]
        if not symbol.endswith(("CE", "PE")):
            continue
        # The paper exchange's token carries the underlying id and the expiry week in its
        # top bits (see cockpit/exchange/universe.py): token >> 18 is (underlying, expiry).
        key = (row["instrument_token"] >> 18, symbol[-2:])
        if row["quantity"] < 0:
            net[key][0] -= row["quantity"]
        else:
            net[key][1] += row["quantity"]
    return [f"{key}: short {s} > long {lg}" for key, (s, lg) in net.items() if s > lg]


def test_kills_at_random_moments_never_leave_a_naked_short(tmp_path: Path) -> None:
    config = ExchangeConfig(
        seed=77,
        speed=5,
        start=datetime(2026, 12, 2, 10, 0, tzinfo=IST),
        rate_limits=False,
        faults=Faults(latency_ms=(5, 40), partial_fill_rate=0.5),
    )
    rng = random.Random(20261125)
    home = tmp_path / "home"
    env = {**os.environ, "COCKPIT_HOME": str(home)}
    env.pop("COCKPIT_BROKER_URL", None)
    with ExchangeThread(config) as exchange, client(exchange.url) as http:
        for kill in range(KILLS):
            structure = rng.choice(["bull-put", "bear-call", "iron-condor"])
            lots = rng.choice([1, 2, 5, 28])  # 28 lots is above NIFTY's freeze limit
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cockpit",
                    "spread",
                    structure,
                    "NIFTY",
                    "--lots",
                    str(lots),
                    "--place",
                    "--json",
                    "--broker-url",
                    exchange.url,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            time.sleep(rng.uniform(0.3, 3.5))
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            # The exchange keeps working what it has: give resting orders a moment.
            time.sleep(0.2)
            assert uncovered(http) == [], f"kill {kill}: {uncovered(http)}"
            tags = Counter(o["tag"] for o in http.get("/orders").json()["data"] if o["tag"])
            assert all(n == 1 for n in tags.values()), f"kill {kill}: a tag was sent twice"
        recovered = subprocess.run(
            [sys.executable, "-m", "cockpit", "recover", "--json", "--broker-url", exchange.url],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert recovered.returncode in (0, 1), recovered.stdout + recovered.stderr
        report = json.loads(recovered.stdout)
        assert report["unhedged"] == []
        # After recovery the journal explains every position the exchange holds.
        again = subprocess.run(
            [sys.executable, "-m", "cockpit", "recover", "--json", "--broker-url", exchange.url],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        final = json.loads(again.stdout)
        assert final["external"] == [], final
        assert final["unhedged"] == []
