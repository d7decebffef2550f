"""The paper exchange's server over real sockets: faults, rate limits, restart, settlement
through the market clock, determinism, the WebSocket, and the CLI as a process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from kiteconnect import KiteTicker

from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET, ExchangeConfig
from cockpit.exchange.sessions import checksum

START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)  # Tuesday: NIFTY's weekly expires today


def login(url: str) -> httpx.Client:
    token = httpx.get(f"{url}/connect/login", params={"api_key": PAPER_API_KEY}).json()["data"][
        "request_token"
    ]
    answer = httpx.post(
        f"{url}/session/token",
        data={
            "api_key": PAPER_API_KEY,
            "request_token": token,
            "checksum": checksum(PAPER_API_KEY, token, PAPER_API_SECRET),
        },
    ).json()
    access = answer["data"]["access_token"]
    return httpx.Client(
        base_url=url,
        headers={"X-Kite-Version": "3", "Authorization": f"token {PAPER_API_KEY}:{access}"},
        timeout=10,
    )


def data(response: httpx.Response) -> Any:
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def error(response: httpx.Response, status: int, error_type: str) -> str:
    body = response.json()
    assert (response.status_code, body["status"], body["error_type"]) == (
        status,
        "error",
        error_type,
    ), body
    return str(body["message"])


def config(tmp_path: Path | None = None, **changes: Any) -> ExchangeConfig:
    values: dict[str, Any] = {"seed": 11, "speed": 0.0, "start": START, "rate_limits": False}
    if tmp_path is not None:
        values["state_path"] = tmp_path / "paper-exchange.db"
    values.update(changes)
    return ExchangeConfig(**values)


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[tuple[ExchangeThread, httpx.Client]]:
    with ExchangeThread(config(tmp_path)) as thread, login(thread.url) as client:
        yield thread, client


def nifty_weekly(client: httpx.Client, offset: int = 0, right: str = "CE") -> dict[str, str]:
    """A row of the instruments dump: the nearest NIFTY expiry, ATM + offset strikes."""
    lines = client.get("/instruments/NFO").text.strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    rows = [r for r in rows if r["name"] == '"NIFTY"' and r["instrument_type"] == right]
    nearest = min(r["expiry"] for r in rows)
    chain = sorted((r for r in rows if r["expiry"] == nearest), key=lambda r: float(r["strike"]))
    return chain[len(chain) // 2 + offset]


def depth(client: httpx.Client, symbol: str) -> dict[str, Any]:
    return data(client.get("/quote", params={"i": f"NFO:{symbol}"}))[f"NFO:{symbol}"]


def place(client: httpx.Client, symbol: str, side: str, qty: int, **fields: Any) -> httpx.Response:
    body = {
        "exchange": "NFO",
        "tradingsymbol": symbol,
        "transaction_type": side,
        "quantity": str(qty),
        "product": "NRML",
        "order_type": "LIMIT",
        **{k: str(v) for k, v in fields.items()},
    }
    return client.post("/orders/regular", data=body)


def last_status(client: httpx.Client, order_id: str) -> dict[str, Any]:
    rows = data(client.get(f"/orders/{order_id}"))
    return dict(rows[-1])


def admin(client: httpx.Client, what: str, body: dict[str, Any]) -> Any:
    return data(client.post(f"/admin/{what}", json=body))


# ---- orders through the wire -----------------------------------------------------------------


def test_partial_fill_then_the_rest_fills_after_the_market_moves(
    venue: tuple[ExchangeThread, httpx.Client],
) -> None:
    _, client = venue
    symbol = nifty_weekly(client)["tradingsymbol"]
    admin(client, "faults", {"partial_fill_rate": 1.0})
    ask = depth(client, symbol)["depth"]["sell"][0]["price"]
    order_id = data(place(client, symbol, "BUY", 650, price=round(ask + 10, 2)))["order_id"]
    first = last_status(client, order_id)
    assert first["status"] == "OPEN"
    assert 0 < first["filled_quantity"] < 650 and first["filled_quantity"] % 65 == 0
    admin(client, "faults", {"partial_fill_rate": 0.0})
    admin(client, "time", {"advance_s": 5})
    done = last_status(client, order_id)
    assert (done["status"], done["filled_quantity"], done["pending_quantity"]) == (
        "COMPLETE",
        650,
        0,
    )
    fills = data(client.get(f"/orders/{order_id}/trades"))
    assert sum(t["quantity"] for t in fills) == 650 and len(fills) >= 2


def test_a_resting_order_fills_when_the_market_comes_to_it(
    venue: tuple[ExchangeThread, httpx.Client],
) -> None:
    _, client = venue
    symbol = nifty_weekly(client)["tradingsymbol"]
    bid = depth(client, symbol)["depth"]["buy"][0]["price"]
    order_id = data(place(client, symbol, "BUY", 65, price=bid))["order_id"]
    assert last_status(client, order_id)["status"] == "OPEN"
    admin(client, "gap", {"underlying": "NIFTY", "pct": -1.0})  # calls fall through the bid
    done = last_status(client, order_id)
    assert done["status"] == "COMPLETE" and done["average_price"] <= bid


def test_cancel_after_the_fill_fails_with_kites_message(
    venue: tuple[ExchangeThread, httpx.Client],
) -> None:
    _, client = venue
    symbol = nifty_weekly(client)["tradingsymbol"]
    ask = depth(client, symbol)["depth"]["sell"][0]["price"]
    order_id = data(place(client, symbol, "BUY", 65, price=ask))["order_id"]
    message = error(client.delete(f"/orders/regular/{order_id}"), 400, "InputException")
    assert message == "Order cannot be cancelled as it is being processed. Try later."
    assert last_status(client, order_id)["status"] == "COMPLETE"


def test_rejections_for_lot_freeze_tick_funds_and_unknown_symbol(
    venue: tuple[ExchangeThread, httpx.Client],
) -> None:
    _, client = venue
    symbol = nifty_weekly(client)["tradingsymbol"]
    ask = depth(client, symbol)["depth"]["sell"][0]["price"]
    cases = [
        (dict(qty=100, price=ask), "Quantity should be a multiple of lot size (65)."),
        (
            dict(qty=1820, price=ask),
            f"Quantity 1820 exceeds the freeze limit of 1800 for {symbol}.",
        ),
        (
            dict(qty=65, price=f"{ask + 0.01:.2f}"),
            "Tick size for this script is 0.05. Kindly enter price in the multiple of tick "
            "size for this script",
        ),
    ]
    for fields, expected in cases:
        qty = fields.pop("qty")
        assert error(place(client, symbol, "BUY", qty, **fields), 400, "InputException") == expected
    assert (
        error(place(client, "NIFTY26DEC99999CE", "BUY", 65, price=1), 400, "InputException")
        == "Invalid `tradingsymbol`."
    )
    order_id = data(place(client, symbol, "SELL", 1755, order_type="MARKET", market_protection=-1))[
        "order_id"
    ]
    rejected = last_status(client, order_id)
    assert rejected["status"] == "REJECTED"
    assert rejected["status_message"].startswith("Insufficient funds. Required margin is ")
    assert data(client.get("/orders")) and not data(client.get("/portfolio/positions"))["net"]


def test_bursts_get_http_429(tmp_path: Path) -> None:
    with ExchangeThread(config(tmp_path, rate_limits=True)) as thread, login(thread.url) as client:
        symbol = nifty_weekly(client)["tradingsymbol"]
        time.sleep(1.1)  # the calls above count toward the same per-second window
        answers = [client.get("/user/profile").status_code for _ in range(15)]
        assert answers[:10] == [200] * 10
        assert 429 in answers[10:]
        time.sleep(1.1)
        responses = [place(client, symbol, "BUY", 65, price=1) for _ in range(12)]
        refused = [r for r in responses if r.status_code == 429]
        assert len(refused) >= 2
        assert refused[0].json()["error_type"] == "NetworkException"
        assert "Too many requests" in refused[0].json()["message"]


def test_a_restart_keeps_orders_trades_positions_funds_and_the_market(tmp_path: Path) -> None:
    with ExchangeThread(config(tmp_path)) as thread, login(thread.url) as client:
        symbol = nifty_weekly(client)["tradingsymbol"]
        ask = depth(client, symbol)["depth"]["sell"][0]["price"]
        filled = data(place(client, symbol, "BUY", 130, price=ask))["order_id"]
        bid = depth(client, symbol)["depth"]["buy"][0]["price"]
        resting = data(place(client, symbol, "SELL", 65, price=round(bid + 20, 2)))["order_id"]
        admin(client, "time", {"advance_s": 90})
        before = {
            "orders": data(client.get("/orders")),
            "trades": data(client.get("/trades")),
            "positions": data(client.get("/portfolio/positions")),
            "margins": data(client.get("/user/margins")),
            "quote": depth(client, symbol),
        }
    with ExchangeThread(config(tmp_path)) as thread, login(thread.url) as client:
        after = {
            "orders": data(client.get("/orders")),
            "trades": data(client.get("/trades")),
            "positions": data(client.get("/portfolio/positions")),
            "margins": data(client.get("/user/margins")),
            "quote": depth(client, symbol),
        }
        assert after == before
        assert last_status(client, resting)["status"] == "OPEN"
        assert last_status(client, filled)["filled_quantity"] == 130
        # The restored book keeps working: the resting order can still be cancelled.
        data(client.delete(f"/orders/regular/{resting}"))


def test_expiry_settles_index_options_in_cash_through_the_market_clock(
    venue: tuple[ExchangeThread, httpx.Client],
) -> None:
    thread, client = venue
    row = nifty_weekly(client, offset=-4)  # ITM call, expiring today (1 Dec)
    symbol = row["tradingsymbol"]
    ask = depth(client, symbol)["depth"]["sell"][0]["price"]
    data(place(client, symbol, "BUY", 65, price=ask))
    cash_before = data(client.get("/user/margins/equity"))["available"]["cash"]
    status = admin(client, "time", {"to": "2026-12-01T15:45:00+05:30"})
    assert status["session"] == "closed"
    assert thread.exchange is not None
    settlement = thread.exchange.settlements[-1]
    assert settlement.tradingsymbol == symbol and settlement.quantity == 65
    intrinsic = int(settlement.settlement_price) - int(float(row["strike"]) * 100)
    assert intrinsic > 0
    cash_after = data(client.get("/user/margins/equity"))["available"]["cash"]
    assert round((cash_after - cash_before) * 100) == intrinsic * 65
    position = next(
        p for p in data(client.get("/portfolio/positions"))["net"] if p["tradingsymbol"] == symbol
    )
    assert position["quantity"] == 0
    # After the close the contract is gone from tomorrow's list.
    admin(client, "time", {"to": "next_open"})
    assert symbol not in client.get("/instruments/NFO").text


def test_itm_stock_option_settles_by_delivery_into_holdings(
    venue: tuple[ExchangeThread, httpx.Client],
) -> None:
    _, client = venue
    lines = client.get("/instruments/NFO").text.strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    calls = [r for r in rows if r["name"] == '"HDFCBANK"' and r["instrument_type"] == "CE"]
    nearest = min(r["expiry"] for r in calls)
    chain = sorted((r for r in calls if r["expiry"] == nearest), key=lambda r: float(r["strike"]))
    # Go to the expiry morning and buy a call well in the money at that moment.
    admin(client, "time", {"to": f"{nearest}T10:00:00+05:30"})
    spot = data(client.get("/quote/ltp", params={"i": "NSE:HDFCBANK"}))["NSE:HDFCBANK"]
    admin(client, "gap", {"underlying": "HDFCBANK", "pct": (1000 / spot["last_price"] - 1) * 100})
    row = next(r for r in chain if float(r["strike"]) == 950)  # ₹50 in the money
    symbol, lot = row["tradingsymbol"], int(row["lot_size"])
    ask = depth(client, symbol)["depth"]["sell"][0]["price"]
    order_id = data(place(client, symbol, "BUY", lot, price=ask))["order_id"]
    assert last_status(client, order_id)["status"] == "COMPLETE"
    admin(client, "time", {"to": f"{nearest}T15:45:00+05:30"})
    holdings = data(client.get("/portfolio/holdings"))
    assert [(h["tradingsymbol"], h["quantity"]) for h in holdings] == [("HDFCBANK", lot)]
    assert holdings[0]["average_price"] == float(row["strike"])


def test_the_same_seed_gives_the_same_market(tmp_path: Path) -> None:
    quotes = []
    for _ in range(2):
        with ExchangeThread(config()) as thread, login(thread.url) as client:
            symbol = nifty_weekly(client)["tradingsymbol"]
            admin(client, "time", {"advance_s": 600})
            quotes.append(
                (
                    depth(client, symbol),
                    data(client.get("/quote/ltp", params={"i": "NSE:NIFTY 50"})),
                )
            )
    assert quotes[0] == quotes[1]
    with ExchangeThread(config(seed=12)) as thread, login(thread.url) as client:
        admin(client, "time", {"advance_s": 600})
        other = data(client.get("/quote/ltp", params={"i": "NSE:NIFTY 50"}))
    assert other != quotes[0][1]


# ---- faults ------------------------------------------------------------------------------------


def test_latency_reject_rate_and_freeze_faults(venue: tuple[ExchangeThread, httpx.Client]) -> None:
    _, client = venue
    symbol = nifty_weekly(client)["tradingsymbol"]
    admin(client, "faults", {"latency_ms": "150-200"})
    started = time.perf_counter()
    client.get("/user/profile")
    assert time.perf_counter() - started >= 0.15
    admin(client, "faults", {"latency_ms": 0, "reject_rate": 1.0})
    ask = depth(client, symbol)["depth"]["sell"][0]["price"]
    rejected = last_status(client, data(place(client, symbol, "BUY", 65, price=ask))["order_id"])
    assert rejected["status"] == "REJECTED" and rejected["status_message"]
    admin(client, "faults", {"reject_rate": 0.0, "freeze_seconds": 5})
    frozen = data(place(client, symbol, "BUY", 65, price=round(ask + 15, 2)))["order_id"]
    assert last_status(client, frozen)["status"] == "OPEN"  # marketable, yet held
    admin(client, "time", {"advance_s": 4})
    assert last_status(client, frozen)["status"] == "OPEN"
    admin(client, "time", {"advance_s": 2})
    assert last_status(client, frozen)["status"] == "COMPLETE"
    message = error(client.post("/admin/faults", json={"reject_rate": 3}), 400, "InputException")
    assert "reject_rate must be a probability between 0 and 1" in message


def test_gap_moves_the_underlying_at_once(venue: tuple[ExchangeThread, httpx.Client]) -> None:
    _, client = venue
    before = data(client.get("/quote/ltp", params={"i": "NSE:NIFTY 50"}))["NSE:NIFTY 50"]
    answer = admin(client, "gap", {"underlying": "NIFTY", "pct": -5})
    assert answer["spot"] == pytest.approx(before["last_price"] * 0.95, rel=1e-3)
    message = error(
        client.post("/admin/gap", json={"underlying": "NOPE", "pct": 1}), 400, "InputException"
    )
    assert message.startswith("Cannot gap NOPE")


# ---- WebSocket -----------------------------------------------------------------------------------


def _decode(frame: bytes) -> list[dict[str, Any]]:
    return list(KiteTicker("x", "y")._parse_binary(frame))


async def _ws_session(url: str, token: str, tokens: dict[str, list[int]]) -> dict[str, Any]:
    seen: dict[int, dict[str, Any]] = {}
    async with aiohttp.ClientSession() as session:
        ws_url = url.replace("http", "ws") + f"/?api_key={PAPER_API_KEY}&access_token={token}"
        async with session.ws_connect(ws_url) as ws:
            everything = [t for group in tokens.values() for t in group]
            await ws.send_json({"a": "subscribe", "v": everything})
            for mode, group in tokens.items():
                await ws.send_json({"a": "mode", "v": [mode, group]})
            await ws.send_str("not json")
            error_text = None
            deadline = asyncio.get_running_loop().time() + 10
            while asyncio.get_running_loop().time() < deadline:
                message = await ws.receive(timeout=10)
                if message.type == aiohttp.WSMsgType.BINARY and len(message.data) > 1:
                    for tick in _decode(message.data):
                        seen[tick["instrument_token"]] = tick
                elif message.type == aiohttp.WSMsgType.TEXT:
                    error_text = message.data
                wanted = {t: m for m, group in tokens.items() for t in group}
                if error_text and all(seen.get(t, {}).get("mode") == m for t, m in wanted.items()):
                    break
    return {"ticks": seen, "error": error_text}


def test_websocket_ticks_decode_with_kites_parser_in_every_mode(
    venue: tuple[ExchangeThread, httpx.Client],
) -> None:
    _, client = venue
    token = client.headers["Authorization"].split(":")[1]
    ltp_t = int(nifty_weekly(client, 1)["instrument_token"])
    quote_t = int(nifty_weekly(client, 2)["instrument_token"])
    full_t = int(nifty_weekly(client, 3)["instrument_token"])
    index_t = 256265
    result = asyncio.run(
        _ws_session(
            client.base_url.__str__().rstrip("/"),
            token,
            {"ltp": [ltp_t], "quote": [quote_t], "full": [full_t, index_t]},
        )
    )
    ticks = result["ticks"]
    assert ticks[ltp_t]["mode"] == "ltp" and ticks[ltp_t]["last_price"] > 0
    assert ticks[quote_t]["mode"] == "quote" and ticks[quote_t]["ohlc"]["open"] > 0
    full = ticks[full_t]
    assert full["mode"] == "full" and len(full["depth"]["buy"]) == 5
    assert full["depth"]["buy"][0]["price"] < full["depth"]["sell"][0]["price"]
    assert ticks[index_t]["tradable"] is False and ticks[index_t]["mode"] == "full"
    quote = depth(client, nifty_weekly(client, 3)["tradingsymbol"])
    assert full["last_price"] == quote["last_price"]
    assert '"type":"error"' in result["error"].replace(" ", "")


def test_websocket_refuses_a_bad_token(venue: tuple[ExchangeThread, httpx.Client]) -> None:
    thread, _ = venue

    async def connect() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                await session.ws_connect(thread.url + "/?api_key=paper&access_token=nope")
            except aiohttp.WSServerHandshakeError as refused:
                return refused.status
        return 0

    assert asyncio.run(connect()) == 403


# ---- the CLI as a process --------------------------------------------------------------------


@pytest.mark.slow
def test_cockpit_exchange_prints_one_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "COCKPIT_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "cockpit", "exchange", "--port", "0", "--seed", "5"),
            *("--state", str(tmp_path / "x.db"), "--latency-ms", "1-2", "--speed", "10"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        with login(url) as client:
            assert data(client.get("/user/profile"))["user_id"] == "PA0001"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0
    assert out == ""  # exactly one line in all
    assert "Traceback" not in err
    assert (tmp_path / "x.db").exists()
