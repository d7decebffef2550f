"""Chaos: ``cockpit spread … --place`` is killed with SIGKILL at a seeded random moment while
the paper exchange (latency, partial fills) keeps running. Every trading command recovers
before it trades, so each new ``spread --place`` first adopts and resumes what the last kill
interrupted — and may itself be killed mid-recovery. At the exchange, after every kill: never
more short than long per underlying/expiry/right, and no client tag ever sent twice. Every
``RECOVER_EVERY`` kills, and at the end, ``cockpit recover`` runs alone and drives what is left:
every group it finds must end terminal (none left needing the trader), nothing unhedged, and a
second pass finds the journal and the exchange in agreement (no external position, no
difference).

``COCKPIT_CHAOS_KILLS`` sets the number of kill points: 50 in CI, 500 on demand
(``COCKPIT_CHAOS_KILLS=500 make pytest`` or ``pytest tests/chaos``)."""

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
from cockpit.domain.money import Paise
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.faults import Faults
from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET, ExchangeConfig
from cockpit.exchange.sessions import checksum

pytestmark = pytest.mark.slow
KILLS = int(os.environ.get("COCKPIT_CHAOS_KILLS", "50"))
RECOVER_EVERY = 10


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


def recover(url: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "cockpit", "recover", "--json", "--wait", "60", "--broker-url", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return json.loads(done.stdout)


def check_recovered(url: str, env: dict[str, str], where: str) -> dict:
    report = recover(url, env)
    assert report["unhedged"] == [], f"{where}: {report['unhedged']}"
    assert report["unrestorable"] == [], f"{where}: {report['unrestorable']}"
    unfinished = {
        gid: state
        for gid, state in report["final_states"].items()
        if state not in ("complete", "flat", "rejected")
    }
    assert unfinished == {}, f"{where}: groups not terminal after recovery: {unfinished}"
    # A second pass: the journal explains every position and agrees with every order.
    again = recover(url, env)
    assert again["external"] == [], f"{where}: {again['external']}"
    assert again["differences"] == [] and again["never_sent"] == [], f"{where}: {again}"
    assert again["resumed"] == {}, f"{where}: {again['resumed']}"
    return report


def test_kills_at_random_moments_never_leave_a_naked_short(tmp_path: Path) -> None:
    config = ExchangeConfig(
        seed=77,
        speed=5,
        start=datetime(2026, 12, 2, 10, 0, tzinfo=IST),
        rate_limits=False,
        faults=Faults(latency_ms=(5, 40), partial_fill_rate=0.5),
        # Enough for 28-lot condors to pass the pre-trade margin check and be sliced.
        opening_funds=Paise(5_00_00_000_00),
    )
    rng = random.Random(20261125)
    home = tmp_path / "home"
    env = {**os.environ, "COCKPIT_HOME": str(home)}
    env.pop("COCKPIT_BROKER_URL", None)
    resumed = 0
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
            assert [t for t, n in tags.items() if n > 1] == [], f"kill {kill}: a tag sent twice"
            if (kill + 1) % RECOVER_EVERY == 0 or kill == KILLS - 1:
                report = check_recovered(exchange.url, env, f"after kill {kill}")
                resumed += len(report["resumed"])
                assert uncovered(http) == [], f"after recovery {kill}: {uncovered(http)}"
        orders = http.get("/orders").json()["data"]
        tags = Counter(o["tag"] for o in orders if o["tag"])
        assert [t for t, n in tags.items() if n > 1] == []
        # 28 lots of 65 is above NIFTY's freeze limit: sliced into 27 lots (1,755) and 1.
        sliced = [o for o in orders if o["quantity"] == 1755]
    # The kills did interrupt groups, recovery did pick them up, and big ones were sliced.
    assert resumed > 0
    assert sliced, "no order was sliced at the freeze limit"
