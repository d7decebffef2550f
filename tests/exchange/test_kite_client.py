"""The official Kite client (pykiteconnect), pointed at the paper exchange through ``root``,
does everything the cockpit needs — as a real user's code would, over real sockets."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET, ExchangeConfig

START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)  # a Tuesday, NIFTY's weekly expiry day
PROBE = Path(__file__).with_name("kite_ticker_probe.py")


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeThread]:
    state = tmp_path_factory.mktemp("kite") / "paper-exchange.db"
    config = ExchangeConfig(seed=7, speed=0, start=START, state_path=state, rate_limits=False)
    with ExchangeThread(config) as thread:
        yield thread


def login(url: str) -> KiteConnect:
    answer = httpx.get(f"{url}/connect/login", params={"api_key": PAPER_API_KEY, "v": "3"})
    request_token = answer.json()["data"]["request_token"]
    kite = KiteConnect(api_key=PAPER_API_KEY, root=url)
    kite.generate_session(request_token, api_secret=PAPER_API_SECRET)
    return kite


@pytest.fixture(scope="module")
def kite(exchange: ExchangeThread) -> KiteConnect:
    return login(exchange.url)


def nifty_chain(kite: KiteConnect) -> list[dict[str, object]]:
    """The nearest NIFTY expiry's calls, by strike."""
    rows = [i for i in kite.instruments("NFO") if i["name"] == "NIFTY"]
    calls = [i for i in rows if i["instrument_type"] == "CE"]
    nearest = min(i["expiry"] for i in calls)
    return sorted((i for i in calls if i["expiry"] == nearest), key=lambda i: i["strike"])


def atm_call(kite: KiteConnect) -> str:
    chain = nifty_chain(kite)
    return str(chain[len(chain) // 2]["tradingsymbol"])


def test_session_profile_and_margins(exchange: ExchangeThread) -> None:
    kite = login(exchange.url)
    profile = kite.profile()
    assert profile["user_id"] == "PA0001"
    assert "NFO" in profile["exchanges"]
    margins = kite.margins()
    assert margins["equity"]["enabled"] is True
    assert margins["equity"]["available"]["opening_balance"] == 1_000_000.0
    assert kite.margins("equity")["net"] == margins["equity"]["net"]
    assert margins["commodity"]["enabled"] is False


def test_a_bad_checksum_or_reused_request_token_is_a_token_exception(
    exchange: ExchangeThread,
) -> None:
    answer = httpx.get(f"{exchange.url}/connect/login", params={"api_key": PAPER_API_KEY})
    request_token = answer.json()["data"]["request_token"]
    kite = KiteConnect(api_key=PAPER_API_KEY, root=exchange.url)
    with pytest.raises(kex.TokenException, match="Invalid `checksum`"):
        kite.generate_session(request_token, api_secret="wrong")
    kite.generate_session(request_token, api_secret=PAPER_API_SECRET)
    with pytest.raises(kex.TokenException, match="invalid or has expired"):
        kite.generate_session(request_token, api_secret=PAPER_API_SECRET)
    stranger = KiteConnect(api_key=PAPER_API_KEY, root=exchange.url, access_token="x" * 32)
    with pytest.raises(kex.TokenException, match="Incorrect `api_key` or `access_token`"):
        stranger.profile()


def test_instruments_dump_lists_nifty_weeklies_and_monthlies(kite: KiteConnect) -> None:
    everything = kite.instruments()
    nfo = kite.instruments("NFO")
    assert len(everything) > len(nfo) > 1000
    spot = next(i for i in everything if i["tradingsymbol"] == "NIFTY 50")
    assert spot["instrument_token"] == 256265 and spot["segment"] == "INDICES"
    weekly = nifty_chain(kite)
    assert weekly[0]["expiry"] == date(2026, 12, 1)
    assert weekly[0]["lot_size"] == 65 and weekly[0]["tick_size"] == 0.05
    assert str(weekly[0]["tradingsymbol"]).startswith("NIFTY26D01")


def test_quotes_in_three_shapes(kite: KiteConnect) -> None:
    symbol = "NFO:" + atm_call(kite)
    full = kite.quote([symbol, "NFO:NOSUCH26DEC1CE"])[symbol]
    assert set(full) >= {"last_price", "depth", "ohlc", "oi", "volume", "timestamp"}
    assert len(full["depth"]["buy"]) == 5 and len(full["depth"]["sell"]) == 5
    assert full["depth"]["buy"][0]["price"] < full["depth"]["sell"][0]["price"]
    assert full["timestamp"] == datetime(2026, 12, 1, 10, 0)
    assert full["lower_circuit_limit"] < full["last_price"] < full["upper_circuit_limit"]
    assert kite.ltp(symbol)[symbol]["last_price"] == full["last_price"]
    assert kite.ohlc(symbol)[symbol]["ohlc"] == full["ohlc"]
    assert "NFO:NOSUCH26DEC1CE" not in kite.quote([symbol, "NFO:NOSUCH26DEC1CE"])


def test_limit_market_and_sl_orders_with_modify_cancel_and_reads(kite: KiteConnect) -> None:
    symbol = atm_call(kite)
    quote = kite.quote("NFO:" + symbol)["NFO:" + symbol]
    ask = quote["depth"]["sell"][0]["price"]
    bid = quote["depth"]["buy"][0]["price"]

    bought = kite.place_order("regular", "NFO", symbol, "BUY", 65, "NRML", "LIMIT", price=ask)
    assert kite.order_history(bought)[-1]["status"] == "COMPLETE"
    fills = kite.order_trades(bought)
    assert [t["quantity"] for t in fills] == [65] and fills[0]["average_price"] == ask

    resting = kite.place_order(
        "regular", "NFO", symbol, "BUY", 65, "NRML", "LIMIT", price=round(bid - 5, 2)
    )
    assert kite.order_history(resting)[-1]["status"] == "OPEN"
    kite.modify_order("regular", resting, price=round(bid - 4, 2), quantity=130)
    modified = kite.order_history(resting)[-1]
    assert (modified["price"], modified["quantity"], modified["status"]) == (
        round(bid - 4, 2),
        130,
        "OPEN",
    )
    kite.cancel_order("regular", resting)
    statuses = [row["status"] for row in kite.order_history(resting)]
    assert statuses[0] == "PUT ORDER REQ RECEIVED" and statuses[-2:] == [
        "CANCEL PENDING",
        "CANCELLED",
    ]

    sold = kite.place_order(
        "regular", "NFO", symbol, "SELL", 65, "NRML", "MARKET", market_protection=-1
    )
    done = kite.order_history(sold)[-1]
    assert done["status"] == "COMPLETE" and done["average_price"] == bid

    trigger = round(quote["last_price"] + 10, 2)
    stop = kite.place_order(
        "regular",
        "NFO",
        symbol,
        "BUY",
        65,
        "NRML",
        "SL",
        price=round(trigger + 2, 2),
        trigger_price=trigger,
    )
    assert kite.order_history(stop)[-1]["status"] == "TRIGGER PENDING"
    kite.cancel_order("regular", stop)

    orders = {o["order_id"]: o for o in kite.orders()}
    assert {bought, resting, sold, stop} <= set(orders)
    assert orders[bought]["order_timestamp"] == datetime(2026, 12, 1, 10, 0)
    assert {t["order_id"] for t in kite.trades()} >= {bought, sold}
    net = {p["tradingsymbol"]: p for p in kite.positions()["net"]}[symbol]
    assert net["quantity"] == 0 and net["buy_quantity"] == 65 and net["sell_quantity"] == 65
    assert net["realised"] == pytest.approx((bid - ask) * 65)


def test_kite_errors_reach_the_client_as_its_exception_classes(kite: KiteConnect) -> None:
    symbol = atm_call(kite)
    ask = kite.quote("NFO:" + symbol)["NFO:" + symbol]["depth"]["sell"][0]["price"]
    cases = [
        (dict(quantity=50, price=ask), r"multiple of lot size \(65\)"),
        (dict(quantity=1820, price=ask), "exceeds the freeze limit of 1800"),
        (dict(quantity=65, price=round(ask + 0.02, 2)), "Tick size for this script is 0.05"),
    ]
    for fields, message in cases:
        with pytest.raises(kex.InputException, match=message) as caught:
            kite.place_order(
                "regular", "NFO", symbol, "BUY", product="NRML", order_type="LIMIT", **fields
            )
        assert caught.value.code == 400
    with pytest.raises(kex.InputException, match="Invalid `tradingsymbol`"):
        kite.place_order("regular", "NFO", "NIFTY99JAN1CE", "BUY", 65, "NRML", "LIMIT", price=1)
    with pytest.raises(kex.InputException, match="without market protection"):
        kite.place_order("regular", "NFO", symbol, "BUY", 65, "NRML", "MARKET")
    with pytest.raises(kex.InputException, match="Couldn't find that `order_id`"):
        kite.order_history("999")
    # Twenty lots short naked, far beyond ₹10 lakh of funds: an RMS rejection with an id.
    rejected = kite.place_order(
        "regular", "NFO", symbol, "SELL", 1300, "NRML", "MARKET", market_protection=-1
    )
    last = kite.order_history(rejected)[-1]
    assert last["status"] == "REJECTED"
    assert last["status_message"].startswith("Insufficient funds. Required margin is ")


def test_autoslice_answers_with_parent_and_tagged_children(kite: KiteConnect) -> None:
    symbol = atm_call(kite)
    bid = kite.quote("NFO:" + symbol)["NFO:" + symbol]["depth"]["buy"][0]["price"]
    answer = kite.place_autoslice_order(
        "regular", "NFO", symbol, "BUY", 65 * 30, "NRML", "LIMIT", price=round(bid - 5, 2)
    )
    children = [c["order_id"] for c in answer["children"]]
    assert len(children) == 2  # 27 lots (1,755, the largest legal order) + 3 lots
    orders = {o["order_id"]: o for o in kite.orders()}
    assert [orders[c]["quantity"] for c in children] == [1755, 195]
    assert all(orders[c]["tags"] == [f"autoslice:{answer['order_id']}"] for c in children)
    for child in children:
        kite.cancel_order("regular", child)


def test_order_and_basket_margins_show_the_hedge_benefit(kite: KiteConnect) -> None:
    chain = nifty_chain(kite)
    short, long_ = chain[len(chain) // 2], chain[len(chain) // 2 + 4]

    def leg(row: dict[str, object], side: str) -> dict[str, object]:
        return {
            "exchange": "NFO",
            "tradingsymbol": row["tradingsymbol"],
            "transaction_type": side,
            "variety": "regular",
            "product": "NRML",
            "order_type": "MARKET",
            "quantity": 65,
            "price": 0,
            "trigger_price": 0,
        }

    naked = kite.order_margins([leg(short, "SELL")])[0]
    assert naked["total"] == pytest.approx(naked["span"] + naked["exposure"], abs=0.01)
    assert naked["span"] > 0 and naked["exposure"] > 0
    basket = kite.basket_order_margins([leg(short, "SELL"), leg(long_, "BUY")])
    assert len(basket["orders"]) == 2
    assert 0 < basket["final"]["total"] < naked["total"]
    compact = kite.basket_order_margins([leg(short, "SELL")], mode="compact")
    assert compact["final"] == {"total": pytest.approx(naked["total"], abs=0.01)}
    with pytest.raises(kex.InputException, match=r"orders\[0\]: Invalid `transaction_type`"):
        kite.order_margins([{**leg(short, "SELL"), "transaction_type": "SHORT"}])


@pytest.mark.slow
def test_kite_ticker_decodes_all_three_modes_and_order_updates(
    exchange: ExchangeThread, kite: KiteConnect
) -> None:
    chain = nifty_chain(kite)
    ltp_row, quote_row = chain[10], chain[11]
    symbol = str(chain[len(chain) // 2]["tradingsymbol"])
    option_full = chain[len(chain) // 2]["instrument_token"]
    probe = subprocess.Popen(
        [
            sys.executable,
            str(PROBE),
            exchange.url.replace("http://", "ws://") + "/",
            PAPER_API_KEY,
            kite.access_token,
            str(ltp_row["instrument_token"]),
            str(quote_row["instrument_token"]),
            str(option_full),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert probe.stdout is not None
        first = probe.stdout.readline().strip()
        assert first == "READY", probe.stderr.read() if probe.stderr else first
        ask = kite.quote("NFO:" + symbol)["NFO:" + symbol]["depth"]["sell"][0]["price"]
        order_id = kite.place_order("regular", "NFO", symbol, "BUY", 65, "NRML", "LIMIT", price=ask)
        result = json.loads(probe.stdout.readline())
        assert probe.wait(30) == 0
    finally:
        probe.kill()
    ticks = result["ticks"]
    assert ticks[str(ltp_row["instrument_token"])]["mode"] == "ltp"
    quote_tick = ticks[str(quote_row["instrument_token"])]
    assert quote_tick["mode"] == "quote" and "ohlc" in quote_tick["keys"]
    full_tick = ticks[str(option_full)]
    assert full_tick["mode"] == "full" and full_tick["tradable"] is True
    assert full_tick["depth_buy"] == 5 and full_tick["depth_sell"] == 5
    assert "oi" in full_tick["keys"] and "exchange_timestamp" in full_tick["keys"]
    statuses = [u["status"] for u in result["updates"] if u["order_id"] == order_id]
    assert statuses[-1] == "COMPLETE"
